/* wire.c — framing, checking and conversion of emc's wire messages.
 *
 * Every byte that arrives from a socket passes through wire_unpack() before
 * anything else looks at it: the frame's size is bounded, protobuf-c
 * unpacks it (a NULL unpack means garbage), the protocol version must be
 * ours and a body must be present. What protobuf-c cannot check — the
 * ranges of configuration values, the length of strings that end up in
 * fixed buffers, enums from a newer peer — the conversions below check,
 * so a hostile or broken peer gets an error, never a crash or an unbounded
 * allocation. The protobuf message is freed before wire_unpack() returns:
 * nothing outside this file ever holds one.
 *
 * Packing goes the other way: the C message is turned into protobuf-c
 * structs that point into it (or into a small storage struct on the
 * stack), packed, and forgotten. Only a Heartbeat's progress list and a
 * ControlReply's worker list need the heap, for their arrays of pointers.
 *
 * This is the only file that includes the generated emc.pb-c.h.
 */
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emc.pb-c.h"

/* Sub-messages of a cell configuration, filled by wire_cell_to_pb(); must
 * outlive the CellConfig it returns. */
typedef struct wire_cell_storage {
	Emc__CellConfig cell;
	Emc__ModelConfig model;
	Emc__OptimConfig optim;
	Emc__BudgetConfig budget;
	uint32_t widths[EMC_MAX_LAYERS];
} wire_cell_storage;

/* ---- cell configuration -------------------------------------------------- */

static Emc__CellConfig *wire_cell_to_pb(const emc_cell_cfg *c, wire_cell_storage *st)
{
	const emc_model_cfg *m = &c->model;

	emc__cell_config__init(&st->cell);
	emc__model_config__init(&st->model);
	emc__optim_config__init(&st->optim);
	emc__budget_config__init(&st->budget);

	st->model.family = (uint32_t)m->family;
	st->model.activation = (uint32_t)m->activation;
	for (int i = 0; i < m->n_widths && i < EMC_MAX_LAYERS; i++)
		st->widths[i] = (uint32_t)m->widths[i];
	st->model.n_widths = (size_t)m->n_widths;
	st->model.widths = st->widths;
	st->model.layers = (uint32_t)m->layers;
	st->model.filters = (uint32_t)m->filters;
	st->model.hidden = (uint32_t)m->hidden;
	st->model.width = (uint32_t)m->width;
	st->model.patch = (uint32_t)m->patch;
	st->model.dim = (uint32_t)m->dim;
	st->model.depth = (uint32_t)m->depth;
	st->model.heads = (uint32_t)m->heads;
	st->model.mlp_ratio = (uint32_t)m->mlp_ratio;

	st->optim.name = (uint32_t)c->optim.name;
	st->optim.lr = c->optim.lr;
	st->optim.momentum = c->optim.momentum;
	st->optim.nesterov = c->optim.nesterov;
	st->optim.weight_decay = c->optim.weight_decay;
	st->optim.beta1 = c->optim.beta1;
	st->optim.beta2 = c->optim.beta2;
	st->optim.eps = c->optim.eps;
	st->optim.batch = (uint32_t)c->optim.batch;
	st->optim.schedule = (uint32_t)c->optim.schedule;
	st->optim.warmup_epochs = (uint32_t)c->optim.warmup_epochs;

	st->budget.max_epochs = c->budget.max_epochs;
	st->budget.max_steps = c->budget.max_steps;
	st->budget.max_seconds = c->budget.max_seconds;
	st->budget.plateau_epochs = (uint32_t)c->budget.plateau_epochs;
	st->budget.plateau_rel = c->budget.plateau_rel;
	st->budget.eval_every = (uint32_t)c->budget.eval_every;
	st->budget.fit_threshold = c->budget.fit_threshold;
	st->budget.grad_tol = c->budget.grad_tol;
	st->budget.hessian = c->budget.hessian;

	st->cell.model = &st->model;
	st->cell.optim = &st->optim;
	st->cell.budget = &st->budget;
	st->cell.labels = (uint32_t)c->labels;
	st->cell.seed = c->seed;
	st->cell.label_noise = c->label_noise;
	st->cell.inputs = (uint32_t)c->inputs;
	st->cell.classes = (uint32_t)c->classes;
	st->cell.data_seed = c->data_seed;
	st->cell.data_seed_fixed = c->data_seed_fixed;
	return &st->cell;
}

/* A count as the cell stores it. A value no int can hold saturates, and
 * every count's range in the cell table is far below INT_MAX, so
 * emc_cell_check() refuses it with the value it saw. */
static int count_of(uint32_t v)
{
	return v > INT_MAX ? INT_MAX : (int)v;
}

