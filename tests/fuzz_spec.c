/* fuzz_spec.c — a libFuzzer target for the campaign spec parser.
 *
 * A spec is the one file a user writes and the coordinator accepts over
 * its control socket, so every byte of it is untrusted. Each input is
 * given whole, as YAML text, to emc_spec_parse_string() — the entry point
 * both emc_spec_parse_file() and the coordinator's Submit use — with a
 * base directory for relative dataset paths. The parser opens no file, so
 * nothing outside this process is touched.
 *
 * What must hold, checked after every input (a failure aborts, which
 * libFuzzer reports with the input):
 *  - A refusal is an error: a negative errno, *ret untouched, and one
 *    NUL-terminated message that names the origin.
 *  - A spec that parses is one every later reader accepts: 1 to
 *    EMC_SPEC_MAX_CELLS cells, each passing emc_cell_check() (the check the
 *    wire and the engine make), carrying the pool's first seed, and
 *    surviving the store's blob (wire_cell_pack, then unpack) byte for
 *    byte; a pool of 1 to EMC_SPEC_MAX_SEEDS distinct seeds; search
 *    settings inside the ranges the measurement takes; every string of
 *    the dataset reference NUL-terminated.
 *  - Parsing is a function of the text: the same bytes parsed again give
 *    the same spec, cell for cell, byte for byte.
 * The sanitizers catch the rest (overflows, leaks, undefined behaviour),
 * and libFuzzer's -rss_limit_mb and -timeout the unbounded.
 *
 * Parameter counts (emc_model_params) are taken for every cell on an
 * MNIST-sized and a CIFAR-sized input: the coordinator shows them for any
 * cell a spec yields, so their closed forms meet every model a spec can
 * describe. Either a count or -EINVAL; never a negative count.
 *
 * A grid may hold up to EMC_SPEC_MAX_CELLS cells, and the parser takes a
 * fraction of a second for that many; checking each one through the blob
 * and the counts, and parsing twice, under the fuzzer's instrumentation
 * took longer than its timeout. So every cell gets emc_cell_check and its
 * seed checked, but only the first DEEP_CELLS and an even sample of the
 * rest go through the blob and the counts, and only grids of at most
 * DEEP_CELLS cells are parsed twice: a larger grid runs the same code.
 *
 * Without -DEMC_FUZZ_LIBFUZZER this file has its own main()
 * (fuzz_replay.h), which replays the corpus in fuzz-corpus-spec/.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cell.h"
#include "spec.h"
#include "wire.h"

#define ORIGIN	 "fuzz.yaml"
#define BASE_DIR "/nonexistent/specs"
/* Cells that get every check; a larger grid gets them on a sample. */
#define DEEP_CELLS 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_spec: invariant broken: %s\n", what);
		abort();
	}
}

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void check_dataset(const emc_dataset_ref *d)
{
	check(terminated(d->name, sizeof d->name) && terminated(d->format, sizeof d->format) &&
		      terminated(d->split, sizeof d->split) && terminated(d->images, sizeof d->images) &&
		      terminated(d->labels, sizeof d->labels) && terminated(d->path, sizeof d->path) &&
		      terminated(d->label_column, sizeof d->label_column) &&
		      terminated(d->categorical, sizeof d->categorical) &&
		      terminated(d->cifar_label, sizeof d->cifar_label) &&
		      terminated(d->synth_teacher, sizeof d->synth_teacher),
	      "a dataset string is not NUL-terminated");
	check(d->name[0] || d->format[0], "a dataset with neither a name nor a format");
}

static void check_search(const emc_campaign_spec *s)
{
	const emc_search_cfg *q = &s->search;

	check(q->method >= 0 && q->method < EMC_SEARCH_METHOD_COUNT, "search.method out of range");
	check(q->start >= 1 && q->max_n >= 0, "search.start or max_n out of range");
	check(q->precision >= 0 && q->precision < 1, "search.precision out of range");
	check(q->quantile > 0 && q->quantile < 1, "search.quantile out of range");
	check(q->confidence > 0 && q->confidence < 1, "search.confidence out of range");
	check(q->indifference > 0 && q->indifference < 0.5, "search.indifference out of range");
	check(q->min_seeds >= 1 && q->min_seeds <= s->n_seeds, "search.min_seeds not capped by the pool");
	check(q->grid_points >= 1 && q->grid_points <= EMC_SPEC_MAX_GRID_POINTS, "search.grid_points out of range");
	check(q->spec_depth >= 0 && q->spec_depth <= EMC_SPEC_MAX_SPEC_DEPTH, "search.spec_depth out of range");
}

