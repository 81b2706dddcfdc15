/* test_cell.c — names, defaults, parameter counts and descriptions of
 * cells, and the cell field table: its one check at every bound, the wire
 * round trip of every accepted value, the rules between keys, the report
 * columns.
 *
 * The names are what the database, the wire and the specs store, so every
 * enum value must survive name → parse, and unknown names must be refused.
 * The parameter counts are compared with what PyTorch reports for the same
 * networks, written out by hand from the architectures in cell.h (the
 * arithmetic is in the comments, so a reader can redo it).
 */
#include <errno.h>
#include <limits.h>

#include "testutil.h"

#include "cell.h"
#include "cellwalk.h"
#include "wire.h"

/* For each enum: every value has a distinct name that parses back to it;
 * values out of range have no name; unknown names fail and leave *ret. */
#define CHECK_ENUM(type, count, name_fn, parse_fn)                                            \
	do {                                                                                    \
		for (int i_ = 0; i_ < (count); i_++) {                                          \
			const char *n_ = name_fn((type)i_);                                     \
			type v_ = (type)-1;                                                     \
			assert_non_null(n_);                                                    \
			assert_int_equal(parse_fn(n_, &v_), 0);                                 \
			assert_int_equal(v_, i_);                                               \
			for (int j_ = 0; j_ < i_; j_++)                                         \
				assert_string_not_equal(n_, name_fn((type)j_));                  \
		}                                                                               \
		assert_null(name_fn((type)(count)));                                            \
		assert_null(name_fn((type)-1));                                                 \
		{                                                                               \
			type v_ = (type)(count);                                                \
			assert_int_equal(parse_fn("no-such-name", &v_), -EINVAL);               \
			assert_int_equal(parse_fn("", &v_), -EINVAL);                           \
			assert_int_equal(v_, (count));                                          \
		}                                                                               \
	} while (0)

static void test_enum_round_trips(void **state)
{
	CHECK_ENUM(emc_family, EMC_FAMILY_COUNT, emc_family_name, emc_family_parse);
	CHECK_ENUM(emc_activation, EMC_ACT_COUNT, emc_activation_name, emc_activation_parse);
	CHECK_ENUM(emc_optimizer, EMC_OPT_COUNT, emc_optimizer_name, emc_optimizer_parse);
	CHECK_ENUM(emc_labels, EMC_LABELS_COUNT, emc_labels_name, emc_labels_parse);
	CHECK_ENUM(emc_inputs, EMC_INPUTS_COUNT, emc_inputs_name, emc_inputs_parse);
	CHECK_ENUM(emc_schedule, EMC_SCHEDULE_COUNT, emc_schedule_name, emc_schedule_parse);
	CHECK_ENUM(emc_outcome, EMC_OUTCOME_COUNT, emc_outcome_name, emc_outcome_parse);
	CHECK_ENUM(emc_stop_reason, EMC_STOP_COUNT, emc_stop_reason_name, emc_stop_reason_parse);
}

/* The spelled names are a contract with specs, the database and the docs. */
static void test_enum_names(void **state)
{
	emc_activation a;
	emc_family f;

	assert_string_equal(emc_family_name(EMC_FAMILY_LINEAR), "linear");
	assert_string_equal(emc_family_name(EMC_FAMILY_MLP), "mlp");
	assert_string_equal(emc_activation_name(EMC_ACT_LEAKY_RELU), "leaky_relu");
	assert_string_equal(emc_optimizer_name(EMC_OPT_ADAMW), "adamw");
	assert_string_equal(emc_optimizer_name(EMC_OPT_GD), "gd");
	assert_string_equal(emc_labels_name(EMC_LABELS_TRUE), "true");
	assert_string_equal(emc_labels_name(EMC_LABELS_RANDOM), "random");
	assert_string_equal(emc_labels_name(EMC_LABELS_NOISY), "noisy");
	assert_string_equal(emc_inputs_name(EMC_INPUTS_PERMUTED), "permuted");
	assert_string_equal(emc_inputs_name(EMC_INPUTS_GAUSSIAN), "gaussian");
	assert_string_equal(emc_schedule_name(EMC_SCHEDULE_CONSTANT), "constant");
	assert_string_equal(emc_schedule_name(EMC_SCHEDULE_COSINE), "cosine");
	assert_string_equal(emc_family_name(EMC_FAMILY_CNN), "cnn");
	assert_string_equal(emc_family_name(EMC_FAMILY_RESNET), "resnet");
	assert_string_equal(emc_family_name(EMC_FAMILY_VIT), "vit");
	assert_string_equal(emc_outcome_name(EMC_OUTCOME_NO_FIT), "no_fit");
	assert_string_equal(emc_stop_reason_name(EMC_STOP_GRADNORM), "gradnorm");
	assert_string_equal(emc_stop_reason_name(EMC_STOP_BUDGET), "budget");
	/* names are exact: no case folding, no prefixes */
	assert_int_equal(emc_activation_parse("ReLU", &a), -EINVAL);
	assert_int_equal(emc_activation_parse("relu ", &a), -EINVAL);
	assert_int_equal(emc_family_parse("ml", &f), -EINVAL);
}

