/* test_wire.c — framing and checking of wire messages.
 *
 * Every kind of message round-trips wire_pack() → wire_unpack() field for
 * field. Everything a peer sends passes wire_unpack(); these tests feed it
 * what a broken or hostile peer could: garbage, truncated frames,
 * oversized frames, another protocol version, an empty envelope,
 * out-of-range configuration values, enums and over-long strings.
 *
 * This is the one file besides wire.c that includes emc.pb-c.h: a few
 * hostile frames (a missing sub-message, a repeated field longer than any
 * C array, a count no int holds, a string longer than its buffer) cannot be
 * expressed as a wire_msg at all, so they are built as raw protobuf.
 */
#include "testutil.h"

#include <errno.h>

#include "emc.pb-c.h"
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
	c.data_seed = 0xdeadbeef12345678ULL;
	c.data_seed_fixed = true;
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
	assert_true(out.data_seed == 0xdeadbeef12345678ULL && out.data_seed_fixed);
	free(buf);

	/* a data seed of 0, fixed, is not "not fixed" */
	in.data_seed = 0;
	assert_int_equal(wire_cell_pack(&in, &buf, &len, &err), 0);
	assert_int_equal(wire_cell_unpack(buf, len, &out, &err), 0);
	assert_true(out.data_seed_fixed);
	assert_memory_equal(&in, &out, sizeof in);
	free(buf);
}

/* ---- round trips ------------------------------------------------------------ */

static const emc_dataset_ref sample_ref = {.name = "fashion-mnist",
					   .format = "idx",
					   .split = "train",
					   .images = "/data/img.gz",
					   .labels = "/data/lab.gz",
					   .path = "/data/x.csv",
					   .label_column = "y",
					   .categorical = "a,b",
					   .cifar_label = "fine",
					   .standardize = true,
					   .synth_n = 1000,
					   .synth_dim = 12,
					   .synth_classes = 3,
					   .synth_seed = 99,
					   .synth_teacher = "mlp"};

static wire_worker_info sample_workers[2] = {
    {.id = 3,
     .host = "alpha",
     .slots = 4,
     .busy = 2,
     .last_heartbeat_ms_ago = 1500,
     .trials_done = 77,
     .blas_core = "Haswell"},
    {.id = (1ULL << 40), .host = "beta", .slots = 1, .busy = 0, .last_heartbeat_ms_ago = -1, .trials_done = 0},
};
static const uint8_t sample_bytes[5] = {0, 1, 2, 250, 255};

static void fill_hello(wire_msg *m)
{
	m->hello.protocol = EMC_PROTOCOL_VERSION;
	snprintf(m->hello.host, sizeof m->hello.host, "node-17");
	m->hello.pid = 4242;
	m->hello.slots = 3;
	m->hello.blas_threads = 2;
	snprintf(m->hello.emc_version, sizeof m->hello.emc_version, "0.1.0");
	snprintf(m->hello.blas_core, sizeof m->hello.blas_core, "SkylakeX");
	m->hello.n_capabilities = 2;
	snprintf(m->hello.capabilities[0], sizeof m->hello.capabilities[0], "family:mlp");
	snprintf(m->hello.capabilities[1], sizeof m->hello.capabilities[1], "format:idx");
	m->hello.n_running = 2;
	m->hello.running[0] = 11;
	m->hello.running[1] = UINT64_MAX;
}

static void fill_assign(wire_msg *m)
{
	m->assign.attempt_id = 42;
	m->assign.trial_id = 7;
	m->assign.n = 1024;
	m->assign.cell = sample_cell();
	m->assign.dataset = sample_ref;
	m->assign.has_hash = true;
	for (int i = 0; i < WIRE_HASH_BYTES; i++)
		m->assign.hash[i] = (uint8_t)(i * 7 + 1);
}

static void fill_heartbeat(wire_msg *m)
{
	m->heartbeat.n_attempts = 2;
	m->heartbeat.attempts[0] =
	    (wire_progress){.attempt_id = 5, .epoch = 3, .step = 90, .loss = 0.25, .accuracy = 0.875, .seconds = 1.5};
	m->heartbeat.attempts[1] = (wire_progress){.attempt_id = 6, .epoch = -1, .step = 0, .loss = 1e300};
	m->heartbeat.n_unacked = 2;
	m->heartbeat.unacked[0] = 4;
	m->heartbeat.unacked[1] = 1ULL << 60;
}