static int wire_cell_from_pb(const Emc__CellConfig *pb, emc_cell_cfg *ret, emc_err *err)
{
	emc_cell_cfg c;
	const Emc__ModelConfig *m = pb->model;
	const Emc__OptimConfig *o = pb->optim;
	const Emc__BudgetConfig *b = pb->budget;
	emc_err why;

	if (!m || !o || !b)
		return emc_err_set(err, EINVAL, "wire: cell configuration lacks %s",
				   !m	? "model"
				   : !o ? "optim"
					: "budget");
	/* Bounded before it is copied; every other value is checked, once
	 * converted, by the cell table. */
	if (m->n_widths > EMC_MAX_LAYERS)
		return emc_err_set(err, EINVAL, "wire: cell.model.widths has %zu entries, at most %d", m->n_widths,
				   EMC_MAX_LAYERS);
	memset(&c, 0, sizeof c);
	c.model.family = (emc_family)count_of(m->family);
	c.model.activation = (emc_activation)count_of(m->activation);
	c.model.n_widths = (int)m->n_widths;
	for (size_t i = 0; i < m->n_widths; i++)
		c.model.widths[i] = count_of(m->widths[i]);
	c.model.layers = count_of(m->layers);
	c.model.filters = count_of(m->filters);
	c.model.hidden = count_of(m->hidden);
	c.model.width = count_of(m->width);
	c.model.patch = count_of(m->patch);
	c.model.dim = count_of(m->dim);
	c.model.depth = count_of(m->depth);
	c.model.heads = count_of(m->heads);
	c.model.mlp_ratio = count_of(m->mlp_ratio);
	c.optim.name = (emc_optimizer)count_of(o->name);
	c.optim.lr = o->lr;
	c.optim.momentum = o->momentum;
	c.optim.nesterov = o->nesterov;
	c.optim.weight_decay = o->weight_decay;
	c.optim.beta1 = o->beta1;
	c.optim.beta2 = o->beta2;
	c.optim.eps = o->eps;
	c.optim.batch = count_of(o->batch);
	c.optim.schedule = (emc_schedule)count_of(o->schedule);
	c.optim.warmup_epochs = count_of(o->warmup_epochs);
	c.budget.max_epochs = b->max_epochs;
	c.budget.max_steps = b->max_steps;
	c.budget.max_seconds = b->max_seconds;
	c.budget.plateau_epochs = count_of(b->plateau_epochs);
	c.budget.plateau_rel = b->plateau_rel;
	c.budget.eval_every = count_of(b->eval_every);
	c.budget.fit_threshold = b->fit_threshold;
	c.budget.grad_tol = b->grad_tol;
	c.budget.hessian = b->hessian;
	c.labels = (emc_labels)count_of(pb->labels);
	c.label_noise = pb->label_noise;
	c.inputs = (emc_inputs)count_of(pb->inputs);
	c.classes = count_of(pb->classes);
	c.seed = pb->seed;
	c.data_seed = pb->data_seed;
	c.data_seed_fixed = pb->data_seed_fixed;
	if (emc_cell_check(&c, &why) < 0)
		return emc_err_set(err, EINVAL, "wire: cell: %s", why.msg);
	*ret = c;
	return 0;
}