static void test_defaults(void **state)
{
	emc_cell_cfg c;

	memset(&c, 0xff, sizeof c);
	emc_cell_cfg_defaults(&c);
	assert_int_equal(c.model.family, EMC_FAMILY_MLP);
	assert_int_equal(c.model.activation, EMC_ACT_RELU);
	assert_int_equal(c.model.n_widths, 1);
	assert_int_equal(c.model.widths[0], 32);
	assert_int_equal(c.model.widths[1], 0);
	assert_int_equal(c.optim.name, EMC_OPT_SGD);
	assert_true(c.optim.lr == 0.01);
	assert_true(c.optim.momentum == 0.9);
	assert_false(c.optim.nesterov);
	assert_true(c.optim.weight_decay == 0);
	assert_true(c.optim.beta1 == 0.9);
	assert_true(c.optim.beta2 == 0.999);
	assert_true(c.optim.eps == 1e-8);
	assert_int_equal(c.optim.batch, 128);
	assert_int_equal(c.budget.max_epochs, 1000);
	assert_int_equal(c.budget.max_steps, 0);
	assert_true(c.budget.max_seconds == 0);
	assert_int_equal(c.budget.plateau_epochs, 50);
	assert_true(c.budget.plateau_rel == 1e-4);
	assert_int_equal(c.budget.eval_every, 1);
	assert_true(c.budget.fit_threshold == 1.0);
	assert_true(c.budget.grad_tol == 0);
	assert_int_equal(c.labels, EMC_LABELS_TRUE);
	assert_int_equal(c.seed, 0);
	assert_int_equal(c.data_seed, 0);
	assert_false(c.data_seed_fixed); /* drawn from each trial's replicate seed */
	/* the new knobs start at "off": constant schedule, no warm-up, no
	 * Hessian, true inputs, the dataset's own classes, and no cnn, resnet
	 * or vit sizes (the spec gives each family its own defaults) */
	assert_int_equal(c.optim.schedule, EMC_SCHEDULE_CONSTANT);
	assert_int_equal(c.optim.warmup_epochs, 0);
	assert_false(c.budget.hessian);
	assert_true(c.label_noise == 0);
	assert_int_equal(c.inputs, EMC_INPUTS_TRUE);
	assert_int_equal(c.classes, 0);
	assert_int_equal(c.model.layers, 0);
	assert_int_equal(c.model.width, 0);
	assert_int_equal(c.model.dim, 0);
	assert_int_equal(c.model.mlp_ratio, 0);
}

static emc_model_cfg mlp(int n, const int *widths)
{
	emc_model_cfg m;

	memset(&m, 0, sizeof m);
	m.family = EMC_FAMILY_MLP;
	m.activation = EMC_ACT_RELU;
	m.n_widths = n;
	for (int i = 0; i < n; i++)
		m.widths[i] = widths[i];
	return m;
}

static void test_params(void **state)
{
	const emc_input_shape mnist = { 1, 28, 28, 10 };
	const emc_input_shape rgb = { 3, 32, 32, 100 };
	const emc_input_shape iris = { 4, 1, 1, 3 };
	emc_model_cfg m;

	memset(&m, 0, sizeof m);
	m.family = EMC_FAMILY_LINEAR;
	assert_int_equal(emc_model_params(&m, &mnist), 7850); /* 784·10 + 10 */
	assert_int_equal(emc_model_params(&m, &iris), 15);
	assert_int_equal(emc_model_params(&m, &rgb), 3072 * 100 + 100);

	/* nn.Linear(784, 8) + nn.Linear(8, 10): 6280 + 90 */
	m = mlp(1, (const int[]){ 8 });
	assert_int_equal(emc_model_params(&m, &mnist), 6370);
	m = mlp(2, (const int[]){ 512, 512 });
	assert_int_equal(emc_model_params(&m, &mnist), 669706);
	m = mlp(3, (const int[]){ 16, 8, 4 });
	assert_int_equal(emc_model_params(&m, &iris), (4 * 16 + 16) + (16 * 8 + 8) + (8 * 4 + 4) + (4 * 3 + 3));
	/* large but representable: int64 arithmetic */
	m = mlp(2, (const int[]){ 1000000, 1000000 });
	assert_int_equal(emc_model_params(&m, &mnist),
			 (784LL * 1000000 + 1000000) + (1000000LL * 1000000 + 1000000) + (1000000LL * 10 + 10));
}