static void check_seeds(const emc_campaign_spec *s)
{
	check(s->n_seeds >= 1 && s->n_seeds <= EMC_SPEC_MAX_SEEDS, "seed pool size out of range");
	for (int i = 0; i < s->n_seeds; i++)
		for (int j = 0; j < i; j++)
			check(s->seeds[i] != s->seeds[j], "a seed repeated in the pool");
}

static void check_cell(const emc_cell_cfg *c, uint64_t seed, bool deep)
{
	static const emc_input_shape shapes[] = {
	    {.channels = 1, .height = 28, .width = 28, .classes = 10},
	    {.channels = 3, .height = 32, .width = 32, .classes = 100},
	};
	emc_cell_cfg back;
	uint8_t *blob = NULL;
	size_t len = 0;
	emc_err err;

	check(emc_cell_check(c, &err) == 0, "a parsed cell fails emc_cell_check");
	check(c->seed == seed, "a cell does not carry the pool's first seed");
	if (!deep)
		return;
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		int64_t p = emc_model_params(&c->model, &shapes[i]);

		check(p > 0 || p == -EINVAL, "a parameter count that is neither a count nor -EINVAL");
	}
	check(wire_cell_pack(c, &blob, &len, &err) == 0, "a parsed cell does not pack");
	memset(&back, 0xa5, sizeof back); /* unpack must write every byte */
	check(wire_cell_unpack(blob, len, &back, &err) == 0, "a packed cell does not unpack");
	check(memcmp(&back, c, sizeof back) == 0, "a cell changed through the store's blob");
	free(blob);
}

static void check_parsed(const emc_campaign_spec *s)
{
	check(terminated(s->name, sizeof s->name) && s->name[0], "the campaign has no name");
	check_dataset(&s->dataset);
	check_seeds(s);
	check_search(s);
	check(s->n_cells >= 1 && s->n_cells <= EMC_SPEC_MAX_CELLS && s->cells, "cell count out of range");
	for (int i = 0; i < s->n_cells; i++)
		check_cell(&s->cells[i], s->seeds[0], i < DEEP_CELLS || i % (s->n_cells / DEEP_CELLS + 1) == 0);
}

static void check_refused(int r, const emc_campaign_spec *spec, const emc_err *err)
{
	check(r < 0, "a refusal that is not a negative errno");
	check(spec == NULL, "*ret written on a refusal");
	check(terminated(err->msg, sizeof err->msg), "an error message that is not NUL-terminated");
	check(strncmp(err->msg, ORIGIN, strlen(ORIGIN)) == 0, "an error message that does not name the spec");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	emc_campaign_spec *spec = NULL, *again = NULL;
	emc_err err;
	int r;

	memset(err.msg, 0x5a, sizeof err.msg); /* a message left unwritten shows */
	r = emc_spec_parse_string((const char *)data, size, ORIGIN, BASE_DIR, &spec, &err);
	if (r != 0) {
		check_refused(r, spec, &err);
		return 0;
	}
	check(spec != NULL, "success without a spec");
	check_parsed(spec);

	if (spec->n_cells > DEEP_CELLS) { /* the same code again; see the top */
		emc_spec_destroy(&spec);
		return 0;
	}
	r = emc_spec_parse_string((const char *)data, size, ORIGIN, BASE_DIR, &again, &err);
	check(r == 0 && again, "the same text parsed twice: accepted, then refused");
	check(again->n_cells == spec->n_cells &&
		      memcmp(again->cells, spec->cells, (size_t)spec->n_cells * sizeof *spec->cells) == 0,
	      "the same text parsed twice gives other cells");
	check(again->n_seeds == spec->n_seeds &&
		      memcmp(again->seeds, spec->seeds, (size_t)spec->n_seeds * sizeof *spec->seeds) == 0,
	      "the same text parsed twice gives another seed pool");
	emc_spec_destroy(&again);
	emc_spec_destroy(&spec);
	check(spec == NULL, "emc_spec_destroy does not clear the pointer");
	return 0;
}

#ifndef EMC_FUZZ_LIBFUZZER
#include "fuzz_replay.h"

int main(int argc, char **argv)
{
	return fuzz_replay_main(argc, argv, "fuzz_spec", NULL);
}
#endif
