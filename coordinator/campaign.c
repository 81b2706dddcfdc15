/* campaign.c — check a campaign spec against its data before it is stored.
 *
 * The dataset is decoded in full once here: that is the only way to know
 * that every byte of it is well formed, and it gives the sample count and
 * shape the search and the parameter counts need. The decoded samples stay
 * in the prep (campaign_prep.data): the coordinator serves workers that lack
 * the files from them, so one process decodes a campaign's data once.
 */
#include "campaign.h"

#include <errno.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "subset.h"

int campaign_read_file(const char *path, char **ret_text, size_t *ret_len, char **ret_dir, emc_err *err)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL, *copy = NULL, *dir = NULL;
	size_t len = 0;
	int r;

	if (!f)
		return emc_err_set(err, errno, "%s: cannot open spec: %s", path, strerror(errno));
	text = malloc(EMC_SPEC_MAX_BYTES + 1);
	if (!text) {
		r = emc_err_set(err, ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	len = fread(text, 1, EMC_SPEC_MAX_BYTES + 1, f);
	if (ferror(f)) {
		r = emc_err_set(err, EIO, "%s: cannot read spec", path);
		goto fail;
	}
	if (len > EMC_SPEC_MAX_BYTES) {
		r = emc_err_set(err, EFBIG, "%s: spec is larger than %d bytes", path, EMC_SPEC_MAX_BYTES);
		goto fail;
	}
	text[len] = '\0';
	copy = strdup(path);
	if (!copy || !(dir = realpath(dirname(copy), NULL))) {
		r = emc_err_set(err, errno ? errno : ENOMEM, "%s: cannot resolve the spec's directory", path);
		goto fail;
	}
	free(copy);
	fclose(f);
	*ret_text = text;
	*ret_len = len;
	*ret_dir = dir;
	return 0;
fail:
	free(copy);
	free(text);
	fclose(f);
	return r;
}

static void describe_dataset(const emc_dataset_ref *ref, char *buf, size_t len)
{
	const char *file = ref->images[0] ? ref->images : ref->path;
	const char *slash = strrchr(file, '/');

	if (ref->name[0])
		snprintf(buf, len, "%s/%s", ref->name, ref->split[0] ? ref->split : "train");
	else if (strcmp(ref->format, "synthetic") == 0)
		snprintf(buf, len, "synthetic[%lldx%d,%d classes,seed %llu]", (long long)ref->synth_n, ref->synth_dim,
			 ref->synth_classes, (unsigned long long)ref->synth_seed);
	else
		snprintf(buf, len, "%.*s", (int)(len > 1 ? len - 1 : 0), slash ? slash + 1 : file);
}

uint64_t campaign_memory_floor(const emc_cell_cfg *cell, int64_t params)
{
	uint64_t copies = 2; /* the parameters and their gradients */

	if (cell->optim.name == EMC_OPT_ADAM || cell->optim.name == EMC_OPT_ADAMW)
		copies += 2; /* first and second moments */
	else if (cell->optim.name == EMC_OPT_SGD && cell->optim.momentum != 0)
		copies += 1; /* the velocity */
	return params > 0 ? (uint64_t)params * copies * sizeof(float) : 0;
}

void campaign_bytes_text(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, "%.1f %s", v, units[u]);
}

int campaign_memory_check(const campaign_prep *prep, uint64_t most, const char *origin, emc_err *err)
{
	uint64_t have = most ? most : CAMPAIGN_MEMORY_CEILING_BYTES;
	char model[128], need_text[32], have_text[32];

	if (prep->need_cell < 0 || prep->need_bytes <= have)
		return 0;
	emc_model_describe(&prep->spec->cells[prep->need_cell].model, model, sizeof model);
	campaign_bytes_text(prep->need_bytes, need_text, sizeof need_text);
	campaign_bytes_text(have, have_text, sizeof have_text);
	return emc_err_set(err, EFBIG,
			   "%s: cell %d (%s): needs at least %s (a lower bound: its parameters, gradients and "
			   "optimizer state at 4 bytes each), %s %s",
			   origin, prep->need_cell, model, need_text,
			   most ? "the largest worker announces"
				: "more than the limit when no worker has announced "
				  "its memory,",
			   have_text);
}