static void test_params_invalid(void **state)
{
	const emc_input_shape mnist = { 1, 28, 28, 10 };
	emc_input_shape bad;
	emc_model_cfg m;

	m = mlp(2, (const int[]){ 8, 0 });
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	m = mlp(1, (const int[]){ -4 });
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);

	m = mlp(1, (const int[]){ 8 });
	bad = mnist;
	bad.classes = 1;
	assert_int_equal(emc_model_params(&m, &bad), -EINVAL);
	bad = mnist;
	bad.channels = 0;
	assert_int_equal(emc_model_params(&m, &bad), -EINVAL);
	bad = mnist;
	bad.height = -1;
	assert_int_equal(emc_model_params(&m, &bad), -EINVAL);

	/* two negative sides do not make a positive input */
	bad = mnist;
	bad.height = -1;
	bad.width = -1;
	assert_int_equal(emc_model_params(&m, &bad), -EINVAL);

	/* an mlp description read as another family has none of its knobs */
	for (emc_family f = EMC_FAMILY_CNN; f < EMC_FAMILY_COUNT; f++) {
		m.family = f;
		m.n_widths = f == EMC_FAMILY_RESNET ? 0 : 1;
		assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	}
	m.family = EMC_FAMILY_COUNT;
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	m.family = (emc_family)-1;
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);

	/* counts that do not fit in int64 are refused, not wrapped:
	 * 784 · 2^31 · 2^31... per layer overflows */
	m = mlp(2, (const int[]){ INT_MAX, INT_MAX });
	bad = (emc_input_shape){ 1 << 30, 1 << 30, 1 << 30, 10 };
	assert_int_equal(emc_model_params(&m, &bad), -EINVAL);
	m = mlp(16, (const int[]){ INT_MAX, INT_MAX, INT_MAX, INT_MAX, INT_MAX, INT_MAX, INT_MAX, INT_MAX,
				   INT_MAX, INT_MAX, INT_MAX, INT_MAX, INT_MAX, INT_MAX, INT_MAX, INT_MAX });
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
}

static emc_model_cfg cnn(int layers, int filters, int hidden)
{
	emc_model_cfg m;

	memset(&m, 0, sizeof m);
	m.family = EMC_FAMILY_CNN;
	m.layers = layers;
	m.filters = filters;
	m.hidden = hidden;
	return m;
}

static emc_model_cfg resnet(int n, const int *blocks, int width)
{
	emc_model_cfg m = mlp(n, blocks);

	m.family = EMC_FAMILY_RESNET;
	m.width = width;
	return m;
}

static emc_model_cfg vit(int patch, int dim, int depth, int heads, int mlp_ratio)
{
	emc_model_cfg m;

	memset(&m, 0, sizeof m);
	m.family = EMC_FAMILY_VIT;
	m.activation = EMC_ACT_GELU;
	m.patch = patch;
	m.dim = dim;
	m.depth = depth;
	m.heads = heads;
	m.mlp_ratio = mlp_ratio;
	return m;
}

/* Conv3x3(+bias) → act → maxpool2 per layer, filters doubling, then a
 * hidden dense layer and the head. */
static void test_params_cnn(void **state)
{
	const emc_input_shape mnist = { 1, 28, 28, 10 };
	const emc_input_shape cifar = { 3, 32, 32, 10 };
	emc_model_cfg m;

	/* (9·1·32+32) + (9·32·64+64) + (64·7·7·128+128) + (128·10+10)
	 * = 320 + 18496 + 401536 + 1290 */
	m = cnn(2, 32, 128);
	assert_int_equal(emc_model_params(&m, &mnist), 421642);
	/* the head follows the classes passed (after merging): 2 classes
	 * instead of 10 is 8 rows of 128 + 8 biases fewer */
	{
		emc_input_shape two = mnist;

		two.classes = 2;
		assert_int_equal(emc_model_params(&m, &two), 421642 - (8 * 128 + 8));
	}
	/* 28 → 14: (9·1·8+8) + (8·14·14·32+32) + (32·10+10) = 80 + 50208 + 330 */
	m = cnn(1, 8, 32);
	assert_int_equal(emc_model_params(&m, &mnist), 50618);
	/* 32 → 16 → 8 → 4: (9·3·16+16) + (9·16·32+32) + (9·32·64+64)
	 * + (64·4·4·64+64) + (64·10+10) = 448 + 4640 + 18496 + 65600 + 650 */
	m = cnn(3, 16, 64);
	assert_int_equal(emc_model_params(&m, &cifar), 89834);
	/* 28 → 14 → 7 → 3 → 1 (pooling floors): 320 + 18496
	 * + (9·64·128+128) + (9·128·256+256) + (256·1·1·128+128) + 1290
	 * = 320 + 18496 + 73856 + 295168 + 32896 + 1290 */
	m = cnn(4, 32, 128);
	assert_int_equal(emc_model_params(&m, &mnist), 422026);
	/* odd sizes: 5 → 2 → 1 on 3×5×5, 2 classes: (9·3·4+4) + (9·4·8+8)
	 * + (8·1·1·8+8) + (8·2+2) = 112 + 296 + 72 + 18 */
	m = cnn(2, 4, 8);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 3, 5, 5, 2 }), 498);
	/* knobs at the bound are counted */
	m = cnn(1, 1 << 20, 1);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 1, 2, 2, 2 }),
			 (9LL * (1 << 20) + (1 << 20)) + ((1LL << 20) + 1) + (1 * 2 + 2));
}

/* Stem conv+BN, stages of basic blocks (BN weight and bias: 2 per
 * channel), 1×1 projections where the shape changes, pooled linear head. */
