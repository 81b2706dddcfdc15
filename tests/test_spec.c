/* test_spec.c — campaign spec parsing and grid expansion.
 *
 * Good specs must give the documented cells in the documented order; bad
 * specs must fail with a message naming the file, the line and the key
 * path, and must leave the caller's pointer alone.
 */
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

#include "testutil.h"

#include "cell.h"
#include "cellwalk.h"
#include "spec.h"
#include "wire.h"

#define ORIGIN "spec.yaml"
#define BASE "/srv/specs"

/* A pointer value no parse may write over on failure. */
#define SENTINEL ((emc_campaign_spec *)(uintptr_t)0x5a5a5a5a)

static int parse(const char *text, emc_campaign_spec **ret, emc_err *err)
{
	return emc_spec_parse_string(text, strlen(text), ORIGIN, BASE, ret, err);
}

static emc_campaign_spec *parse_ok(const char *text)
{
	emc_campaign_spec *spec = NULL;
	emc_err err = { "" };
	int r = parse(text, &spec, &err);

	if (r != 0)
		fail_msg("parse failed (%d): %s", r, err.msg);
	assert_non_null(spec);
	return spec;
}

static const char example[] = "name: mlp-width\n"
			      "dataset:\n"
			      "  name: fashion-mnist\n"
			      "  split: test\n"
			      "model:\n"
			      "  family: mlp\n"
			      "  widths: [[8], [16], [32]]\n"
			      "  activation: relu\n"
			      "optimizer:\n"
			      "  name: [sgd, adam]\n"
			      "  lr: 0.05\n"
			      "  momentum: 0.5\n"
			      "  nesterov: true\n"
			      "  weight_decay: 1e-4\n"
			      "  beta1: 0.8\n"
			      "  beta2: 0.99\n"
			      "  eps: 1.0e-7\n"
			      "  batch: 64\n"
			      "variant:\n"
			      "  labels: random\n"
			      "seeds: [7]\n"
			      "search:\n"
			      "  start: 32\n"
			      "  precision: 0.05\n"
			      "  max_n: 5000\n"
			      "budget:\n"
			      "  max_epochs: 300\n"
			      "  max_steps: 20000\n"
			      "  max_seconds: 60.5\n"
			      "  plateau_epochs: 10\n"
			      "  plateau_rel: 1e-3\n"
			      "  eval_every: 2\n"
			      "  fit_threshold: 0.995\n"
			      "  grad_tol: 1e-6\n";

static void test_example(void **state)
{
	emc_campaign_spec *spec = parse_ok(example);
	static const int widths[3] = { 8, 16, 32 };

	assert_string_equal(spec->name, "mlp-width");
	assert_string_equal(spec->dataset.name, "fashion-mnist");
	assert_string_equal(spec->dataset.split, "test");
	assert_string_equal(spec->dataset.format, "");
	assert_int_equal(spec->search.start, 32);
	assert_true(spec->search.precision == 0.05);
	assert_int_equal(spec->search.max_n, 5000);
	assert_int_equal(spec->n_seeds, 1);
	assert_int_equal(spec->seeds[0], 7);
	assert_int_equal(spec->search.min_seeds, 1); /* capped by the pool */
	/* widths vary slower than the optimizer */
	assert_int_equal(spec->n_cells, 6);
	for (int i = 0; i < 6; i++) {
		const emc_cell_cfg *c = &spec->cells[i];

		assert_int_equal(c->model.family, EMC_FAMILY_MLP);
		assert_int_equal(c->model.n_widths, 1);
		assert_int_equal(c->model.widths[0], widths[i / 2]);
		assert_int_equal(c->model.widths[1], 0);
		assert_int_equal(c->model.activation, EMC_ACT_RELU);
		assert_int_equal(c->optim.name, i % 2 ? EMC_OPT_ADAM : EMC_OPT_SGD);
		assert_true(c->optim.lr == 0.05);
		assert_true(c->optim.momentum == 0.5);
		assert_true(c->optim.nesterov);
		assert_true(c->optim.weight_decay == 1e-4);
		assert_true(c->optim.beta1 == 0.8);
		assert_true(c->optim.beta2 == 0.99);
		assert_true(c->optim.eps == 1e-7);
		assert_int_equal(c->optim.batch, 64);
		assert_int_equal(c->labels, EMC_LABELS_RANDOM);
		assert_int_equal(c->seed, 7);
		assert_int_equal(c->budget.max_epochs, 300);
		assert_int_equal(c->budget.max_steps, 20000);
		assert_true(c->budget.max_seconds == 60.5);
		assert_int_equal(c->budget.plateau_epochs, 10);
		assert_true(c->budget.plateau_rel == 1e-3);
		assert_int_equal(c->budget.eval_every, 2);
		assert_true(c->budget.fit_threshold == 0.995);
		assert_true(c->budget.grad_tol == 1e-6);
	}
	emc_spec_destroy(&spec);
	assert_null(spec);
	emc_spec_destroy(&spec); /* NULL-safe */
	emc_spec_destroy(NULL);
}