static void fill_result(wire_msg *m)
{
	emc_trial_result *r = &m->result.r;

	m->result.attempt_id = 9;
	m->result.trial_id = 8;
	r->outcome = EMC_OUTCOME_NO_FIT;
	r->reason = EMC_STOP_PLATEAU;
	r->epochs = 300;
	r->steps = 9000;
	r->train_seconds = 12.5;
	r->loss = 0.125;
	r->accuracy = 0.96875;
	r->grad_norm = 1e-3;
	r->budget_used = 0.5;
	r->params = 123456789012LL;
	snprintf(r->error, sizeof r->error, "a note");
	r->has_hessian = true;
	r->hessian_min = -1e-4;
	r->hessian_max = 42.0;
	r->sample_grads = (int64_t)1 << 40;
}

static void fill_small(wire_msg *m)
{
	switch (m->kind) {
	case WIRE_WELCOME:
		m->welcome = (wire_welcome){.worker_id = 1ULL << 50, .heartbeat_ms = 250, .lease_ms = 3000};
		break;
	case WIRE_READY:
		m->ready.credit = 17;
		break;
	case WIRE_RESULT_ACK:
		m->result_ack = (wire_result_ack){.attempt_id = 77, .recorded = true};
		break;
	case WIRE_CANCEL:
		m->cancel.attempt_id = 78;
		break;
	case WIRE_BYE:
		snprintf(m->bye.reason, sizeof m->bye.reason, "drained");
		break;
	case WIRE_ERROR:
		snprintf(m->error.message, sizeof m->error.message, "spec.yaml:3: optim.lr: out of range");
		break;
	case WIRE_SUBMIT_REPLY:
		m->submit_reply.ok = true;
		m->submit_reply.resumed = true;
		m->submit_reply.campaign_id = 12;
		snprintf(m->submit_reply.message, sizeof m->submit_reply.message, "fine");
		break;
	case WIRE_CONTROL:
		snprintf(m->control.verb, sizeof m->control.verb, "pause");
		snprintf(m->control.campaign, sizeof m->control.campaign, "mnist-widths");
		break;
	case WIRE_DATA_REQUEST:
		m->data_request = (wire_data_request){.has_hash = true, .offset = 1ULL << 33, .length = 1 << 20};
		memset(m->data_request.hash, 0xab, sizeof m->data_request.hash);
		break;
	default:
		break;
	}
}

static void fill_pointers(wire_msg *m)
{
	switch (m->kind) {
	case WIRE_SUBMIT:
		m->submit.spec_text = "name: x\nmodel: mlp\n";
		m->submit.spec_len = strlen(m->submit.spec_text);
		m->submit.origin = "x.yaml";
		m->submit.base_dir = "/specs";
		break;
	case WIRE_CONTROL_REPLY:
		m->control_reply.ok = true;
		snprintf(m->control_reply.message, sizeof m->control_reply.message, "two workers");
		m->control_reply.workers = sample_workers;
		m->control_reply.n_workers = 2;
		break;
	case WIRE_DATA_CHUNK:
		m->data_chunk.has_hash = true;
		memset(m->data_chunk.hash, 0x5a, sizeof m->data_chunk.hash);
		m->data_chunk.offset = 4096;
		m->data_chunk.total = 1 << 22;
		m->data_chunk.data = sample_bytes;
		m->data_chunk.len = sizeof sample_bytes;
		break;
	case WIRE_CHECKPOINT:
		m->checkpoint = (wire_checkpoint){.attempt_id = 1ULL << 45,
						  .trial_id = 9,
						  .epoch = 1234,
						  .step = (int64_t)1 << 36,
						  .state = sample_bytes,
						  .len = sizeof sample_bytes};
		break;
	default:
		break;
	}
}

/* The pointer fields compared by what they point to, then everything else
 * byte for byte (both sides start from wire_msg_init's zeroes). */