static void test_params_resnet(void **state)
{
	const emc_input_shape cifar = { 3, 32, 32, 10 };
	emc_model_cfg m;

	/* stem 9·3·16 + 2·16 = 464
	 * stage 0, 16 → 16, two blocks of 9·16·16+32 + 9·16·16+32 = 4672: 9344
	 * stage 1, first block 16 → 32 with projection:
	 *   9·16·32+64 + 9·32·32+64 + 16·32+64 = 14528; second 9216+64+9216+64 = 18560
	 * stage 2, first block 32 → 64 with projection:
	 *   9·32·64+128 + 9·64·64+128 + 32·64+128 = 57728; second 2·(36864+128) = 73984
	 * head 64·10 + 10 = 650
	 * total 464 + 9344 + 14528 + 18560 + 57728 + 73984 + 650 */
	m = resnet(3, (const int[]){ 2, 2, 2 }, 16);
	assert_int_equal(emc_model_params(&m, &cifar), 175258);
	/* ResNet-20 (option B shortcuts): one more block per stage,
	 * 175258 + 4672 + 18560 + 73984 */
	m = resnet(3, (const int[]){ 3, 3, 3 }, 16);
	assert_int_equal(emc_model_params(&m, &cifar), 272474);
	/* one stage, no projection: stem 9·1·8+16 = 88, block 576+16+576+16 = 1184,
	 * head 8·10+10 = 90 */
	m = resnet(1, (const int[]){ 1 }, 8);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 1, 28, 28, 10 }), 1362);
	/* 100 classes: stem 9·3·4+8 = 116; stage 0 144+8+144+8 = 304;
	 * stage 1 4 → 8: 288+16 + 576+16 + 32+16 = 944; head 8·100+100 = 900 */
	m = resnet(2, (const int[]){ 1, 1 }, 4);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 3, 32, 32, 100 }), 2264);
	/* the spatial size never reaches 0 (1 → 1 with stride 2, pad 1), so a
	 * 4-feature tabular input works: stem 9·4·2+4 = 76; 2 → 2: 80;
	 * 2 → 4: 72+8 + 144+8 + 8+8 = 248; 4 → 8: 288+16 + 576+16 + 32+16 = 944;
	 * head 8·3+3 = 27 */
	m = resnet(3, (const int[]){ 1, 1, 1 }, 2);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 4, 1, 1, 3 }), 1375);
	/* closed form per stage: a million blocks in each of 16 stages of
	 * width 1·2^s costs no time and still fits int64 */
	{
		int blocks[EMC_MAX_LAYERS];

		for (int i = 0; i < EMC_MAX_LAYERS; i++)
			blocks[i] = 1000000;
		m = resnet(EMC_MAX_LAYERS, blocks, 1);
		assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 1, 28, 28, 10 }),
				 25770060183835713LL);
	}
}

/* Patch embedding, position embedding, pre-norm blocks, final LayerNorm,
 * mean over tokens, head. Per block 4D² + 2rD² + 9D + rD. */
static void test_params_vit(void **state)
{
	emc_model_cfg m;

	/* 1×28×28, patch 7: N = 16 tokens.
	 * embedding 49·64+64 = 3200; positions 16·64 = 1024;
	 * block 4·64² + 2·2·64² + 9·64 + 2·64 = 16384 + 16384 + 576 + 128 = 33472, ×2;
	 * final norm 2·64 = 128; head 64·10+10 = 650
	 * total 3200 + 1024 + 66944 + 128 + 650 */
	m = vit(7, 64, 2, 4, 2);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 1, 28, 28, 10 }), 71946);
	/* the number of heads does not change the count */
	m = vit(7, 64, 2, 1, 2);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 1, 28, 28, 10 }), 71946);
	/* 3×32×32, patch 4: N = 64. embedding 48·32+32 = 1568; positions 2048;
	 * block 4·1024 + 8·1024 + 288 + 128 = 12704; norm 64; head 330 */
	m = vit(4, 32, 1, 2, 4);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 3, 32, 32, 10 }), 16714);
	/* patch 14, dim 8, depth 3, one head, ratio 1: N = 4.
	 * embedding 196·8+8 = 1576; positions 32; block 256+128+72+8 = 464, ×3;
	 * norm 16; head 8·10+10 = 90 → 1576 + 32 + 1392 + 16 + 90 */
	m = vit(14, 8, 3, 1, 1);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 1, 28, 28, 10 }), 3106);
	/* tabular, patch 1: N = 1. embedding 4·16+16 = 80; positions 16;
	 * block 1024 + 1024 + 144 + 32 = 2224; norm 32; head 16·3+3 = 51 */
	m = vit(1, 16, 1, 4, 2);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 4, 1, 1, 3 }), 2403);
	/* dim at the bound: D = 2^20, 1×1×1 input, 2 classes:
	 * (D+D) + D + (6D² + 10D) + 2D + (2D+2) = 6D² + 17D + 2 */
	m = vit(1, 1 << 20, 1, 1, 1);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 1, 1, 1, 2 }),
			 6 * (1LL << 40) + 17 * (1LL << 20) + 2);
}