/* A spec with only the required keys is one cell: the documented defaults. */
static void test_defaults(void **state)
{
	emc_campaign_spec *spec = parse_ok("name: d\ndataset: {name: fashion-mnist}\nmodel: {}\n");
	emc_cell_cfg def;

	emc_cell_cfg_defaults(&def);
	assert_int_equal(spec->n_cells, 1);
	assert_memory_equal(&spec->cells[0], &def, sizeof def);
	assert_int_equal(spec->cells[0].seed, 0);
	assert_string_equal(spec->dataset.split, "train");
	assert_int_equal(spec->search.start, 16);
	assert_true(spec->search.precision == 0.01);
	assert_int_equal(spec->search.max_n, 0);
	/* a measurement over three replicate seeds, not one seed's crossing */
	assert_int_equal(spec->n_seeds, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(spec->seeds[i], i);
	assert_int_equal(spec->search.method, EMC_SEARCH_BISECT);
	assert_true(spec->search.quantile == 0.5);
	assert_int_equal(spec->search.min_seeds, 3);
	assert_true(spec->search.confidence == 0.95);
	assert_int_equal(spec->search.grid_points, 20);
	assert_int_equal(spec->search.spec_depth, 2);
	assert_true(spec->search.indifference == 0.2);
	assert_false(spec->cells[0].data_seed_fixed);
	emc_spec_destroy(&spec);
}

/* Three axes: widths, activation, lr — lr fastest, widths slowest (the
 * order of docs/spec.md). The seeds are not an axis: every cell is
 * measured over the whole pool and carries its first seed. */
static void test_grid_order(void **state)
{
	emc_campaign_spec *spec = parse_ok("name: g\n"
					   "dataset: {name: fashion-mnist}\n"
					   "model:\n"
					   "  widths: [[8], [16, 4]]\n"
					   "  activation: [relu, tanh]\n"
					   "optimizer: {lr: [0.1, 0.01]}\n"
					   "seeds: [1, 2, 3]\n");
	static const emc_activation acts[2] = { EMC_ACT_RELU, EMC_ACT_TANH };
	static const double lrs[2] = { 0.1, 0.01 };

	assert_int_equal(spec->n_cells, 8);
	assert_int_equal(spec->n_seeds, 3);
	for (int w = 0; w < 2; w++)
		for (int a = 0; a < 2; a++)
			for (int l = 0; l < 2; l++) {
				const emc_cell_cfg *c = &spec->cells[(w * 2 + a) * 2 + l];

				assert_int_equal(c->model.n_widths, w + 1);
				assert_int_equal(c->model.widths[0], w ? 16 : 8);
				if (w)
					assert_int_equal(c->model.widths[1], 4);
				assert_int_equal(c->model.activation, acts[a]);
				assert_true(c->optim.lr == lrs[l]);
				assert_int_equal(c->seed, 1);
			}
	emc_spec_destroy(&spec);
}

/* Optimizer keys and budget keys are axes too; and the optimizer name
 * varies slower than lr, lr slower than the budget. */
static void test_optimizer_budget_axes(void **state)
{
	emc_campaign_spec *spec = parse_ok("name: o\n"
					   "dataset: {name: fashion-mnist}\n"
					   "model: {widths: [8, 8]}\n"
					   "optimizer: {name: [adam, adamw], lr: [1e-3, 1e-2]}\n"
					   "budget:\n"
					   "  max_epochs: [10, 100]\n"
					   "  fit_threshold: [0.99, 1]\n");

	assert_int_equal(spec->n_cells, 16);
	for (int i = 0; i < 16; i++) {
		const emc_cell_cfg *c = &spec->cells[i];

		assert_int_equal(c->model.n_widths, 2); /* a flat list is one model */
		assert_int_equal(c->optim.name, i / 8 ? EMC_OPT_ADAMW : EMC_OPT_ADAM);
		assert_true(c->optim.lr == ((i / 4) % 2 ? 1e-2 : 1e-3));
		assert_int_equal(c->budget.max_epochs, (i / 2) % 2 ? 100 : 10);
		assert_true(c->budget.fit_threshold == (i % 2 ? 1.0 : 0.99));
	}
	emc_spec_destroy(&spec);
}

static void test_widths_forms(void **state)
{
	emc_campaign_spec *spec = parse_ok("name: w\ndataset: {name: x}\nmodel: {widths: [8, 8]}\n");

	assert_int_equal(spec->n_cells, 1);
	assert_int_equal(spec->cells[0].model.n_widths, 2);
	assert_int_equal(spec->cells[0].model.widths[0], 8);
	assert_int_equal(spec->cells[0].model.widths[1], 8);
	emc_spec_destroy(&spec);

	spec = parse_ok("name: w\ndataset: {name: x}\nmodel: {widths: 1000000}\n");
	assert_int_equal(spec->n_cells, 1);
	assert_int_equal(spec->cells[0].model.n_widths, 1);
	assert_int_equal(spec->cells[0].model.widths[0], 1000000);
	emc_spec_destroy(&spec);

	spec = parse_ok("name: w\ndataset: {name: x}\n"
			"model: {widths: [[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16], [4]]}\n");
	assert_int_equal(spec->n_cells, 2);
	assert_int_equal(spec->cells[0].model.n_widths, EMC_MAX_LAYERS);
	assert_int_equal(spec->cells[0].model.widths[15], 16);
	assert_int_equal(spec->cells[1].model.n_widths, 1);
	emc_spec_destroy(&spec);
}

/* A linear model has no hidden widths: crossing it with a widths axis
 * gives one linear cell, not one per width (and the seeds multiply
 * nothing). */
static void test_linear_dedup(void **state)
{
	emc_campaign_spec *spec = parse_ok("name: l\n"
					   "dataset: {name: fashion-mnist}\n"
					   "model:\n"
					   "  family: [linear, mlp]\n"
					   "  widths: [[8], [16]]\n"
					   "seeds: [0, 1]\n");

	assert_int_equal(spec->n_cells, 3);
	assert_int_equal(spec->cells[0].model.family, EMC_FAMILY_LINEAR);
	assert_int_equal(spec->cells[0].model.n_widths, 0);
	assert_int_equal(spec->cells[0].model.widths[0], 0);
	for (int i = 1; i < 3; i++) {
		assert_int_equal(spec->cells[i].model.family, EMC_FAMILY_MLP);
		assert_int_equal(spec->cells[i].model.widths[0], i < 2 ? 8 : 16);
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(spec->cells[i].seed, 0);
	emc_spec_destroy(&spec);
}

/* Full-batch: "full" and gd both mean batch 0, and gd merges batch axes. */
static void test_batch(void **state)
{
	emc_campaign_spec *spec = parse_ok("name: b\n"
					   "dataset: {name: x}\n"
					   "model: {}\n"
					   "optimizer: {name: [sgd, gd], batch: [32, full, 64]}\n");

	assert_int_equal(spec->n_cells, 4);
	assert_int_equal(spec->cells[0].optim.batch, 32);
	assert_int_equal(spec->cells[1].optim.batch, 0);
	assert_int_equal(spec->cells[2].optim.batch, 64);
	assert_int_equal(spec->cells[3].optim.name, EMC_OPT_GD);
	assert_int_equal(spec->cells[3].optim.batch, 0);
	emc_spec_destroy(&spec);
}

static void test_scalars(void **state)
{
	emc_campaign_spec *spec = parse_ok("name: A.b_c-9\n"
					   "dataset: {name: x}\n"
					   "model: {family: mlp}\n"
					   "optimizer: {nesterov: [false, true], lr: \"0.5\"}\n"
					   "variant: {labels: [true, random]}\n"
					   "seeds: [9223372036854775807, 18446744073709551615]\n");

	assert_string_equal(spec->name, "A.b_c-9");
	assert_int_equal(spec->n_cells, 4);
	assert_false(spec->cells[0].optim.nesterov);
	assert_int_equal(spec->cells[0].labels, EMC_LABELS_TRUE);
	assert_int_equal(spec->cells[1].labels, EMC_LABELS_RANDOM);
	assert_true(spec->cells[2].optim.nesterov);
	assert_true(spec->cells[3].optim.lr == 0.5);
	assert_true(spec->cells[3].seed == (uint64_t)INT64_MAX);
	assert_true(spec->seeds[1] == UINT64_MAX);
	emc_spec_destroy(&spec);
}

static void test_dataset_paths(void **state)
{
	emc_campaign_spec *spec = parse_ok("name: p\n"
					   "dataset:\n"
					   "  format: idx\n"
					   "  images: data/images.idx.gz\n"
					   "  labels: /abs/labels.idx\n"
					   "model: {}\n");

	assert_string_equal(spec->dataset.format, "idx");
	assert_string_equal(spec->dataset.name, "");
	assert_string_equal(spec->dataset.images, BASE "/data/images.idx.gz");
	assert_string_equal(spec->dataset.labels, "/abs/labels.idx");
	emc_spec_destroy(&spec);

	spec = parse_ok("name: p\ndataset: {format: idx, images: ./i, labels: l}\nmodel: {}\n");
	assert_string_equal(spec->dataset.images, BASE "/i");
	assert_string_equal(spec->dataset.labels, BASE "/l");
	emc_spec_destroy(&spec);

	/* without a base directory, paths stay as written */
	{
		static const char rel[] = "name: p\ndataset: {format: idx, images: i, labels: l}\nmodel: {}\n";

		assert_int_equal(emc_spec_parse_string(rel, strlen(rel), "s", NULL, &spec, NULL), 0);
	}
	assert_string_equal(spec->dataset.images, "i");
	emc_spec_destroy(&spec);
}

/* ---- model families ------------------------------------------------------------ */

static const emc_input_shape mnist_shape = { 1, 28, 28, 10 };
static const emc_input_shape cifar_shape = { 3, 32, 32, 10 };

/* Each family starts from its documented defaults, and those are the
 * models whose counts docs/models.md works out. */
static void test_family_defaults(void **state)
{
	emc_campaign_spec *spec = parse_ok("name: f\n"
					   "dataset: {name: x}\n"
					   "model: {family: [linear, mlp, cnn, resnet, vit]}\n");
	const emc_cell_cfg *c = spec->cells;
	char buf[64];

	assert_int_equal(spec->n_cells, 5);
	assert_int_equal(c[0].model.family, EMC_FAMILY_LINEAR);
	assert_int_equal(c[0].model.n_widths, 0);
	assert_string_equal(emc_model_describe(&c[0].model, buf, sizeof buf), "linear");
	assert_string_equal(emc_model_describe(&c[1].model, buf, sizeof buf), "mlp[32]");
	assert_int_equal(c[1].model.activation, EMC_ACT_RELU);

	assert_int_equal(c[2].model.family, EMC_FAMILY_CNN);
	assert_int_equal(c[2].model.layers, 2);
	assert_int_equal(c[2].model.filters, 32);
	assert_int_equal(c[2].model.hidden, 128);
	assert_int_equal(c[2].model.n_widths, 0); /* mlp's default widths are not a cnn's */
	assert_int_equal(c[2].model.widths[0], 0);
	assert_int_equal(c[2].model.activation, EMC_ACT_RELU);
	assert_int_equal(emc_model_params(&c[2].model, &mnist_shape), 421642);

	assert_int_equal(c[3].model.family, EMC_FAMILY_RESNET);
	assert_int_equal(c[3].model.width, 16);
	assert_int_equal(c[3].model.n_widths, 3);
	assert_int_equal(c[3].model.widths[0], 2);
	assert_int_equal(c[3].model.widths[2], 2);
	assert_int_equal(c[3].model.widths[3], 0);
	assert_int_equal(c[3].model.layers, 0);
	assert_int_equal(c[3].model.activation, EMC_ACT_RELU);
	assert_int_equal(emc_model_params(&c[3].model, &cifar_shape), 175258);

	assert_int_equal(c[4].model.family, EMC_FAMILY_VIT);
	assert_string_equal(emc_model_describe(&c[4].model, buf, sizeof buf), "vit[p7,d64,L2,h4,r2]");
	assert_int_equal(c[4].model.activation, EMC_ACT_GELU); /* vit's own default */
	assert_int_equal(c[4].model.n_widths, 0);
	assert_int_equal(c[4].model.width, 0);
	assert_int_equal(emc_model_params(&c[4].model, &mnist_shape), 71946);
	emc_spec_destroy(&spec);

	/* an activation the spec gives is used by vit too */
	spec = parse_ok("name: f\ndataset: {name: x}\nmodel: {family: vit, activation: relu}\n");
	assert_int_equal(spec->cells[0].model.activation, EMC_ACT_RELU);
	emc_spec_destroy(&spec);
}

/* Keys of several families in one spec: each cell keeps only its own, and
 * the axes multiply only the cells that read them. */
static void test_family_keys_dedup(void **state)
{
	emc_campaign_spec *spec = parse_ok("name: z\n"
					   "dataset: {name: x}\n"
					   "model:\n"
					   "  family: [linear, mlp, cnn, resnet, vit]\n"
					   "  widths: [[8], [16]]\n"
					   "  blocks: [[1, 1], [3]]\n"
					   "  filters: [8, 16]\n"
					   "  width: 4\n"
					   "  dim: [32, 64]\n"
					   "  heads: 2\n"
					   "  activation: [tanh, relu]\n");
	const emc_cell_cfg *c = spec->cells;
	char buf[64];
	static const char *const want[] = {
		"linear",
		"mlp[8]",	    "mlp[8]",	     "mlp[16]", "mlp[16]",
		"cnn[L2,F8,H128]",  "cnn[L2,F8,H128]", "cnn[L2,F16,H128]", "cnn[L2,F16,H128]",
		"resnet[1,1]x4",    "resnet[1,1]x4",   "resnet[3]x4",	   "resnet[3]x4",
		"vit[p7,d32,L2,h2,r2]", "vit[p7,d32,L2,h2,r2]", "vit[p7,d64,L2,h2,r2]", "vit[p7,d64,L2,h2,r2]",
	};

	/* linear: 1 (no widths, no activation); every other family 2 sizes × 2
	 * activations; 5 × 2 × 2 × 2 × 2 × 2 = 160 points before merging */
	assert_int_equal(spec->n_cells, 17);
	for (int i = 0; i < 17; i++) {
		const emc_model_cfg *m = &c[i].model;

		assert_string_equal(emc_model_describe(m, buf, sizeof buf), want[i]);
		if (i > 0)
			assert_int_equal(m->activation, i % 2 ? EMC_ACT_TANH : EMC_ACT_RELU);
		/* what the family does not read is zero */
		if (m->family != EMC_FAMILY_CNN)
			assert_int_equal(m->filters + m->layers + m->hidden, 0);
		if (m->family != EMC_FAMILY_RESNET)
			assert_int_equal(m->width, 0);
		if (m->family != EMC_FAMILY_VIT)
			assert_int_equal(m->patch + m->dim + m->depth + m->heads + m->mlp_ratio, 0);
		if (m->family != EMC_FAMILY_MLP && m->family != EMC_FAMILY_RESNET)
			assert_int_equal(m->n_widths + m->widths[0], 0);
	}
	assert_int_equal(c[0].model.activation, EMC_ACT_RELU); /* linear: normalised */
	emc_spec_destroy(&spec);

	/* a key of another family alone changes nothing */
	spec = parse_ok("name: z\ndataset: {name: x}\n"
			"model: {family: mlp, blocks: [[1], [2]], layers: [1, 2], dim: [66, 64], heads: 5}\n");
	assert_int_equal(spec->n_cells, 1);
	{
		emc_cell_cfg def;

		emc_cell_cfg_defaults(&def);
		assert_memory_equal(&spec->cells[0], &def, sizeof def);
	}
	emc_spec_destroy(&spec);
	spec = parse_ok("name: z\ndataset: {name: x}\nmodel: {family: resnet, widths: [[8], [16]]}\n");
	assert_int_equal(spec->n_cells, 1);
	assert_string_equal(emc_model_describe(&spec->cells[0].model, buf, sizeof buf), "resnet[2,2,2]x16");
	emc_spec_destroy(&spec);
}

/* The model keys vary in the documented order: family, widths, blocks,
 * layers, filters, hidden, width, patch, dim, depth, heads, mlp_ratio,
 * activation. */
static void test_model_key_order(void **state)
{
	emc_campaign_spec *spec = parse_ok("name: k\n"
					   "dataset: {name: x}\n"
					   "model:\n"
					   "  family: cnn\n"
					   "  activation: [relu, gelu]\n"
					   "  hidden: [64, 32]\n"
					   "  layers: [1, 3]\n"
					   "  filters: 4\n");
	static const int layers[2] = { 1, 3 }, hidden[2] = { 64, 32 };

	assert_int_equal(spec->n_cells, 8);
	for (int i = 0; i < 8; i++) {
		const emc_model_cfg *m = &spec->cells[i].model;

		assert_int_equal(m->layers, layers[i / 4]);
		assert_int_equal(m->filters, 4);
		assert_int_equal(m->hidden, hidden[(i / 2) % 2]);
		assert_int_equal(m->activation, i % 2 ? EMC_ACT_GELU : EMC_ACT_RELU);
	}
	emc_spec_destroy(&spec);

	spec = parse_ok("name: k\n"
			"dataset: {name: x}\n"
			"model:\n"
			"  family: vit\n"
			"  mlp_ratio: [1, 4]\n"
			"  heads: [1, 2]\n"
			"  depth: 3\n"
			"  dim: 48\n"
			"  patch: [4, 14]\n");
	assert_int_equal(spec->n_cells, 8);
	for (int i = 0; i < 8; i++) {
		const emc_model_cfg *m = &spec->cells[i].model;

		assert_int_equal(m->patch, i / 4 ? 14 : 4);
		assert_int_equal(m->dim, 48);
		assert_int_equal(m->depth, 3);
		assert_int_equal(m->heads, (i / 2) % 2 ? 2 : 1);
		assert_int_equal(m->mlp_ratio, i % 2 ? 4 : 1);
		assert_int_equal(m->activation, EMC_ACT_GELU);
	}
	emc_spec_destroy(&spec);
}

/* blocks reads like widths: a flat list is one model, a list of lists an
 * axis; and the width of a resnet is an axis of its own. */
static void test_blocks_forms(void **state)
{
	emc_campaign_spec *spec = parse_ok("name: b\ndataset: {name: x}\nmodel: {family: resnet, blocks: 3}\n");
	char buf[64];

	assert_int_equal(spec->n_cells, 1);
	assert_string_equal(emc_model_describe(&spec->cells[0].model, buf, sizeof buf), "resnet[3]x16");
	emc_spec_destroy(&spec);

	spec = parse_ok("name: b\ndataset: {name: x}\nmodel: {family: resnet, blocks: [3, 3, 3], width: [8, 16]}\n");
	assert_int_equal(spec->n_cells, 2);
	assert_string_equal(emc_model_describe(&spec->cells[0].model, buf, sizeof buf), "resnet[3,3,3]x8");
	assert_string_equal(emc_model_describe(&spec->cells[1].model, buf, sizeof buf), "resnet[3,3,3]x16");
	assert_int_equal(emc_model_params(&spec->cells[1].model, &cifar_shape), 272474);
	emc_spec_destroy(&spec);

	spec = parse_ok("name: b\ndataset: {name: x}\n"
			"model: {family: resnet, blocks: [[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1], [64]]}\n");
	assert_int_equal(spec->n_cells, 2);
	assert_int_equal(spec->cells[0].model.n_widths, EMC_MAX_LAYERS);
	assert_int_equal(spec->cells[1].model.n_widths, 1);
	assert_int_equal(spec->cells[1].model.widths[0], 64);
	assert_int_equal(spec->cells[1].model.widths[1], 0);
	emc_spec_destroy(&spec);
}

static void test_optimizer_schedule(void **state)
{
	emc_campaign_spec *spec = parse_ok("name: s\ndataset: {name: x}\nmodel: {}\n");

	assert_int_equal(spec->cells[0].optim.schedule, EMC_SCHEDULE_CONSTANT);
	assert_int_equal(spec->cells[0].optim.warmup_epochs, 0);
	assert_false(spec->cells[0].budget.hessian);
	emc_spec_destroy(&spec);

	/* schedule slower than warmup_epochs, both faster than batch */
	spec = parse_ok("name: s\n"
			"dataset: {name: x}\n"
			"model: {}\n"
			"optimizer: {warmup_epochs: [0, 5], schedule: [cosine, constant], batch: [16, 32]}\n"
			"budget: {hessian: [true, false]}\n");
	assert_int_equal(spec->n_cells, 16);
	for (int i = 0; i < 16; i++) {
		const emc_cell_cfg *c = &spec->cells[i];

		assert_int_equal(c->optim.batch, i / 8 ? 32 : 16);
		assert_int_equal(c->optim.schedule, (i / 4) % 2 ? EMC_SCHEDULE_CONSTANT : EMC_SCHEDULE_COSINE);
		assert_int_equal(c->optim.warmup_epochs, (i / 2) % 2 ? 5 : 0);
		assert_true(c->budget.hessian == !(i % 2));
	}
	emc_spec_destroy(&spec);

	spec = parse_ok("name: s\ndataset: {name: x}\nmodel: {}\noptimizer: {warmup_epochs: 1000000}\n");
	assert_int_equal(spec->cells[0].optim.warmup_epochs, 1000000);
	emc_spec_destroy(&spec);
}

static void test_variant(void **state)
{
	emc_campaign_spec *spec = parse_ok("name: v\n"
					   "dataset: {name: x}\n"
					   "model: {}\n"
					   "variant:\n"
					   "  classes: [0, 2]\n"
					   "  inputs: [true, permuted, gaussian]\n"
					   "  labels: [true, random, noisy:0.2, \"noisy:1\"]\n");
	static const emc_labels labels[4] = { EMC_LABELS_TRUE, EMC_LABELS_RANDOM, EMC_LABELS_NOISY,
					      EMC_LABELS_NOISY };
	static const double noise[4] = { 0, 0, 0.2, 1 };
	static const emc_inputs inputs[3] = { EMC_INPUTS_TRUE, EMC_INPUTS_PERMUTED, EMC_INPUTS_GAUSSIAN };

	/* labels slowest, then inputs, then classes */
	assert_int_equal(spec->n_cells, 24);
	for (int i = 0; i < 24; i++) {
		const emc_cell_cfg *c = &spec->cells[i];

		assert_int_equal(c->labels, labels[i / 6]);
		assert_true(c->label_noise == noise[i / 6]);
		assert_int_equal(c->inputs, inputs[(i / 2) % 3]);
		assert_int_equal(c->classes, i % 2 ? 2 : 0);
	}
	emc_spec_destroy(&spec);

	/* the defaults; and two spellings of one fraction are one cell */
	spec = parse_ok("name: v\ndataset: {name: x}\nmodel: {}\n"
			"variant: {labels: [noisy:0.5, noisy:.5, \"noisy:5e-1\", noisy:0.25], classes: 256}\n");
	assert_int_equal(spec->n_cells, 2);
	assert_true(spec->cells[0].label_noise == 0.5);
	assert_true(spec->cells[1].label_noise == 0.25);
	assert_int_equal(spec->cells[0].inputs, EMC_INPUTS_TRUE);
	assert_int_equal(spec->cells[0].classes, 256);
	emc_spec_destroy(&spec);
}

/* ---- datasets -------------------------------------------------------------- */

static void test_dataset_formats(void **state)
{
	emc_campaign_spec *spec;

	spec = parse_ok("name: d\ndataset: {format: cifar10, path: data/cifar, split: test, standardize: true}\n"
			"model: {}\n");
	assert_string_equal(spec->dataset.format, "cifar10");
	assert_string_equal(spec->dataset.path, BASE "/data/cifar");
	assert_string_equal(spec->dataset.split, "test");
	assert_true(spec->dataset.standardize);
	assert_string_equal(spec->dataset.cifar_label, "");
	assert_string_equal(spec->dataset.images, "");
	emc_spec_destroy(&spec);

	spec = parse_ok("name: d\ndataset: {format: cifar100, path: /c100}\nmodel: {}\n");
	assert_string_equal(spec->dataset.path, "/c100");
	assert_string_equal(spec->dataset.split, "train");
	assert_string_equal(spec->dataset.cifar_label, "fine");
	assert_false(spec->dataset.standardize);
	emc_spec_destroy(&spec);
	spec = parse_ok("name: d\ndataset: {format: cifar100, path: c, label: coarse}\nmodel: {}\n");
	assert_string_equal(spec->dataset.cifar_label, "coarse");
	emc_spec_destroy(&spec);

	spec = parse_ok("name: d\n"
			"dataset:\n"
			"  format: csv\n"
			"  path: ./tab/wine.csv\n"
			"  label: class\n"
			"  categorical: [colour, 'grape kind', region]\n"
			"model: {}\n");
	assert_string_equal(spec->dataset.format, "csv");
	assert_string_equal(spec->dataset.path, BASE "/tab/wine.csv");
	assert_string_equal(spec->dataset.label_column, "class");
	assert_string_equal(spec->dataset.categorical, "colour,grape kind,region");
	assert_string_equal(spec->dataset.cifar_label, "");
	emc_spec_destroy(&spec);
	spec = parse_ok("name: d\ndataset: {format: csv, path: t.csv, label: y, categorical: colour}\nmodel: {}\n");
	assert_string_equal(spec->dataset.categorical, "colour");
	emc_spec_destroy(&spec);
	spec = parse_ok("name: d\ndataset: {format: csv, path: t.csv, label: y, categorical: []}\nmodel: {}\n");
	assert_string_equal(spec->dataset.categorical, "");
	emc_spec_destroy(&spec);
	/* a column name that starts like the label is not the label */
	spec = parse_ok("name: d\ndataset: {format: csv, path: t.csv, label: y, categorical: [yy, xy]}\nmodel: {}\n");
	assert_string_equal(spec->dataset.categorical, "yy,xy");
	emc_spec_destroy(&spec);

	spec = parse_ok("name: d\ndataset: {format: synthetic, n: 1000, dim: 20, classes: 4}\nmodel: {}\n");
	assert_string_equal(spec->dataset.format, "synthetic");
	assert_int_equal(spec->dataset.synth_n, 1000);
	assert_int_equal(spec->dataset.synth_dim, 20);
	assert_int_equal(spec->dataset.synth_classes, 4);
	assert_int_equal(spec->dataset.synth_seed, 0);
	assert_string_equal(spec->dataset.synth_teacher, "uniform");
	assert_string_equal(spec->dataset.labels, "");
	emc_spec_destroy(&spec);
	spec = parse_ok("name: d\n"
			"dataset: {format: synthetic, labels: linear, seed: 9223372036854775807, n: 67108864,"
			" dim: 16777216, classes: 256}\n"
			"model: {}\n");
	assert_string_equal(spec->dataset.synth_teacher, "linear");
	assert_true(spec->dataset.synth_seed == (uint64_t)INT64_MAX);
	assert_int_equal(spec->dataset.synth_n, 1 << 26);
	assert_int_equal(spec->dataset.synth_dim, 1 << 24);
	assert_int_equal(spec->dataset.synth_classes, 256);
	emc_spec_destroy(&spec);

	spec = parse_ok("name: d\ndataset: {format: idx, images: i, labels: l, standardize: true}\nmodel: {}\n");
	assert_true(spec->dataset.standardize);
	assert_string_equal(spec->dataset.labels, BASE "/l");
	assert_string_equal(spec->dataset.synth_teacher, "");
	emc_spec_destroy(&spec);

	/* an alias is a free name: the dataset module knows which exist */
	spec = parse_ok("name: d\ndataset: {name: breast-cancer, standardize: false, split: test}\nmodel: {}\n");
	assert_string_equal(spec->dataset.name, "breast-cancer");
	assert_string_equal(spec->dataset.format, "");
	assert_false(spec->dataset.standardize);
	emc_spec_destroy(&spec);
}

/* The joined column names must fit their field. */
static void test_categorical_too_long(void **state)
{
	char text[2048];
	emc_campaign_spec *spec = SENTINEL;
	emc_err err = { "" };
	int off = snprintf(text, sizeof text, "name: c\ndataset:\n  format: csv\n  path: p\n  label: y\n"
					      "  categorical: [");

	/* 51 names of 9 characters and 50 commas make 509 bytes: fits */
	for (int i = 0; i < 51; i++)
		off += snprintf(text + off, sizeof text - off, "%scolumn%03d", i ? "," : "", i);
	snprintf(text + off, sizeof text - off, "]\nmodel: {}\n");
	spec = parse_ok(text);
	assert_int_equal(strlen(spec->dataset.categorical), 51 * 9 + 50);
	emc_spec_destroy(&spec);
	/* one more does not */
	snprintf(text + off, sizeof text - off, ",column051]\nmodel: {}\n");
	spec = SENTINEL;
	assert_int_equal(parse(text, &spec, &err), -EINVAL);
	assert_ptr_equal(spec, SENTINEL);
	assert_contains(err.msg, "spec.yaml:6: dataset.categorical[51]: ");
	assert_contains(err.msg, "longer than 511 bytes");
}

/* ---- errors ---------------------------------------------------------------- */

typedef struct bad_case {
	const char *text;
	const char *where; /* "spec.yaml:LINE: key.path" */
	const char *what;  /* part of the message after it */
} bad_case;

#define HEAD "name: t\ndataset: {name: fashion-mnist}\n" /* lines 1-2 */
#define HEADM HEAD "model: {}\n"                          /* lines 1-3 */

static const bad_case bad_cases[] = {
	/* unknown keys */
	{ HEADM "colour: red\n", "spec.yaml:4: colour", "unknown key" },
	{ HEADM "optimizer:\n  lr: 0.1\n  momentun: 0.9\n", "spec.yaml:6: optimizer.momentun", "unknown key" },
	{ HEAD "model: {family: mlp, dropout: 3}\n", "spec.yaml:3: model.dropout", "unknown key" },
	{ "name: t\ndataset: {name: x, colour: y}\nmodel: {}\n", "spec.yaml:2: dataset.colour", "unknown key" },
	{ HEADM "variant: {noise: 0.1}\n", "spec.yaml:4: variant.noise", "unknown key" },
	{ HEADM "budget: {hessians: true}\n", "spec.yaml:4: budget.hessians", "unknown key" },
	{ HEADM "search: {begin: 3}\n", "spec.yaml:4: search.begin", "unknown key" },
	/* wrong types */
	{ HEADM "optimizer:\n  lr: fast\n", "spec.yaml:5: optimizer.lr", "expected a number in (0, 1000000], got 'fast'" },
	{ HEADM "optimizer:\n  lr: {a: 1}\n", "spec.yaml:5: optimizer.lr", "got a mapping" },
	{ HEADM "optimizer:\n  lr: [[0.1]]\n", "spec.yaml:5: optimizer.lr[0]", "got a list" },
	{ HEADM "optimizer:\n  lr:\n", "spec.yaml:5: optimizer.lr", "expected a number in (0, 1000000], got nothing" },
	{ HEAD "model: mlp\n", "spec.yaml:3: model", "expected a mapping of keys, got 'mlp'" },
	{ HEADM "optimizer: [sgd]\n", "spec.yaml:4: optimizer", "expected a mapping of keys, got a list" },
	{ "name: [a, b]\ndataset: {name: x}\nmodel: {}\n", "spec.yaml:1: name", "got a list" },
	{ HEADM "optimizer: {batch: 1.5}\n", "spec.yaml:4: optimizer.batch", "an integer in [1, 67108864] or full, got '1.5'" },
	{ HEADM "budget: {max_epochs: 1e3}\n", "spec.yaml:4: budget.max_epochs", "an integer >= 0" },
	{ HEADM "optimizer: {lr: 0x10}\n", "spec.yaml:4: optimizer.lr", "expected a number in (0, 1000000]" },
	{ HEADM "optimizer: {lr: .inf}\n", "spec.yaml:4: optimizer.lr", "expected a number in (0, 1000000]" },
	{ HEADM "optimizer: {nesterov: yes}\n", "spec.yaml:4: optimizer.nesterov", "true or false, got 'yes'" },
	{ HEADM "optimizer: {nesterov: 1}\n", "spec.yaml:4: optimizer.nesterov", "true or false" },
	{ HEADM "variant: {labels: maybe}\n", "spec.yaml:4: variant.labels",
	  "expected true, random or noisy:P with 0 < P <= 1, got 'maybe'" },
	{ HEADM "optimizer: {name: rmsprop}\n", "spec.yaml:4: optimizer.name", "one of sgd, adam, adamw, gd" },
	{ HEAD "model:\n  activation: [relu, swish]\n", "spec.yaml:4: model.activation[1]", "got 'swish'" },
	{ HEAD "model: {family: perceptron}\n", "spec.yaml:3: model.family",
	  "expected one of linear, mlp, cnn, resnet, vit, got 'perceptron'" },
	{ HEAD "model: {family: [mlp, CNN]}\n", "spec.yaml:3: model.family[1]", "got 'CNN'" },
	{ HEADM "search: {start: [16, 32]}\n", "spec.yaml:4: search.start", "not axes" },
	{ HEADM "search:\n  max_n: lots\n", "spec.yaml:5: search.max_n", "an integer >= 0, got 'lots'" },
	/* impossible values */
	{ HEADM "optimizer:\n  lr: -0.1\n", "spec.yaml:5: optimizer.lr", "expected a number in (0, 1000000], got '-0.1'" },
	{ HEADM "optimizer: {lr: 0}\n", "spec.yaml:4: optimizer.lr", "(0, 1000000], got '0'" },
	{ HEADM "optimizer: {momentum: 1}\n", "spec.yaml:4: optimizer.momentum", "[0, 1)" },
	{ HEADM "optimizer: {eps: 0}\n", "spec.yaml:4: optimizer.eps", "(0, 1], got '0'" },
	{ HEADM "optimizer: {weight_decay: -1}\n", "spec.yaml:4: optimizer.weight_decay", "[0, 1000000], got '-1'" },
	{ HEADM "search:\n  start: 0\n", "spec.yaml:5: search.start", "an integer >= 1, got '0'" },
	{ HEADM "search:\n  precision: 1.5\n", "spec.yaml:5: search.precision", "[0, 1), got '1.5'" },
	{ HEADM "budget:\n  fit_threshold: 0\n", "spec.yaml:5: budget.fit_threshold", "(0, 1], got '0'" },
	{ HEADM "budget:\n  fit_threshold: 1.01\n", "spec.yaml:5: budget.fit_threshold", "(0, 1]" },
	{ HEADM "budget:\n  eval_every: 0\n", "spec.yaml:5: budget.eval_every", "[1, 1000000], got '0'" },
	{ HEADM "optimizer:\n  batch: 0\n", "spec.yaml:5: optimizer.batch", "got '0'" },
	{ HEADM "optimizer:\n  batch: 3000000000\n", "spec.yaml:5: optimizer.batch", "an integer in [1, 67108864] or full, got '3000000000'" },
	{ HEAD "model:\n  widths: [8, 0]\n", "spec.yaml:4: model.widths[1]", "[1, 1000000], got '0'" },
	{ HEAD "model:\n  widths: [[8], [16, 1000001]]\n", "spec.yaml:4: model.widths[1][1]", "got '1000001'" },
	{ HEAD "model:\n  widths: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]\n", "spec.yaml:4: model.widths",
	  "at most 16 hidden layers, got 17" },
	{ HEAD "model:\n  widths: [[8], 16]\n", "spec.yaml:4: model.widths", "mixes widths and lists" },
	{ HEAD "model:\n  widths: [[8], []]\n", "spec.yaml:4: model.widths[1]", "empty list" },
	{ HEAD "model:\n  widths: []\n", "spec.yaml:4: model.widths", "empty list" },
	{ HEAD "model:\n  widths: -8\n", "spec.yaml:4: model.widths", "got '-8'" },
	{ HEADM "optimizer:\n  lr: []\n", "spec.yaml:5: optimizer.lr", "empty list" },
	{ HEADM "seeds: [0, -1]\n", "spec.yaml:4: seeds[1]", "an integer >= 0, got '-1'" },
	{ HEADM "seeds: -3\n", "spec.yaml:4: seeds", "got '-3'" },
	{ HEADM "seeds: []\n", "spec.yaml:4: seeds", "empty list" },
	/* the replicate pool */
	{ HEADM "seeds: 0\n", "spec.yaml:4: seeds", "a count of seeds in [1, 256] or a list of distinct seeds, got '0'" },
	{ HEADM "seeds: 257\n", "spec.yaml:4: seeds", "in [1, 256]" },
	{ HEADM "seeds: 2.5\n", "spec.yaml:4: seeds", "got '2.5'" },
	{ HEADM "seeds: three\n", "spec.yaml:4: seeds", "got 'three'" },
	{ HEADM "seeds: {a: 1}\n", "spec.yaml:4: seeds", "got a mapping" },
	{ HEADM "seeds: [1, 2, 1]\n", "spec.yaml:4: seeds[2]", "seed 1 is already seeds[0]" },
	{ HEADM "seeds:\n  - 5\n  - 6\n  - 5\n", "spec.yaml:7: seeds[2]", "already seeds[0]" },
	{ HEADM "seeds: [0, 1.5]\n", "spec.yaml:4: seeds[1]", "an integer >= 0, got '1.5'" },
	{ HEADM "seeds: [[1]]\n", "spec.yaml:4: seeds[0]", "got a list" },
	{ HEADM "seeds: [18446744073709551616]\n", "spec.yaml:4: seeds[0]", "got '18446744073709551616'" },
	{ HEADM "seeds: [0x10]\n", "spec.yaml:4: seeds[0]", "got '0x10'" },
	/* the search keys: every bound is walked in test_search_bounds */
	{ HEADM "search: {method: bisection}\n", "spec.yaml:4: search.method",
	  "expected bisect, per-seed or grid, got 'bisection'" },
	{ HEADM "search: {method: [bisect, grid]}\n", "spec.yaml:4: search.method", "not axes" },
	{ HEADM "search: {quantile: [0.5, 0.9]}\n", "spec.yaml:4: search.quantile", "not axes" },
	{ HEADM "search: {min_seeds: 2, min_seeds: 3}\n", "spec.yaml:4: search.min_seeds", "duplicate key" },
	{ HEADM "search: {confidence: high}\n", "spec.yaml:4: search.confidence", "a number in (0, 1), got 'high'" },
	{ HEADM "search: {grid_points: 2.5}\n", "spec.yaml:4: search.grid_points", "an integer in [1, 1000], got '2.5'" },
	/* the engine pin */
	{ HEADM "engine: {kernel: Haswell}\n", "spec.yaml:4: engine.kernel", "unknown key" },
	{ HEADM "engine:\n  blas_core: Sky-lake\n", "spec.yaml:5: engine.blas_core",
	  "expected a kernel name of 1 to 31 characters from A-Z a-z 0-9 _, got 'Sky-lake'" },
	{ HEADM "engine:\n  blas_core: ''\n", "spec.yaml:5: engine.blas_core", "got nothing" },
	{ HEADM "engine:\n  blas_core: A23456789012345678901234567890123\n", "spec.yaml:5: engine.blas_core",
	  "1 to 31 characters" },
	{ HEADM "engine:\n  blas_core: [Haswell, Zen]\n", "spec.yaml:5: engine.blas_core", "not axes" },
	{ HEADM "engine:\n  blas_core: {name: Zen}\n", "spec.yaml:5: engine.blas_core", "got a mapping" },
	{ HEADM "engine:\n  blas_threads: 0\n", "spec.yaml:5: engine.blas_threads",
	  "expected an integer in [1, 256], got '0'" },
	{ HEADM "engine:\n  blas_threads: 257\n", "spec.yaml:5: engine.blas_threads", "[1, 256], got '257'" },
	{ HEADM "engine:\n  blas_threads: 1.5\n", "spec.yaml:5: engine.blas_threads", "got '1.5'" },
	{ HEADM "engine:\n  blas_threads: [1, 2]\n", "spec.yaml:5: engine.blas_threads", "not axes" },
	{ HEADM "engine: {blas_threads: 1, blas_threads: 2}\n", "spec.yaml:4: engine.blas_threads", "duplicate key" },
	{ HEADM "engine: Haswell\n", "spec.yaml:4: engine", "expected a mapping" },
	/* the data seed */
	{ HEADM "variant: {data_seed: -1}\n", "spec.yaml:4: variant.data_seed",
	  "expected an integer >= 0 or replicate, got '-1'" },
	{ HEADM "variant: {data_seed: replicated}\n", "spec.yaml:4: variant.data_seed", "got 'replicated'" },
	{ HEADM "variant: {data_seed: [1, x]}\n", "spec.yaml:4: variant.data_seed[1]", "got 'x'" },
	{ HEADM "budget:\n  max_epochs: 0\n", "spec.yaml:5: budget", "at least one of max_epochs" },
	{ "name: a b\ndataset: {name: x}\nmodel: {}\n", "spec.yaml:1: name", "got 'a b'" },
	{ "name: ''\ndataset: {name: x}\nmodel: {}\n", "spec.yaml:1: name", "got nothing" },
	/* duplicate keys */
	{ HEADM "optimizer:\n  lr: 0.1\n  lr: 0.2\n", "spec.yaml:6: optimizer.lr", "duplicate key" },
	{ HEADM "name: u\n", "spec.yaml:4: name", "duplicate key" },
	{ HEADM "search: {start: 1, start: 2}\n", "spec.yaml:4: search.start", "duplicate key" },
	/* missing required keys */
	{ "dataset: {name: x}\nmodel: {}\n", "spec.yaml:1: name", "required key missing" },
	{ "name: t\nmodel: {}\n", "spec.yaml:1: dataset", "required key missing" },
	{ HEAD "optimizer: {lr: 1}\n", "spec.yaml:1: model", "required key missing" },
	/* the dataset */
	{ "name: t\ndataset:\n  split: train\nmodel: {}\n", "spec.yaml:3: dataset", "either name" },
	{ "name: t\ndataset:\n  name: x\n  format: idx\nmodel: {}\n", "spec.yaml:4: dataset.format",
	  "not both" },
	{ "name: t\ndataset:\n  format: parquet\nmodel: {}\n", "spec.yaml:3: dataset.format",
	  "expected one of idx, cifar10, cifar100, csv, synthetic, got 'parquet'" },
	{ "name: t\ndataset:\n  format: idx\n  images: i\nmodel: {}\n", "spec.yaml:3: dataset.labels",
	  "required with format: idx" },
	{ "name: t\ndataset:\n  format: idx\n  labels: l\nmodel: {}\n", "spec.yaml:3: dataset.images",
	  "required with format: idx" },
	{ "name: t\ndataset:\n  name: x\n  images: i\nmodel: {}\n", "spec.yaml:4: dataset.images", "only with format" },
	{ "name: t\ndataset:\n  name: x\n  split: validation\nmodel: {}\n", "spec.yaml:4: dataset.split",
	  "train or test" },
	{ "name: t\ndataset: fashion-mnist\nmodel: {}\n", "spec.yaml:2: dataset", "expected a mapping" },
	/* model sizes */
	{ HEAD "model:\n  layers: 0\n", "spec.yaml:4: model.layers", "an integer in [1, 12], got '0'" },
	{ HEAD "model:\n  filters: 1000001\n", "spec.yaml:4: model.filters", "got '1000001'" },
	{ HEAD "model:\n  hidden: -1\n", "spec.yaml:4: model.hidden", "got '-1'" },
	{ HEAD "model:\n  width: [8, 0]\n", "spec.yaml:4: model.width[1]", "[1, 1000000], got '0'" },
	{ HEAD "model:\n  patch: 1.5\n", "spec.yaml:4: model.patch", "got '1.5'" },
	{ HEAD "model:\n  dim: big\n", "spec.yaml:4: model.dim", "got 'big'" },
	{ HEAD "model:\n  depth: 0\n", "spec.yaml:4: model.depth", "got '0'" },
	{ HEAD "model:\n  heads: [[4]]\n", "spec.yaml:4: model.heads[0]", "got a list" },
	{ HEAD "model:\n  mlp_ratio: 0\n", "spec.yaml:4: model.mlp_ratio", "got '0'" },
	{ HEAD "model:\n  layers: 2\n  layers: 3\n", "spec.yaml:5: model.layers", "duplicate key" },
	{ HEAD "model:\n  blocks: [2, 0]\n", "spec.yaml:4: model.blocks[1]", "[1, 64], got '0'" },
	{ HEAD "model:\n  blocks: [[2], 2]\n", "spec.yaml:4: model.blocks",
	  "mixes blocks and lists of blocks" },
	{ HEAD "model:\n  blocks: []\n", "spec.yaml:4: model.blocks", "got an empty list" },
	{ HEAD "model:\n  blocks: [[2], []]\n", "spec.yaml:4: model.blocks[1]",
	  "expected a list of blocks per stage, got an empty list" },
	{ HEAD "model:\n  blocks: {a: 1}\n", "spec.yaml:4: model.blocks",
	  "expected a list of blocks per stage, got a mapping" },
	{ HEAD "model:\n  blocks: [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]\n", "spec.yaml:4: model.blocks",
	  "at most 16 stages, got 17" },
	{ HEAD "model:\n  widths: {a: 1}\n", "spec.yaml:4: model.widths", "expected a list of hidden widths" },
	/* a vit's heads must split its dim, in every vit cell */
	{ HEAD "model:\n  family: vit\n  dim: 66\n", "spec.yaml:5: model.dim", "heads (4) must divide dim (66)" },
	{ HEAD "model:\n  family: vit\n  heads: 5\n", "spec.yaml:5: model.heads", "heads (5) must divide dim (64)" },
	{ HEAD "model:\n  family: [mlp, vit]\n  dim: [64, 32]\n  heads: [4, 3]\n", "spec.yaml:6: model.heads",
	  "heads (3) must divide dim (64)" },
	/* optimizer schedule */
	{ HEADM "optimizer: {schedule: linear}\n", "spec.yaml:4: optimizer.schedule",
	  "expected constant or cosine, got 'linear'" },
	{ HEADM "optimizer: {schedule: [cosine, Cosine]}\n", "spec.yaml:4: optimizer.schedule[1]", "got 'Cosine'" },
	{ HEADM "optimizer: {warmup_epochs: -1}\n", "spec.yaml:4: optimizer.warmup_epochs",
	  "an integer in [0, 1000000], got '-1'" },
	{ HEADM "optimizer: {warmup_epochs: 1000001}\n", "spec.yaml:4: optimizer.warmup_epochs", "got '1000001'" },
	{ HEADM "optimizer: {warmup_epochs: 2.5}\n", "spec.yaml:4: optimizer.warmup_epochs", "got '2.5'" },
	/* budget */
	{ HEADM "budget: {hessian: yes}\n", "spec.yaml:4: budget.hessian", "true or false, got 'yes'" },
	{ HEADM "budget: {hessian: [true, 1]}\n", "spec.yaml:4: budget.hessian[1]", "true or false, got '1'" },
	/* variant */
	{ HEADM "variant: {labels: noisy}\n", "spec.yaml:4: variant.labels", "noisy:P with 0 < P <= 1, got 'noisy'" },
	{ HEADM "variant: {labels: \"noisy:\"}\n", "spec.yaml:4: variant.labels", "got 'noisy:'" },
	{ HEADM "variant: {labels: noisy:0}\n", "spec.yaml:4: variant.labels", "got 'noisy:0'" },
	{ HEADM "variant: {labels: noisy:-0.1}\n", "spec.yaml:4: variant.labels", "got 'noisy:-0.1'" },
	{ HEADM "variant: {labels: noisy:1.01}\n", "spec.yaml:4: variant.labels", "got 'noisy:1.01'" },
	{ HEADM "variant: {labels: noisy:lots}\n", "spec.yaml:4: variant.labels", "got 'noisy:lots'" },
	{ HEADM "variant: {labels: noisy:.nan}\n", "spec.yaml:4: variant.labels", "got 'noisy:.nan'" },
	{ HEADM "variant: {labels: [true, noisy:2]}\n", "spec.yaml:4: variant.labels[1]", "got 'noisy:2'" },
	{ HEADM "variant: {labels: Noisy:0.5}\n", "spec.yaml:4: variant.labels", "got 'Noisy:0.5'" },
	{ HEADM "variant: {inputs: shuffled}\n", "spec.yaml:4: variant.inputs",
	  "expected true, permuted or gaussian, got 'shuffled'" },
	{ HEADM "variant: {classes: 1}\n", "spec.yaml:4: variant.classes",
	  "expected 0 (the dataset's classes) or an integer in [2, 256], got '1'" },
	{ HEADM "variant: {classes: -2}\n", "spec.yaml:4: variant.classes", "got '-2'" },
	{ HEADM "variant: {classes: 257}\n", "spec.yaml:4: variant.classes", "got '257'" },
	{ HEADM "variant: {classes: [2, 2.5]}\n", "spec.yaml:4: variant.classes[1]", "got '2.5'" },
	/* dataset formats: each refuses the keys of the others */
	{ "name: t\ndataset: {name: x, path: p}\nmodel: {}\n", "spec.yaml:2: dataset.path", "only with format" },
	{ "name: t\ndataset: {name: x, n: 10}\nmodel: {}\n", "spec.yaml:2: dataset.n", "only with format" },
	{ "name: t\ndataset: {name: x, standardize: on}\nmodel: {}\n", "spec.yaml:2: dataset.standardize",
	  "true or false, got 'on'" },
	{ "name: t\ndataset: {format: [idx, csv]}\nmodel: {}\n", "spec.yaml:2: dataset.format", "got a list" },
	{ "name: t\ndataset:\n  format: idx\n  images: i\n  labels: l\n  split: test\nmodel: {}\n",
	  "spec.yaml:6: dataset.split", "not used with format: idx (only with a dataset name, cifar10, cifar100)" },
	{ "name: t\ndataset:\n  format: idx\n  images: i\n  labels: l\n  path: p\nmodel: {}\n",
	  "spec.yaml:6: dataset.path", "not used with format: idx (only with cifar10, cifar100, csv)" },
	{ "name: t\ndataset:\n  format: idx\n  images: i\n  labels: l\n  label: y\nmodel: {}\n",
	  "spec.yaml:6: dataset.label", "not used with format: idx (only with cifar100, csv)" },
	{ "name: t\ndataset:\n  format: idx\n  images: i\n  labels: l\n  standardize: 1\nmodel: {}\n",
	  "spec.yaml:6: dataset.standardize", "true or false, got '1'" },
	{ "name: t\ndataset:\n  format: cifar10\nmodel: {}\n", "spec.yaml:3: dataset.path",
	  "required with format: cifar10" },
	{ "name: t\ndataset:\n  format: cifar10\n  path: p\n  label: fine\nmodel: {}\n",
	  "spec.yaml:5: dataset.label", "not used with format: cifar10 (only with cifar100, csv)" },
	{ "name: t\ndataset:\n  format: cifar10\n  path: p\n  images: i\nmodel: {}\n",
	  "spec.yaml:5: dataset.images", "not used with format: cifar10 (only with idx)" },
	{ "name: t\ndataset:\n  format: cifar10\n  path: p\n  split: val\nmodel: {}\n",
	  "spec.yaml:5: dataset.split", "expected train or test, got 'val'" },
	{ "name: t\ndataset:\n  format: cifar100\n  path: p\n  label: medium\nmodel: {}\n",
	  "spec.yaml:5: dataset.label", "expected fine or coarse, got 'medium'" },
	{ "name: t\ndataset:\n  format: cifar100\n  path: ''\nmodel: {}\n", "spec.yaml:4: dataset.path",
	  "expected a file path, got nothing" },
	{ "name: t\ndataset:\n  format: csv\n  path: p\nmodel: {}\n", "spec.yaml:3: dataset.label",
	  "required with format: csv" },
	{ "name: t\ndataset:\n  format: csv\n  label: y\nmodel: {}\n", "spec.yaml:3: dataset.path",
	  "required with format: csv" },
	{ "name: t\ndataset: {format: csv, path: p, label: y, standardize: true}\nmodel: {}\n",
	  "spec.yaml:2: dataset.standardize", "not used with format: csv (only with a dataset name, idx, cifar10" },
	{ "name: t\ndataset: {format: csv, path: p, label: y, split: test}\nmodel: {}\n", "spec.yaml:2: dataset.split",
	  "not used with format: csv" },
	{ "name: t\ndataset: {format: csv, path: p, label: [y]}\nmodel: {}\n", "spec.yaml:2: dataset.label",
	  "expected a string, got a list" },
	{ "name: t\ndataset:\n  format: csv\n  path: p\n  label: y\n  categorical: [a, \"b,c\"]\nmodel: {}\n",
	  "spec.yaml:6: dataset.categorical[1]", "may not contain a comma, got 'b,c'" },
	{ "name: t\ndataset:\n  format: csv\n  path: p\n  label: y\n  categorical: [a, b, a]\nmodel: {}\n",
	  "spec.yaml:6: dataset.categorical[2]", "column 'a' is listed twice" },
	{ "name: t\ndataset:\n  format: csv\n  path: p\n  label: y\n  categorical: [a, y]\nmodel: {}\n",
	  "spec.yaml:6: dataset.categorical", "lists the label column 'y'" },
	{ "name: t\ndataset:\n  format: csv\n  path: p\n  label: y\n  categorical: [[a]]\nmodel: {}\n",
	  "spec.yaml:6: dataset.categorical[0]", "expected a column name, got a list" },
	{ "name: t\ndataset:\n  format: csv\n  path: p\n  label: y\n  categorical: {a: 1}\nmodel: {}\n",
	  "spec.yaml:6: dataset.categorical", "expected a list of column names, got a mapping" },
	{ "name: t\ndataset:\n  format: csv\n  path: p\n  label: y\n  categorical: ['']\nmodel: {}\n",
	  "spec.yaml:6: dataset.categorical[0]", "expected a column name, got nothing" },
	{ "name: t\ndataset:\n  format: synthetic\n  n: 100\n  dim: 2\nmodel: {}\n", "spec.yaml:3: dataset.classes",
	  "required with format: synthetic" },
	{ "name: t\ndataset:\n  format: synthetic\n  dim: 2\n  classes: 2\nmodel: {}\n", "spec.yaml:3: dataset.n",
	  "required with format: synthetic" },
	{ "name: t\ndataset:\n  format: synthetic\n  n: 100\n  classes: 2\nmodel: {}\n", "spec.yaml:3: dataset.dim",
	  "required with format: synthetic" },
#define SYN "name: t\ndataset:\n  format: synthetic\n  n: 100\n  dim: 2\n  classes: 3\n" /* lines 1-6 */
	{ SYN "  seed: -1\nmodel: {}\n", "spec.yaml:7: dataset.seed", "an integer >= 0, got '-1'" },
	{ SYN "  labels: teacher\nmodel: {}\n", "spec.yaml:7: dataset.labels", "expected uniform or linear, got 'teacher'" },
	{ SYN "  images: i\nmodel: {}\n", "spec.yaml:7: dataset.images", "not used with format: synthetic" },
	{ SYN "  standardize: true\nmodel: {}\n", "spec.yaml:7: dataset.standardize", "not used with format: synthetic" },
	{ SYN "  path: p\nmodel: {}\n", "spec.yaml:7: dataset.path", "not used with format: synthetic" },
	{ SYN "  n: 5\nmodel: {}\n", "spec.yaml:7: dataset.n", "duplicate key" },
	{ "name: t\ndataset: {format: synthetic, n: 0, dim: 2, classes: 2}\nmodel: {}\n", "spec.yaml:2: dataset.n",
	  "an integer in [1, 67108864], got '0'" },
	{ "name: t\ndataset: {format: synthetic, n: 67108865, dim: 2, classes: 2}\nmodel: {}\n",
	  "spec.yaml:2: dataset.n", "got '67108865'" },
	{ "name: t\ndataset: {format: synthetic, n: [10, 20], dim: 2, classes: 2}\nmodel: {}\n",
	  "spec.yaml:2: dataset.n", "got a list" },
	{ "name: t\ndataset: {format: synthetic, n: 10, dim: 0, classes: 2}\nmodel: {}\n", "spec.yaml:2: dataset.dim",
	  "an integer in [1, 16777216], got '0'" },
	{ "name: t\ndataset: {format: synthetic, n: 10, dim: 16777217, classes: 2}\nmodel: {}\n",
	  "spec.yaml:2: dataset.dim", "got '16777217'" },
	{ "name: t\ndataset: {format: synthetic, n: 10, dim: 2, classes: 1}\nmodel: {}\n",
	  "spec.yaml:2: dataset.classes", "an integer in [2, 256], got '1'" },
	{ "name: t\ndataset: {format: synthetic, n: 10, dim: 2, classes: 257}\nmodel: {}\n",
	  "spec.yaml:2: dataset.classes", "got '257'" },
	/* YAML itself */
	{ HEADM "optimizer:\n  lr: 0.1: 2\n", "spec.yaml:5: ", "YAML syntax error" },
	{ HEADM "seeds: [1, 2\n", "spec.yaml:5: ", "while parsing a flow sequence at line 4" },
	{ HEADM "optimizer:\n  lr: 'open\n", "spec.yaml:6: ", "YAML syntax error" },
	{ HEADM "optimizer:\n\tlr: 1\n", "spec.yaml:5: ", "YAML syntax error" },
	{ HEADM "optimizer: &o {lr: 0.1}\n", "spec.yaml:4: ", "anchors (&o) are not supported" },
	{ HEADM "a: &x 1\nb: *x\n", "spec.yaml:4: ", "anchors" },
	{ HEADM "budget: *b\n", "spec.yaml:4: ", "aliases (*b) are not supported" },
	{ HEADM "---\nname: v\n", "spec.yaml:4: ", "one YAML document" },
	{ "- name: t\n", "spec.yaml:1: ", "a mapping of keys at the top level, got a list" },
	{ "# nothing here\n", "spec.yaml:1: ", "the spec is empty" },
	{ HEADM "? [a, b]\n: 1\n", "spec.yaml:4: ", "expected a key name, got a list" },
	{ HEADM "optimizer: {name: \"sg\\0d\"}\n", "spec.yaml:4: ", "NUL character" },
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const bad_case *b = &bad_cases[i];
		emc_campaign_spec *spec = SENTINEL;
		emc_err err = { "" };
		int r = parse(b->text, &spec, &err);

		if (r != -EINVAL)
			fail_msg("case %zu: expected -EINVAL, got %d for:\n%s", i, r, b->text);
		assert_ptr_equal(spec, SENTINEL);
		if (strncmp(err.msg, b->where, strlen(b->where)) != 0)
			fail_msg("case %zu: expected \"%s\" to start with \"%s\"", i, err.msg, b->where);
		assert_contains(err.msg, b->what);
	}
}

/* Deep nesting is refused before it costs anything. */
static void test_too_deep(void **state)
{
	char text[256];
	emc_campaign_spec *spec = SENTINEL;
	emc_err err = { "" };
	int off = snprintf(text, sizeof text, HEADM "seeds: ");

	for (int i = 0; i < 40; i++)
		text[off++] = '[';
	for (int i = 0; i < 40; i++)
		text[off++] = ']';
	text[off++] = '\n';
	text[off] = '\0';
	assert_int_equal(parse(text, &spec, &err), -EINVAL);
	assert_ptr_equal(spec, SENTINEL);
	assert_contains(err.msg, "spec.yaml:4: ");
	assert_contains(err.msg, "nested more than");
}

/* 1000 learning rates × 101 epoch budgets is more than EMC_SPEC_MAX_CELLS. */
static void test_too_many_cells(void **state)
{
	size_t cap = 64 * 1024, off;
	char *text = malloc(cap);
	emc_campaign_spec *spec = SENTINEL;
	emc_err err = { "" };

	assert_non_null(text);
	off = (size_t)snprintf(text, cap, HEADM "optimizer:\n  lr: [");
	for (int i = 1; i <= 1000; i++)
		off += (size_t)snprintf(text + off, cap - off, "%s%d", i > 1 ? ", " : "", i);
	off += (size_t)snprintf(text + off, cap - off, "]\nbudget:\n  max_epochs: [");
	for (int i = 1; i <= 101; i++)
		off += (size_t)snprintf(text + off, cap - off, "%s%d", i > 1 ? ", " : "", i);
	snprintf(text + off, cap - off, "]\n");
	assert_int_equal(parse(text, &spec, &err), -EINVAL);
	assert_ptr_equal(spec, SENTINEL);
	assert_contains(err.msg, "spec.yaml: grid: ");
	assert_contains(err.msg, "more than 100000 cells");

	/* 1000 × 100 is exactly the limit and fine */
	off = (size_t)snprintf(text, cap, HEADM "optimizer:\n  lr: [");
	for (int i = 1; i <= 1000; i++)
		off += (size_t)snprintf(text + off, cap - off, "%s%d", i > 1 ? ", " : "", i);
	off += (size_t)snprintf(text + off, cap - off, "]\nbudget:\n  max_epochs: [");
	for (int i = 1; i <= 100; i++)
		off += (size_t)snprintf(text + off, cap - off, "%s%d", i > 1 ? ", " : "", i);
	snprintf(text + off, cap - off, "]\n");
	spec = parse_ok(text);
	assert_int_equal(spec->n_cells, EMC_SPEC_MAX_CELLS);
	assert_true(spec->cells[EMC_SPEC_MAX_CELLS - 1].optim.lr == 1000);
	assert_int_equal(spec->cells[EMC_SPEC_MAX_CELLS - 1].budget.max_epochs, 100);
	emc_spec_destroy(&spec);
	free(text);
}

static void test_too_large(void **state)
{
	size_t len = (size_t)EMC_SPEC_MAX_BYTES + 1;
	char *text = malloc(len);
	emc_campaign_spec *spec = SENTINEL;
	emc_err err = { "" };
	char *dir = tmpdir_new(), *path;

	assert_non_null(text);
	memset(text, '#', len);
	assert_int_equal(emc_spec_parse_string(text, len, ORIGIN, BASE, &spec, &err), -EFBIG);
	assert_ptr_equal(spec, SENTINEL);
	assert_contains(err.msg, "spec.yaml: ");
	assert_contains(err.msg, "larger than 1048576 bytes");

	path = write_file(dir, "big.yaml", text, len);
	assert_int_equal(emc_spec_parse_file(path, &spec, &err), -EFBIG);
	assert_ptr_equal(spec, SENTINEL);
	assert_contains(err.msg, path);
	free(path);
	free(text);
	tmpdir_remove(&dir);
}

static void test_parse_file(void **state)
{
	static const char text[] = "name: f\n"
				   "dataset: {format: idx, images: data/i.idx.gz, labels: /l.idx}\n"
				   "model: {}\n";
	char *dir = tmpdir_new(), *path, cwd[PATH_MAX], here[PATH_MAX], want[PATH_MAX + 32];
	emc_campaign_spec *spec = SENTINEL;
	emc_err err = { "" };

	/* a missing file is named */
	snprintf(want, sizeof want, "%s/missing.yaml", dir);
	assert_int_equal(emc_spec_parse_file(want, &spec, &err), -ENOENT);
	assert_ptr_equal(spec, SENTINEL);
	assert_contains(err.msg, want);

	/* absolute path: data is found beside the spec */
	path = write_file(dir, "spec.yaml", text, strlen(text));
	spec = NULL;
	assert_int_equal(emc_spec_parse_file(path, &spec, &err), 0);
	snprintf(want, sizeof want, "%s/data/i.idx.gz", dir);
	assert_string_equal(spec->dataset.images, want);
	assert_string_equal(spec->dataset.labels, "/l.idx");
	emc_spec_destroy(&spec);
	free(path);

	/* relative path: resolved against the current directory */
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(dir), 0);
	assert_non_null(getcwd(here, sizeof here));
	assert_int_equal(mkdir("sub", 0700), 0);
	free(write_file("sub", "s.yaml", text, strlen(text)));
	assert_int_equal(emc_spec_parse_file("sub/s.yaml", &spec, &err), 0);
	snprintf(want, sizeof want, "%s/sub/data/i.idx.gz", here);
	assert_string_equal(spec->dataset.images, want);
	emc_spec_destroy(&spec);
	{
		static const char bad[] = "name: f\ndataset: {name: x}\nmodel: {}\noptimizer: {lr: no}\n";

		free(write_file(".", "t.yaml", bad, strlen(bad)));
	}
	spec = SENTINEL;
	assert_int_equal(emc_spec_parse_file("t.yaml", &spec, &err), -EINVAL);
	assert_ptr_equal(spec, SENTINEL);
	assert_contains(err.msg, "t.yaml:4: optimizer.lr: expected a number in (0, 1000000], got 'no'");
	assert_int_equal(chdir(cwd), 0);
	tmpdir_remove(&dir);
}