static void assert_pointers_equal(const wire_msg *want, wire_msg *got)
{
	switch (want->kind) {
	case WIRE_SUBMIT:
		assert_string_equal(got->submit.spec_text, want->submit.spec_text);
		assert_string_equal(got->submit.origin, want->submit.origin);
		assert_string_equal(got->submit.base_dir, want->submit.base_dir);
		assert_int_equal(got->submit.spec_len, want->submit.spec_len);
		break;
	case WIRE_CONTROL_REPLY:
		assert_int_equal(got->control_reply.n_workers, want->control_reply.n_workers);
		assert_memory_equal(got->control_reply.workers, want->control_reply.workers,
				    want->control_reply.n_workers * sizeof *want->control_reply.workers);
		assert_int_equal(got->control_reply.ok, want->control_reply.ok);
		assert_string_equal(got->control_reply.message, want->control_reply.message);
		break;
	case WIRE_DATA_CHUNK:
		assert_int_equal(got->data_chunk.len, want->data_chunk.len);
		assert_memory_equal(got->data_chunk.data, want->data_chunk.data, want->data_chunk.len);
		assert_int_equal(got->data_chunk.has_hash, want->data_chunk.has_hash);
		assert_memory_equal(got->data_chunk.hash, want->data_chunk.hash, WIRE_HASH_BYTES);
		assert_int_equal(got->data_chunk.offset, want->data_chunk.offset);
		assert_int_equal(got->data_chunk.total, want->data_chunk.total);
		assert_string_equal(got->data_chunk.error, want->data_chunk.error);
		break;
	case WIRE_CHECKPOINT:
		assert_int_equal(got->checkpoint.len, want->checkpoint.len);
		assert_memory_equal(got->checkpoint.state, want->checkpoint.state, want->checkpoint.len);
		assert_int_equal(got->checkpoint.attempt_id, want->checkpoint.attempt_id);
		assert_int_equal(got->checkpoint.trial_id, want->checkpoint.trial_id);
		assert_int_equal(got->checkpoint.epoch, want->checkpoint.epoch);
		assert_int_equal(got->checkpoint.step, want->checkpoint.step);
		break;
	default:
		break;
	}
}

static const struct {
	wire_kind kind;
	void (*fill)(wire_msg *m);
	bool pointers; /* compared field by field by assert_pointers_equal */
} kinds[] = {
    {WIRE_HELLO, fill_hello, false},	     {WIRE_WELCOME, fill_small, false},
    {WIRE_READY, fill_small, false},	     {WIRE_ASSIGN, fill_assign, false},
    {WIRE_HEARTBEAT, fill_heartbeat, false}, {WIRE_RESULT, fill_result, false},
    {WIRE_RESULT_ACK, fill_small, false},    {WIRE_CANCEL, fill_small, false},
    {WIRE_BYE, fill_small, false},	     {WIRE_ERROR, fill_small, false},
    {WIRE_SUBMIT, fill_pointers, true},	     {WIRE_SUBMIT_REPLY, fill_small, false},
    {WIRE_CONTROL, fill_small, false},	     {WIRE_CONTROL_REPLY, fill_pointers, true},
    {WIRE_DATA_REQUEST, fill_small, false},  {WIRE_DATA_CHUNK, fill_pointers, true},
    {WIRE_CHECKPOINT, fill_pointers, true},
};

static wire_msg want, got; /* about 50 KiB each */

static void test_every_kind_roundtrips(void **state)
{
	uint8_t *buf;
	size_t len;
	emc_err err;

	(void)state;
	assert_int_equal(sizeof kinds / sizeof *kinds, WIRE_KIND_COUNT - 1);
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
		wire_msg_init(&want, kinds[i].kind);
		kinds[i].fill(&want);
		assert_int_equal(wire_pack(&want, &buf, &len, &err), 0);
		memset(&got, 0xee, sizeof got);
		if (wire_unpack(buf, len, &got, &err) < 0)
			fail_msg("%s: %s", wire_kind_name(kinds[i].kind), err.msg);
		free(buf);
		if (got.kind != want.kind)
			fail_msg("%s came back as %s", wire_kind_name(want.kind), wire_kind_name(got.kind));
		if (kinds[i].pointers)
			assert_pointers_equal(&want, &got);
		else if (memcmp(&want, &got, sizeof want) != 0)
			fail_msg("%s: not the same after a round trip", wire_kind_name(want.kind));
		wire_msg_deinit(&got);
		assert_int_equal(got.kind, WIRE_NONE);
		wire_msg_deinit(&got); /* twice is harmless */
	}
}