static void test_params_families_invalid(void **state)
{
	const emc_input_shape mnist = { 1, 28, 28, 10 };
	const emc_input_shape cifar = { 3, 32, 32, 10 };
	emc_model_cfg m;

	/* cnn: every knob >= 1 and <= 2^20 */
	m = cnn(0, 32, 128);
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	m = cnn(2, 0, 128);
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	m = cnn(2, 32, 0);
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	m = cnn(-1, 32, 128);
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	m = cnn(2, (1 << 20) + 1, 128);
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	m = cnn(2, 32, (1 << 20) + 1);
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	/* the map shrinks to nothing: 28 → 14 → 7 → 3 → 1 → 0 */
	m = cnn(5, 8, 8);
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	m = cnn(1 << 20, 8, 8);
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	/* ... on one side only: 28×1 halves to 14×0 */
	m = cnn(1, 8, 8);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 1, 28, 1, 10 }), -EINVAL);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 4, 1, 1, 3 }), -EINVAL);
	/* 2^20 filters at 3 × 2^30 × 2^30 input: the flattened layer alone
	 * overflows int64 */
	m = cnn(1, 1 << 20, 1 << 20);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 3, 1 << 30, 1 << 30, 10 }), -EINVAL);

	/* resnet: at least one stage, every stage at least one block, width >= 1 */
	m = resnet(0, (const int[]){ 0 }, 16);
	assert_int_equal(emc_model_params(&m, &cifar), -EINVAL);
	m = resnet(3, (const int[]){ 2, 0, 2 }, 16);
	assert_int_equal(emc_model_params(&m, &cifar), -EINVAL);
	m = resnet(2, (const int[]){ 2, -1 }, 16);
	assert_int_equal(emc_model_params(&m, &cifar), -EINVAL);
	m = resnet(3, (const int[]){ 2, 2, 2 }, 0);
	assert_int_equal(emc_model_params(&m, &cifar), -EINVAL);
	m = resnet(3, (const int[]){ 2, 2, 2 }, (1 << 20) + 1);
	assert_int_equal(emc_model_params(&m, &cifar), -EINVAL);
	m = resnet(1, (const int[]){ (1 << 20) + 1 }, 16);
	assert_int_equal(emc_model_params(&m, &cifar), -EINVAL);
	m = resnet(1, (const int[]){ 1 }, 16);
	m.n_widths = EMC_MAX_LAYERS + 1;
	assert_int_equal(emc_model_params(&m, &cifar), -EINVAL);
	/* width 2^20 over 16 stages: 9 · (2^35)² overflows */
	{
		int blocks[EMC_MAX_LAYERS];

		for (int i = 0; i < EMC_MAX_LAYERS; i++)
			blocks[i] = 1 << 20;
		m = resnet(EMC_MAX_LAYERS, blocks, 1 << 20);
		assert_int_equal(emc_model_params(&m, &cifar), -EINVAL);
	}

	/* vit: the patch divides both sides, the heads divide the dim */
	m = vit(5, 64, 2, 4, 2);
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	m = vit(7, 64, 2, 4, 2);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 1, 28, 30, 10 }), -EINVAL);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 1, 30, 28, 10 }), -EINVAL);
	m = vit(7, 64, 2, 3, 2);
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	m = vit(7, 4, 2, 8, 2); /* more heads than dimensions */
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	m = vit(56, 64, 2, 4, 2); /* a patch larger than the image */
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	/* every knob >= 1 and <= 2^20 */
	{
		const int good[5] = { 7, 64, 2, 4, 2 };

		for (int k = 0; k < 5; k++) {
			const int bad[3] = { 0, -7, (1 << 20) + 1 };

			for (int b = 0; b < 3; b++) {
				int v[5];

				memcpy(v, good, sizeof v);
				v[k] = bad[b];
				m = vit(v[0], v[1], v[2], v[3], v[4]);
				if (emc_model_params(&m, &mnist) != -EINVAL)
					fail_msg("vit knob %d = %d: expected -EINVAL", k, bad[b]);
			}
		}
	}
	/* D = 2^20, depth 2^20, ratio 2^20: 2rD² alone is 2^61, times the
	 * depth overflows */
	m = vit(1, 1 << 20, 1 << 20, 1, 1 << 20);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 1, 1, 1, 2 }), -EINVAL);
	/* the shape is checked for every family */
	m = vit(7, 64, 2, 4, 2);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 1, 28, 28, 1 }), -EINVAL);
	m = cnn(2, 32, 128);
	assert_int_equal(emc_model_params(&m, &(const emc_input_shape){ 0, 28, 28, 10 }), -EINVAL);
}