/* ---- the cell table at the spec ------------------------------------------- */

/* A spec that gives row f the value text, and the line it is on. */
static int spec_with(const emc_cell_field *f, const char *text, char *buf, size_t len)
{
	const char *dot = strchr(f->key, '.');

	if (!dot) { /* a top-level row (none today: seeds are the pool, not a row) */
		snprintf(buf, len, HEADM "%s: %s\n", f->key, text);
		return 4;
	}
	if (strncmp(f->key, "model.", 6) == 0) {
		snprintf(buf, len, HEAD "model:\n  %s: %s\n", dot + 1, text);
		return 4;
	}
	snprintf(buf, len, HEADM "%.*s:\n  %s: %s\n", (int)(dot - f->key), f->key, dot + 1, text);
	return 5;
}

/* Every bound of every row is enforced at the spec: a value just outside
 * it is refused at its own line, naming its key. */
static void test_table_bounds_at_spec(void **state)
{
	static walk_case cases[WALK_MAX];
	int n = walk_cases(cases), tried = 0;

	(void)state;
	for (int i = 0; i < n; i++) {
		const walk_case *w = &cases[i];
		char value[128], text[512], where[128];
		emc_campaign_spec *spec = SENTINEL;
		emc_err err = { "" };
		int line;

		if (w->inside || !w->spellable)
			continue;
		walk_spell(w->f, &w->v, value, sizeof value);
		line = spec_with(w->f, value, text, sizeof text);
		snprintf(where, sizeof where, "spec.yaml:%d: %s", line, w->f->key);
		if (parse(text, &spec, &err) != -EINVAL)
			fail_msg("%s = %s (%s): accepted", w->f->key, value, w->what);
		assert_ptr_equal(spec, SENTINEL);
		if (strncmp(err.msg, where, strlen(where)) != 0)
			fail_msg("%s = %s: expected \"%s\" to start with \"%s\"", w->f->key, value, err.msg, where);
		tried++;
	}
	assert_true(tried > 40);
}