int campaign_prepare(const char *text, size_t len, const char *origin, const char *base_dir, campaign_prep *ret,
		     emc_err *err)
{
	campaign_prep p;
	emc_dataset *ds = NULL;
	unsigned char hash[32];
	int r;

	memset(&p, 0, sizeof p);
	p.need_cell = -1;
	r = emc_spec_parse_string(text, len, origin, base_dir, &p.spec, err);
	if (r < 0)
		return r;
	r = emc_dataset_resolve(&p.spec->dataset, base_dir, err);
	if (r < 0)
		goto fail;
	r = emc_dataset_load(&p.spec->dataset, &ds, err);
	if (r < 0)
		goto fail;
	p.dataset.n_total = ds->n;
	p.dataset.shape = ds->shape;
	memcpy(p.dataset.hash, ds->hash, sizeof p.dataset.hash);
	describe_dataset(&p.spec->dataset, p.dataset.description, sizeof p.dataset.description);

	if (p.spec->search.max_n > p.dataset.n_total) {
		r = emc_err_set(err, EINVAL, "%s: search.max_n = %lld exceeds the dataset's %lld samples", origin,
				(long long)p.spec->search.max_n, (long long)p.dataset.n_total);
		goto fail;
	}
	for (int i = 0; i < p.spec->n_cells; i++) {
		const emc_cell_cfg *cell = &p.spec->cells[i];
		emc_variant v = emc_variant_of_cell(cell);
		emc_input_shape shape = ds->shape;
		emc_err why;
		int classes = emc_variant_classes(ds, &v, &why);
		char desc[128];
		int64_t params;

		if (classes < 0) {
			r = emc_err_set(err, EINVAL, "%s: %s", origin, why.msg);
			goto fail;
		}
		shape.classes = classes;
		params = emc_model_params(&cell->model, &shape);
		if (params < 0) {
			r = emc_err_set(err, EINVAL, "%s: model %s cannot be built on %s (%dx%dx%d, %d classes)",
					origin, emc_model_describe(&cell->model, desc, sizeof desc),
					p.dataset.description, shape.channels, shape.height, shape.width, shape.classes);
			goto fail;
		}
		if (campaign_memory_floor(cell, params) > p.need_bytes || p.need_cell < 0) {
			p.need_bytes = campaign_memory_floor(cell, params);
			p.need_cell = i;
		}
	}
	if (sodium_init() < 0) {
		r = emc_err_set(err, EIO, "campaign: libsodium failed to initialise");
		goto fail;
	}
	crypto_generichash(hash, sizeof hash, (const unsigned char *)text, len, NULL, 0);
	sodium_bin2hex(p.spec_hash, sizeof p.spec_hash, hash, sizeof hash);
	p.data = ds;
	*ret = p;
	return 0;
fail:
	emc_dataset_destroy(&ds);
	emc_spec_destroy(&p.spec);
	return r;
}

void campaign_prep_deinit(campaign_prep *p)
{
	emc_spec_destroy(&p->spec);
	emc_dataset_destroy(&p->data);
}

void campaign_measure_config(const emc_search_cfg *search, int64_t n_total, int n_seeds, measure_config *ret)
{
	static const measure_method methods[EMC_SEARCH_METHOD_COUNT] = {
		[EMC_SEARCH_BISECT] = MEASURE_BISECT,
		[EMC_SEARCH_PER_SEED] = MEASURE_PER_SEED,
		[EMC_SEARCH_GRID] = MEASURE_GRID,
	};
	int64_t n_max = search->max_n > 0 ? search->max_n : n_total;
	emc_search_cfg d;

	/* A campaign stored before the measurement keys existed has them as 0:
	 * it gets the spec's defaults, the one table of them. */
	if (search->quantile <= 0) {
		emc_search_cfg_defaults(&d);
		d.start = search->start;
		d.precision = search->precision;
		d.max_n = search->max_n;
		d.method = search->method;
		search = &d;
	}
	measure_config_default(ret, search->start, n_max, n_seeds);
	ret->precision = search->precision;
	if ((unsigned)search->method < EMC_SEARCH_METHOD_COUNT)
		ret->method = methods[search->method];
	ret->quantile = search->quantile;
	ret->min_seeds = search->min_seeds;
	ret->confidence = search->confidence;
	ret->grid_points = search->grid_points;
	ret->spec_depth = search->spec_depth;
	ret->indifference = search->indifference;
}