static void test_describe(void **state)
{
	char buf[64];
	emc_model_cfg m = mlp(2, (const int[]){ 8, 8 });

	assert_ptr_equal(emc_model_describe(&m, buf, sizeof buf), buf);
	assert_string_equal(buf, "mlp[8,8]");
	m = mlp(1, (const int[]){ 512 });
	assert_string_equal(emc_model_describe(&m, buf, sizeof buf), "mlp[512]");
	m = mlp(3, (const int[]){ 1, 22, 333 });
	assert_string_equal(emc_model_describe(&m, buf, sizeof buf), "mlp[1,22,333]");

	memset(&m, 0, sizeof m);
	m.family = EMC_FAMILY_LINEAR;
	assert_string_equal(emc_model_describe(&m, buf, sizeof buf), "linear");

	m = cnn(2, 32, 128);
	assert_string_equal(emc_model_describe(&m, buf, sizeof buf), "cnn[L2,F32,H128]");
	m = resnet(3, (const int[]){ 2, 2, 2 }, 16);
	assert_string_equal(emc_model_describe(&m, buf, sizeof buf), "resnet[2,2,2]x16");
	m = resnet(1, (const int[]){ 3 }, 64);
	assert_string_equal(emc_model_describe(&m, buf, sizeof buf), "resnet[3]x64");
	m = vit(7, 64, 2, 4, 2);
	assert_string_equal(emc_model_describe(&m, buf, sizeof buf), "vit[p7,d64,L2,h4,r2]");
	/* knobs of other families do not leak into a description */
	m.layers = 9;
	m.width = 9;
	m.n_widths = 1;
	m.widths[0] = 9;
	assert_string_equal(emc_model_describe(&m, buf, sizeof buf), "vit[p7,d64,L2,h4,r2]");
	m.family = EMC_FAMILY_COUNT;
	assert_string_equal(emc_model_describe(&m, buf, sizeof buf), "?");

	/* a short buffer is truncated, never overrun */
	m = mlp(4, (const int[]){ 1000, 2000, 3000, 4000 });
	memset(buf, 'x', sizeof buf);
	emc_model_describe(&m, buf, 8);
	assert_true(strlen(buf) < 8);
	assert_int_equal(strncmp(buf, "mlp[100", strlen(buf)), 0);
	assert_int_equal(buf[8], 'x');
	memset(buf, 'x', sizeof buf);
	emc_model_describe(&m, buf, 0);
	assert_int_equal(buf[0], 'x');
	m = vit(7, 64, 2, 4, 2);
	memset(buf, 'x', sizeof buf);
	emc_model_describe(&m, buf, 12);
	assert_string_equal(buf, "vit[p7,d64,");
	assert_int_equal(buf[12], 'x');
	m = resnet(3, (const int[]){ 2, 2, 2 }, 16);
	memset(buf, 'x', sizeof buf);
	emc_model_describe(&m, buf, 14);
	assert_string_equal(buf, "resnet[2,2,2]");
	assert_int_equal(buf[14], 'x');
	memset(buf, 'x', sizeof buf);
	emc_model_describe(&m, buf, 1);
	assert_string_equal(buf, "");
}

/* ---- the cell field table ---------------------------------------------------- */

static const char *case_name(const walk_case *w, char *buf, size_t len)
{
	char v[128];

	walk_spell(w->f, &w->v, v, sizeof v);
	snprintf(buf, len, "%s = %s (%s)", w->f->key, v, w->what);
	return buf;
}

/* Every value the table accepts, at every bound and the default, passes
 * the one check and comes back from the wire byte for byte; every value
 * just outside a bound is refused by the check, naming the key, and so by
 * the wire too. */
static void test_table_walk(void **state)
{
	static walk_case cases[WALK_MAX];
	int n = walk_cases(cases), inside = 0, outside = 0;
	char name[256];

	(void)state;
	assert_true(n > 100 && n < WALK_MAX);
	for (int i = 0; i < n; i++) {
		const walk_case *w = &cases[i];
		emc_cell_cfg back;
		emc_err err = { "" };
		uint8_t *buf = NULL;
		size_t len;
		int r;

		case_name(w, name, sizeof name);
		r = emc_cell_check(&w->cell, &err);
		if (w->inside) {
			if (r != 0)
				fail_msg("%s: refused: %s", name, err.msg);
			assert_int_equal(wire_cell_pack(&w->cell, &buf, &len, &err), 0);
			memset(&back, 0x5a, sizeof back);
			if (wire_cell_unpack(buf, len, &back, &err) != 0)
				fail_msg("%s: the wire refuses it: %s", name, err.msg);
			if (memcmp(&back, &w->cell, sizeof back) != 0)
				fail_msg("%s: changed on the wire", name);
			free(buf);
			inside++;
			continue;
		}
		if (r != -EINVAL)
			fail_msg("%s: accepted", name);
		if (strncmp(err.msg, w->f->key, strlen(w->f->key)) != 0)
			fail_msg("%s: the message does not start with the key: %s", name, err.msg);
		if (w->v.n <= EMC_MAX_LAYERS) { /* more items than the array holds cannot be packed */
			assert_int_equal(wire_cell_pack(&w->cell, &buf, &len, &err), 0);
			err.msg[0] = '\0';
			assert_int_equal(wire_cell_unpack(buf, len, &back, &err), -EINVAL);
			assert_contains(err.msg, w->f->key);
			free(buf);
		}
		outside++;
	}
	assert_true(inside > 50 && outside > 50);
}

/* Keys, members and columns are names others depend on: present and
 * distinct (widths and blocks share their member on purpose). */