/* A spec giving a model key of w's family, with the witness's companions
 * (cellwalk.h) written out, except the key itself. */
static void model_spec(const walk_case *w, const char *value, char *text, size_t len)
{
	static const struct {
		emc_family family;
		const char *key, *value;
	} companions[] = {
		{ EMC_FAMILY_CNN, "layers", "1" },    { EMC_FAMILY_CNN, "filters", "1" },
		{ EMC_FAMILY_RESNET, "width", "1" },  { EMC_FAMILY_RESNET, "blocks", "[1]" },
		{ EMC_FAMILY_VIT, "dim", "1" },       { EMC_FAMILY_VIT, "heads", "1" },
		{ EMC_FAMILY_VIT, "mlp_ratio", "1" },
	};
	emc_family fam = w->cell.model.family;
	size_t off = (size_t)snprintf(text, len, HEAD "model:\n  family: %s\n  %s: %s\n", emc_family_name(fam),
				      w->f->key + 6, value);

	for (size_t i = 0; i < sizeof companions / sizeof companions[0] && off < len; i++)
		if (companions[i].family == fam && strcmp(companions[i].key, w->f->key + 6) != 0)
			off += (size_t)snprintf(text + off, len - off, "  %s: %s\n", companions[i].key,
						companions[i].value);
}