/* The fields a peer can spell and the struct cannot, unpacked as wire.h
 * says: cut to fit, clamped, or kept as claimed. */
static void test_cuts_and_clamps(void **state)
{
	char host[300];
	uint8_t *buf;
	size_t len;
	emc_err err;

	(void)state;
	/* An outcome or reason from outside the enum becomes NONE. */
	wire_msg_init(&want, WIRE_RESULT);
	fill_result(&want);
	want.result.r.outcome = (emc_outcome)99;
	want.result.r.reason = (emc_stop_reason)-3;
	memset(want.result.r.error, 'e', sizeof want.result.r.error); /* full, unterminated */
	assert_int_equal(wire_pack(&want, &buf, &len, &err), 0);
	assert_int_equal(wire_unpack(buf, len, &got, &err), 0);
	free(buf);
	assert_int_equal(got.result.r.outcome, EMC_OUTCOME_NONE);
	assert_int_equal(got.result.r.reason, EMC_STOP_NONE);
	assert_int_equal(strlen(got.result.r.error), sizeof got.result.r.error - 1);

	/* A host name is cut; the claimed number of running attempts is kept. */
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Hello h = EMC__HELLO__INIT;
	static uint64_t running[WIRE_SLOTS_MAX + 5];

	memset(host, 'h', sizeof host - 1);
	host[sizeof host - 1] = '\0';
	h.host = host;
	h.n_running_attempts = WIRE_SLOTS_MAX + 5;
	h.running_attempts = running;
	running[WIRE_SLOTS_MAX - 1] = 31;
	env.version = EMC_PROTOCOL_VERSION;
	env.body_case = EMC__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	buf = malloc(emc__envelope__get_packed_size(&env));
	len = emc__envelope__pack(&env, buf);
	assert_int_equal(wire_unpack(buf, len, &got, &err), 0);
	free(buf);
	assert_int_equal(strlen(got.hello.host), WIRE_HOST_MAX);
	assert_int_equal(got.hello.n_running, WIRE_SLOTS_MAX + 5);
	assert_int_equal(got.hello.running[WIRE_SLOTS_MAX - 1], 31);
}

/* An Assign whose cell or dataset is unusable unpacks with its ids and
 * rc < 0, so that the worker can answer it FAILED. */
static void test_bad_assign_keeps_ids(void **state)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Assign a = EMC__ASSIGN__INIT;
	uint8_t buf[256], *packed;
	size_t len;
	emc_err err;

	(void)state;
	a.attempt_id = 5;
	a.trial_id = 6;
	env.version = EMC_PROTOCOL_VERSION;
	env.body_case = EMC__ENVELOPE__BODY_ASSIGN;
	env.assign = &a;
	len = emc__envelope__pack(&env, buf);
	assert_int_equal(wire_unpack(buf, len, &got, &err), 0);
	assert_int_equal(got.kind, WIRE_ASSIGN);
	assert_int_equal(got.assign.attempt_id, 5);
	assert_int_equal(got.assign.trial_id, 6);
	assert_true(got.assign.rc < 0);
	assert_contains(got.assign.err.msg, "lacks its cell or dataset");

	wire_msg_init(&want, WIRE_ASSIGN);
	fill_assign(&want);
	want.assign.cell.optim.lr = -1;
	assert_int_equal(wire_pack(&want, &packed, &len, &err), 0);
	assert_int_equal(wire_unpack(packed, len, &got, &err), 0);
	free(packed);
	assert_int_equal(got.assign.attempt_id, 42);
	assert_true(got.assign.rc < 0);
	assert_contains(got.assign.err.msg, "optim.lr");
	assert_false(got.assign.has_hash);
}

static void test_control_campaign_bounded(void **state)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Control c = EMC__CONTROL__INIT;
	char name[WIRE_CAMPAIGN_MAX + 1];
	uint8_t buf[WIRE_CAMPAIGN_MAX + 64];
	size_t len;
	emc_err err;

	(void)state;
	memset(name, 'c', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	c.verb = "pause";
	c.campaign = name;
	env.version = EMC_PROTOCOL_VERSION;
	env.body_case = EMC__ENVELOPE__BODY_CONTROL;
	env.control = &c;
	len = emc__envelope__pack(&env, buf);
	got.kind = WIRE_READY; /* untouched on failure */
	assert_int_equal(wire_unpack(buf, len, &got, &err), -EINVAL);
	assert_contains(err.msg, "control.campaign");
	assert_int_equal(got.kind, WIRE_READY);
	name[sizeof name - 2] = '\0'; /* at the cap: taken */
	len = emc__envelope__pack(&env, buf);
	assert_int_equal(wire_unpack(buf, len, &got, &err), 0);
	assert_int_equal(strlen(got.control.campaign), WIRE_CAMPAIGN_MAX - 1);
}

