/* wire.c — framing, checking and conversion of emc's wire messages.
 *
 * Every byte that arrives from a socket passes through wire_decode() before
 * anything else looks at it: the frame's size is bounded, protobuf-c
 * unpacks it (a NULL unpack means garbage), the protocol version must be
 * ours and a body must be present. What protobuf-c cannot check — the
 * ranges of configuration values, the length of strings that end up in
 * fixed buffers — wire_cell_from_pb() and wire_dataset_from_pb() check, so
 * a hostile or broken peer gets an error, never a crash or an unbounded
 * allocation.
 */
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int wire_encode(Emc__Envelope *env, uint8_t **ret_buf, size_t *ret_len, emc_err *err)
{
	size_t len;
	uint8_t *buf;

	env->version = EMC_PROTOCOL_VERSION;
	len = emc__envelope__get_packed_size(env);
	if (len > EMC_MAX_MESSAGE_BYTES)
		return emc_err_set(err, EMSGSIZE, "wire: message of %zu bytes exceeds the limit of %d", len,
				   EMC_MAX_MESSAGE_BYTES);
	buf = malloc(len ? len : 1);
	if (!buf)
		return emc_err_set(err, ENOMEM, "wire: out of memory packing %zu bytes", len);
	emc__envelope__pack(env, buf);
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

int wire_decode(const uint8_t *buf, size_t len, Emc__Envelope **ret, emc_err *err)
{
	Emc__Envelope *env;

	if (len > EMC_MAX_MESSAGE_BYTES)
		return emc_err_set(err, EMSGSIZE, "wire: frame of %zu bytes exceeds the limit of %d", len,
				   EMC_MAX_MESSAGE_BYTES);
	env = emc__envelope__unpack(NULL, len, buf);
	if (!env)
		return emc_err_set(err, EBADMSG, "wire: frame of %zu bytes is not an emc message", len);
	if (env->version != EMC_PROTOCOL_VERSION) {
		unsigned v = env->version;

		emc__envelope__free_unpacked(env, NULL);
		return emc_err_set(err, EPROTO, "wire: protocol version %u, expected %d", v,
				   EMC_PROTOCOL_VERSION);
	}
	if (env->body_case == EMC__ENVELOPE__BODY__NOT_SET) {
		emc__envelope__free_unpacked(env, NULL);
		return emc_err_set(err, EBADMSG, "wire: message has no body");
	}
	*ret = env;
	return 0;
}

void wire_free(Emc__Envelope **p)
{
	if (!*p)
		return;
	emc__envelope__free_unpacked(*p, NULL);
	*p = NULL;
}

Emc__CellConfig *wire_cell_to_pb(const emc_cell_cfg *c, wire_cell_storage *st)
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
	return &st->cell;
}

/* A count as the cell stores it. A value no int can hold saturates, and
 * every count's range in the cell table is far below INT_MAX, so
 * emc_cell_check() refuses it with the value it saw. */
static int count_of(uint32_t v)
{
	return v > INT_MAX ? INT_MAX : (int)v;
}

int wire_cell_from_pb(const Emc__CellConfig *pb, emc_cell_cfg *ret, emc_err *err)
{
	emc_cell_cfg c;
	const Emc__ModelConfig *m = pb->model;
	const Emc__OptimConfig *o = pb->optim;
	const Emc__BudgetConfig *b = pb->budget;
	emc_err why;

	if (!m || !o || !b)
		return emc_err_set(err, EINVAL, "wire: cell configuration lacks %s",
				   !m ? "model" : !o ? "optim" : "budget");
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

void wire_dataset_to_pb(const emc_dataset_ref *ref, Emc__DatasetRef *pb)
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

int wire_dataset_from_pb(const Emc__DatasetRef *pb, emc_dataset_ref *ret, emc_err *err)
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
