/* test_celltable.c — every value the cell table accepts survives the store
 * and is accepted by the engine.
 *
 * The bug this guards: a cell the spec accepted was stored, then refused
 * by every worker and by the coordinator reloading it after a restart
 * (the store keeps cells as wire blobs). Here every boundary value of every
 * row (cellwalk.h) is written as a campaign through the real store, the
 * store is closed and opened again, and the cells read back must be equal
 * byte for byte; each must pass emc_cell_check (the engine's first step),
 * and where the network is small on a small input, the engine must plan
 * its memory (nn_trial_memory_bytes builds the model's plan without
 * allocating it).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "cell.h"
#include "cellwalk.h"
#include "nn.h"
#include "spec.h"
#include "store.h"
#include "testutil.h"

typedef struct loaded {
	emc_cell_cfg *cells;
	int n, cap;
} loaded;

static int collect(void *ctx, const store_cell_row *c)
{
	loaded *l = ctx;

	if (c->index < 0 || c->index >= l->cap)
		return -EINVAL;
	l->cells[c->index] = c->cfg;
	l->n++;
	return 0;
}

/* The accepted cases, as one campaign's cells. */
static int inside_cells(const walk_case *cases, int n, emc_cell_cfg *out)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		if (cases[i].inside)
			out[k++] = cases[i].cell;
	return k;
}

static void test_store_round_trip(void **state)
{
	static walk_case cases[WALK_MAX];
	static emc_cell_cfg cells[WALK_MAX], back[WALK_MAX];
	emc_campaign_spec spec;
	store_dataset_info ds = { .n_total = 1000, .shape = { 1, 8, 8, 10 } };
	loaded l = { back, 0, WALK_MAX };
	char *dir = tmpdir_new(), path[512];
	store *s = NULL;
	emc_err err = { "" };
	int64_t id;
	int n;

	(void)state;
	n = inside_cells(cases, walk_cases(cases), cells);
	assert_true(n > 50);
	memset(&spec, 0, sizeof spec);
	snprintf(spec.name, sizeof spec.name, "bounds");
	snprintf(spec.dataset.name, sizeof spec.dataset.name, "synthetic");
	spec.search.start = 16;
	spec.search.precision = 0.01;
	spec.n_cells = n;
	spec.cells = cells;
	snprintf(ds.description, sizeof ds.description, "synthetic");
	snprintf(path, sizeof path, "%s/emc.db", dir);

	if (store_open(path, false, &s, &err) < 0)
		fail_msg("%s", err.msg);
	if (store_campaign_insert(s, &spec, "name: bounds\n", "hash", &ds, &id, &err) < 0)
		fail_msg("%s", err.msg);
	store_close(&s);

	/* a restart: a new handle on the same file */
	if (store_open(path, false, &s, &err) < 0)
		fail_msg("%s", err.msg);
	if (store_load_active(s, NULL, collect, NULL, &l, &err) != 0)
		fail_msg("reload: %s", err.msg);
	assert_int_equal(l.n, n);
	for (int i = 0; i < n; i++) {
		if (memcmp(&back[i], &cells[i], sizeof back[i]) != 0)
			fail_msg("cell %d changed in the store", i);
		if (emc_cell_check(&back[i], &err) != 0)
			fail_msg("cell %d: %s", i, err.msg);
	}
	store_close(&s);
	tmpdir_remove(&dir);
}

/* The engine plans every accepted cell whose network is small on a small
 * input; the rest (a 12-layer cnn needs a 4096-pixel side, a 1000000-wide
 * layer a gigabyte) are shown accepted by emc_cell_check above. */
static void test_engine_accepts(void **state)
{
	static walk_case cases[WALK_MAX];
	int n = walk_cases(cases), planned = 0;

	(void)state;
	for (int i = 0; i < n; i++) {
		const walk_case *w = &cases[i];
		emc_input_shape shape = { 1, 8, 8, 10 };
		int64_t params, bytes;

		if (!w->inside)
			continue;
		assert_int_equal(emc_cell_check(&w->cell, NULL), 0);
		if (w->cell.classes > 0)
			shape.classes = w->cell.classes;
		if (w->cell.model.family == EMC_FAMILY_VIT && w->cell.model.patch <= 64)
			shape.height = shape.width = w->cell.model.patch;
		params = emc_model_params(&w->cell.model, &shape);
		if (params < 0 || params > (1 << 22))
			continue;
		bytes = nn_trial_memory_bytes(&w->cell, &shape, 100);
		if (bytes <= 0)
			fail_msg("%s = (%s): the engine cannot plan it (%lld)", w->f->key, w->what, (long long)bytes);
		planned++;
	}
	assert_true(planned > 50);
}

/* The rules that stand for the engine's limits are the engine's limits: a
 * resnet with the most layers the check accepts is built, one block more
 * is refused by both. */
static void test_engine_resnet_depth(void **state)
{
	emc_input_shape shape = { 1, 8, 8, 10 };
	emc_cell_cfg c;

	(void)state;
	emc_cell_cfg_defaults(&c);
	c.model.family = EMC_FAMILY_RESNET;
	emc_cell_family_defaults(&c);
	c.model.width = 1;
	c.model.widths[0] = c.model.widths[1] = 64;
	c.model.widths[2] = 17; /* 145 blocks in 3 stages: 1024 layers */
	assert_int_equal(emc_cell_check(&c, NULL), 0);
	assert_true(nn_trial_memory_bytes(&c, &shape, 10) > 0);
	c.model.widths[2] = 18;
	assert_int_equal(emc_cell_check(&c, NULL), -EINVAL);
	assert_int_equal(nn_trial_memory_bytes(&c, &shape, 10), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_round_trip),
		cmocka_unit_test(test_engine_accepts),
		cmocka_unit_test(test_engine_resnet_depth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
