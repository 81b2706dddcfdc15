/* test_plot.c — the figures and the HTML report, on a small database
 * built through the store API.
 *
 * Three cells of one campaign: cell 0 decided and converged, cell 1
 * decided by a budget stop (unconverged), cell 2 still searching. Grouped
 * by optimizer, that is two series: sgd (cells 0 and 2, one point: cell 2
 * is undecided) and adam (cell 1, one point). The checks are on structure,
 * not on pixels:
 *
 *   - in the EMC figure's SVG, the paths filled with a group's colour are
 *     exactly its points (plot.c's contract), and no other palette colour
 *     is filled;
 *   - the fit curves' outcomes: fits and outcomes per probed n, failed
 *     trials left out;
 *   - the PNG's signature and size;
 *   - the report: its ids, a row per cell, both figures as data: URIs, the
 *     spec escaped.
 *
 * The XML parse and the browser are the shell test's (test_report.sh).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cell.h"
#include "html.h"
#include "plot.h"
#include "spec.h"
#include "store.h"
#include "store_report.h"
#include "summary.h"
#include "testutil.h"

#define N_CELLS 3

typedef struct fixture {
	char *dir, *path;
	store *s;
	emc_campaign_spec spec;
	emc_cell_cfg cells[N_CELLS];
	store_dataset_info ds;
	int64_t campaign_id, cell_ids[N_CELLS];
} fixture;

static void make_spec(fixture *f)
{
	memset(&f->spec, 0, sizeof f->spec);
	snprintf(f->spec.name, sizeof f->spec.name, "figs");
	snprintf(f->spec.dataset.name, sizeof f->spec.dataset.name, "fashion-mnist");
	snprintf(f->spec.dataset.format, sizeof f->spec.dataset.format, "idx");
	f->spec.search.start = 16;
	f->spec.search.precision = 0.01;
	f->spec.search.max_n = 100;
	for (int i = 0; i < N_CELLS; i++) {
		emc_cell_cfg_defaults(&f->cells[i]);
		f->cells[i].model.widths[0] = 8 << i;
		f->cells[i].seed = (uint64_t)(1000 + i);
	}
	f->cells[1].optim.name = EMC_OPT_ADAM;
	f->spec.n_cells = N_CELLS;
	f->spec.cells = f->cells;
	f->ds.n_total = 100;
	f->ds.shape = (emc_input_shape){.channels = 1, .height = 28, .width = 28, .classes = 10};
	snprintf(f->ds.description, sizeof f->ds.description, "fashion-mnist/train");
}

static int collect_cell_ids(void *ctx, const store_cell_row *c)
{
	fixture *f = ctx;

	if (c->index >= 0 && c->index < N_CELLS)
		f->cell_ids[c->index] = c->id;
	return 0;
}

/* One trial of `cell` at n with seed index k, recorded with `outcome`;
 * u (if non-NULL) is the cell's state after it. */