bool campaign_measure_outcome(emc_outcome o, emc_stop_reason why, measure_outcome *ret)
{
	switch (o) {
	case EMC_OUTCOME_FIT:
		*ret = (measure_outcome){ MEASURE_FIT, MEASURE_STOP_NONE };
		return true;
	case EMC_OUTCOME_NO_FIT:
		*ret = (measure_outcome){ MEASURE_NO_FIT, why == EMC_STOP_PLATEAU	 ? MEASURE_STOP_PLATEAU
							  : why == EMC_STOP_GRADNORM ? MEASURE_STOP_GRADNORM
							  : why == EMC_STOP_BUDGET   ? MEASURE_STOP_BUDGET
										     : MEASURE_STOP_NONE };
		return true;
	case EMC_OUTCOME_FAILED:
		*ret = (measure_outcome){ MEASURE_FAILED, MEASURE_STOP_NONE };
		return true;
	default:
		return false;
	}
}

bool campaign_trial_outcome(store_trial_state state, emc_stop_reason why, measure_outcome *ret)
{
	switch (state) {
	case STORE_TRIAL_FIT:
		return campaign_measure_outcome(EMC_OUTCOME_FIT, why, ret);
	case STORE_TRIAL_NO_FIT:
		return campaign_measure_outcome(EMC_OUTCOME_NO_FIT, why, ret);
	case STORE_TRIAL_FAILED:
		return campaign_measure_outcome(EMC_OUTCOME_FAILED, why, ret);
	default:
		return false;
	}
}

/* Both texts are parsed as written, relative paths unresolved, so a path
 * compares as the text spells it. */
static int spec_same(store *db, int64_t id, const char *text, size_t len, const char *origin, const char *name,
		     emc_err *err)
{
	emc_campaign_spec *was = NULL, *now = NULL;
	char *stored = NULL, key[256];
	size_t stored_len;
	int r;

	r = store_campaign_spec_text(db, id, &stored, &stored_len, err);
	if (r < 0)
		return r;
	r = emc_spec_parse_string(stored, stored_len, "the stored spec", NULL, &was, err);
	if (r == 0)
		r = emc_spec_parse_string(text, len, origin, NULL, &now, err);
	if (r == 0 && emc_spec_diff(was, now, key, sizeof key) != 0) {
		r = emc_err_set(err, EEXIST,
				"%s: campaign '%s' already exists in this database with a different spec: %s "
				"differs; rename it or use another database",
				origin, name, key);
	} else if (r < 0) {
		char why[EMC_ERR_MAX];

		snprintf(why, sizeof why, "%s", err->msg);
		r = emc_err_set(err, EEXIST,
				"%s: campaign '%s' already exists in this database with a spec that does not "
				"parse (%s); rename it or use another database",
				origin, name, why);
	}
	emc_spec_destroy(&was);
	emc_spec_destroy(&now);
	free(stored);
	return r;
}

int campaign_find_same(store *db, const campaign_prep *prep, const char *text, size_t len, const char *origin,
		       int64_t *ret_id, store_campaign_state *ret_state, emc_err *err)
{
	char hash[65] = "";
	store_campaign_state state;
	int64_t id;
	int r = store_campaign_find(db, prep->spec->name, &id, hash, &state, err);

	if (r <= 0)
		return r;
	/* the same bytes are the same spec; other bytes may be too */
	if (strcmp(hash, prep->spec_hash) != 0) {
		r = spec_same(db, id, text, len, origin, prep->spec->name, err);
		if (r < 0)
			return r;
	}
	*ret_id = id;
	*ret_state = state;
	return 1;
}