static void test_table_names(void **state)
{
	int n;
	const emc_cell_field *rows = emc_cell_fields(&n);

	(void)state;
	assert_true(n > 30 && n <= EMC_CELL_MAX_FIELDS);
	for (int i = 0; i < n; i++) {
		assert_non_null(rows[i].key);
		assert_non_null(rows[i].member);
		assert_non_null(rows[i].column);
		assert_ptr_equal(emc_cell_field_find(rows[i].key), &rows[i]);
		for (int j = 0; j < i; j++) {
			assert_string_not_equal(rows[i].key, rows[j].key);
			assert_string_not_equal(rows[i].column, rows[j].column);
		}
	}
	assert_null(emc_cell_field_find("optimizer.speed"));
	assert_string_equal(rows[0].key, "model.family"); /* the grid's slowest axis */
	/* a cell is a procedure: its replicate seeds are the campaign's pool,
	 * not a row of the grid */
	assert_null(emc_cell_field_find("seeds"));
	for (int i = 0; i < n; i++)
		assert_true(rows[i].offset != offsetof(emc_cell_cfg, seed));
}

static void expect_rule(const emc_cell_cfg *c, const char *key, const char *why)
{
	emc_cell_fault ft;
	emc_err err = { "" };

	assert_int_equal(emc_cell_check_fault(c, &ft, &err), -EINVAL);
	if (strncmp(err.msg, key, strlen(key)) != 0)
		fail_msg("expected \"%s\" to start with \"%s\"", err.msg, key);
	assert_contains(err.msg, why);
	assert_string_equal(ft.fields[0]->key, key);
	assert_non_null(ft.fields[1]); /* a rule names every key it reads */
	assert_int_equal(ft.item, -1);
}

/* The rules between keys: what the engine would refuse, known without the data. */
static void test_rules(void **state)
{
	emc_cell_cfg c, base;

	(void)state;
	emc_cell_cfg_defaults(&base);
	assert_int_equal(emc_cell_check(&base, NULL), 0);

	c = base;
	c.budget.max_epochs = 0;
	expect_rule(&c, "budget.max_epochs", "at least one of max_epochs, max_steps and max_seconds");
	c.budget.max_seconds = 5;
	assert_int_equal(emc_cell_check(&c, NULL), 0);
	c.optim.schedule = EMC_SCHEDULE_COSINE;
	expect_rule(&c, "optimizer.schedule", "only max_seconds");

	c = base;
	c.optim.schedule = EMC_SCHEDULE_COSINE;
	c.budget.max_epochs = 10;
	c.optim.warmup_epochs = 10;
	expect_rule(&c, "optimizer.warmup_epochs", "10 epochs of warm-up");
	c.optim.warmup_epochs = 9;
	assert_int_equal(emc_cell_check(&c, NULL), 0);

	c = base;
	c.optim.nesterov = true;
	c.optim.momentum = 0;
	expect_rule(&c, "optimizer.nesterov", "momentum > 0");
	c.optim.name = EMC_OPT_ADAM; /* adam reads neither */
	assert_int_equal(emc_cell_check(&c, NULL), 0);

	c = base;
	c.model.family = EMC_FAMILY_CNN;
	emc_cell_family_defaults(&c);
	c.model.filters = 1 << 19;
	c.model.layers = 2;
	assert_int_equal(emc_cell_check(&c, NULL), 0);
	c.model.layers = 3;
	expect_rule(&c, "model.filters", "2097152 channels");

	c = base;
	c.model.family = EMC_FAMILY_RESNET;
	emc_cell_family_defaults(&c);
	c.model.width = 1 << 18; /* three stages: 2^18 << 2 = 2^20 channels, the most */
	assert_int_equal(emc_cell_check(&c, NULL), 0);
	c.model.width++;
	expect_rule(&c, "model.width", "1048580 channels, more than 1048576");

	c.model.width = 1;
	c.model.widths[0] = c.model.widths[1] = 64;
	c.model.widths[2] = 17; /* 5 + 7 * 145 + 2 * 2 = 1024 layers: the most */
	assert_int_equal(emc_cell_check(&c, NULL), 0);
	c.model.widths[2] = 18;
	expect_rule(&c, "model.blocks", "146 blocks in 3 stages make 1031 layers, more than the 1024");
}

static void test_rules_vit(void **state)
{
	emc_cell_cfg c;

	(void)state;
	emc_cell_cfg_defaults(&c);
	c.model.family = EMC_FAMILY_VIT;
	emc_cell_family_defaults(&c);
	emc_cell_normalize(&c);
	assert_int_equal(emc_cell_check(&c, NULL), 0);
	c.model.heads = 5;
	expect_rule(&c, "model.heads", "vit: heads (5) must divide dim (64)");
	c.model.heads = 4;
	c.model.mlp_ratio = (1 << 20) / 64 + 1;
	expect_rule(&c, "model.mlp_ratio", "mlp_ratio * dim");
}

