/* spec.c — campaign specs: YAML text to a checked grid of cells.
 *
 * A spec is read in three passes. libyaml's event parser turns the text
 * into a small tree of scalars, lists and mappings that remembers the line
 * of every node (libyaml does the YAML; nothing here tokenises text).
 * The tree is then walked against the known keys — a cell's keys are the
 * rows of the cell table in cell.c, which says how each is spelled and what
 * it may be; this file only knows YAML scalars and lists. Every value is
 * checked and converted once, and a key whose value is a list becomes an
 * axis holding all its values. Finally the grid is the cross product of the
 * axes in table order, the last row varying fastest, and each point is a
 * cell built from emc_cell_cfg_defaults() plus the axis values, then
 * passed through emc_cell_check(), the same check the wire and the engine
 * make, with a failure reported at the line of the key to blame.
 *
 * A cell is a procedure; `seeds` are its replicates. The seeds are not an
 * axis but the campaign's ordered pool (a count k for 0 … k − 1, or a list
 * of distinct seeds; [0, 1, 2] when absent, so that a spec that says
 * nothing still gets a measurement over seeds rather than one seed's
 * crossing). Every cell carries the pool's first seed; the coordinator
 * sets a trial's seed from its index in the pool. The `search` keys say
 * how the seeds are spent (method, quantile, min_seeds, ...); they are the
 * campaign's, never axes, and their ranges are those the measurement
 * accepts (precision's alone narrower), so a spec that parses never fails
 * to start. The `engine` keys pin the campaign to workers of one OpenBLAS
 * kernel and thread count; they too are the campaign's, never axes.
 *
 * Invariants worth keeping:
 *  - All or nothing. The first problem fails the whole parse with one
 *    message "origin:line: key.path: what was expected, got what", and the
 *    caller's *ret is untouched.
 *  - The input is untrusted. Its size, nesting depth, list lengths and the
 *    grid's size are bounded before anything proportional to them is
 *    allocated, so a hostile spec costs at most a few tens of MB and a
 *    fraction of a second. Anchors and aliases are refused outright: they
 *    are the one YAML feature that lets a small text expand into a large
 *    tree ("billion laughs"), and specs do not need them.
 *  - Cells are compared as bytes. Each is built in zeroed memory (the
 *    defaults start with a memset) and copied with memcpy, so equal
 *    configurations are equal byte for byte, padding included; duplicates
 *    (a linear model crossed with a widths axis) are dropped, keeping the
 *    first, so the order stays the documented one. A repeated seed in the
 *    pool is an error instead: it would silently count one replicate twice.
 *  - Model keys belong to families. Each cell starts from its family's
 *    defaults (a cnn's layers, a vit's gelu), and after the axes are
 *    applied the keys its family does not use are zeroed, so that a
 *    `filters` axis shared by cnn and mlp cells multiplies only the cnn
 *    cells. `widths` (mlp) and `blocks` (resnet) share one array in the
 *    cell; each cell takes the one its family reads.
 *  - Dataset files are not opened here; emc_dataset_resolve() does that.
 *    Relative paths are only joined to the spec's directory.
 */
#include "spec.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "dataset.h" /* the limits of what a dataset may hold */

#define MAX_DEPTH 32      /* nesting a spec never needs; bounds our recursion */
#define MAX_WIDTH 1000000 /* a hidden layer wider than this is a typo; also bounds every model size */
#define MAX_WARMUP 1000000 /* the wire's bound on counts */
#define PATH_BUF 192      /* key paths such as "model.widths[3][12]" */

/* ---- the tree ------------------------------------------------------------ */

enum ntype { N_SCALAR, N_SEQ, N_MAP };

typedef struct node {
	enum ntype type;
	int line; /* 1-based */
	char *text; /* scalars only; NUL-terminated */
	int n, cap;
	struct node **kids; /* list: the items; mapping: key, value, key, value, ... */
} node;

static void node_free(node *n)
{
	if (!n)
		return;
	for (int i = 0; i < n->n; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

static int node_append(node *parent, node *child)
{
	if (parent->n == parent->cap) {
		int cap = parent->cap ? 2 * parent->cap : 8;
		node **k = realloc(parent->kids, (size_t)cap * sizeof *k);

		if (!k)
			return -ENOMEM;
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = child;
	return 0;
}

static const char *type_name(const node *n)
{
	switch (n->type) {
	case N_SEQ:
		return "a list";
	case N_MAP:
		return "a mapping";
	default:
		return "a scalar";
	}
}

/* ---- errors ---------------------------------------------------------------- */

typedef struct ctx {
	const char *origin;
	const char *base_dir;
	emc_err *err;
} ctx;

/* "origin:line: path: message"; returns -EINVAL. */
__attribute__((format(printf, 4, 5))) static int fail_at(const ctx *c, int line, const char *path,
							  const char *fmt, ...)
{
	char msg[EMC_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (path)
		return emc_err_set(c->err, -EINVAL, "%s:%d: %s: %s", c->origin, line, path, msg);
	return emc_err_set(c->err, -EINVAL, "%s:%d: %s", c->origin, line, msg);
}

/* "expected X, got 'text'" for a scalar, "expected X, got a list" otherwise.
 * Long texts are clipped: the message must stay one readable line. */
static int fail_expected(const ctx *c, const node *n, const char *path, const char *expect)
{
	if (n->type != N_SCALAR)
		return fail_at(c, n->line, path, "expected %s, got %s", expect, type_name(n));
	if (!n->text[0])
		return fail_at(c, n->line, path, "expected %s, got nothing", expect);
	return fail_at(c, n->line, path, "expected %s, got '%.60s%s'", expect, n->text,
		       strlen(n->text) > 60 ? "..." : "");
}

/* ---- YAML events to the tree ---------------------------------------------- */

static int syntax_error(const ctx *c, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "malformed YAML";

	if (p->error == YAML_MEMORY_ERROR)
		return emc_err_set(c->err, -ENOMEM, "%s: out of memory while reading YAML", c->origin);
	if (p->error == YAML_READER_ERROR)
		return emc_err_set(c->err, -EINVAL, "%s: byte offset %zu: not valid text: %s", c->origin,
				   p->problem_offset, problem);
	/* The problem is where libyaml gave up, which for an unclosed bracket
	 * is the end of the file; the context says where the construct began. */
	if (p->context)
		return fail_at(c, (int)p->problem_mark.line + 1, NULL, "YAML syntax error: %s (%s at line %d)",
			       problem, p->context, (int)p->context_mark.line + 1);
	return fail_at(c, (int)p->problem_mark.line + 1, NULL, "YAML syntax error: %s", problem);
}

static const yaml_char_t *event_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return ev->data.scalar.anchor;
	case YAML_SEQUENCE_START_EVENT:
		return ev->data.sequence_start.anchor;
	case YAML_MAPPING_START_EVENT:
		return ev->data.mapping_start.anchor;
	default:
		return NULL;
	}
}

/* One event into the tree under construction. stack[0..*depth) are the
 * open lists and mappings; a finished root lands in *root. */
static int tree_event(const ctx *c, const yaml_event_t *ev, node **stack, int *depth, node **root,
		      int *docs)
{
	int line = (int)ev->start_mark.line + 1;
	const yaml_char_t *anchor = event_anchor(ev);
	node *n;
	int r;

	if (anchor)
		return fail_at(c, line, NULL, "YAML anchors (&%.40s) are not supported; write the value out",
			       (const char *)anchor);
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1)
			return fail_at(c, line, NULL, "a spec is one YAML document, found a second one");
		return 0;
	case YAML_ALIAS_EVENT:
		return fail_at(c, line, NULL, "YAML aliases (*%.40s) are not supported; write the value out",
			       (const char *)ev->data.alias.anchor);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		assert(*depth > 0); /* libyaml balances start and end events */
		--*depth;
		return 0;
	case YAML_SCALAR_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		break;
	default:
		return 0;
	}

	n = calloc(1, sizeof *n);
	if (!n)
		return -ENOMEM;
	n->line = line;
	if (ev->type == YAML_SCALAR_EVENT) {
		size_t len = ev->data.scalar.length;

		n->type = N_SCALAR;
		n->text = malloc(len + 1);
		if (!n->text) {
			node_free(n);
			return -ENOMEM;
		}
		memcpy(n->text, ev->data.scalar.value, len);
		n->text[len] = '\0';
		if (strlen(n->text) != len) { /* a "\0" escape in a quoted string */
			node_free(n);
			return fail_at(c, line, NULL, "a string contains a NUL character");
		}
	} else {
		n->type = ev->type == YAML_SEQUENCE_START_EVENT ? N_SEQ : N_MAP;
	}

	if (*depth == 0) {
		assert(!*root); /* one document, one root */
		*root = n;
	} else if ((r = node_append(stack[*depth - 1], n)) < 0) {
		node_free(n);
		return r;
	}
	if (n->type != N_SCALAR) {
		if (*depth == MAX_DEPTH)
			return fail_at(c, line, NULL, "nested more than %d levels deep", MAX_DEPTH);
		stack[(*depth)++] = n;
	}
	return 0;
}