/* Every value the table accepts at a bound, the spec accepts too, and
 * builds the same cell the table's witness holds. */
static void test_table_inside_at_spec(void **state)
{
	static walk_case cases[WALK_MAX];
	int n = walk_cases(cases);

	(void)state;
	for (int i = 0; i < n; i++) {
		const walk_case *w = &cases[i];
		char value[256], text[1024];
		emc_campaign_spec *spec = NULL;
		emc_cell_value got;
		emc_err err = { "" };

		if (!w->inside || strcmp(w->f->key, "model.heads") == 0) /* heads needs its dim */
			continue;
		walk_spell(w->f, &w->v, value, sizeof value);
		spec_with(w->f, value, text, sizeof text);
		if (strcmp(w->f->key, "budget.max_epochs") == 0 && w->v.i == 0)
			continue; /* alone it leaves no budget: a rule, tested below */
		if (strncmp(w->f->key, "model.", 6) == 0 && w->f->families != EMC_FAMILIES_ALL &&
		    strcmp(w->f->key, "model.activation") != 0)
			model_spec(w, value, text, sizeof text);
		if (parse(text, &spec, &err) != 0)
			fail_msg("%s = %s (%s): refused: %s", w->f->key, value, w->what, err.msg);
		emc_cell_field_get(w->f, &spec->cells[0], &got);
		emc_cell_value want = w->v;
		if (w->f->type == EMC_CELL_LABELS && want.i != EMC_LABELS_NOISY)
			want.d = 0;
		if (got.i != want.i || got.u != want.u || memcmp(&got.d, &want.d, sizeof got.d) != 0 ||
		    got.n != want.n || memcmp(got.items, want.items, sizeof got.items) != 0)
			fail_msg("%s = %s (%s): the cell holds another value (%lld, %g, %d)\n%s", w->f->key, value, w->what,
				 (long long)got.i, got.d, got.n, text);
		assert_int_equal(emc_cell_check(&spec->cells[0], NULL), 0);
		emc_spec_destroy(&spec);
	}
}