int wire_cell_pack(const emc_cell_cfg *c, uint8_t **ret_buf, size_t *ret_len, emc_err *err)
{
	wire_cell_storage st;
	Emc__CellConfig *pb = wire_cell_to_pb(c, &st);
	size_t len = emc__cell_config__get_packed_size(pb);
	uint8_t *buf = malloc(len ? len : 1);

	if (!buf)
		return emc_err_set(err, ENOMEM, "wire: out of memory packing a cell configuration");
	emc__cell_config__pack(pb, buf);
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

int wire_cell_unpack(const uint8_t *buf, size_t len, emc_cell_cfg *ret, emc_err *err)
{
	Emc__CellConfig *pb;
	int r;

	if (len > EMC_MAX_MESSAGE_BYTES)
		return emc_err_set(err, EMSGSIZE, "wire: cell configuration of %zu bytes is too large", len);
	pb = emc__cell_config__unpack(NULL, len, buf);
	if (!pb)
		return emc_err_set(err, EBADMSG, "wire: cell configuration of %zu bytes does not unpack", len);
	r = wire_cell_from_pb(pb, ret, err);
	emc__cell_config__free_unpacked(pb, NULL);
	return r;
}

static void wire_dataset_to_pb(const emc_dataset_ref *ref, Emc__DatasetRef *pb)
{
	emc__dataset_ref__init(pb);
	/* protobuf-c's string fields are char *, but packing does not write. */
	pb->name = (char *)ref->name;
	pb->format = (char *)ref->format;
	pb->split = (char *)ref->split;
	pb->images = (char *)ref->images;
	pb->labels = (char *)ref->labels;
	pb->path = (char *)ref->path;
	pb->label_column = (char *)ref->label_column;
	pb->categorical = (char *)ref->categorical;
	pb->cifar_label = (char *)ref->cifar_label;
	pb->standardize = ref->standardize;
	pb->synth_n = ref->synth_n;
	pb->synth_dim = (uint32_t)ref->synth_dim;
	pb->synth_classes = (uint32_t)ref->synth_classes;
	pb->synth_seed = ref->synth_seed;
	pb->synth_teacher = (char *)ref->synth_teacher;
}

static int copy_field(char *dst, size_t cap, const char *src, const char *field, emc_err *err)
{
	size_t len = src ? strlen(src) : 0;

	if (len >= cap)
		return emc_err_set(err, EINVAL, "wire: dataset.%s is %zu bytes, at most %zu", field, len, cap - 1);
	memcpy(dst, src ? src : "", len + 1);
	return 0;
}

static int wire_dataset_from_pb(const Emc__DatasetRef *pb, emc_dataset_ref *ret, emc_err *err)
{
	emc_dataset_ref ref;
	int r;

	memset(&ref, 0, sizeof ref);
	if ((r = copy_field(ref.name, sizeof ref.name, pb->name, "name", err)) < 0 ||
	    (r = copy_field(ref.format, sizeof ref.format, pb->format, "format", err)) < 0 ||
	    (r = copy_field(ref.split, sizeof ref.split, pb->split, "split", err)) < 0 ||
	    (r = copy_field(ref.images, sizeof ref.images, pb->images, "images", err)) < 0 ||
	    (r = copy_field(ref.labels, sizeof ref.labels, pb->labels, "labels", err)) < 0 ||
	    (r = copy_field(ref.path, sizeof ref.path, pb->path, "path", err)) < 0 ||
	    (r = copy_field(ref.label_column, sizeof ref.label_column, pb->label_column, "label_column", err)) < 0 ||
	    (r = copy_field(ref.categorical, sizeof ref.categorical, pb->categorical, "categorical", err)) < 0 ||
	    (r = copy_field(ref.cifar_label, sizeof ref.cifar_label, pb->cifar_label, "cifar_label", err)) < 0 ||
	    (r = copy_field(ref.synth_teacher, sizeof ref.synth_teacher, pb->synth_teacher, "synth_teacher", err)) < 0)
		return r;
	if (pb->synth_n < 0 || pb->synth_n > (1 << 26) || pb->synth_dim > (1 << 24) || pb->synth_classes > 256)
		return emc_err_set(err, EINVAL, "wire: dataset.synthetic sizes out of range");
	ref.standardize = pb->standardize;
	ref.synth_n = pb->synth_n;
	ref.synth_dim = (int)pb->synth_dim;
	ref.synth_classes = (int)pb->synth_classes;
	ref.synth_seed = pb->synth_seed;
	*ret = ref;
	return 0;
}

/* ---- blobs: packed alone, for the store ------------------------------------ */

int wire_dataset_pack(const emc_dataset_ref *ref, uint8_t **ret_buf, size_t *ret_len, emc_err *err)
{
	Emc__DatasetRef pb;
	size_t len;
	uint8_t *buf;

	wire_dataset_to_pb(ref, &pb);
	len = emc__dataset_ref__get_packed_size(&pb);
	buf = malloc(len ? len : 1);
	if (!buf)
		return emc_err_set(err, ENOMEM, "wire: out of memory packing a dataset reference");
	emc__dataset_ref__pack(&pb, buf);
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

int wire_dataset_unpack(const uint8_t *buf, size_t len, emc_dataset_ref *ret, emc_err *err)
{
	Emc__DatasetRef *pb;
	int r;

	if (len > EMC_MAX_MESSAGE_BYTES)
		return emc_err_set(err, EMSGSIZE, "wire: dataset reference of %zu bytes is too large", len);
	pb = emc__dataset_ref__unpack(NULL, len, buf);
	if (!pb)
		return emc_err_set(err, EBADMSG, "wire: dataset reference of %zu bytes does not unpack", len);
	r = wire_dataset_from_pb(pb, ret, err);
	emc__dataset_ref__free_unpacked(pb, NULL);
	return r;
}

/* ---- messages: C to protobuf ------------------------------------------------ */

static const char *const kind_names[WIRE_KIND_COUNT] = {
    [WIRE_NONE] = "none",
    [WIRE_HELLO] = "hello",
    [WIRE_WELCOME] = "welcome",
    [WIRE_READY] = "ready",
    [WIRE_ASSIGN] = "assign",
    [WIRE_HEARTBEAT] = "heartbeat",
    [WIRE_RESULT] = "result",
    [WIRE_RESULT_ACK] = "result_ack",
    [WIRE_CANCEL] = "cancel",
    [WIRE_BYE] = "bye",
    [WIRE_ERROR] = "error",
    [WIRE_SUBMIT] = "submit",
    [WIRE_SUBMIT_REPLY] = "submit_reply",
    [WIRE_CONTROL] = "control",
    [WIRE_CONTROL_REPLY] = "control_reply",
    [WIRE_DATA_REQUEST] = "data_request",
    [WIRE_DATA_CHUNK] = "data_chunk",
    [WIRE_CHECKPOINT] = "checkpoint",
};

/* The oneof case of each kind, and back: the one table both directions read. */
static const Emc__Envelope__BodyCase body_cases[WIRE_KIND_COUNT] = {
    [WIRE_NONE] = EMC__ENVELOPE__BODY__NOT_SET,
    [WIRE_HELLO] = EMC__ENVELOPE__BODY_HELLO,
    [WIRE_WELCOME] = EMC__ENVELOPE__BODY_WELCOME,
    [WIRE_READY] = EMC__ENVELOPE__BODY_READY,
    [WIRE_ASSIGN] = EMC__ENVELOPE__BODY_ASSIGN,
    [WIRE_HEARTBEAT] = EMC__ENVELOPE__BODY_HEARTBEAT,
    [WIRE_RESULT] = EMC__ENVELOPE__BODY_RESULT,
    [WIRE_RESULT_ACK] = EMC__ENVELOPE__BODY_RESULT_ACK,
    [WIRE_CANCEL] = EMC__ENVELOPE__BODY_CANCEL,
    [WIRE_BYE] = EMC__ENVELOPE__BODY_BYE,
    [WIRE_ERROR] = EMC__ENVELOPE__BODY_ERROR,
    [WIRE_SUBMIT] = EMC__ENVELOPE__BODY_SUBMIT,
    [WIRE_SUBMIT_REPLY] = EMC__ENVELOPE__BODY_SUBMIT_REPLY,
    [WIRE_CONTROL] = EMC__ENVELOPE__BODY_CONTROL,
    [WIRE_CONTROL_REPLY] = EMC__ENVELOPE__BODY_CONTROL_REPLY,
    [WIRE_DATA_REQUEST] = EMC__ENVELOPE__BODY_DATA_REQUEST,
    [WIRE_DATA_CHUNK] = EMC__ENVELOPE__BODY_DATA_CHUNK,
    [WIRE_CHECKPOINT] = EMC__ENVELOPE__BODY_CHECKPOINT,
};

const char *wire_kind_name(wire_kind k)
{
	return (unsigned)k < WIRE_KIND_COUNT ? kind_names[k] : "?";
}

static wire_kind kind_of(Emc__Envelope__BodyCase c)
{
	for (int k = 1; k < WIRE_KIND_COUNT; k++)
		if (body_cases[k] == c)
			return (wire_kind)k;
	return WIRE_NONE;
}

/* Everything an envelope's body may point to while it is packed. */
typedef struct pack_storage {
	union {
		Emc__Hello hello;
		Emc__Welcome welcome;
		Emc__Ready ready;
		Emc__Assign assign;
		Emc__Heartbeat heartbeat;
		Emc__Result result;
		Emc__ResultAck result_ack;
		Emc__Cancel cancel;
		Emc__Bye bye;
		Emc__Error error;
		Emc__Submit submit;
		Emc__SubmitReply submit_reply;
		Emc__Control control;
		Emc__ControlReply control_reply;
		Emc__DataRequest data_request;
		Emc__DataChunk data_chunk;
		Emc__Checkpoint checkpoint;
	};
	Emc__DatasetRef dataset;
	wire_cell_storage cell;
	char *caps[WIRE_CAPS_MAX];
	void *heap[2]; /* freed after packing */
} pack_storage;

/* protobuf-c's string fields are char *, but packing does not write. */
static char *str(const char *s)
{
	return (char *)(s ? s : "");
}

static void hello_to_pb(const wire_hello *h, pack_storage *st)
{
	Emc__Hello *pb = &st->hello;
	size_t n_caps = h->n_capabilities < WIRE_CAPS_MAX ? h->n_capabilities : WIRE_CAPS_MAX;

	emc__hello__init(pb);
	pb->protocol = h->protocol;
	pb->host = str(h->host);
	pb->pid = h->pid;
	pb->slots = h->slots;
	pb->blas_threads = h->blas_threads;
	pb->emc_version = str(h->emc_version);
	pb->blas_core = str(h->blas_core);
	pb->memory_bytes = h->memory_bytes;
	for (size_t i = 0; i < n_caps; i++)
		st->caps[i] = str(h->capabilities[i]);
	pb->n_capabilities = n_caps;
	pb->capabilities = st->caps;
	pb->n_running_attempts = h->n_running < WIRE_SLOTS_MAX ? h->n_running : WIRE_SLOTS_MAX;
	pb->running_attempts = (uint64_t *)h->running;
}

static void assign_to_pb(const wire_assign *a, pack_storage *st)
{
	Emc__Assign *pb = &st->assign;

	emc__assign__init(pb);
	pb->attempt_id = a->attempt_id;
	pb->trial_id = a->trial_id;
	pb->n = (uint64_t)a->n;
	pb->cell = wire_cell_to_pb(&a->cell, &st->cell);
	wire_dataset_to_pb(&a->dataset, &st->dataset);
	if (a->has_hash) {
		st->dataset.content_hash.data = (uint8_t *)a->hash;
		st->dataset.content_hash.len = WIRE_HASH_BYTES;
	}
	pb->dataset = &st->dataset;
	pb->resume.data = (uint8_t *)a->resume;
	pb->resume.len = a->resume ? a->resume_len : 0;
}

static int heartbeat_to_pb(const wire_heartbeat *h, pack_storage *st, emc_err *err)
{
	size_t n = h->n_attempts < WIRE_SLOTS_MAX ? h->n_attempts : WIRE_SLOTS_MAX;
	Emc__AttemptProgress *p = calloc(n + 1, sizeof *p);
	Emc__AttemptProgress **ptrs = calloc(n + 1, sizeof *ptrs);

	st->heap[0] = p;
	st->heap[1] = ptrs;
	if (!p || !ptrs)
		return emc_err_set(err, ENOMEM, "wire: out of memory packing a heartbeat");
	emc__heartbeat__init(&st->heartbeat);
	for (size_t i = 0; i < n; i++) {
		emc__attempt_progress__init(&p[i]);
		p[i].attempt_id = h->attempts[i].attempt_id;
		p[i].epoch = h->attempts[i].epoch;
		p[i].step = h->attempts[i].step;
		p[i].loss = h->attempts[i].loss;
		p[i].accuracy = h->attempts[i].accuracy;
		p[i].seconds = h->attempts[i].seconds;
		ptrs[i] = &p[i];
	}
	st->heartbeat.n_attempts = n;
	st->heartbeat.attempts = ptrs;
	st->heartbeat.n_unacked = h->n_unacked < WIRE_SLOTS_MAX ? h->n_unacked : WIRE_SLOTS_MAX;
	st->heartbeat.unacked = (uint64_t *)h->unacked;
	return 0;
}

static int result_to_pb(const wire_result *res, pack_storage *st, emc_err *err)
{
	const emc_trial_result *r = &res->r;
	Emc__Result *pb = &st->result;
	size_t elen = strnlen(r->error, sizeof r->error);

	emc__result__init(pb);
	pb->attempt_id = res->attempt_id;
	pb->trial_id = res->trial_id;
	pb->outcome = (Emc__Outcome)r->outcome;
	pb->reason = (Emc__StopReason)r->reason;
	pb->epochs = r->epochs;
	pb->steps = r->steps;
	pb->train_seconds = r->train_seconds;
	pb->loss = r->loss;
	pb->accuracy = r->accuracy;
	pb->grad_norm = r->grad_norm;
	pb->budget_used = r->budget_used;
	pb->params = r->params;
	pb->has_hessian = r->has_hessian;
	pb->hessian_min = r->hessian_min;
	pb->hessian_max = r->hessian_max;
	pb->sample_grads = r->sample_grads;
	/* The array may be full and unterminated (result.h): send a copy. */
	st->heap[0] = malloc(elen + 1);
	if (!st->heap[0])
		return emc_err_set(err, ENOMEM, "wire: out of memory packing a result");
	memcpy(st->heap[0], r->error, elen);
	((char *)st->heap[0])[elen] = '\0';
	pb->error = st->heap[0];
	return 0;
}

static int submit_to_pb(const wire_submit *s, pack_storage *st, emc_err *err)
{
	Emc__Submit *pb = &st->submit;

	emc__submit__init(pb);
	/* A string field is NUL-terminated; spec_len may end before a NUL. */
	st->heap[0] = malloc(s->spec_len + 1);
	if (!st->heap[0])
		return emc_err_set(err, ENOMEM, "wire: out of memory packing a submit");
	if (s->spec_len)
		memcpy(st->heap[0], s->spec_text, s->spec_len);
	((char *)st->heap[0])[s->spec_len] = '\0';
	pb->spec_text = st->heap[0];
	pb->origin = str(s->origin);
	pb->base_dir = str(s->base_dir);
	return 0;
}

static int control_reply_to_pb(const wire_control_reply *c, pack_storage *st, emc_err *err)
{
	Emc__WorkerInfo *w = calloc(c->n_workers + 1, sizeof *w);
	Emc__WorkerInfo **ptrs = calloc(c->n_workers + 1, sizeof *ptrs);

	st->heap[0] = w;
	st->heap[1] = ptrs;
	if (!w || !ptrs)
		return emc_err_set(err, ENOMEM, "wire: out of memory packing a control reply");
	emc__control_reply__init(&st->control_reply);
	st->control_reply.ok = c->ok;
	st->control_reply.message = str(c->message);
	for (size_t i = 0; i < c->n_workers; i++) {
		emc__worker_info__init(&w[i]);
		w[i].id = c->workers[i].id;
		w[i].host = str(c->workers[i].host);
		w[i].slots = c->workers[i].slots;
		w[i].busy = c->workers[i].busy;
		w[i].last_heartbeat_ms_ago = c->workers[i].last_heartbeat_ms_ago;
		w[i].trials_done = c->workers[i].trials_done;
		w[i].blas_core = str(c->workers[i].blas_core);
		ptrs[i] = &w[i];
	}
	st->control_reply.n_workers = c->n_workers;
	st->control_reply.workers = ptrs;
	return 0;
}

static void data_to_pb(const wire_msg *m, pack_storage *st)
{
	if (m->kind == WIRE_DATA_REQUEST) {
		const wire_data_request *q = &m->data_request;

		emc__data_request__init(&st->data_request);
		if (q->has_hash) {
			st->data_request.hash.data = (uint8_t *)q->hash;
			st->data_request.hash.len = WIRE_HASH_BYTES;
		}
		st->data_request.offset = q->offset;
		st->data_request.length = q->length;
	} else {
		const wire_data_chunk *c = &m->data_chunk;

		emc__data_chunk__init(&st->data_chunk);
		if (c->has_hash) {
			st->data_chunk.hash.data = (uint8_t *)c->hash;
			st->data_chunk.hash.len = WIRE_HASH_BYTES;
		}
		st->data_chunk.offset = c->offset;
		st->data_chunk.total = c->total;
		st->data_chunk.data.data = (uint8_t *)c->data;
		st->data_chunk.data.len = c->data ? c->len : 0;
		st->data_chunk.error = str(c->error);
	}
}

/* The small bodies: a few scalars or one string each. */
static void small_to_pb(const wire_msg *m, pack_storage *st)
{
	switch (m->kind) {
	case WIRE_WELCOME:
		emc__welcome__init(&st->welcome);
		st->welcome.worker_id = m->welcome.worker_id;
		st->welcome.heartbeat_ms = m->welcome.heartbeat_ms;
		st->welcome.lease_ms = m->welcome.lease_ms;
		break;
	case WIRE_READY:
		emc__ready__init(&st->ready);
		st->ready.credit = m->ready.credit;
		break;
	case WIRE_RESULT_ACK:
		emc__result_ack__init(&st->result_ack);
		st->result_ack.attempt_id = m->result_ack.attempt_id;
		st->result_ack.recorded = m->result_ack.recorded;
		break;
	case WIRE_CANCEL:
		emc__cancel__init(&st->cancel);
		st->cancel.attempt_id = m->cancel.attempt_id;
		break;
	case WIRE_BYE:
		emc__bye__init(&st->bye);
		st->bye.reason = str(m->bye.reason);
		break;
	case WIRE_ERROR:
		emc__error__init(&st->error);
		st->error.message = str(m->error.message);
		break;
	case WIRE_SUBMIT_REPLY:
		emc__submit_reply__init(&st->submit_reply);
		st->submit_reply.ok = m->submit_reply.ok;
		st->submit_reply.campaign_id = m->submit_reply.campaign_id;
		st->submit_reply.message = str(m->submit_reply.message);
		st->submit_reply.resumed = m->submit_reply.resumed;
		break;
	case WIRE_CONTROL:
		emc__control__init(&st->control);
		st->control.verb = str(m->control.verb);
		st->control.campaign = str(m->control.campaign);
		break;
	case WIRE_CHECKPOINT:
		emc__checkpoint__init(&st->checkpoint);
		st->checkpoint.attempt_id = m->checkpoint.attempt_id;
		st->checkpoint.trial_id = m->checkpoint.trial_id;
		st->checkpoint.epoch = m->checkpoint.epoch;
		st->checkpoint.step = m->checkpoint.step;
		st->checkpoint.state.data = (uint8_t *)m->checkpoint.state;
		st->checkpoint.state.len = m->checkpoint.state ? m->checkpoint.len : 0;
		break;
	default:
		break;
	}
}

/* Point env's body at st, filled from m. Heap parts go to st->heap. */
static int body_to_pb(const wire_msg *m, Emc__Envelope *env, pack_storage *st, emc_err *err)
{
	int r = 0;

	env->body_case = body_cases[m->kind];
	switch (m->kind) {
	case WIRE_NONE:
		return 0;
	case WIRE_HELLO:
		hello_to_pb(&m->hello, st);
		break;
	case WIRE_ASSIGN:
		assign_to_pb(&m->assign, st);
		break;
	case WIRE_HEARTBEAT:
		r = heartbeat_to_pb(&m->heartbeat, st, err);
		break;
	case WIRE_RESULT:
		r = result_to_pb(&m->result, st, err);
		break;
	case WIRE_SUBMIT:
		r = submit_to_pb(&m->submit, st, err);
		break;
	case WIRE_CONTROL_REPLY:
		r = control_reply_to_pb(&m->control_reply, st, err);
		break;
	case WIRE_DATA_REQUEST:
	case WIRE_DATA_CHUNK:
		data_to_pb(m, st);
		break;
	default:
		small_to_pb(m, st);
		break;
	}
	/* Every member of the oneof is a pointer, and st's union holds its body. */
	env->hello = &st->hello;
	return r;
}

int wire_pack_version(const wire_msg *m, uint32_t version, uint8_t **ret_buf, size_t *ret_len, emc_err *err)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	pack_storage *st;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if ((unsigned)m->kind >= WIRE_KIND_COUNT)
		return emc_err_set(err, EINVAL, "wire: no message kind %d", (int)m->kind);
	st = calloc(1, sizeof *st);
	if (!st)
		return emc_err_set(err, ENOMEM, "wire: out of memory packing a message");
	env.version = version;
	r = body_to_pb(m, &env, st, err);
	if (r < 0)
		goto out;
	len = emc__envelope__get_packed_size(&env);
	if (len > EMC_MAX_MESSAGE_BYTES) {
		r = emc_err_set(err, EMSGSIZE, "wire: message of %zu bytes exceeds the limit of %d", len,
				EMC_MAX_MESSAGE_BYTES);
		goto out;
	}
	buf = malloc(len ? len : 1);
	if (!buf) {
		r = emc_err_set(err, ENOMEM, "wire: out of memory packing %zu bytes", len);
		goto out;
	}
	emc__envelope__pack(&env, buf);
	*ret_buf = buf;
	*ret_len = len;
out:
	free(st->heap[0]);
	free(st->heap[1]);
	free(st);
	return r;
}

int wire_pack(const wire_msg *m, uint8_t **ret_buf, size_t *ret_len, emc_err *err)
{
	if (m->kind == WIRE_NONE)
		return emc_err_set(err, EINVAL, "wire: a message without a body");
	return wire_pack_version(m, EMC_PROTOCOL_VERSION, ret_buf, ret_len, err);
}

/* ---- messages: protobuf to C -------------------------------------------------- */

/* Copy a string into a fixed array, cut to fit (the handlers always cut
 * these; none of them names anything a cut could confuse). */
static void cut(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static char *dup_str(const char *src)
{
	return strdup(src ? src : "");
}

/* A name that says what produced a result: refused, never cut, when it is
 * longer than its array or holds bytes a terminal or a CSV would read as
 * something else. */
static int copy_name(char *dst, size_t cap, const char *src, const char *field, emc_err *err)
{
	size_t len = src ? strlen(src) : 0;

	if (len >= cap)
		return emc_err_set(err, EINVAL, "wire: hello.%s is %zu bytes, at most %zu", field, len, cap - 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c < 0x20 || c > 0x7e)
			return emc_err_set(err, EINVAL, "wire: hello.%s holds byte 0x%02x at %zu, not printable", field,
					   c, i);
	}
	memcpy(dst, src ? src : "", len + 1);
	return 0;
}

static int hello_from_pb(const Emc__Hello *pb, wire_hello *h, emc_err *err)
{
	int r;

	r = copy_name(h->emc_version, sizeof h->emc_version, pb->emc_version, "emc_version", err);
	if (r == 0)
		r = copy_name(h->blas_core, sizeof h->blas_core, pb->blas_core, "blas_core", err);
	if (r < 0)
		return r;
	h->protocol = pb->protocol;
	cut(h->host, sizeof h->host, pb->host ? pb->host : "?");
	h->pid = pb->pid;
	h->slots = pb->slots;
	h->blas_threads = pb->blas_threads;
	h->memory_bytes = pb->memory_bytes;
	h->n_capabilities = pb->n_capabilities < WIRE_CAPS_MAX ? pb->n_capabilities : WIRE_CAPS_MAX;
	for (size_t i = 0; i < h->n_capabilities; i++)
		cut(h->capabilities[i], sizeof h->capabilities[i], pb->capabilities[i]);
	/* The claim is kept whole so that the model can refuse it. */
	h->n_running = pb->n_running_attempts;
	for (size_t i = 0; i < h->n_running && i < WIRE_SLOTS_MAX; i++)
		h->running[i] = pb->running_attempts[i];
	return 0;
}

static void assign_from_pb(const Emc__Assign *pb, wire_assign *a)
{
	a->attempt_id = pb->attempt_id;
	a->trial_id = pb->trial_id;
	a->n = (int64_t)pb->n;
	emc_err_clear(&a->err);
	if (!pb->cell || !pb->dataset) {
		a->rc = emc_err_set(&a->err, EINVAL, "worker: assignment lacks its cell or dataset");
	} else if (wire_cell_from_pb(pb->cell, &a->cell, &a->err) < 0 ||
		   wire_dataset_from_pb(pb->dataset, &a->dataset, &a->err) < 0) {
		a->rc = -EINVAL;
	} else if (pb->dataset->content_hash.len == WIRE_HASH_BYTES) {
		a->has_hash = true;
		memcpy(a->hash, pb->dataset->content_hash.data, WIRE_HASH_BYTES);
	}
}

/* A copy the message owns, or NULL for none; -ENOMEM. */
static int bytes_copy(const ProtobufCBinaryData *b, const uint8_t **ret, size_t *ret_len, const char *what,
		      emc_err *err)
{
	uint8_t *p;

	*ret = NULL;
	*ret_len = 0;
	if (b->len == 0)
		return 0;
	p = malloc(b->len);
	if (!p)
		return emc_err_set(err, ENOMEM, "wire: out of memory for %s of %zu bytes", what, b->len);
	memcpy(p, b->data, b->len);
	*ret = p;
	*ret_len = b->len;
	return 0;
}

static void heartbeat_from_pb(const Emc__Heartbeat *pb, wire_heartbeat *h)
{
	h->n_attempts = pb->n_attempts < WIRE_SLOTS_MAX ? pb->n_attempts : WIRE_SLOTS_MAX;
	for (size_t i = 0; i < h->n_attempts; i++) {
		const Emc__AttemptProgress *p = pb->attempts[i];

		h->attempts[i] = (wire_progress){.attempt_id = p->attempt_id,
						 .epoch = p->epoch,
						 .step = p->step,
						 .loss = p->loss,
						 .accuracy = p->accuracy,
						 .seconds = p->seconds};
	}
	h->n_unacked = pb->n_unacked < WIRE_SLOTS_MAX ? pb->n_unacked : WIRE_SLOTS_MAX;
	for (size_t i = 0; i < h->n_unacked; i++)
		h->unacked[i] = pb->unacked[i];
}

static void result_from_pb(const Emc__Result *pb, wire_result *res)
{
	emc_trial_result *r = &res->r;

	res->attempt_id = pb->attempt_id;
	res->trial_id = pb->trial_id;
	/* An enum value from a newer or broken peer means nothing to us; the
	 * model refuses an outcome of NONE. */
	r->outcome = (int)pb->outcome > 0 && (int)pb->outcome < (int)EMC_OUTCOME_COUNT ? (emc_outcome)pb->outcome
										       : EMC_OUTCOME_NONE;
	r->reason =
	    (int)pb->reason >= 0 && (int)pb->reason < (int)EMC_STOP_COUNT ? (emc_stop_reason)pb->reason : EMC_STOP_NONE;
	r->epochs = pb->epochs;
	r->steps = pb->steps;
	r->train_seconds = pb->train_seconds;
	r->loss = pb->loss;
	r->accuracy = pb->accuracy;
	r->grad_norm = pb->grad_norm;
	r->budget_used = pb->budget_used;
	r->params = pb->params;
	r->has_hessian = pb->has_hessian;
	r->hessian_min = pb->hessian_min;
	r->hessian_max = pb->hessian_max;
	r->sample_grads = pb->sample_grads;
	cut(r->error, sizeof r->error, pb->error);
}

static int submit_from_pb(const Emc__Submit *pb, wire_submit *s, emc_err *err)
{
	s->spec_text = dup_str(pb->spec_text);
	s->origin = dup_str(pb->origin);
	s->base_dir = dup_str(pb->base_dir);
	if (!s->spec_text || !s->origin || !s->base_dir)
		return emc_err_set(err, ENOMEM, "wire: out of memory unpacking a submit");
	s->spec_len = strlen(s->spec_text);
	return 0;
}

static int control_from_pb(const Emc__Control *pb, wire_control *c, emc_err *err)
{
	size_t len = pb->campaign ? strlen(pb->campaign) : 0;

	/* A cut name could name another campaign: refuse it instead. */
	if (len >= sizeof c->campaign)
		return emc_err_set(err, EINVAL, "wire: control.campaign is %zu bytes, at most %zu", len,
				   sizeof c->campaign - 1);
	cut(c->verb, sizeof c->verb, pb->verb);
	cut(c->campaign, sizeof c->campaign, pb->campaign);
	return 0;
}

static int control_reply_from_pb(const Emc__ControlReply *pb, wire_control_reply *c, emc_err *err)
{
	c->ok = pb->ok;
	cut(c->message, sizeof c->message, pb->message);
	if (pb->n_workers == 0)
		return 0;
	/* Bounded by the frame: every entry took at least a byte of it. */
	c->workers = calloc(pb->n_workers, sizeof *c->workers);
	if (!c->workers)
		return emc_err_set(err, ENOMEM, "wire: out of memory for %zu workers", pb->n_workers);
	c->n_workers = pb->n_workers;
	for (size_t i = 0; i < pb->n_workers; i++) {
		const Emc__WorkerInfo *w = pb->workers[i];
		wire_worker_info *o = &c->workers[i];

		o->id = w->id;
		cut(o->host, sizeof o->host, w->host ? w->host : "?");
		o->slots = w->slots;
		o->busy = w->busy;
		o->last_heartbeat_ms_ago = w->last_heartbeat_ms_ago;
		o->trials_done = w->trials_done;
		cut(o->blas_core, sizeof o->blas_core, w->blas_core);
	}
	return 0;
}

static int data_chunk_from_pb(const Emc__DataChunk *pb, wire_data_chunk *c, emc_err *err)
{
	if (pb->hash.len == WIRE_HASH_BYTES) {
		c->has_hash = true;
		memcpy(c->hash, pb->hash.data, WIRE_HASH_BYTES);
	}
	c->offset = pb->offset;
	c->total = pb->total;
	cut(c->error, sizeof c->error, pb->error);
	if (pb->data.len == 0)
		return 0;
	c->data = malloc(pb->data.len);
	if (!c->data)
		return emc_err_set(err, ENOMEM, "wire: out of memory for a chunk of %zu bytes", pb->data.len);
	memcpy((uint8_t *)c->data, pb->data.data, pb->data.len);
	c->len = pb->data.len;
	return 0;
}

static void small_from_pb(const Emc__Envelope *env, wire_msg *m)
{
	switch (m->kind) {
	case WIRE_WELCOME:
		m->welcome = (wire_welcome){.worker_id = env->welcome->worker_id,
					    .heartbeat_ms = env->welcome->heartbeat_ms,
					    .lease_ms = env->welcome->lease_ms};
		break;
	case WIRE_READY:
		m->ready.credit = env->ready->credit;
		break;
	case WIRE_RESULT_ACK:
		m->result_ack.attempt_id = env->result_ack->attempt_id;
		m->result_ack.recorded = env->result_ack->recorded;
		break;
	case WIRE_CANCEL:
		m->cancel.attempt_id = env->cancel->attempt_id;
		break;
	case WIRE_BYE:
		cut(m->bye.reason, sizeof m->bye.reason, env->bye->reason);
		break;
	case WIRE_ERROR:
		cut(m->error.message, sizeof m->error.message, env->error->message);
		break;
	case WIRE_SUBMIT_REPLY:
		m->submit_reply.ok = env->submit_reply->ok;
		m->submit_reply.campaign_id = env->submit_reply->campaign_id;
		m->submit_reply.resumed = env->submit_reply->resumed;
		cut(m->submit_reply.message, sizeof m->submit_reply.message, env->submit_reply->message);
		break;
	case WIRE_DATA_REQUEST: {
		const Emc__DataRequest *q = env->data_request;

		m->data_request.has_hash = q->hash.len == WIRE_HASH_BYTES;
		if (m->data_request.has_hash)
			memcpy(m->data_request.hash, q->hash.data, WIRE_HASH_BYTES);
		m->data_request.offset = q->offset;
		m->data_request.length = q->length;
		break;
	}
	default:
		break;
	}
}

/* Fill m (zeroed, kind set) from env's body. */
static int body_from_pb(const Emc__Envelope *env, wire_msg *m, emc_err *err)
{
	switch (m->kind) {
	case WIRE_HELLO:
		return hello_from_pb(env->hello, &m->hello, err);
	case WIRE_ASSIGN:
		assign_from_pb(env->assign, &m->assign);
		return bytes_copy(&env->assign->resume, &m->assign.resume, &m->assign.resume_len, "a checkpoint", err);
	case WIRE_CHECKPOINT:
		m->checkpoint.attempt_id = env->checkpoint->attempt_id;
		m->checkpoint.trial_id = env->checkpoint->trial_id;
		m->checkpoint.epoch = env->checkpoint->epoch;
		m->checkpoint.step = env->checkpoint->step;
		return bytes_copy(&env->checkpoint->state, &m->checkpoint.state, &m->checkpoint.len, "a checkpoint",
				  err);
	case WIRE_HEARTBEAT:
		heartbeat_from_pb(env->heartbeat, &m->heartbeat);
		return 0;
	case WIRE_RESULT:
		result_from_pb(env->result, &m->result);
		return 0;
	case WIRE_SUBMIT:
		return submit_from_pb(env->submit, &m->submit, err);
	case WIRE_CONTROL:
		return control_from_pb(env->control, &m->control, err);
	case WIRE_CONTROL_REPLY:
		return control_reply_from_pb(env->control_reply, &m->control_reply, err);
	case WIRE_DATA_CHUNK:
		return data_chunk_from_pb(env->data_chunk, &m->data_chunk, err);
	default:
		small_from_pb(env, m);
		return 0;
	}
}

int wire_unpack(const uint8_t *buf, size_t len, wire_msg *ret, emc_err *err)
{
	Emc__Envelope *env;
	wire_msg *m;
	int r;

	if (len > EMC_MAX_MESSAGE_BYTES)
		return emc_err_set(err, EMSGSIZE, "wire: frame of %zu bytes exceeds the limit of %d", len,
				   EMC_MAX_MESSAGE_BYTES);
	env = emc__envelope__unpack(NULL, len, buf);
	if (!env)
		return emc_err_set(err, EBADMSG, "wire: frame of %zu bytes is not an emc message", len);
	if (env->version != EMC_PROTOCOL_VERSION) {
		unsigned v = env->version;

		emc__envelope__free_unpacked(env, NULL);
		return emc_err_set(err, EPROTO, "wire: protocol version %u, expected %d", v, EMC_PROTOCOL_VERSION);
	}
	if (kind_of(env->body_case) == WIRE_NONE) {
		emc__envelope__free_unpacked(env, NULL);
		return emc_err_set(err, EBADMSG, "wire: message has no body");
	}
	/* Built aside, so that *ret is written only on success. */
	m = malloc(sizeof *m);
	if (!m) {
		emc__envelope__free_unpacked(env, NULL);
		return emc_err_set(err, ENOMEM, "wire: out of memory unpacking a message");
	}
	wire_msg_init(m, kind_of(env->body_case));
	r = body_from_pb(env, m, err);
	emc__envelope__free_unpacked(env, NULL);
	if (r < 0)
		wire_msg_deinit(m);
	else
		*ret = *m;
	free(m);
	return r;
}

void wire_msg_init(wire_msg *m, wire_kind kind)
{
	memset(m, 0, sizeof *m);
	m->kind = kind;
}

void wire_msg_deinit(wire_msg *m)
{
	switch (m->kind) {
	case WIRE_SUBMIT:
		/* Owned after wire_unpack (const only for the borrowing side). */
		free((char *)m->submit.spec_text);
		free((char *)m->submit.origin);
		free((char *)m->submit.base_dir);
		break;
	case WIRE_CONTROL_REPLY:
		free(m->control_reply.workers);
		break;
	case WIRE_DATA_CHUNK:
		free((uint8_t *)m->data_chunk.data);
		break;
	case WIRE_ASSIGN:
		free((uint8_t *)m->assign.resume);
		break;
	case WIRE_CHECKPOINT:
		free((uint8_t *)m->checkpoint.state);
		break;
	default:
		break;
	}
	wire_msg_init(m, WIRE_NONE);
}
