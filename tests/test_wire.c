/* test_wire.c — framing and checking of wire messages.
 *
 * Everything a peer sends passes wire_decode(); these tests feed it what a
 * broken or hostile peer could: garbage, truncated frames, oversized
 * frames, another protocol version, an empty envelope, out-of-range
 * configuration values and over-long strings.
 */
#include "testutil.h"

#include <errno.h>

#include "rng.h"
#include "wire.h"

static emc_cell_cfg sample_cell(void)
{
	emc_cell_cfg c;

	emc_cell_cfg_defaults(&c);
	c.model.n_widths = 3;
	c.model.widths[0] = 512;
	c.model.widths[1] = 64;
	c.model.widths[2] = 7;
	c.model.activation = EMC_ACT_TANH;
	c.optim.name = EMC_OPT_ADAMW;
	c.optim.lr = 3e-4;
	c.optim.weight_decay = 0.05;
	c.optim.nesterov = true;
	c.budget.max_steps = 123456;
	c.budget.grad_tol = 1e-5;
	c.labels = EMC_LABELS_RANDOM;
	c.seed = 0xfeedfacecafeULL;
	return c;
}

static void test_cell_roundtrip(void **state)
{
	emc_cell_cfg in = sample_cell(), out;
	uint8_t *buf;
	size_t len;
	emc_err err;

	(void)state;
	assert_int_equal(wire_cell_pack(&in, &buf, &len, &err), 0);
	assert_int_equal(wire_cell_unpack(buf, len, &out, &err), 0);
	assert_memory_equal(&in, &out, sizeof in);
	free(buf);
}

static void test_envelope_roundtrip(void **state)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT, *got = NULL;
	Emc__Assign a = EMC__ASSIGN__INIT;
	Emc__DatasetRef ds;
	emc_dataset_ref ref = { .name = "fashion-mnist", .format = "idx", .split = "train",
				.images = "/data/img.gz", .labels = "/data/lab.gz" };
	emc_dataset_ref ref_out;
	emc_cell_cfg cell = sample_cell(), cell_out;
	wire_cell_storage st;
	uint8_t *buf;
	size_t len;
	emc_err err;

	(void)state;
	a.attempt_id = 42;
	a.trial_id = 7;
	a.n = 1024;
	a.cell = wire_cell_to_pb(&cell, &st);
	wire_dataset_to_pb(&ref, &ds);
	a.dataset = &ds;
	env.body_case = EMC__ENVELOPE__BODY_ASSIGN;
	env.assign = &a;
	assert_int_equal(wire_encode(&env, &buf, &len, &err), 0);
	assert_int_equal(wire_decode(buf, len, &got, &err), 0);
	free(buf);
	assert_int_equal(got->version, EMC_PROTOCOL_VERSION);
	assert_int_equal(got->body_case, EMC__ENVELOPE__BODY_ASSIGN);
	assert_int_equal(got->assign->attempt_id, 42);
	assert_int_equal(got->assign->n, 1024);
	assert_int_equal(wire_cell_from_pb(got->assign->cell, &cell_out, &err), 0);
	assert_memory_equal(&cell, &cell_out, sizeof cell);
	assert_int_equal(wire_dataset_from_pb(got->assign->dataset, &ref_out, &err), 0);
	assert_string_equal(ref_out.images, "/data/img.gz");
	assert_string_equal(ref_out.name, "fashion-mnist");
	wire_free(&got);
	assert_null(got);
	wire_free(&got); /* NULL-safe */
}

static void test_garbage_is_refused(void **state)
{
	uint8_t junk[256];
	Emc__Envelope *env = NULL;
	emc_err err;
	emc_rng rng;
	int refused = 0;

	(void)state;
	emc_rng_seed(&rng, 1, 0);
	/* Random bytes: every frame is either refused with a message or, if it
	 * happens to unpack, carries our version and a body. None crashes. */
	for (int trial = 0; trial < 2000; trial++) {
		size_t len = emc_rng_below(&rng, sizeof junk) + 1;

		for (size_t i = 0; i < len; i++)
			junk[i] = (uint8_t)emc_rng_next(&rng);
		err.msg[0] = '\0';
		if (wire_decode(junk, len, &env, &err) < 0) {
			assert_true(err.msg[0] != '\0');
			refused++;
		} else {
			assert_int_equal(env->version, EMC_PROTOCOL_VERSION);
			assert_int_not_equal(env->body_case, EMC__ENVELOPE__BODY__NOT_SET);
			wire_free(&env);
		}
	}
	assert_true(refused > 1900);
}