static void expect_refused(const char *text, const char *where, const char *what)
{
	emc_campaign_spec *spec = SENTINEL;
	emc_err err = { "" };

	assert_int_equal(parse(text, &spec, &err), -EINVAL);
	assert_ptr_equal(spec, SENTINEL);
	if (strncmp(err.msg, where, strlen(where)) != 0)
		fail_msg("expected \"%s\" to start with \"%s\"", err.msg, where);
	assert_contains(err.msg, what);
}

/* The values the spec used to accept and every worker, and the store after
 * a restart, then refused. Each is now refused at the spec, at its line;
 * a batch of 2000000 is what the engine can do (a batch above the subset
 * is the whole subset), so it is accepted everywhere, and the bound is the
 * largest dataset. */
static void test_former_mismatches(void **state)
{
	emc_campaign_spec *spec;
	emc_cell_cfg back;
	uint8_t *buf;
	size_t len;

	(void)state;
	expect_refused(HEADM "optimizer:\n  lr: 2e6\n", "spec.yaml:5: optimizer.lr", "(0, 1000000], got '2e6'");
	expect_refused(HEADM "optimizer:\n  name: adam\n  eps: 2\n", "spec.yaml:6: optimizer.eps",
		       "(0, 1], got '2'");
	expect_refused(HEADM "budget:\n  max_seconds: 2e9\n", "spec.yaml:5: budget.max_seconds",
		       "[0, 1000000000], got '2e9'");
	expect_refused(HEADM "budget:\n  plateau_epochs: 2000000\n", "spec.yaml:5: budget.plateau_epochs",
		       "[0, 1000000], got '2000000'");
	expect_refused(HEADM "budget:\n  eval_every: 2000000\n", "spec.yaml:5: budget.eval_every",
		       "[1, 1000000], got '2000000'");
	expect_refused(HEADM "budget:\n  plateau_rel: 5\n", "spec.yaml:5: budget.plateau_rel", "[0, 1), got '5'");
	expect_refused(HEADM "optimizer:\n  batch: 67108865\n", "spec.yaml:5: optimizer.batch",
		       "[1, 67108864] or full, got '67108865'");
	expect_refused(HEADM "optimizer: {batch: [128, 2000000, 67108865]}\n", "spec.yaml:4: optimizer.batch[2]",
		       "got '67108865'");

	spec = parse_ok(HEADM "optimizer:\n  batch: 2000000\n");
	assert_int_equal(spec->cells[0].optim.batch, 2000000);
	assert_int_equal(emc_cell_check(&spec->cells[0], NULL), 0);
	assert_int_equal(wire_cell_pack(&spec->cells[0], &buf, &len, NULL), 0);
	assert_int_equal(wire_cell_unpack(buf, len, &back, NULL), 0);
	assert_memory_equal(&back, &spec->cells[0], sizeof back);
	free(buf);
	emc_spec_destroy(&spec);
}

