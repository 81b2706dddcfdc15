/* test_cell.c — names, defaults, parameter counts and descriptions of cells.
 *
 * The names are what the database, the wire and the specs store, so every
 * enum value must survive name → parse, and unknown names must be refused.
 * The parameter counts are compared with what PyTorch reports for the same
 * networks.
 */
#include <errno.h>

#include "testutil.h"

#include "cell.h"

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

	/* families the engine does not build yet have no count */
	for (emc_family f = EMC_FAMILY_CNN; f < EMC_FAMILY_COUNT; f++) {
		m.family = f;
		assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
	}
	m.family = EMC_FAMILY_COUNT;
	assert_int_equal(emc_model_params(&m, &mnist), -EINVAL);
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
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enum_round_trips),
		cmocka_unit_test(test_enum_names),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_params_invalid),
		cmocka_unit_test(test_describe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