/* A Hello's provenance names are kept whole or refused: too long, or a
 * byte that is not printable ASCII, fails the unpack and says which field. */
static void test_hello_provenance_checked(void **state)
{
	static const struct {
		const char *version, *core, *field; /* field NULL: taken */
	} cases[] = {
	    {"0.1.0", "Haswell", NULL},
	    {"", "", NULL}, /* an old worker says nothing: taken, empty */
	    {"v-31-bytes-are-just-at-the-cap!", "Zen", NULL},
	    {"v-32-bytes-are-one-beyond-a-cap!", "Zen", "emc_version"},
	    {"0.1.0", "Haswell\n", "blas_core"},
	    {"0.1.0", "Has\x7fwell", "blas_core"},
	    {"0.1.0\xc3\xa9", "Haswell", "emc_version"},
	};
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Hello h = EMC__HELLO__INIT;
	uint8_t buf[256];
	size_t len;
	emc_err err;

	(void)state;
	assert_int_equal(strlen(cases[2].version), WIRE_PROV_MAX);
	env.version = EMC_PROTOCOL_VERSION;
	env.body_case = EMC__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	h.host = "node";
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		h.emc_version = (char *)cases[i].version;
		h.blas_core = (char *)cases[i].core;
		len = emc__envelope__pack(&env, buf);
		got.kind = WIRE_READY; /* untouched on failure */
		if (!cases[i].field) {
			if (wire_unpack(buf, len, &got, &err) < 0)
				fail_msg("case %zu: %s", i, err.msg);
			assert_string_equal(got.hello.emc_version, cases[i].version);
			assert_string_equal(got.hello.blas_core, cases[i].core);
			continue;
		}
		assert_int_equal(wire_unpack(buf, len, &got, &err), -EINVAL);
		assert_contains(err.msg, cases[i].field);
		assert_int_equal(got.kind, WIRE_READY);
	}
}

/* ---- hostile frames -------------------------------------------------------------- */

static void test_garbage_is_refused(void **state)
{
	uint8_t junk[256];
	emc_err err;
	emc_rng rng;
	int refused = 0;

	(void)state;
	emc_rng_seed(&rng, 1, 0);
	/* Random bytes: every frame is either refused with a message or, if it
	 * happens to unpack, has a kind. None crashes. */
	for (int trial = 0; trial < 2000; trial++) {
		size_t len = emc_rng_below(&rng, sizeof junk) + 1;

		for (size_t i = 0; i < len; i++)
			junk[i] = (uint8_t)emc_rng_next(&rng);
		err.msg[0] = '\0';
		if (wire_unpack(junk, len, &got, &err) < 0) {
			assert_true(err.msg[0] != '\0');
			refused++;
		} else {
			assert_true(got.kind > WIRE_NONE && got.kind < WIRE_KIND_COUNT);
			wire_msg_deinit(&got);
		}
	}
	assert_true(refused > 1900);
}

static void test_truncated_is_refused(void **state)
{
	uint8_t *buf;
	size_t len;
	emc_err err;
	int refused = 0;

	(void)state;
	wire_msg_init(&want, WIRE_HELLO);
	want.hello.protocol = EMC_PROTOCOL_VERSION;
	snprintf(want.hello.host, sizeof want.hello.host, "a-host-name-long-enough-to-truncate");
	want.hello.slots = 2;
	assert_int_equal(wire_pack(&want, &buf, &len, &err), 0);
	for (size_t cut = 1; cut < len; cut++) {
		if (wire_unpack(buf, cut, &got, &err) < 0)
			refused++;
		else
			wire_msg_deinit(&got);
	}
	/* Every cut inside the body's length-delimited field is refused. */
	assert_true(refused >= (int)len - 4);
	free(buf);
}