/* A rule between keys is reported at the first of its keys the spec
 * gives; one that a default breaks, at the key's section. */
static void test_rules_at_spec(void **state)
{
	(void)state;
	expect_refused(HEADM "optimizer:\n  momentum: 0\n  nesterov: true\n", "spec.yaml:6: optimizer.nesterov",
		       "needs optimizer.momentum > 0");
	expect_refused(HEADM "optimizer:\n  momentum: [0.5, 0]\n  nesterov: true\n", "spec.yaml:6: optimizer.nesterov",
		       "needs optimizer.momentum > 0");
	expect_refused(HEADM "optimizer: {schedule: cosine}\nbudget:\n  max_epochs: 0\n  max_seconds: 60\n",
		       "spec.yaml:4: optimizer.schedule", "only max_seconds");
	expect_refused(HEADM "optimizer: {schedule: cosine, warmup_epochs: 1000}\n",
		       "spec.yaml:4: optimizer.warmup_epochs", "1000 epochs of warm-up leave none of the 1000-epoch");
	expect_refused(HEAD "model:\n  family: cnn\n  filters: 1000000\n", "spec.yaml:5: model.filters",
		       "2000000 channels");
	expect_refused(HEAD "model:\n  family: resnet\n  width: 1000000\n", "spec.yaml:5: model.width",
		       "4000000 channels");
	expect_refused(HEAD "model:\n  family: vit\n  mlp_ratio: 20000\n", "spec.yaml:5: model.mlp_ratio",
		       "1280000 wide");
}

/* ---- the replicate pool ------------------------------------------------------ */

/* `seeds: k` is the pool 0 … k − 1; a list is the pool in the order
 * written; the pool's size never multiplies the cells. */
static void test_seed_pool(void **state)
{
	static const char grid[] = HEAD "model: {widths: [[8], [16]]}\n";
	char text[8192];
	emc_campaign_spec *spec;
	size_t off;

	(void)state;
	snprintf(text, sizeof text, "%sseeds: 5\n", grid);
	spec = parse_ok(text);
	assert_int_equal(spec->n_seeds, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(spec->seeds[i], i);
	assert_int_equal(spec->n_cells, 2);
	assert_int_equal(spec->cells[1].seed, 0);
	emc_spec_destroy(&spec);

	snprintf(text, sizeof text, "%sseeds: [4, 0, 18446744073709551615, 2]\n", grid);
	spec = parse_ok(text);
	assert_int_equal(spec->n_seeds, 4);
	assert_int_equal(spec->seeds[0], 4);
	assert_int_equal(spec->seeds[1], 0);
	assert_true(spec->seeds[2] == UINT64_MAX);
	assert_int_equal(spec->seeds[3], 2);
	assert_int_equal(spec->n_cells, 2); /* not 8 */
	for (int i = 0; i < 2; i++)
		assert_int_equal(spec->cells[i].seed, 4); /* the pool's first */
	emc_spec_destroy(&spec);

	/* the smallest and largest pools, as a count and as a list */
	snprintf(text, sizeof text, "%sseeds: 1\n", grid);
	spec = parse_ok(text);
	assert_int_equal(spec->n_seeds, 1);
	assert_int_equal(spec->seeds[0], 0);
	emc_spec_destroy(&spec);
	snprintf(text, sizeof text, "%sseeds: %d\n", grid, EMC_SPEC_MAX_SEEDS);
	spec = parse_ok(text);
	assert_int_equal(spec->n_seeds, EMC_SPEC_MAX_SEEDS);
	assert_int_equal(spec->seeds[EMC_SPEC_MAX_SEEDS - 1], EMC_SPEC_MAX_SEEDS - 1);
	emc_spec_destroy(&spec);
	for (int extra = 0; extra <= 1; extra++) {
		emc_err err = { "" };

		off = (size_t)snprintf(text, sizeof text, "%sseeds: [", grid);
		for (int i = 0; i < EMC_SPEC_MAX_SEEDS + extra; i++)
			off += (size_t)snprintf(text + off, sizeof text - off, "%s%d", i ? ", " : "", 1000 - i);
		snprintf(text + off, sizeof text - off, "]\n");
		if (!extra) {
			spec = parse_ok(text);
			assert_int_equal(spec->n_seeds, EMC_SPEC_MAX_SEEDS);
			assert_int_equal(spec->seeds[EMC_SPEC_MAX_SEEDS - 1], 1000 - EMC_SPEC_MAX_SEEDS + 1);
			emc_spec_destroy(&spec);
			continue;
		}
		spec = SENTINEL;
		assert_int_equal(parse(text, &spec, &err), -EINVAL);
		assert_ptr_equal(spec, SENTINEL);
		assert_contains(err.msg, "spec.yaml:4: seeds: a pool holds at most 256 seeds, got 257");
	}
}

/* min_seeds is capped by the pool, as the measurement caps it, so the
 * spec shows what will be used. */
static void test_min_seeds_capped(void **state)
{
	emc_campaign_spec *spec;

	(void)state;
	spec = parse_ok(HEADM "seeds: 2\n");
	assert_int_equal(spec->search.min_seeds, 2);
	emc_spec_destroy(&spec);
	spec = parse_ok(HEADM "seeds: 8\n");
	assert_int_equal(spec->search.min_seeds, 3);
	emc_spec_destroy(&spec);
	spec = parse_ok(HEADM "seeds: 8\nsearch: {min_seeds: 5}\n");
	assert_int_equal(spec->search.min_seeds, 5);
	emc_spec_destroy(&spec);
	spec = parse_ok(HEADM "search: {min_seeds: 2147483647}\nseeds: 4\n"); /* either order */
	assert_int_equal(spec->search.min_seeds, 4);
	emc_spec_destroy(&spec);
}

/* ---- the search keys ------------------------------------------------------- */

/* The engine pin: absent is any worker; given, it is kept as written and a
 * worker matches when its kernel (in any case, as OPENBLAS_CORETYPE reads
 * it) and thread count are the pinned ones. */
static void test_engine_pin(void **state)
{
	emc_campaign_spec *spec;
	emc_engine_cfg any = { "", 0 };
	char text[96];

	(void)state;
	spec = parse_ok(HEADM);
	assert_false(emc_engine_pinned(&spec->engine));
	assert_true(emc_engine_accepts(&spec->engine, "Zen", 4));
	assert_true(emc_engine_accepts(&spec->engine, NULL, 0));
	emc_spec_destroy(&spec);

	spec = parse_ok(HEADM "engine:\n  blas_core: SkylakeX\n  blas_threads: 2\n");
	assert_string_equal(spec->engine.blas_core, "SkylakeX");
	assert_int_equal(spec->engine.blas_threads, 2);
	assert_true(emc_engine_pinned(&spec->engine));
	assert_true(emc_engine_accepts(&spec->engine, "SkylakeX", 2));
	assert_true(emc_engine_accepts(&spec->engine, "skylakex", 2));
	assert_false(emc_engine_accepts(&spec->engine, "SkylakeX", 1));
	assert_false(emc_engine_accepts(&spec->engine, "Haswell", 2));
	assert_false(emc_engine_accepts(&spec->engine, "", 2)); /* an unknown kernel is not this one */
	assert_false(emc_engine_accepts(&spec->engine, NULL, 2));
	emc_engine_text(&spec->engine, text, sizeof text);
	assert_string_equal(text, "blas_core SkylakeX, blas_threads 2");
	assert_int_equal(spec->n_cells, 1); /* a pin is not an axis */
	emc_spec_destroy(&spec);

	spec = parse_ok(HEADM "engine: {blas_threads: 256}\n");
	assert_string_equal(spec->engine.blas_core, "");
	assert_true(emc_engine_accepts(&spec->engine, "anything", 256));
	assert_false(emc_engine_accepts(&spec->engine, "anything", 1));
	emc_engine_text(&spec->engine, text, sizeof text);
	assert_string_equal(text, "blas_threads 256");
	emc_spec_destroy(&spec);

	spec = parse_ok(HEADM "engine: {blas_core: neoversen1}\nseeds: 2\n");
	assert_true(emc_engine_accepts(&spec->engine, "NEOVERSEN1", 7));
	emc_engine_text(&spec->engine, text, sizeof text);
	assert_string_equal(text, "blas_core neoversen1");
	emc_spec_destroy(&spec);

	spec = parse_ok(HEADM "engine: {}\n");
	assert_false(emc_engine_pinned(&spec->engine));
	emc_spec_destroy(&spec);
	emc_engine_text(&any, text, sizeof text);
	assert_string_equal(text, "any worker");
}

static void test_search_keys(void **state)
{
	emc_campaign_spec *spec;
	emc_search_method m;

	(void)state;
	spec = parse_ok(HEADM "seeds: 9\n"
			      "search:\n"
			      "  method: per-seed\n"
			      "  quantile: 0.9\n"
			      "  min_seeds: 4\n"
			      "  confidence: 0.8\n"
			      "  grid_points: 7\n"
			      "  spec_depth: 0\n"
			      "  indifference: 0.05\n"
			      "  start: 4\n");
	assert_int_equal(spec->search.method, EMC_SEARCH_PER_SEED);
	assert_true(spec->search.quantile == 0.9);
	assert_int_equal(spec->search.min_seeds, 4);
	assert_true(spec->search.confidence == 0.8);
	assert_int_equal(spec->search.grid_points, 7);
	assert_int_equal(spec->search.spec_depth, 0);
	assert_true(spec->search.indifference == 0.05);
	assert_int_equal(spec->search.start, 4);
	assert_true(spec->search.precision == 0.01); /* untouched: the default */
	emc_spec_destroy(&spec);
	for (int i = 0; i < EMC_SEARCH_METHOD_COUNT; i++) {
		char text[256];

		snprintf(text, sizeof text, HEADM "search: {method: %s}\n", emc_search_method_name((emc_search_method)i));
		spec = parse_ok(text);
		assert_int_equal(spec->search.method, i);
		emc_spec_destroy(&spec);
		assert_int_equal(emc_search_method_parse(emc_search_method_name((emc_search_method)i), &m), 0);
		assert_int_equal(m, i);
	}
	assert_string_equal(emc_search_method_name(EMC_SEARCH_GRID), "grid");
	assert_null(emc_search_method_name(EMC_SEARCH_METHOD_COUNT));
	assert_int_equal(emc_search_method_parse("per_seed", &m), -EINVAL);
}

/* A search key's range, as the measurement accepts it. */
typedef struct search_bound {
	const char *key;
	bool integer;
	int64_t imin, imax; /* integer */
	double min, max;    /* number */
	bool min_open, max_open;
	const char *expect;
} search_bound;

static const search_bound search_bounds[] = {
	{ "start", true, 1, INT64_MAX, 0, 0, false, false, "an integer >= 1" },
	{ "max_n", true, 0, INT64_MAX, 0, 0, false, false, "an integer >= 0" },
	{ "precision", false, 0, 0, 0, 1, false, true, "a number in [0, 1)" },
	{ "quantile", false, 0, 0, 0, 1, true, true, "a number in (0, 1)" },
	{ "min_seeds", true, 1, INT_MAX, 0, 0, false, false, "an integer in [1, 2147483647]" },
	{ "confidence", false, 0, 0, 0, 1, true, true, "a number in (0, 1)" },
	{ "grid_points", true, 1, 1000, 0, 0, false, false, "an integer in [1, 1000]" },
	{ "spec_depth", true, 0, 4, 0, 0, false, false, "an integer in [0, 4]" },
	{ "indifference", false, 0, 0, 0, 0.5, true, true, "a number in (0, 0.5)" },
};

/* The value of search.key in s, as a double and as an integer. */
static void search_value(const emc_search_cfg *s, const char *key, double *ret_d, int64_t *ret_i)
{
	*ret_d = strcmp(key, "precision") == 0	  ? s->precision
		 : strcmp(key, "quantile") == 0	  ? s->quantile
		 : strcmp(key, "confidence") == 0 ? s->confidence
		 : strcmp(key, "indifference") == 0 ? s->indifference
						    : 0;
	*ret_i = strcmp(key, "start") == 0	 ? s->start
		 : strcmp(key, "max_n") == 0	 ? s->max_n
		 : strcmp(key, "min_seeds") == 0 ? s->min_seeds
		 : strcmp(key, "grid_points") == 0 ? s->grid_points
		 : strcmp(key, "spec_depth") == 0  ? s->spec_depth
						   : 0;
}

/* Every bound of every search key: the value at it is taken and stored,
 * the value just past it is refused at its line, naming the key. */
static void test_search_bounds(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof search_bounds / sizeof search_bounds[0]; k++) {
		const search_bound *b = &search_bounds[k];
		char in[2][64], out[2][64], text[512], where[128];
		double dv[2] = { 0, 0 };
		int64_t iv[2] = { 0, 0 };

		if (b->integer) {
			iv[0] = b->imin;
			iv[1] = b->imax;
			snprintf(in[0], sizeof in[0], "%lld", (long long)b->imin);
			snprintf(in[1], sizeof in[1], "%lld", (long long)b->imax);
			snprintf(out[0], sizeof out[0], "%lld", (long long)b->imin - 1);
			snprintf(out[1], sizeof out[1], "%llu", (unsigned long long)b->imax + 1);
		} else {
			dv[0] = b->min_open ? nextafter(b->min, INFINITY) : b->min;
			dv[1] = b->max_open ? nextafter(b->max, -INFINITY) : b->max;
			snprintf(in[0], sizeof in[0], "%.17g", dv[0]);
			snprintf(in[1], sizeof in[1], "%.17g", dv[1]);
			snprintf(out[0], sizeof out[0], "%.17g", b->min_open ? b->min : nextafter(b->min, -INFINITY));
			snprintf(out[1], sizeof out[1], "%.17g", b->max_open ? b->max : nextafter(b->max, INFINITY));
		}
		for (int j = 0; j < 2; j++) {
			emc_campaign_spec *spec;
			double d;
			int64_t i;

			snprintf(text, sizeof text, HEADM "seeds: 256\nsearch:\n  %s: %s\n", b->key, in[j]);
			spec = parse_ok(text);
			search_value(&spec->search, b->key, &d, &i);
			if (b->integer ? i != (strcmp(b->key, "min_seeds") == 0 && iv[j] > 256 ? 256 : iv[j])
				       : memcmp(&d, &dv[j], sizeof d) != 0)
				fail_msg("search.%s = %s: stored another value", b->key, in[j]);
			emc_spec_destroy(&spec);

			snprintf(text, sizeof text, HEADM "seeds: 256\nsearch:\n  %s: %s\n", b->key, out[j]);
			snprintf(where, sizeof where, "spec.yaml:6: search.%s: expected %s, got '%s'", b->key, b->expect,
				 out[j]);
			expect_refused(text, where, "");
		}
	}
}