static int tree_load(const ctx *c, const char *text, size_t len, node **ret)
{
	yaml_parser_t p;
	yaml_event_t ev;
	node *stack[MAX_DEPTH], *root = NULL;
	int depth = 0, docs = 0, r = 0;
	bool done = false;

	if (!yaml_parser_initialize(&p))
		return emc_err_set(c->err, -ENOMEM, "%s: out of memory", c->origin);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			r = syntax_error(c, &p);
			goto fail;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		r = tree_event(c, &ev, stack, &depth, &root, &docs);
		yaml_event_delete(&ev);
		if (r == -ENOMEM)
			r = emc_err_set(c->err, -ENOMEM, "%s: out of memory", c->origin);
		if (r < 0)
			goto fail;
	}
	yaml_parser_delete(&p);
	*ret = root;
	return 0;
fail:
	yaml_parser_delete(&p);
	node_free(root);
	return r;
}

/* ---- scalars ----------------------------------------------------------------- */

/* A decimal integer: optional '-', digits, nothing else ("1.5", "1e3",
 * "0x10" and "" are not integers). */
static bool scan_int(const char *s, int64_t *ret)
{
	const char *p = s + (*s == '-');
	char *end;
	long long v;

	if (!*p)
		return false;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

/* A decimal integer in [0, 2^64): digits, nothing else. */
static bool scan_uint(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!*s)
		return false;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

/* A finite decimal number such as 0.01, 1e-3, -2, .5 (no hex, inf, nan). */
static bool scan_num(const char *s, double *ret)
{
	bool digit = false;
	char *end;
	double v;

	for (const char *p = s; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digit = true;
		else if (!strchr("+-.eE", *p))
			return false;
	}
	if (!digit)
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (*end || !isfinite(v))
		return false;
	*ret = v == 0 ? 0.0 : v; /* -0 and 0 are one value */
	return true;
}

static bool name_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= EMC_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

#define NAME_EXPECT "a name of 1 to 127 characters from A-Z a-z 0-9 . _ -"

/* ---- the keys that are not a cell's ------------------------------------------ */

/* The dataset and search keys: plain scalars, never axes. (A cell's keys
 * are the rows of the cell table in cell.c.) */
enum kind { K_BOOL, K_NUM, K_INT, K_ENUM };

typedef struct field {
	const char *section;
	const char *key;
	enum kind kind;
	const char *expect; /* for "expected ..." */
	double lo, hi;      /* K_NUM: allowed range */
	bool lo_open, hi_open;
	int64_t imin, imax; /* K_INT: allowed range */
	const char *const *names; /* K_ENUM: the spellings, value = index */
	int n_names;
} field;

typedef struct value {
	double d;
	int64_t i;
	bool b;
} value;

static bool num_in_range(const field *f, double x)
{
	if (f->lo_open ? !(x > f->lo) : !(x >= f->lo))
		return false;
	return f->hi_open ? x < f->hi : x <= f->hi;
}

/* One scalar value of a dataset or search key. */
static int parse_value(const ctx *c, const field *f, const node *n, const char *path, value *ret)
{
	value v;
	bool ok = false;

	memset(&v, 0, sizeof v);
	if (n->type != N_SCALAR)
		return fail_expected(c, n, path, f->expect);
	switch (f->kind) {
	case K_BOOL:
		ok = strcmp(n->text, "true") == 0 || strcmp(n->text, "false") == 0;
		v.b = n->text[0] == 't';
		break;
	case K_NUM:
		ok = scan_num(n->text, &v.d) && num_in_range(f, v.d);
		break;
	case K_INT:
		ok = scan_int(n->text, &v.i) && v.i >= f->imin && v.i <= f->imax;
		break;
	case K_ENUM:
		for (int i = 0; i < f->n_names && !ok; i++)
			if (strcmp(n->text, f->names[i]) == 0) {
				v.i = i;
				ok = true;
			}
		break;
	}
	if (!ok)
		return fail_expected(c, n, path, f->expect);
	*ret = v;
	return 0;
}

/* ---- the keys that make a cell ---------------------------------------------- */

/* The values given for one row of the cell table. */
typedef struct axis {
	int n; /* values given; 0 = the key is absent and the default applies */
	int line; /* of the value (or list of values) in the spec */
	emc_cell_value *v;
} axis;

static int enum_scan(const emc_cell_field *f, const char *s, int64_t *ret)
{
	for (int i = 0; i < f->n_names; i++)
		if (strcmp(s, f->names[i]) == 0) {
			*ret = i;
			return 0;
		}
	return -EINVAL;
}

/* The spelling of one scalar of row f; the table says what is in range. */
static bool scan_cell_value(const emc_cell_field *f, const char *s, emc_cell_value *v)
{
	switch (f->type) {
	case EMC_CELL_INT:
	case EMC_CELL_INT64:
		if (f->zero_word && strcmp(s, f->zero_word) == 0) {
			v->i = 0;
			return true;
		}
		/* 0 is spelled zero_word where there is one */
		return scan_int(s, &v->i) && (v->i != 0 || !f->zero_word);
	case EMC_CELL_UINT64:
		return scan_uint(s, &v->u);
	case EMC_CELL_SEED:
		v->i = strcmp(s, f->zero_word) != 0; /* given, or drawn per replicate */
		return !v->i || scan_uint(s, &v->u);
	case EMC_CELL_DOUBLE:
		return scan_num(s, &v->d);
	case EMC_CELL_BOOL:
		v->i = strcmp(s, "true") == 0;
		return v->i || strcmp(s, "false") == 0;
	case EMC_CELL_ENUM:
		return enum_scan(f, s, &v->i) == 0;
	case EMC_CELL_LABELS:
		/* "noisy" alone would hide how noisy; the fraction is part of
		 * the value, so that an axis can sweep it. */
		if (strncmp(s, "noisy:", 6) == 0) {
			v->i = EMC_LABELS_NOISY;
			return scan_num(s + 6, &v->d);
		}
		return enum_scan(f, s, &v->i) == 0 && v->i != EMC_LABELS_NOISY;
	case EMC_CELL_LIST:
		break;
	}
	return false;
}

/* One scalar value of row f (not a list row). */
static int parse_cell_value(const ctx *c, const emc_cell_field *f, const node *n, const char *path,
			    emc_cell_value *ret)
{
	char expect[128];
	emc_cell_value v;

	memset(&v, 0, sizeof v);
	if (n->type != N_SCALAR || !scan_cell_value(f, n->text, &v) || !emc_cell_value_ok(f, &v))
		return fail_expected(c, n, path, emc_cell_field_expect(f, expect, sizeof expect));
	*ret = v;
	return 0;
}

/* One model's hidden widths (or a resnet's blocks per stage): an integer,
 * or a flat list of integers. */
static int parse_list(const ctx *c, const emc_cell_field *f, const node *n, const char *path,
		      emc_cell_value *ret)
{
	char sub[PATH_BUF], expect[128], list[64];
	emc_cell_value v;
	const node *const *items = &n;
	int count = 1;

	memset(&v, 0, sizeof v);
	emc_cell_field_expect(f, expect, sizeof expect);
	snprintf(list, sizeof list, "a list of %s", f->list_noun);
	if (n->type == N_MAP)
		return fail_expected(c, n, path, list);
	if (n->type == N_SEQ) {
		if (n->n == 0)
			return fail_at(c, n->line, path, "expected %s, got an empty list", list);
		if (n->n > f->max_items)
			return fail_at(c, n->line, path, "at most %d %s, got %d", f->max_items, f->item_noun, n->n);
		if (n->n < f->min_items)
			return fail_at(c, n->line, path, "at least %d %s, got %d", f->min_items, f->item_noun, n->n);
		items = (const node *const *)n->kids;
		count = n->n;
	}
	for (int j = 0; j < count; j++) {
		const node *w = items[j];
		int64_t x;

		if (n->type == N_SEQ)
			snprintf(sub, sizeof sub, "%s[%d]", path, j);
		else
			snprintf(sub, sizeof sub, "%s", path);
		if (w->type != N_SCALAR || !scan_int(w->text, &x) || !emc_cell_item_ok(f, x))
			return fail_expected(c, w, sub, expect);
		v.items[j] = (int)x;
	}
	v.n = count;
	*ret = v;
	return 0;
}

static int axis_alloc(const ctx *c, axis *a, const node *n, const char *path, int count)
{
	if (count > EMC_SPEC_MAX_CELLS)
		return fail_at(c, n->line, path, "more than %d values", EMC_SPEC_MAX_CELLS);
	a->v = calloc((size_t)count, sizeof *a->v);
	if (!a->v)
		return emc_err_set(c->err, -ENOMEM, "%s: out of memory", c->origin);
	a->n = count;
	return 0;
}

static int parse_one(const ctx *c, const emc_cell_field *f, const node *n, const char *path, emc_cell_value *ret)
{
	return f->type == EMC_CELL_LIST ? parse_list(c, f, n, path, ret) : parse_cell_value(c, f, n, path, ret);
}

/* The values of row f: one for a scalar, one per item for a list. For a
 * list row (widths, blocks) a flat list is one model and a list of lists
 * is the axis. */
static int parse_axis(const ctx *c, const emc_cell_field *f, const node *n, const char *path, axis *a)
{
	char sub[PATH_BUF], expect[128];
	bool axis_list = n->type == N_SEQ;
	int r;

	if (f->type == EMC_CELL_LIST && n->type == N_SEQ && n->n > 0) {
		int lists = 0;

		for (int i = 0; i < n->n; i++)
			lists += n->kids[i]->type == N_SEQ;
		if (lists != 0 && lists != n->n)
			return fail_at(c, n->line, path,
				       "mixes %s and lists of %s: write one model as a flat list ([8, 8]) and "
				       "several as a list of lists ([[8], [8, 8]])",
				       f->column, f->column);
		axis_list = lists > 0;
	}
	a->line = n->line;
	if (!axis_list) {
		r = axis_alloc(c, a, n, path, 1);
		if (r < 0)
			return r;
		return parse_one(c, f, n, path, &a->v[0]);
	}
	if (n->n == 0)
		return fail_at(c, n->line, path, "expected %s or a list of them, got an empty list",
			       emc_cell_field_expect(f, expect, sizeof expect));
	r = axis_alloc(c, a, n, path, n->n);
	if (r < 0)
		return r;
	for (int i = 0; i < n->n; i++) {
		snprintf(sub, sizeof sub, "%.160s[%d]", path, i);
		r = parse_one(c, f, n->kids[i], sub, &a->v[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- mappings -------------------------------------------------------------- */

/* Check that map entry i has a scalar key; *ret_key is its text. */
static int map_key(const ctx *c, const node *map, int i, const char *section, const char **ret_key)
{
	const node *k = map->kids[2 * i];

	if (k->type != N_SCALAR)
		return fail_at(c, k->line, section[0] ? section : NULL, "expected a key name, got %s",
			       type_name(k));
	*ret_key = k->text;
	return 0;
}

static void key_path(char *buf, size_t size, const char *section, const char *key)
{
	if (section[0])
		snprintf(buf, size, "%s.%.80s", section, key);
	else
		snprintf(buf, size, "%.80s", key);
}

static int expect_map(const ctx *c, const node *n, const char *path)
{
	if (n->type != N_MAP)
		return fail_expected(c, n, path, "a mapping of keys");
	return 0;
}

/* The row of section.key in the cell table, or -1. */
static int cell_row(const char *section, const char *key)
{
	size_t len = strlen(section);
	int n;
	const emc_cell_field *rows = emc_cell_fields(&n);

	for (int i = 0; i < n; i++)
		if (strncmp(rows[i].key, section, len) == 0 && rows[i].key[len] == '.' &&
		    strcmp(rows[i].key + len + 1, key) == 0)
			return i;
	return -1;
}

/* A section whose keys are all cell fields: model, optimizer, variant,
 * budget. */
static int parse_fields(const ctx *c, const node *map, const char *section, axis *axes)
{
	const emc_cell_field *rows;
	char path[PATH_BUF];
	bool seen[EMC_CELL_MAX_FIELDS] = { false };
	int n_rows, r;

	rows = emc_cell_fields(&n_rows);
	r = expect_map(c, map, section);
	if (r < 0)
		return r;
	for (int i = 0; i < map->n / 2; i++) {
		const node *k = map->kids[2 * i], *v = map->kids[2 * i + 1];
		const char *key;
		int id;

		r = map_key(c, map, i, section, &key);
		if (r < 0)
			return r;
		key_path(path, sizeof path, section, key);
		id = cell_row(section, key);
		if (id < 0)
			return fail_at(c, k->line, path, "unknown key");
		if (seen[id])
			return fail_at(c, k->line, path, "duplicate key");
		seen[id] = true;
		r = parse_axis(c, &rows[id], v, path, &axes[id]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Index of key in names[], or a message for an unknown or repeated key. */
static int lookup_key(const ctx *c, const node *k, const char *path, const char *const *names, int count,
		      bool *seen)
{
	for (int i = 0; i < count; i++)
		if (strcmp(names[i], k->text) == 0) {
			if (seen[i])
				return fail_at(c, k->line, path, "duplicate key");
			seen[i] = true;
			return i;
		}
	return fail_at(c, k->line, path, "unknown key");
}

static int copy_string(const ctx *c, const node *n, const char *path, char *out, size_t size)
{
	if (n->type != N_SCALAR || !n->text[0])
		return fail_expected(c, n, path, "a string");
	if (strlen(n->text) >= size)
		return fail_at(c, n->line, path, "longer than %zu bytes", size - 1);
	strcpy(out, n->text);
	return 0;
}

/* A dataset file: kept as written if absolute, else joined to base_dir. */
static int copy_path(const ctx *c, const node *n, const char *path, char *out, size_t size)
{
	const char *rel;
	int len;

	if (n->type != N_SCALAR || !n->text[0])
		return fail_expected(c, n, path, "a file path");
	rel = n->text;
	if (rel[0] == '/' || !c->base_dir || !c->base_dir[0])
		return copy_string(c, n, path, out, size);
	while (rel[0] == '.' && rel[1] == '/') /* "./data" is "data" */
		for (rel += 2; *rel == '/'; rel++)
			;
	len = snprintf(out, size, "%s%s%s", c->base_dir,
		       c->base_dir[strlen(c->base_dir) - 1] == '/' ? "" : "/", rel);
	if (len < 0 || (size_t)len >= size)
		return fail_at(c, n->line, path, "longer than %zu bytes once joined to the spec's directory",
			       size - 1);
	return 0;
}

/* ---- the dataset --------------------------------------------------------------- */

/* The keys of `dataset`. Which of them a spec may give depends on how it
 * names its data: a `name` (an alias the dataset module resolves) or a
 * `format`. Some keys mean different things in different formats (`labels`
 * is a file for idx and a kind of teacher for synthetic; `label` a column
 * for csv and fine or coarse for cifar100), so a key is read only once the
 * format is known. */
enum {
	D_NAME,
	D_SPLIT,
	D_FORMAT,
	D_IMAGES,
	D_LABELS,
	D_PATH,
	D_LABEL,
	D_CATEGORICAL,
	D_STANDARDIZE,
	D_N,
	D_DIM,
	D_CLASSES,
	D_SEED,
	D_COUNT
};

/* The ways to name data: the formats as spelled in specs, then an alias. */
enum { FMT_IDX, FMT_CIFAR10, FMT_CIFAR100, FMT_CSV, FMT_SYNTHETIC, FMT_NAMED, FMT_COUNT };

static const char *const format_names[FMT_NAMED] = { "idx", "cifar10", "cifar100", "csv", "synthetic" };

#define FMT(f) (1u << (f))
#define FMT_ANY (FMT(FMT_IDX) | FMT(FMT_CIFAR10) | FMT(FMT_CIFAR100) | FMT(FMT_CSV) | FMT(FMT_SYNTHETIC))
#define FMT_CIFAR (FMT(FMT_CIFAR10) | FMT(FMT_CIFAR100))

static const struct {
	const char *key;
	unsigned allowed, required; /* sets of FMT() */
} dataset_keys[D_COUNT] = {
	[D_NAME] = { "name", FMT(FMT_NAMED), FMT(FMT_NAMED) },
	[D_SPLIT] = { "split", FMT(FMT_NAMED) | FMT_CIFAR, 0 },
	[D_FORMAT] = { "format", FMT_ANY, FMT_ANY },
	[D_IMAGES] = { "images", FMT(FMT_IDX), FMT(FMT_IDX) },
	[D_LABELS] = { "labels", FMT(FMT_IDX) | FMT(FMT_SYNTHETIC), FMT(FMT_IDX) },
	[D_PATH] = { "path", FMT_CIFAR | FMT(FMT_CSV), FMT_CIFAR | FMT(FMT_CSV) },
	[D_LABEL] = { "label", FMT(FMT_CIFAR100) | FMT(FMT_CSV), FMT(FMT_CSV) },
	[D_CATEGORICAL] = { "categorical", FMT(FMT_CSV), 0 },
	[D_STANDARDIZE] = { "standardize", FMT(FMT_NAMED) | FMT(FMT_IDX) | FMT_CIFAR, 0 },
	[D_N] = { "n", FMT(FMT_SYNTHETIC), FMT(FMT_SYNTHETIC) },
	[D_DIM] = { "dim", FMT(FMT_SYNTHETIC), FMT(FMT_SYNTHETIC) },
	[D_CLASSES] = { "classes", FMT(FMT_SYNTHETIC), FMT(FMT_SYNTHETIC) },
	[D_SEED] = { "seed", FMT(FMT_SYNTHETIC), 0 },
};

static const field synth_fields[3] = {
	{ "dataset", "n", K_INT, "an integer in [1, 67108864]", .imin = 1, .imax = EMC_DATASET_MAX_SAMPLES },
	{ "dataset", "dim", K_INT, "an integer in [1, 16777216]", .imin = 1, .imax = EMC_DATASET_MAX_DIM },
	{ "dataset", "classes", K_INT, "an integer in [2, 256]", .imin = 2, .imax = EMC_DATASET_MAX_CLASSES },
};
static const field synth_seed_field = { .section = "dataset", .key = "seed", .kind = K_INT,
					.expect = "an integer >= 0", .imin = 0, .imax = INT64_MAX };
static const field standardize_field = { .section = "dataset", .key = "standardize", .kind = K_BOOL,
					 .expect = "true or false" };

/* Why key id cannot be given here, and where it can. */
static int fail_not_here(const ctx *c, const node *v, const char *path, int id, int fmt)
{
	char where[128] = "";
	size_t off = 0;

	if (fmt == FMT_NAMED)
		return fail_at(c, v->line, path, "only with format; a named dataset knows its files");
	if (dataset_keys[id].allowed & FMT(FMT_NAMED))
		off += (size_t)snprintf(where, sizeof where, "a dataset name");
	for (int f = 0; f < FMT_NAMED && off < sizeof where; f++)
		if (dataset_keys[id].allowed & FMT(f))
			off += (size_t)snprintf(where + off, sizeof where - off, "%s%s", off ? ", " : "",
						format_names[f]);
	return fail_at(c, v->line, path, "not used with format: %s (only with %s)", format_names[fmt], where);
}

static int one_of(const ctx *c, const node *v, const char *path, const char *a, const char *b, char *out,
		  size_t size)
{
	char expect[64];

	if (v->type != N_SCALAR || (strcmp(v->text, a) && strcmp(v->text, b))) {
		snprintf(expect, sizeof expect, "%s or %s", a, b);
		return fail_expected(c, v, path, expect);
	}
	snprintf(out, size, "%s", v->text);
	return 0;
}

/* csv columns to one-hot encode: a list of names (or one name), stored
 * comma-joined, so a name may not hold a comma; a name twice is a typo. */
static int parse_categorical(const ctx *c, const node *v, const char *path, emc_dataset_ref *ds)
{
	const node *const *items = &v;
	char sub[PATH_BUF];
	size_t off = 0;
	int n = 1;

	if (v->type == N_MAP)
		return fail_expected(c, v, path, "a list of column names");
	if (v->type == N_SEQ) {
		items = (const node *const *)v->kids;
		n = v->n;
	}
	ds->categorical[0] = '\0';
	for (int i = 0; i < n; i++) {
		const node *it = items[i];
		size_t len;

		if (v->type == N_SEQ)
			snprintf(sub, sizeof sub, "dataset.categorical[%d]", i);
		else
			snprintf(sub, sizeof sub, "dataset.categorical");
		if (it->type != N_SCALAR || !it->text[0])
			return fail_expected(c, it, sub, "a column name");
		if (strchr(it->text, ','))
			return fail_at(c, it->line, sub, "a column name may not contain a comma, got '%.60s'",
				       it->text);
		for (int j = 0; j < i; j++)
			if (strcmp(items[j]->text, it->text) == 0)
				return fail_at(c, it->line, sub, "column '%.60s' is listed twice", it->text);
		len = strlen(it->text);
		if (off + (i > 0) + len >= sizeof ds->categorical)
			return fail_at(c, it->line, sub, "the column names are longer than %zu bytes in all",
				       sizeof ds->categorical - 1);
		if (i > 0)
			ds->categorical[off++] = ',';
		memcpy(ds->categorical + off, it->text, len + 1);
		off += len;
	}
	return 0;
}

/* The value of key id for data named as fmt. */
static int dataset_value(const ctx *c, const node *v, const char *path, int id, int fmt, emc_dataset_ref *ds)
{
	value val;
	int r;

	switch (id) {
	case D_NAME:
		if (v->type != N_SCALAR || !name_ok(v->text))
			return fail_expected(c, v, path, NAME_EXPECT);
		strcpy(ds->name, v->text);
		return 0;
	case D_FORMAT:
		return 0; /* read before the others */
	case D_SPLIT:
		return one_of(c, v, path, "train", "test", ds->split, sizeof ds->split);
	case D_IMAGES:
		return copy_path(c, v, path, ds->images, sizeof ds->images);
	case D_LABELS:
		if (fmt == FMT_SYNTHETIC)
			return one_of(c, v, path, "uniform", "linear", ds->synth_teacher, sizeof ds->synth_teacher);
		return copy_path(c, v, path, ds->labels, sizeof ds->labels);
	case D_PATH:
		return copy_path(c, v, path, ds->path, sizeof ds->path);
	case D_LABEL:
		if (fmt == FMT_CIFAR100)
			return one_of(c, v, path, "fine", "coarse", ds->cifar_label, sizeof ds->cifar_label);
		return copy_string(c, v, path, ds->label_column, sizeof ds->label_column);
	case D_CATEGORICAL:
		return parse_categorical(c, v, path, ds);
	case D_STANDARDIZE:
		r = parse_value(c, &standardize_field, v, path, &val);
		if (r == 0)
			ds->standardize = val.b;
		return r;
	case D_SEED:
		r = parse_value(c, &synth_seed_field, v, path, &val);
		if (r == 0)
			ds->synth_seed = (uint64_t)val.i;
		return r;
	default: /* D_N, D_DIM, D_CLASSES */
		r = parse_value(c, &synth_fields[id - D_N], v, path, &val);
		if (r < 0)
			return r;
		if (id == D_N)
			ds->synth_n = val.i;
		else if (id == D_DIM)
			ds->synth_dim = (int)val.i;
		else
			ds->synth_classes = (int)val.i;
		return 0;
	}
}

static int parse_dataset(const ctx *c, const node *map, emc_dataset_ref *ds)
{
	const char *names[D_COUNT];
	const node *given[D_COUNT] = { NULL };
	bool seen[D_COUNT] = { false };
	char path[PATH_BUF];
	int fmt = FMT_NAMED, r;

	r = expect_map(c, map, "dataset");
	if (r < 0)
		return r;
	for (int id = 0; id < D_COUNT; id++)
		names[id] = dataset_keys[id].key;
	/* every key known and given once, before any is read */
	for (int i = 0; i < map->n / 2; i++) {
		const char *key;
		int id;

		r = map_key(c, map, i, "dataset", &key);
		if (r < 0)
			return r;
		key_path(path, sizeof path, "dataset", key);
		id = lookup_key(c, map->kids[2 * i], path, names, D_COUNT, seen);
		if (id < 0)
			return id;
		given[id] = map->kids[2 * i + 1];
	}

	if (!given[D_NAME] && !given[D_FORMAT])
		return fail_at(c, map->line, "dataset",
			       "give either name (a known dataset) or format with its files");
	if (given[D_NAME] && given[D_FORMAT])
		return fail_at(c, given[D_FORMAT]->line, "dataset.format", "give either name or format, not both");
	if (given[D_FORMAT]) {
		const node *v = given[D_FORMAT];

		for (fmt = 0; fmt < FMT_NAMED; fmt++)
			if (v->type == N_SCALAR && strcmp(v->text, format_names[fmt]) == 0)
				break;
		if (fmt == FMT_NAMED)
			return fail_expected(c, v, "dataset.format", "one of idx, cifar10, cifar100, csv, synthetic");
		strcpy(ds->format, format_names[fmt]);
	}

	/* then each key, in the order written */
	for (int i = 0; i < map->n / 2; i++) {
		const node *v = map->kids[2 * i + 1];
		int id;

		for (id = 0; id < D_COUNT; id++)
			if (strcmp(map->kids[2 * i]->text, dataset_keys[id].key) == 0)
				break;
		key_path(path, sizeof path, "dataset", dataset_keys[id].key);
		if (!(dataset_keys[id].allowed & FMT(fmt)))
			return fail_not_here(c, v, path, id, fmt);
		r = dataset_value(c, v, path, id, fmt, ds);
		if (r < 0)
			return r;
	}
	for (int id = 0; id < D_COUNT; id++)
		if ((dataset_keys[id].required & FMT(fmt)) && !given[id]) {
			key_path(path, sizeof path, "dataset", dataset_keys[id].key);
			return fail_at(c, map->line, path, "required with format: %s", format_names[fmt]);
		}

	/* the label is a class, not a feature */
	if (fmt == FMT_CSV && ds->categorical[0]) {
		const char *p = ds->categorical;
		size_t len = strlen(ds->label_column);

		for (; p; p = strchr(p, ','), p = p ? p + 1 : NULL)
			if (strncmp(p, ds->label_column, len) == 0 && (p[len] == ',' || p[len] == '\0'))
				return fail_at(c, given[D_CATEGORICAL]->line, "dataset.categorical",
					       "lists the label column '%.60s'", ds->label_column);
	}
	if (fmt == FMT_CIFAR100 && !ds->cifar_label[0])
		strcpy(ds->cifar_label, "fine");
	if (fmt == FMT_SYNTHETIC && !ds->synth_teacher[0])
		strcpy(ds->synth_teacher, "uniform");
	return 0;
}

/* The search keys. Each range is the one the measurement accepts
 * (measure_new in the coordinator), so a spec that parses always starts;
 * precision alone is narrower than it could be, as it always was. */
enum {
	S_START,
	S_PRECISION,
	S_MAX_N,
	S_METHOD,
	S_QUANTILE,
	S_MIN_SEEDS,
	S_CONFIDENCE,
	S_GRID_POINTS,
	S_SPEC_DEPTH,
	S_INDIFFERENCE,
	S_COUNT
};

#define STR_(x) #x
#define STR(x) STR_(x)

static const char *const method_names[EMC_SEARCH_METHOD_COUNT] = { "bisect", "per-seed", "grid" };

static const field search_fields[S_COUNT] = {
	[S_START] = { "search", "start", K_INT, "an integer >= 1", .imin = 1, .imax = INT64_MAX },
	[S_PRECISION] = { "search", "precision", K_NUM, "a number in [0, 1)", 0, 1, false, true },
	[S_MAX_N] = { "search", "max_n", K_INT, "an integer >= 0", .imin = 0, .imax = INT64_MAX },
	[S_METHOD] = { "search", "method", K_ENUM, "bisect, per-seed or grid", .names = method_names,
		       .n_names = EMC_SEARCH_METHOD_COUNT },
	[S_QUANTILE] = { "search", "quantile", K_NUM, "a number in (0, 1)", 0, 1, true, true },
	/* more than the pool is capped by it (emc_spec_parse_string) */
	[S_MIN_SEEDS] = { "search", "min_seeds", K_INT, "an integer in [1, 2147483647]", .imin = 1,
			  .imax = INT_MAX },
	[S_CONFIDENCE] = { "search", "confidence", K_NUM, "a number in (0, 1)", 0, 1, true, true },
	[S_GRID_POINTS] = { "search", "grid_points", K_INT, "an integer in [1, " STR(EMC_SPEC_MAX_GRID_POINTS) "]",
			    .imin = 1, .imax = EMC_SPEC_MAX_GRID_POINTS },
	[S_SPEC_DEPTH] = { "search", "spec_depth", K_INT, "an integer in [0, " STR(EMC_SPEC_MAX_SPEC_DEPTH) "]",
			   .imin = 0, .imax = EMC_SPEC_MAX_SPEC_DEPTH },
	[S_INDIFFERENCE] = { "search", "indifference", K_NUM, "a number in (0, 0.5)", 0, 0.5, true, true },
};

const char *emc_search_method_name(emc_search_method m)
{
	return (unsigned)m < EMC_SEARCH_METHOD_COUNT ? method_names[m] : NULL;
}

int emc_search_method_parse(const char *s, emc_search_method *ret)
{
	for (int i = 0; i < EMC_SEARCH_METHOD_COUNT; i++)
		if (strcmp(s, method_names[i]) == 0) {
			*ret = (emc_search_method)i;
			return 0;
		}
	return -EINVAL;
}

void emc_search_cfg_defaults(emc_search_cfg *s)
{
	*s = (emc_search_cfg){
		.start = 16,
		.precision = 0.01,
		.max_n = 0,
		.method = EMC_SEARCH_BISECT,
		.quantile = 0.5,
		.min_seeds = 3,
		.confidence = 0.95,
		.grid_points = 20,
		.spec_depth = 2,
		.indifference = 0.2,
	};
}

static void search_set(emc_search_cfg *s, int id, const value *v)
{
	switch (id) {
	case S_START:
		s->start = v->i;
		break;
	case S_PRECISION:
		s->precision = v->d;
		break;
	case S_MAX_N:
		s->max_n = v->i;
		break;
	case S_METHOD:
		s->method = (emc_search_method)v->i;
		break;
	case S_QUANTILE:
		s->quantile = v->d;
		break;
	case S_MIN_SEEDS:
		s->min_seeds = (int)v->i;
		break;
	case S_CONFIDENCE:
		s->confidence = v->d;
		break;
	case S_GRID_POINTS:
		s->grid_points = (int)v->i;
		break;
	case S_SPEC_DEPTH:
		s->spec_depth = (int)v->i;
		break;
	case S_INDIFFERENCE:
		s->indifference = v->d;
		break;
	}
}

/* A campaign-level section (search, engine): a map of known keys, each
 * given once, none a list. fn parses one value; expect[id] is what a list
 * in its place is told to be. */
typedef int (*section_fn)(const ctx *c, int id, const node *v, const char *path, void *out);

static int parse_section(const ctx *c, const node *map, const char *section, const char *const *names,
			 const char *const *expect, int count, section_fn fn, void *out)
{
	bool seen[16] = { false };
	char path[PATH_BUF];
	int r;

	assert(count <= (int)(sizeof seen / sizeof seen[0]));
	r = expect_map(c, map, section);
	if (r < 0)
		return r;
	for (int i = 0; i < map->n / 2; i++) {
		const node *v = map->kids[2 * i + 1];
		const char *key;
		int id;

		r = map_key(c, map, i, section, &key);
		if (r < 0)
			return r;
		key_path(path, sizeof path, section, key);
		id = lookup_key(c, map->kids[2 * i], path, names, count, seen);
		if (id < 0)
			return id;
		if (v->type == N_SEQ)
			return fail_at(c, v->line, path, "expected %s, got a list (%s settings are not axes)",
				       expect[id], section);
		r = fn(c, id, v, path, out);
		if (r < 0)
			return r;
	}
	return 0;
}

static int search_value(const ctx *c, int id, const node *v, const char *path, void *out)
{
	value val;
	int r = parse_value(c, &search_fields[id], v, path, &val);

	if (r == 0)
		search_set(out, id, &val);
	return r;
}

static int parse_search(const ctx *c, const node *map, emc_search_cfg *s)
{
	const char *names[S_COUNT], *expect[S_COUNT];

	for (int id = 0; id < S_COUNT; id++) {
		names[id] = search_fields[id].key;
		expect[id] = search_fields[id].expect;
	}
	return parse_section(c, map, "search", names, expect, S_COUNT, search_value, s);
}

/* ---- the engine -------------------------------------------------------------- */

/* The `engine` keys pin the campaign to workers of one OpenBLAS kernel and
 * thread count (spec.h). Like the search keys they are the campaign's,
 * never axes: an axis of kernels would make cells that differ only in
 * where they ran, which is provenance, not a procedure. */
enum { E_BLAS_CORE, E_BLAS_THREADS, E_COUNT };

#define BLAS_CORE_EXPECT "a kernel name of 1 to " STR(EMC_SPEC_BLAS_CORE_MAX) " characters from A-Z a-z 0-9 _"

static const char *const engine_names[E_COUNT] = { "blas_core", "blas_threads" };

static const field blas_threads_field = { "engine", "blas_threads", K_INT,
					  "an integer in [1, " STR(EMC_SPEC_MAX_BLAS_THREADS) "]",
					  .imin = 1, .imax = EMC_SPEC_MAX_BLAS_THREADS };

/* An OpenBLAS core name as openblas_get_corename() spells one ("Haswell",
 * "SkylakeX", "neoversen1"): short, and nothing a shell or a table would
 * mangle. */
static bool core_name_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > EMC_SPEC_BLAS_CORE_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static int engine_value(const ctx *c, int id, const node *v, const char *path, void *out)
{
	emc_engine_cfg *e = out;
	value val;
	int r;

	if (id == E_BLAS_CORE) {
		if (v->type != N_SCALAR || !core_name_ok(v->text))
			return fail_expected(c, v, path, BLAS_CORE_EXPECT);
		snprintf(e->blas_core, sizeof e->blas_core, "%s", v->text);
		return 0;
	}
	r = parse_value(c, &blas_threads_field, v, path, &val);
	if (r == 0)
		e->blas_threads = (int)val.i;
	return r;
}

static int parse_engine(const ctx *c, const node *map, emc_engine_cfg *e)
{
	const char *const expect[E_COUNT] = { BLAS_CORE_EXPECT, blas_threads_field.expect };

	return parse_section(c, map, "engine", engine_names, expect, E_COUNT, engine_value, e);
}

bool emc_engine_pinned(const emc_engine_cfg *e)
{
	return e->blas_core[0] || e->blas_threads > 0;
}

int emc_engine_text(const emc_engine_cfg *e, char *buf, size_t size)
{
	char threads[32] = "";

	if (!emc_engine_pinned(e))
		return snprintf(buf, size, "any worker");
	if (e->blas_threads > 0)
		snprintf(threads, sizeof threads, "blas_threads %d", e->blas_threads);
	return snprintf(buf, size, "%s%s%s%s", e->blas_core[0] ? "blas_core " : "", e->blas_core,
			e->blas_core[0] && threads[0] ? ", " : "", threads);
}

bool emc_engine_accepts(const emc_engine_cfg *e, const char *blas_core, int blas_threads)
{
	if (e->blas_threads > 0 && blas_threads != e->blas_threads)
		return false;
	if (!e->blas_core[0])
		return true;
	return blas_core && strcasecmp(blas_core, e->blas_core) == 0;
}

/* ---- the seeds --------------------------------------------------------------- */

#define SEEDS_EXPECT "a count of seeds in [1, " STR(EMC_SPEC_MAX_SEEDS) "] or a list of distinct seeds"

/* The replicate pool: a count k (the seeds 0 … k − 1) or a list of
 * distinct seeds, kept in the order written, which is the order a
 * measurement reads them in. */
static int parse_seeds(const ctx *c, const node *n, emc_campaign_spec *spec)
{
	char sub[PATH_BUF];
	int64_t k;

	if (n->type == N_SCALAR) {
		if (!scan_int(n->text, &k) || k < 1 || k > EMC_SPEC_MAX_SEEDS)
			return fail_expected(c, n, "seeds", SEEDS_EXPECT);
		for (int i = 0; i < k; i++)
			spec->seeds[i] = (uint64_t)i;
		spec->n_seeds = (int)k;
		return 0;
	}
	if (n->type != N_SEQ)
		return fail_expected(c, n, "seeds", SEEDS_EXPECT);
	if (n->n == 0)
		return fail_at(c, n->line, "seeds", "expected %s, got an empty list", SEEDS_EXPECT);
	if (n->n > EMC_SPEC_MAX_SEEDS)
		return fail_at(c, n->line, "seeds", "a pool holds at most %d seeds, got %d", EMC_SPEC_MAX_SEEDS,
			       n->n);
	for (int i = 0; i < n->n; i++) {
		const node *item = n->kids[i];
		uint64_t seed;

		snprintf(sub, sizeof sub, "seeds[%d]", i);
		if (item->type != N_SCALAR || !scan_uint(item->text, &seed))
			return fail_expected(c, item, sub, "a seed, an integer >= 0");
		for (int j = 0; j < i; j++)
			if (spec->seeds[j] == seed)
				return fail_at(c, item->line, sub,
					       "seed %llu is already seeds[%d]; a pool's replicates are distinct",
					       (unsigned long long)seed, j);
		spec->seeds[i] = seed;
	}
	spec->n_seeds = n->n;
	return 0;
}

/* ---- the whole spec --------------------------------------------------------- */

enum { T_NAME, T_DATASET, T_MODEL, T_OPTIMIZER, T_VARIANT, T_SEEDS, T_SEARCH, T_BUDGET, T_ENGINE, T_COUNT };

static const char *const top_names[T_COUNT] = { "name",  "dataset", "model",  "optimizer", "variant",
						"seeds", "search",  "budget", "engine" };

/* The top level; lines[id] is the line of each top-level key's value. */
static int parse_top(const ctx *c, const node *root, emc_campaign_spec *spec, axis *axes, int *lines)
{
	static const char *const required[] = { "name", "dataset", "model" };
	bool seen[T_COUNT] = { false };
	int r;

	if (!root)
		return fail_at(c, 1, NULL, "the spec is empty; it needs at least name, dataset and model");
	if (root->type != N_MAP)
		return fail_at(c, root->line, NULL, "expected a mapping of keys at the top level, got %s",
			       type_name(root));
	for (int i = 0; i < root->n / 2; i++) {
		const node *v = root->kids[2 * i + 1];
		const char *key;
		int id;

		r = map_key(c, root, i, "", &key);
		if (r < 0)
			return r;
		id = lookup_key(c, root->kids[2 * i], key, top_names, T_COUNT, seen);
		if (id < 0)
			return id;
		lines[id] = v->line;
		switch (id) {
		case T_NAME:
			if (v->type != N_SCALAR || !name_ok(v->text))
				return fail_expected(c, v, "name", NAME_EXPECT);
			strcpy(spec->name, v->text);
			break;
		case T_DATASET:
			r = parse_dataset(c, v, &spec->dataset);
			break;
		case T_SEEDS:
			r = parse_seeds(c, v, spec);
			break;
		case T_SEARCH:
			r = parse_search(c, v, &spec->search);
			break;
		case T_ENGINE:
			r = parse_engine(c, v, &spec->engine);
			break;
		default:
			r = parse_fields(c, v, top_names[id], axes);
			break;
		}
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
		if (!seen[i])
			return fail_at(c, root->line, required[i], "required key missing");
	return 0;
}

/* FNV-1a over the cell's bytes: cells are built so that equal means
 * byte-equal. */
static uint64_t cell_hash(const emc_cell_cfg *cell)
{
	const unsigned char *p = (const unsigned char *)cell;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < sizeof *cell; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* The line of a key's section ("budget" for budget.max_epochs), where a
 * default that a rule refuses is reported. */
static int section_line(const char *key, const int *lines)
{
	size_t len = strcspn(key, ".");

	for (int id = 0; id < T_COUNT; id++)
		if (strlen(top_names[id]) == len && strncmp(top_names[id], key, len) == 0 && lines[id] > 0)
			return lines[id];
	return 1;
}

/* The one check of a cell, emc_cell_check, reported at the spec: at the
 * first of the keys involved that the spec gives (a rule between keys may
 * be broken by a default), else at that key's section. */
static int cell_check(const ctx *c, const axis *axes, const int *lines, const emc_cell_cfg *cell)
{
	const emc_cell_field *rows, *key;
	emc_cell_fault ft;
	int n, line;

	if (emc_cell_check_fault(cell, &ft, NULL) == 0)
		return 0;
	rows = emc_cell_fields(&n);
	key = ft.fields[0];
	line = section_line(key->key, lines);
	for (int k = 0; k < 4 && ft.fields[k]; k++)
		if (axes[ft.fields[k] - rows].n > 0) {
			key = ft.fields[k];
			line = axes[key - rows].line;
			break;
		}
	if (ft.item >= 0)
		return fail_at(c, line, NULL, "%s[%d]: %s", key->key, ft.item, ft.what);
	return fail_at(c, line, key->key, "%s", ft.what);
}

/* One point of the grid: the defaults, the family and its defaults, then
 * every other axis's value (a row only the other families read is left
 * alone: widths and blocks share storage), then what the cell does not
 * read is zeroed. */
static void cell_build(const axis *axes, const int *idx, int family, emc_cell_cfg *cell)
{
	int n;
	const emc_cell_field *rows = emc_cell_fields(&n);

	emc_cell_cfg_defaults(cell); /* zeroes the padding too */
	if (axes[family].n > 0)
		emc_cell_field_set(&rows[family], cell, &axes[family].v[idx[family]]);
	emc_cell_family_defaults(cell);
	for (int i = 0; i < n; i++) {
		const emc_cell_field *f = &rows[i];

		if (i == family || axes[i].n == 0)
			continue;
		if (f->families != EMC_FAMILIES_ALL && !emc_cell_field_reads(f, cell))
			continue;
		emc_cell_field_set(f, cell, &axes[i].v[idx[i]]);
	}
	emc_cell_normalize(cell);
}

/* The cross product of the axes, the last row fastest, duplicates
 * dropped; every cell carries the pool's first seed. */
static int expand(const ctx *c, const axis *axes, const int *lines, emc_campaign_spec *spec)
{
	int idx[EMC_CELL_MAX_FIELDS] = { 0 };
	int64_t total = 1;
	size_t slots = 2, mask;
	int32_t *table = NULL;
	emc_cell_cfg *cells = NULL;
	int n = 0, n_rows, family, r;
	const emc_cell_field *rows = emc_cell_fields(&n_rows);

	family = (int)(emc_cell_field_find("model.family") - rows);
	for (int i = 0; i < n_rows; i++) {
		int64_t k = axes[i].n > 0 ? axes[i].n : 1;

		if (k > EMC_SPEC_MAX_CELLS / total)
			return emc_err_set(c->err, -EINVAL,
					   "%s: grid: the axes make more than %d cells; give fewer values",
					   c->origin, EMC_SPEC_MAX_CELLS);
		total *= k;
	}
	while (slots < 2 * (size_t)total)
		slots <<= 1;
	mask = slots - 1;
	cells = calloc((size_t)total, sizeof *cells);
	table = calloc(slots, sizeof *table); /* cell index + 1; 0 = empty */
	if (!cells || !table) {
		r = emc_err_set(c->err, -ENOMEM, "%s: out of memory", c->origin);
		goto fail;
	}

	for (int64_t t = 0; t < total; t++) {
		emc_cell_cfg cell;
		size_t slot;

		cell_build(axes, idx, family, &cell);
		cell.seed = spec->seeds[0];
		r = cell_check(c, axes, lines, &cell);
		if (r < 0)
			goto fail;
		for (slot = cell_hash(&cell) & mask; table[slot]; slot = (slot + 1) & mask)
			if (memcmp(&cells[table[slot] - 1], &cell, sizeof cell) == 0)
				break;
		if (!table[slot]) {
			memcpy(&cells[n], &cell, sizeof cell);
			table[slot] = ++n;
		}
		for (int i = n_rows - 1; i >= 0; i--) { /* odometer, last field fastest */
			if (axes[i].n == 0)
				continue;
			if (++idx[i] < axes[i].n)
				break;
			idx[i] = 0;
		}
	}
	free(table);
	spec->cells = cells;
	spec->n_cells = n;
	return 0;
fail:
	free(table);
	free(cells);
	return r;
}

int emc_spec_parse_string(const char *text, size_t len, const char *origin, const char *base_dir,
			  emc_campaign_spec **ret, emc_err *err)
{
	ctx c = { origin ? origin : "spec", base_dir, err };
	axis axes[EMC_CELL_MAX_FIELDS];
	int lines[T_COUNT] = { 0 };
	emc_campaign_spec *spec = NULL;
	node *root = NULL;
	int r;

	assert(text || len == 0);
	assert(ret);
	memset(axes, 0, sizeof axes);
	if (len > EMC_SPEC_MAX_BYTES) {
		r = emc_err_set(err, -EFBIG, "%s: the spec is larger than %d bytes", c.origin, EMC_SPEC_MAX_BYTES);
		goto fail;
	}
	spec = calloc(1, sizeof *spec);
	if (!spec) {
		r = emc_err_set(err, -ENOMEM, "%s: out of memory", c.origin);
		goto fail;
	}
	strcpy(spec->dataset.split, "train");
	emc_search_cfg_defaults(&spec->search);

	r = tree_load(&c, text ? text : "", len, &root);
	if (r < 0)
		goto fail;
	r = parse_top(&c, root, spec, axes, lines);
	if (r < 0)
		goto fail;
	if (spec->n_seeds == 0) {
		spec->n_seeds = EMC_SPEC_DEFAULT_SEEDS;
		for (int i = 0; i < spec->n_seeds; i++)
			spec->seeds[i] = (uint64_t)i;
	}
	if (spec->search.min_seeds > spec->n_seeds) /* as the measurement caps it */
		spec->search.min_seeds = spec->n_seeds;
	r = expand(&c, axes, lines, spec);
	if (r < 0)
		goto fail;
	*ret = spec;
	spec = NULL;
	r = 0;
fail: /* also the way out on success: the tree and the axes are temporary */
	for (int i = 0; i < EMC_CELL_MAX_FIELDS; i++)
		free(axes[i].v);
	node_free(root);
	emc_spec_destroy(&spec);
	return r;
}

/* The absolute directory of `path`, for resolving its relative paths. */
static int dir_of(const char *path, char *out, size_t size, emc_err *err)
{
	const char *slash = strrchr(path, '/');
	size_t dlen = slash ? (size_t)(slash - path) : 0;
	char cwd[PATH_MAX];
	int len;

	if (slash == path)
		dlen = 1; /* "/spec.yaml" lives in "/" */
	if (path[0] == '/') {
		len = snprintf(out, size, "%.*s", (int)dlen, path);
	} else {
		if (!getcwd(cwd, sizeof cwd))
			return emc_err_set(err, -errno, "%s: cannot find the current directory: %s", path,
					   strerror(errno));
		if (dlen == 0)
			len = snprintf(out, size, "%s", cwd);
		else
			len = snprintf(out, size, "%s/%.*s", strcmp(cwd, "/") ? cwd : "", (int)dlen, path);
	}
	if (len < 0 || (size_t)len >= size)
		return emc_err_set(err, -ENAMETOOLONG, "%s: the directory's name is too long", path);
	return 0;
}

int emc_spec_parse_file(const char *path, emc_campaign_spec **ret, emc_err *err)
{
	char base[EMC_PATH_MAX];
	char *buf = NULL;
	FILE *f = NULL;
	size_t len;
	int r;

	assert(path);
	f = fopen(path, "rb");
	if (!f) {
		r = emc_err_set(err, -errno, "%s: cannot open the spec: %s", path, strerror(errno));
		goto fail;
	}
	buf = malloc((size_t)EMC_SPEC_MAX_BYTES + 1);
	if (!buf) {
		r = emc_err_set(err, -ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	/* One byte more than allowed tells "too large" from "exactly the limit". */
	len = fread(buf, 1, (size_t)EMC_SPEC_MAX_BYTES + 1, f);
	if (ferror(f)) {
		r = emc_err_set(err, errno ? -errno : -EIO, "%s: cannot read the spec: %s", path,
				strerror(errno ? errno : EIO));
		goto fail;
	}
	if (len > EMC_SPEC_MAX_BYTES) {
		r = emc_err_set(err, -EFBIG, "%s: the spec is larger than %d bytes", path, EMC_SPEC_MAX_BYTES);
		goto fail;
	}
	r = dir_of(path, base, sizeof base, err);
	if (r < 0)
		goto fail;
	r = emc_spec_parse_string(buf, len, path, base, ret, err);
fail:
	free(buf);
	if (f)
		fclose(f);
	return r;
}

void emc_spec_destroy(emc_campaign_spec **p)
{
	if (!p || !*p)
		return;
	free((*p)->cells);
	free(*p);
	*p = NULL;
}

/* ---- identity ------------------------------------------------------------ */

/* The comparison below is the spec's identity: what a campaign measures,
 * whatever its text looks like. It walks the parsed spec in a fixed order
 * (name, dataset, search, engine, seeds, then the grid cell by cell, each
 * by the rows of the cell table), so comments, key order, quoting and
 * layout never matter and the first difference found is the same one
 * every time. Values compare exactly (a double by ==, a cell row through
 * emc_cell_value, which compares whole). */

#define DIFF_STR(field, key)                                                 \
	do {                                                                 \
		if (strcmp(a->field, b->field) != 0)                          \
			return diff_say(ret_key, size, key, a->field, b->field); \
	} while (0)
#define DIFF_NUM(field, key, fmt, cast)                                               \
	do {                                                                          \
		if (a->field != b->field) {                                           \
			char x_[32], y_[32];                                          \
			snprintf(x_, sizeof x_, fmt, (cast)a->field);                 \
			snprintf(y_, sizeof y_, fmt, (cast)b->field);                 \
			return diff_say(ret_key, size, key, x_, y_);                  \
		}                                                                     \
	} while (0)

/* A double as short as prints back to itself: 0.2, not 0.20000000000000001. */
#define DIFF_DBL(field, key)                                                                                           \
	do {                                                                                                           \
		if (a->field != b->field) {                                                                            \
			char x_[32], y_[32];                                                                           \
			shortest(a->field, x_, sizeof x_);                                                             \
			shortest(b->field, y_, sizeof y_);                                                             \
			return diff_say(ret_key, size, key, x_, y_);                                                   \
		}                                                                                                      \
	} while (0)

static void shortest(double v, char *buf, size_t size)
{
	for (int digits = 6; digits <= 17; digits++) {
		snprintf(buf, size, "%.*g", digits, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static int diff_say(char *buf, size_t size, const char *key, const char *was, const char *now)
{
	if (buf && size)
		snprintf(buf, size, "%s (%.60s, now %.60s)", key, was, now);
	return 1;
}

static int diff_dataset(const emc_dataset_ref *a, const emc_dataset_ref *b, char *ret_key, size_t size)
{
	DIFF_STR(format, "dataset.format");
	DIFF_STR(name, "dataset.name");
	DIFF_STR(split, "dataset.split");
	DIFF_STR(images, "dataset.images");
	DIFF_STR(labels, "dataset.labels");
	DIFF_STR(path, "dataset.path");
	DIFF_STR(label_column, "dataset.label");
	DIFF_STR(cifar_label, "dataset.label");
	DIFF_STR(categorical, "dataset.categorical");
	DIFF_NUM(standardize, "dataset.standardize", "%d", int);
	DIFF_NUM(synth_n, "dataset.n", "%lld", long long);
	DIFF_NUM(synth_dim, "dataset.dim", "%d", int);
	DIFF_NUM(synth_classes, "dataset.classes", "%d", int);
	DIFF_NUM(synth_seed, "dataset.seed", "%llu", unsigned long long);
	DIFF_STR(synth_teacher, "dataset.teacher");
	return 0;
}

static int diff_search(const emc_search_cfg *a, const emc_search_cfg *b, char *ret_key, size_t size)
{
	DIFF_NUM(start, "search.start", "%lld", long long);
	DIFF_DBL(precision, "search.precision");
	DIFF_NUM(max_n, "search.max_n", "%lld", long long);
	DIFF_NUM(method, "search.method", "%d", int);
	DIFF_DBL(quantile, "search.quantile");
	DIFF_NUM(min_seeds, "search.min_seeds", "%d", int);
	DIFF_DBL(confidence, "search.confidence");
	DIFF_NUM(grid_points, "search.grid_points", "%d", int);
	DIFF_NUM(spec_depth, "search.spec_depth", "%d", int);
	DIFF_DBL(indifference, "search.indifference");
	return 0;
}

static int diff_engine(const emc_engine_cfg *a, const emc_engine_cfg *b, char *ret_key, size_t size)
{
	DIFF_STR(blas_core, "engine.blas_core");
	DIFF_NUM(blas_threads, "engine.blas_threads", "%d", int);
	return 0;
}

static int diff_cells(const emc_campaign_spec *a, const emc_campaign_spec *b, char *ret_key, size_t size)
{
	int n_fields;
	const emc_cell_field *fields = emc_cell_fields(&n_fields);

	DIFF_NUM(n_cells, "the grid's cell count", "%d", int);
	for (int i = 0; i < a->n_cells; i++)
		for (int k = 0; k < n_fields; k++) {
			emc_cell_value x, y;
			char key[96], was[64], now[64];

			memset(&x, 0, sizeof x);
			memset(&y, 0, sizeof y);
			emc_cell_field_get(&fields[k], &a->cells[i], &x);
			emc_cell_field_get(&fields[k], &b->cells[i], &y);
			if (memcmp(&x, &y, sizeof x) == 0)
				continue;
			snprintf(key, sizeof key, "cell %d: %s", i, fields[k].key);
			emc_cell_field_format(&fields[k], &a->cells[i], was, sizeof was);
			emc_cell_field_format(&fields[k], &b->cells[i], now, sizeof now);
			return diff_say(ret_key, size, key, was, now);
		}
	return 0;
}

int emc_spec_diff(const emc_campaign_spec *a, const emc_campaign_spec *b, char *ret_key, size_t size)
{
	int r;

	DIFF_STR(name, "name");
	if ((r = diff_dataset(&a->dataset, &b->dataset, ret_key, size)) != 0 ||
	    (r = diff_search(&a->search, &b->search, ret_key, size)) != 0 ||
	    (r = diff_engine(&a->engine, &b->engine, ret_key, size)) != 0)
		return r;
	DIFF_NUM(n_seeds, "the number of seeds", "%d", int);
	for (int i = 0; i < a->n_seeds; i++)
		if (a->seeds[i] != b->seeds[i]) {
			char key[32];

			snprintf(key, sizeof key, "seeds[%d]", i);
			DIFF_NUM(seeds[i], key, "%llu", unsigned long long);
		}
	return diff_cells(a, b, ret_key, size);
}