static void test_version_and_body(void **state)
{
	wire_msg m = {.kind = WIRE_READY, .ready = {.credit = 1}};
	uint8_t *buf;
	size_t len;
	emc_err err;

	(void)state;
	assert_int_equal(wire_pack_version(&m, EMC_PROTOCOL_VERSION + 1, &buf, &len, &err), 0);
	assert_int_equal(wire_unpack(buf, len, &got, &err), -EPROTO);
	assert_contains(err.msg, "protocol version 3");
	free(buf);

	wire_msg_init(&m, WIRE_NONE);
	assert_int_equal(wire_pack(&m, &buf, &len, &err), -EINVAL);
	assert_int_equal(wire_pack_version(&m, EMC_PROTOCOL_VERSION, &buf, &len, &err), 0);
	assert_int_equal(wire_unpack(buf, len, &got, &err), -EBADMSG);
	assert_contains(err.msg, "no body");
	free(buf);
}

static void test_oversized_is_refused(void **state)
{
	size_t len = EMC_MAX_MESSAGE_BYTES + 1;
	uint8_t *big = calloc(1, len), *buf;
	emc_err err;

	(void)state;
	assert_non_null(big);
	assert_int_equal(wire_unpack(big, len, &got, &err), -EMSGSIZE);
	assert_contains(err.msg, "exceeds");
	/* Nor is one packed: the peer would refuse it. */
	wire_msg_init(&want, WIRE_DATA_CHUNK);
	want.data_chunk.data = big;
	want.data_chunk.len = len;
	assert_int_equal(wire_pack(&want, &buf, &len, &err), -EMSGSIZE);
	free(big);
}

/* A cell configuration as raw protobuf, so that values no emc_cell_cfg
 * can hold can be sent. */
typedef struct raw_cell {
	Emc__CellConfig cell;
	Emc__ModelConfig model;
	Emc__OptimConfig optim;
	Emc__BudgetConfig budget;
	uint32_t widths[EMC_MAX_LAYERS + 1];
} raw_cell;

static void raw_cell_init(raw_cell *rc, const emc_cell_cfg *c)
{
	uint8_t *buf;
	size_t len;
	Emc__CellConfig *pb;

	/* Start from what wire packs, then break one thing. */
	assert_int_equal(wire_cell_pack(c, &buf, &len, NULL), 0);
	pb = emc__cell_config__unpack(NULL, len, buf);
	assert_non_null(pb);
	free(buf);
	rc->cell = *pb;
	rc->model = *pb->model;
	rc->optim = *pb->optim;
	rc->budget = *pb->budget;
	for (size_t i = 0; i < pb->model->n_widths; i++)
		rc->widths[i] = pb->model->widths[i];
	rc->model.widths = rc->widths;
	rc->cell.model = &rc->model;
	rc->cell.optim = &rc->optim;
	rc->cell.budget = &rc->budget;
	emc__cell_config__free_unpacked(pb, NULL);
}

static int raw_cell_unpack(const raw_cell *rc, emc_cell_cfg *ret, emc_err *err)
{
	uint8_t buf[4096];
	size_t len = emc__cell_config__pack(&rc->cell, buf);

	return wire_cell_unpack(buf, len, ret, err);
}

static void test_cell_ranges_checked(void **state)
{
	emc_cell_cfg c = sample_cell(), out;
	raw_cell rc;
	emc_err err;

	(void)state;
	raw_cell_init(&rc, &c);
	assert_int_equal(raw_cell_unpack(&rc, &out, &err), 0);
	assert_memory_equal(&c, &out, sizeof c);

	rc.model.family = 99;
	assert_int_equal(raw_cell_unpack(&rc, &out, &err), -EINVAL);
	assert_contains(err.msg, "family");

	raw_cell_init(&rc, &c);
	rc.optim.lr = -1;
	assert_int_equal(raw_cell_unpack(&rc, &out, &err), -EINVAL);
	assert_contains(err.msg, "optim.lr");

	raw_cell_init(&rc, &c);
	rc.budget.fit_threshold = 0.0 / 0.0; /* NaN */
	assert_int_equal(raw_cell_unpack(&rc, &out, &err), -EINVAL);
	assert_contains(err.msg, "fit_threshold");

	raw_cell_init(&rc, &c);
	rc.widths[1] = 4000000000u;
	assert_int_equal(raw_cell_unpack(&rc, &out, &err), -EINVAL);
	assert_contains(err.msg, "widths");

	raw_cell_init(&rc, &c);
	rc.model.n_widths = EMC_MAX_LAYERS + 1;
	assert_int_equal(raw_cell_unpack(&rc, &out, &err), -EINVAL);
	assert_contains(err.msg, "cell.model.widths");

	raw_cell_init(&rc, &c);
	rc.cell.budget = NULL;
	assert_int_equal(raw_cell_unpack(&rc, &out, &err), -EINVAL);
	assert_contains(err.msg, "lacks budget");
}