/* ---- the data seed --------------------------------------------------------- */

/* variant.data_seed fixes the variant's randomness for every trial; it is
 * a cell key like any other, so an axis of it makes cells. */
static void test_data_seed(void **state)
{
	emc_campaign_spec *spec;

	(void)state;
	spec = parse_ok(HEADM "variant: {labels: random, data_seed: 7}\nseeds: 3\n");
	assert_int_equal(spec->n_cells, 1);
	assert_true(spec->cells[0].data_seed_fixed);
	assert_int_equal(spec->cells[0].data_seed, 7);
	emc_spec_destroy(&spec);

	spec = parse_ok(HEADM "variant: {labels: random, data_seed: [replicate, 0, 18446744073709551615]}\n");
	assert_int_equal(spec->n_cells, 3);
	assert_false(spec->cells[0].data_seed_fixed);
	assert_int_equal(spec->cells[0].data_seed, 0);
	assert_true(spec->cells[1].data_seed_fixed);
	assert_int_equal(spec->cells[1].data_seed, 0);
	assert_true(spec->cells[2].data_seed_fixed);
	assert_true(spec->cells[2].data_seed == UINT64_MAX);
	emc_spec_destroy(&spec);

	/* written "replicate" is the default: the same cell */
	spec = parse_ok(HEADM "variant: {data_seed: [replicate]}\n");
	{
		emc_campaign_spec *plain = parse_ok(HEADM);

		assert_memory_equal(&spec->cells[0], &plain->cells[0], sizeof spec->cells[0]);
		emc_spec_destroy(&plain);
	}
	emc_spec_destroy(&spec);
}

/* A spec's identity is what it parses to: comments, key order (at the top
 * and inside a section, axes included) and flow or block style are the
 * same spec; any value that changes, at the top, in the search or engine,
 * the seeds, or one cell of the grid, is a difference named by its key. */
static void test_spec_diff(void **state)
{
	static const char base[] = "name: same\n"
				   "dataset: {name: fashion-mnist}\n"
				   "model: {widths: [[8], [16]], activation: relu}\n"
				   "optimizer: {name: sgd, lr: [0.1, 0.01]}\n"
				   "seeds: 3\n"
				   "search: {start: 16, max_n: 4096}\n";
	static const char *const same[] = {
	    "# the same campaign, said otherwise\n"
	    "search:\n  max_n: 4096   # bounded\n  start: 16\n"
	    "seeds: [0, 1, 2]\n"
	    "optimizer:\n  lr:\n    - 0.1\n    - 0.01\n  name: sgd\n"
	    "model: {activation: relu, widths: [[8], [16]]}\n"
	    "dataset:\n  name: fashion-mnist\n"
	    "name: same\n",
	    "name: same\ndataset: {name: fashion-mnist}\nmodel: {widths: [[8], [16]], activation: relu}\n"
	    "optimizer: {name: sgd, lr: [0.10, 1e-2]}\nseeds: 3\nsearch: {start: 16, max_n: 4096}\n",
	};
	static const struct {
		const char *text, *key;
	} differ[] = {
	    {"name: same\ndataset: {name: fashion-mnist}\nmodel: {widths: [[8], [16]], activation: relu}\n"
	     "optimizer: {name: sgd, lr: [0.1, 0.02]}\nseeds: 3\nsearch: {start: 16, max_n: 4096}\n",
	     "cell 1: optimizer.lr (0.01, now 0.02)"},
	    {"name: same\ndataset: {name: fashion-mnist}\nmodel: {widths: [[8], [16]], activation: relu}\n"
	     "optimizer: {name: sgd, lr: [0.1, 0.01]}\nseeds: 3\nsearch: {start: 16, max_n: 2048}\n",
	     "search.max_n (4096, now 2048)"},
	    {"name: same\ndataset: {name: fashion-mnist}\nmodel: {widths: [[8], [16]], activation: relu}\n"
	     "optimizer: {name: sgd, lr: [0.1, 0.01]}\nseeds: 4\nsearch: {start: 16, max_n: 4096}\n",
	     "the number of seeds (3, now 4)"},
	    {"name: same\ndataset: {name: fashion-mnist}\nmodel: {widths: [[8], [16]], activation: relu}\n"
	     "optimizer: {name: sgd, lr: [0.01, 0.1]}\nseeds: 3\nsearch: {start: 16, max_n: 4096}\n",
	     "cell 0: optimizer.lr (0.1, now 0.01)"},
	    {"name: same\ndataset: {name: fashion-mnist, split: test}\nmodel: {widths: [[8], [16]], activation: relu}\n"
	     "optimizer: {name: sgd, lr: [0.1, 0.01]}\nseeds: 3\nsearch: {start: 16, max_n: 4096}\n",
	     "dataset.split"},
	    {"name: same\ndataset: {name: fashion-mnist}\nmodel: {widths: [[8], [16]], activation: tanh}\n"
	     "optimizer: {name: sgd, lr: [0.1, 0.01]}\nseeds: 3\nsearch: {start: 16, max_n: 4096}\n",
	     "cell 0: model.activation (relu, now tanh)"},
	    {"name: same\ndataset: {name: fashion-mnist}\nmodel: {widths: [[8], [16]], activation: relu}\n"
	     "optimizer: {name: sgd, lr: [0.1, 0.01]}\nseeds: 3\nsearch: {start: 16, max_n: 4096}\n"
	     "engine: {blas_threads: 1}\n",
	     "engine.blas_threads (0, now 1)"},
	};
	emc_campaign_spec *a = parse_ok(base);
	char key[256];

	(void)state;
	assert_int_equal(emc_spec_diff(a, a, key, sizeof key), 0);
	for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
		emc_campaign_spec *b = parse_ok(same[i]);

		if (emc_spec_diff(a, b, key, sizeof key) != 0)
			fail_msg("variant %zu differs: %s", i, key);
		emc_spec_destroy(&b);
	}
	for (size_t i = 0; i < sizeof differ / sizeof *differ; i++) {
		emc_campaign_spec *b = parse_ok(differ[i].text);

		key[0] = '\0';
		assert_int_equal(emc_spec_diff(a, b, key, sizeof key), 1);
		if (!strstr(key, differ[i].key))
			fail_msg("change %zu: '%s' does not name '%s'", i, key, differ[i].key);
		emc_spec_destroy(&b);
	}
	emc_spec_destroy(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_example),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_grid_order),
	    cmocka_unit_test(test_optimizer_budget_axes),
	    cmocka_unit_test(test_widths_forms),
	    cmocka_unit_test(test_linear_dedup),
	    cmocka_unit_test(test_batch),
	    cmocka_unit_test(test_scalars),
	    cmocka_unit_test(test_dataset_paths),
	    cmocka_unit_test(test_family_defaults),
	    cmocka_unit_test(test_family_keys_dedup),
	    cmocka_unit_test(test_model_key_order),
	    cmocka_unit_test(test_blocks_forms),
	    cmocka_unit_test(test_optimizer_schedule),
	    cmocka_unit_test(test_variant),
	    cmocka_unit_test(test_dataset_formats),
	    cmocka_unit_test(test_categorical_too_long),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_too_deep),
	    cmocka_unit_test(test_too_many_cells),
	    cmocka_unit_test(test_too_large),
	    cmocka_unit_test(test_parse_file),
	    cmocka_unit_test(test_table_bounds_at_spec),
	    cmocka_unit_test(test_table_inside_at_spec),
	    cmocka_unit_test(test_former_mismatches),
	    cmocka_unit_test(test_rules_at_spec),
	    cmocka_unit_test(test_seed_pool),
	    cmocka_unit_test(test_min_seeds_capped),
	    cmocka_unit_test(test_search_keys),
	    cmocka_unit_test(test_engine_pin),
	    cmocka_unit_test(test_search_bounds),
	    cmocka_unit_test(test_data_seed),
	    cmocka_unit_test(test_spec_diff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