static void test_truncated_is_refused(void **state)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT, *got = NULL;
	Emc__Hello h = EMC__HELLO__INIT;
	uint8_t *buf;
	size_t len;
	emc_err err;
	int refused = 0;

	(void)state;
	h.protocol = EMC_PROTOCOL_VERSION;
	h.host = "a-host-name-long-enough-to-truncate";
	h.slots = 2;
	env.body_case = EMC__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	assert_int_equal(wire_encode(&env, &buf, &len, &err), 0);
	for (size_t cut = 1; cut < len; cut++) {
		if (wire_decode(buf, cut, &got, &err) < 0)
			refused++;
		else
			wire_free(&got);
	}
	/* Every cut inside the body's length-delimited field is refused. */
	assert_true(refused >= (int)len - 4);
	free(buf);
}

static void test_version_and_body(void **state)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT, *got = NULL;
	uint8_t buf[64];
	size_t len;
	emc_err err;

	(void)state;
	env.version = EMC_PROTOCOL_VERSION + 1;
	env.body_case = EMC__ENVELOPE__BODY_READY;
	Emc__Ready ready = EMC__READY__INIT;
	ready.credit = 1;
	env.ready = &ready;
	len = emc__envelope__pack(&env, buf);
	assert_int_equal(wire_decode(buf, len, &got, &err), -EPROTO);
	assert_contains(err.msg, "protocol version 2");

	Emc__Envelope empty = EMC__ENVELOPE__INIT;
	empty.version = EMC_PROTOCOL_VERSION;
	len = emc__envelope__pack(&empty, buf);
	assert_int_equal(wire_decode(buf, len, &got, &err), -EBADMSG);
	assert_contains(err.msg, "no body");
	assert_null(got);
}

static void test_oversized_is_refused(void **state)
{
	size_t len = EMC_MAX_MESSAGE_BYTES + 1;
	uint8_t *big = calloc(1, len);
	Emc__Envelope *got = NULL;
	emc_err err;

	(void)state;
	assert_non_null(big);
	assert_int_equal(wire_decode(big, len, &got, &err), -EMSGSIZE);
	assert_contains(err.msg, "exceeds");
	free(big);
}

static void test_cell_ranges_checked(void **state)
{
	emc_cell_cfg c = sample_cell(), out;
	wire_cell_storage st;
	Emc__CellConfig *pb;
	emc_err err;

	(void)state;
	pb = wire_cell_to_pb(&c, &st);
	st.model.family = 99;
	assert_int_equal(wire_cell_from_pb(pb, &out, &err), -EINVAL);

	pb = wire_cell_to_pb(&c, &st);
	st.optim.lr = -1;
	assert_int_equal(wire_cell_from_pb(pb, &out, &err), -EINVAL);
	assert_contains(err.msg, "optim.lr");

	pb = wire_cell_to_pb(&c, &st);
	st.budget.fit_threshold = 0.0 / 0.0; /* NaN */
	assert_int_equal(wire_cell_from_pb(pb, &out, &err), -EINVAL);
	assert_contains(err.msg, "fit_threshold");

	pb = wire_cell_to_pb(&c, &st);
	st.widths[1] = 4000000000u;
	assert_int_equal(wire_cell_from_pb(pb, &out, &err), -EINVAL);
	assert_contains(err.msg, "widths");

	pb = wire_cell_to_pb(&c, &st);
	st.model.n_widths = EMC_MAX_LAYERS + 1;
	assert_int_equal(wire_cell_from_pb(pb, &out, &err), -EINVAL);

	pb = wire_cell_to_pb(&c, &st);
	st.cell.budget = NULL;
	assert_int_equal(wire_cell_from_pb(pb, &out, &err), -EINVAL);
	assert_contains(err.msg, "budget");
}

static void test_dataset_strings_bounded(void **state)
{
	Emc__DatasetRef pb = EMC__DATASET_REF__INIT;
	emc_dataset_ref out;
	char *long_path = malloc(EMC_PATH_MAX + 10);
	emc_err err;

	(void)state;
	memset(long_path, 'a', EMC_PATH_MAX + 9);
	long_path[EMC_PATH_MAX + 9] = '\0';
	pb.images = long_path;
	assert_int_equal(wire_dataset_from_pb(&pb, &out, &err), -EINVAL);
	assert_contains(err.msg, "dataset.images");
	free(long_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cell_roundtrip),	     cmocka_unit_test(test_envelope_roundtrip),
		cmocka_unit_test(test_garbage_is_refused),   cmocka_unit_test(test_truncated_is_refused),
		cmocka_unit_test(test_version_and_body),     cmocka_unit_test(test_oversized_is_refused),
		cmocka_unit_test(test_cell_ranges_checked),  cmocka_unit_test(test_dataset_strings_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