static void run_trial(fixture *f, int cell, int64_t n, int k, emc_outcome outcome, const store_cell_update *u)
{
	emc_err err = {""};
	emc_trial_result res;
	int64_t trial, attempt;

	memset(&res, 0, sizeof res);
	res.outcome = outcome;
	res.reason = outcome == EMC_OUTCOME_NO_FIT ? EMC_STOP_BUDGET : EMC_STOP_NONE;
	res.epochs = 10;
	res.train_seconds = 0.25;
	res.accuracy = outcome == EMC_OUTCOME_FIT ? 1.0 : 0.9;
	res.sample_grads = 10 * n;
	snprintf(res.host, sizeof res.host, "node-%d", k);
	snprintf(res.emc_version, sizeof res.emc_version, "9.9");
	snprintf(res.blas_core, sizeof res.blas_core, "Haswell");
	res.blas_threads = 1;
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[cell], n, k, (uint64_t)k, &trial, &err), 0);
	assert_int_equal(store_attempt_start(f->s, trial, 0, 60000, &attempt, &err), 0);
	if (store_trial_finish(f->s, trial, attempt, &res, u, &err) < 0)
		fail_msg("%s", err.msg);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	emc_err err = {""};
	store_cell_update u0 = {.lo = 32, .hi = 48, .done = true, .emc_low = 16, .emc_high = 48, .seeds_used = 2};
	store_cell_update u1 = {.lo = 48,
				.hi = 64,
				.done = true,
				.emc_low = 32,
				.emc_high = 64,
				.seeds_used = 1,
				.hi_budget = 1,
				.unconverged = true};

	assert_non_null(f);
	f->dir = tmpdir_new();
	f->path = malloc(strlen(f->dir) + 16);
	assert_non_null(f->path);
	sprintf(f->path, "%s/emc.db", f->dir);
	if (store_open(f->path, false, &f->s, &err) < 0)
		fail_msg("%s", err.msg);
	make_spec(f);
	if (store_campaign_insert(f->s, &f->spec, "name: figs # <b>&\n", "abc123", &f->ds, &f->campaign_id, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(store_load_active(f->s, NULL, collect_cell_ids, NULL, f, &err), 0);
	run_trial(f, 0, 16, 0, EMC_OUTCOME_FIT, NULL);
	run_trial(f, 0, 32, 0, EMC_OUTCOME_FIT, NULL);
	run_trial(f, 0, 32, 1, EMC_OUTCOME_FIT, NULL);
	run_trial(f, 0, 48, 0, EMC_OUTCOME_NO_FIT, NULL);
	run_trial(f, 0, 48, 1, EMC_OUTCOME_FAILED, NULL); /* says nothing about p(48) */
	run_trial(f, 0, 48, 2, EMC_OUTCOME_NO_FIT, &u0);
	run_trial(f, 1, 48, 0, EMC_OUTCOME_FIT, NULL);
	run_trial(f, 1, 64, 0, EMC_OUTCOME_NO_FIT, &u1);
	run_trial(f, 2, 16, 0, EMC_OUTCOME_FIT, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	store_close(&f->s);
	tmpdir_remove(&f->dir);
	free(f->path);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------- */

static int mem_write(void *ctx, const unsigned char *data, size_t len)
{
	return fwrite(data, 1, len, ctx) == len ? 0 : -EIO;
}

/* A figure in memory, NUL-terminated; *len its size. */
static char *render(const plot_data *d, plot_figure fig, unsigned format, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	emc_err err = {""};
	int r;

	assert_non_null(mem);
	r = plot_render(d, fig, format, mem_write, mem, &err);
	assert_int_equal(fclose(mem), 0);
	if (r < 0)
		fail_msg("plot_render: %s", err.msg);
	*ret_len = len;
	return buf;
}

/* The "#rrggbb" a <path>'s fill names (Cairo writes "fill:rgb(P%,P%,P%)"
 * in its style, or a fill="rgb(...)" attribute), "" for none. */
static void path_fill(const char *tag, const char *end, char *buf, size_t len)
{
	const char *p = tag;
	double r, g, b;

	buf[0] = '\0';
	while ((p = strstr(p, "fill")) && p < end) {
		p += 4;
		if ((*p == ':' || (*p == '=' && *++p == '"')) &&
		    sscanf(p + 1, "rgb(%lf%%,%lf%%,%lf%%)", &r, &g, &b) == 3) {
			snprintf(buf, len, "#%02x%02x%02x", (int)lround(r * 2.55), (int)lround(g * 2.55),
				 (int)lround(b * 2.55));
			return;
		}
	}
}

/* Paths of the SVG filled with `color`. */
static int fills_of(const char *svg, const char *color)
{
	const char *p = svg;
	int n = 0;

	while ((p = strstr(p, "<path"))) {
		const char *end = strchr(p, '>');
		char fill[8];

		assert_non_null(end);
		path_fill(p, end, fill, sizeof fill);
		n += strcmp(fill, color) == 0;
		p = end;
	}
	return n;
}

static int count_of(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static plot_data *build(fixture *f, const char *by)
{
	plot_data *d = NULL;
	emc_err err = {""};

	if (plot_data_build(f->s, NULL, by, &d, &err) < 0)
		fail_msg("plot_data_build: %s", err.msg);
	return d;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_emc_markers_per_colour(void **state)
{
	plot_data *d = build(*state, "optimizer");
	char color[8], other[8];
	size_t len;
	char *svg = render(d, PLOT_FIGURE_EMC, PLOT_SVG, &len);

	assert_int_equal(d->sm->n_groups, 2);
	assert_true(strncmp(svg, "<?xml", 5) == 0);
	assert_non_null(strstr(svg, "</svg>"));
	assert_int_equal(count_of(svg, "<g"), count_of(svg, "</g>"));
	for (int g = 0; g < d->sm->n_groups; g++) {
		plot_group_color(g, color, sizeof color);
		assert_int_equal(plot_group_points(d, g), 1); /* sgd: cell 2 is undecided */
		assert_int_equal(fills_of(svg, color), plot_group_points(d, g));
	}
	plot_group_color(0, color, sizeof color);
	plot_group_color(1, other, sizeof other);
	assert_string_not_equal(color, other);
	plot_group_color(2, color, sizeof color); /* no third group: nothing in its colour */
	assert_int_equal(fills_of(svg, color), 0);
	free(svg);
	plot_data_destroy(&d);
	assert_null(d);
	plot_data_destroy(&d); /* NULL-safe */
}

static void test_fit_outcomes(void **state)
{
	plot_data *d = build(*state, NULL);
	const plot_cell *c0 = NULL;

	for (int i = 0; i < d->n_cells; i++)
		if (d->cells[i].cell->cell == 0)
			c0 = &d->cells[i];
	assert_non_null(c0);
	assert_int_equal(c0->lo, 32);
	assert_int_equal(c0->hi, 48);
	assert_true(fabs(c0->quantile - 0.5) < 1e-12);
	assert_int_equal(c0->n_probes, 3);
	assert_int_equal(c0->probes[0].n, 16);
	assert_int_equal(c0->probes[0].fits, 1);
	assert_int_equal(c0->probes[0].outcomes, 1);
	assert_int_equal(c0->probes[1].fits, 2);
	assert_int_equal(c0->probes[1].outcomes, 2);
	assert_int_equal(c0->probes[2].n, 48);
	assert_int_equal(c0->probes[2].fits, 0);
	assert_int_equal(c0->probes[2].outcomes, 2); /* the failed trial is not an outcome */
	plot_data_destroy(&d);
}

static void test_png_and_fits(void **state)
{
	plot_data *d = build(*state, NULL);
	size_t len;
	char *png = render(d, PLOT_FIGURE_EMC, PLOT_PNG, &len);
	const unsigned char *u = (const unsigned char *)png;
	char *svg;

	assert_true(len > 24);
	assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
	assert_int_equal(((uint32_t)u[16] << 24) | ((uint32_t)u[17] << 16) | ((uint32_t)u[18] << 8) | u[19], 1440);
	assert_int_equal(((uint32_t)u[20] << 24) | ((uint32_t)u[21] << 16) | ((uint32_t)u[22] << 8) | u[23], 960);
	free(png);
	svg = render(d, PLOT_FIGURE_FITS, PLOT_SVG, &len);
	assert_non_null(strstr(svg, "width=\"900pt\"")); /* three panels in a row */
	free(svg);
	plot_data_destroy(&d);
}

static void test_unknown_key(void **state)
{
	fixture *f = *state;
	plot_data *d = NULL;
	emc_err err = {""};

	assert_int_equal(plot_data_build(f->s, NULL, "optimizer,lrr", &d, &err), -EINVAL);
	assert_null(d);
	assert_int_equal(plot_data_build(f->s, "nope", NULL, &d, &err), -ENOENT);
	assert_null(d);
}

static void test_html_report(void **state)
{
	fixture *f = *state;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	emc_err err = {""};

	assert_non_null(mem);
	if (html_report_write(f->s, "figs", NULL, mem, &err) < 0)
		fail_msg("html_report_write: %s", err.msg);
	assert_int_equal(fclose(mem), 0);
	assert_true(strncmp(buf, "<!DOCTYPE html>", 15) == 0);
	for (const char *const *id =
		 (const char *const[]){"summary", "figure-emc", "fits", "flags", "compute", "spec", "provenance", NULL};
	     *id; id++) {
		char want[64];

		snprintf(want, sizeof want, "id=\"%s\"", *id);
		assert_int_equal(count_of(buf, want), 1);
	}
	assert_int_equal(count_of(buf, "<tr class=\"cell\">"), N_CELLS);
	assert_int_equal(count_of(buf, "src=\"data:image/svg+xml;base64,"), 2);
	assert_non_null(strstr(buf, "name: figs # &lt;b&gt;&amp;")); /* the spec, escaped */
	assert_null(strstr(buf, "<b>&"));
	assert_non_null(strstr(buf, "node-0, node-1, node-2")); /* hosts, sorted */
	assert_non_null(strstr(buf, "Haswell x 1"));
	assert_null(strstr(buf, "http")); /* self-contained: nothing to fetch */
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_emc_markers_per_colour, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fit_outcomes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_png_and_fits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_html_report, setup, teardown),
	};

	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	plot_shutdown();
	return failed;
}