/* What a report prints in each column, and what the spec says it expects. */
static void test_format(void **state)
{
	const emc_cell_field *rows;
	emc_cell_cfg c;
	char buf[64];
	int n;

	(void)state;
	emc_cell_cfg_defaults(&c);
	c.model.n_widths = 2;
	c.model.widths[1] = 16;
	c.optim.batch = 0;
	c.labels = EMC_LABELS_NOISY;
	c.label_noise = 0.25;
	c.seed = UINT64_MAX;
#define COLUMN(key) emc_cell_field_format(emc_cell_field_find(key), &c, buf, sizeof buf)
	assert_string_equal(COLUMN("model.family"), "mlp");
	assert_string_equal(COLUMN("model.widths"), "[32,16]");
	assert_string_equal(COLUMN("optimizer.lr"), "0.01");
	assert_string_equal(COLUMN("optimizer.batch"), "full");
	assert_string_equal(COLUMN("optimizer.nesterov"), "false");
	assert_string_equal(COLUMN("variant.labels"), "noisy:0.25");
	assert_string_equal(COLUMN("budget.max_epochs"), "1000");
	assert_string_equal(COLUMN("variant.data_seed"), "replicate");
	c.data_seed_fixed = true;
	c.data_seed = UINT64_MAX;
	assert_string_equal(COLUMN("variant.data_seed"), "18446744073709551615");
	c.model.activation = (emc_activation)42;
	assert_string_equal(COLUMN("model.activation"), "?");
#undef COLUMN
	/* every column prints something, and a short buffer is cut, not overrun */
	rows = emc_cell_fields(&n);
	for (int i = 0; i < n; i++) {
		assert_true(emc_cell_field_format(&rows[i], &c, buf, sizeof buf)[0] != '\0');
		memset(buf, 'x', sizeof buf);
		emc_cell_field_format(&rows[i], &c, buf, 2);
		assert_true(strlen(buf) <= 1);
		assert_int_equal(buf[2], 'x');
	}
#define EXPECT(key) emc_cell_field_expect(emc_cell_field_find(key), buf, sizeof buf)
	assert_string_equal(EXPECT("optimizer.lr"), "a number in (0, 1000000]");
	assert_string_equal(EXPECT("optimizer.momentum"), "a number in [0, 1)");
	assert_string_equal(EXPECT("optimizer.batch"), "an integer in [1, 67108864] or full");
	assert_string_equal(EXPECT("variant.classes"), "0 (the dataset's classes) or an integer in [2, 256]");
	assert_string_equal(EXPECT("variant.labels"), "true, random or noisy:P with 0 < P <= 1");
	assert_string_equal(EXPECT("variant.inputs"), "true, permuted or gaussian");
	assert_string_equal(EXPECT("optimizer.schedule"), "constant or cosine");
	assert_string_equal(EXPECT("optimizer.name"), "one of sgd, adam, adamw, gd");
	assert_string_equal(EXPECT("budget.max_steps"), "an integer >= 0");
	assert_string_equal(EXPECT("model.blocks"), "an integer in [1, 64]");
	assert_string_equal(EXPECT("variant.data_seed"), "an integer >= 0 or replicate");
#undef EXPECT
}

/* Cells that train alike are equal: what a cell does not read is zero. */
static void test_normalize(void **state)
{
	emc_cell_cfg a, b;

	(void)state;
	emc_cell_cfg_defaults(&a);
	a.model.family = EMC_FAMILY_LINEAR;
	b = a;
	b.model.activation = EMC_ACT_TANH;
	b.model.widths[0] = 99;
	b.model.filters = 7;
	emc_cell_normalize(&a);
	emc_cell_normalize(&b);
	assert_memory_equal(&a, &b, sizeof a);
	assert_int_equal(a.model.n_widths, 0);

	emc_cell_cfg_defaults(&a);
	a.model.family = EMC_FAMILY_RESNET;
	emc_cell_family_defaults(&a);
	emc_cell_normalize(&a); /* blocks survive though widths is not read */
	assert_int_equal(a.model.n_widths, 3);
	assert_int_equal(a.model.widths[2], 2);
	assert_int_equal(a.model.width, 16);

	emc_cell_cfg_defaults(&a);
	a.optim.name = EMC_OPT_GD;
	a.label_noise = 0.5; /* labels are true */
	emc_cell_normalize(&a);
	assert_int_equal(a.optim.batch, 0);
	assert_true(a.label_noise == 0);
	assert_true(a.optim.momentum == 0.9); /* kept: cells always stored it */

	/* a data seed not given is nothing; given, it is kept, 0 included;
	 * the replicate seed, which no row holds, is kept */
	emc_cell_cfg_defaults(&a);
	a.seed = 99;
	a.data_seed = 5;
	b = a;
	b.data_seed = 6;
	emc_cell_normalize(&a);
	emc_cell_normalize(&b);
	assert_memory_equal(&a, &b, sizeof a);
	assert_int_equal(a.data_seed, 0);
	assert_int_equal(a.seed, 99);
	a.data_seed_fixed = true;
	a.data_seed = 5;
	emc_cell_normalize(&a);
	assert_int_equal(a.data_seed, 5);
	assert_true(a.data_seed_fixed);
	a.data_seed = 0;
	emc_cell_normalize(&a);
	assert_true(a.data_seed_fixed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enum_round_trips),
		cmocka_unit_test(test_enum_names),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_params_invalid),
		cmocka_unit_test(test_params_cnn),
		cmocka_unit_test(test_params_resnet),
		cmocka_unit_test(test_params_vit),
		cmocka_unit_test(test_params_families_invalid),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_table_walk),
		cmocka_unit_test(test_table_names),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_rules_vit),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_normalize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