static void test_dataset_roundtrip(void **state)
{
	emc_dataset_ref out;
	uint8_t *buf;
	size_t len;
	emc_err err;

	(void)state;
	assert_int_equal(wire_dataset_pack(&sample_ref, &buf, &len, &err), 0);
	memset(&out, 0xee, sizeof out);
	assert_int_equal(wire_dataset_unpack(buf, len, &out, &err), 0);
	assert_memory_equal(&sample_ref, &out, sizeof out);
	assert_int_equal(wire_dataset_unpack(buf, len > 3 ? len - 3 : 0, &out, &err), -EBADMSG);
	free(buf);
}

/* Every string of a dataset reference is bounded by its array, named. */
static void test_dataset_strings_bounded(void **state)
{
	static const char *const fields[] = {"name", "format",	     "split",	    "images",	   "labels",
					     "path", "label_column", "categorical", "cifar_label", "synth_teacher"};
	char *long_str = malloc(EMC_PATH_MAX + 10);
	uint8_t *buf = malloc(EMC_PATH_MAX + 64);
	emc_dataset_ref out;
	char want_msg[64];
	emc_err err;

	(void)state;
	memset(long_str, 'a', EMC_PATH_MAX + 9);
	long_str[EMC_PATH_MAX + 9] = '\0';
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		Emc__DatasetRef pb = EMC__DATASET_REF__INIT;
		char **slot[] = {&pb.name, &pb.format,	     &pb.split,	      &pb.images,      &pb.labels,
				 &pb.path, &pb.label_column, &pb.categorical, &pb.cifar_label, &pb.synth_teacher};
		size_t len;

		*slot[i] = long_str;
		len = emc__dataset_ref__pack(&pb, buf);
		assert_int_equal(wire_dataset_unpack(buf, len, &out, &err), -EINVAL);
		snprintf(want_msg, sizeof want_msg, "dataset.%s is", fields[i]);
		assert_contains(err.msg, want_msg);
	}
	free(long_str);
	free(buf);
}

static void test_dataset_sizes_bounded(void **state)
{
	static const struct {
		int64_t n;
		int dim, classes;
	} bad[] = {{-1, 1, 2}, {(1 << 26) + 1, 1, 2}, {10, (1 << 24) + 1, 2}, {10, 1, 257}};
	emc_dataset_ref ref = sample_ref, out;
	uint8_t *buf;
	size_t len;
	emc_err err;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ref.synth_n = bad[i].n;
		ref.synth_dim = bad[i].dim;
		ref.synth_classes = bad[i].classes;
		assert_int_equal(wire_dataset_pack(&ref, &buf, &len, &err), 0);
		assert_int_equal(wire_dataset_unpack(buf, len, &out, &err), -EINVAL);
		assert_contains(err.msg, "dataset.synthetic");
		free(buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cell_roundtrip),	     cmocka_unit_test(test_every_kind_roundtrips),
	    cmocka_unit_test(test_cuts_and_clamps),	     cmocka_unit_test(test_bad_assign_keeps_ids),
	    cmocka_unit_test(test_control_campaign_bounded), cmocka_unit_test(test_hello_provenance_checked),
	    cmocka_unit_test(test_garbage_is_refused),	     cmocka_unit_test(test_truncated_is_refused),
	    cmocka_unit_test(test_version_and_body),	     cmocka_unit_test(test_oversized_is_refused),
	    cmocka_unit_test(test_cell_ranges_checked),	     cmocka_unit_test(test_dataset_roundtrip),
	    cmocka_unit_test(test_dataset_strings_bounded),  cmocka_unit_test(test_dataset_sizes_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
