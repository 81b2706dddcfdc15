/* cellwalk.h — the boundary values of every row of the cell table.
 *
 * For each row: the values at its bounds and its default, each in a
 * "witness" cell that reads the row (a family and an optimizer in the row's
 * masks) with the smallest companions that keep the rules between rows
 * (a cnn of one filter and layer, a resnet of one stage of width 1, a vit of dim 1), so the value alone
 * decides; and the values just outside each bound. test_cell, test_spec
 * and test_celltable all walk these, so a bound loosened or tightened in
 * one place shows up in all three.
 */
#ifndef EMC_CELLWALK_H
#define EMC_CELLWALK_H

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cell.h"

#define WALK_MAX 512

typedef struct walk_case {
	const emc_cell_field *f;
	bool inside;        /* a value the spec accepts, or one just outside a bound */
	emc_cell_value v;
	emc_cell_cfg cell;  /* the witness, holding v */
	char what[48];      /* "max", "min - 1", ... */
	bool spellable;     /* a spec can write v (an enum index out of range it cannot) */
} walk_case;

static inline int walk_lowest_bit(unsigned mask)
{
	for (int i = 0; i < 32; i++)
		if (mask & (1u << i))
			return i;
	return 0;
}

/* The family's defaults, with the smallest companions. */
static inline void walk_family(emc_cell_cfg *c)
{
	emc_cell_family_defaults(c);
	if (c->model.family == EMC_FAMILY_CNN)
		c->model.layers = c->model.filters = 1;
	if (c->model.family == EMC_FAMILY_RESNET) {
		c->model.width = 1;
		c->model.n_widths = 1;
		memset(c->model.widths, 0, sizeof c->model.widths);
		c->model.widths[0] = 1;
	}
	if (c->model.family == EMC_FAMILY_VIT)
		c->model.dim = c->model.heads = c->model.mlp_ratio = 1;
	emc_cell_normalize(c);
}

/* A cell that reads f, with small companions. */
static inline void walk_base(const emc_cell_field *f, emc_cell_cfg *c)
{
	emc_cell_cfg_defaults(c);
	if (f->families != EMC_FAMILIES_ALL)
		c->model.family = (emc_family)walk_lowest_bit(f->families);
	if (f->optimizers != EMC_OPTS_ALL)
		c->optim.name = (emc_optimizer)walk_lowest_bit(f->optimizers);
	walk_family(c);
}

static inline void walk_add(walk_case *out, int *n, const emc_cell_field *f, bool inside, const emc_cell_value *v,
			    const char *what, bool spellable)
{
	walk_case *w;

	if (*n >= WALK_MAX)
		return;
	w = &out[(*n)++];
	memset(w, 0, sizeof *w);
	w->f = f;
	w->inside = inside;
	w->v = *v;
	w->spellable = spellable;
	snprintf(w->what, sizeof w->what, "%s", what);
	walk_base(f, &w->cell);
	emc_cell_field_set(f, &w->cell, v);
	if (strcmp(f->key, "model.family") == 0 && inside)
		walk_family(&w->cell); /* a family with its own keys */
	if (strcmp(f->key, "model.heads") == 0 && inside)
		w->cell.model.dim = (int)v->i; /* heads must divide dim */
	if (strcmp(f->key, "budget.max_epochs") == 0)
		w->cell.budget.max_steps = 1; /* some budget must end the trial */
}

static inline emc_cell_value walk_int(int64_t i)
{
	emc_cell_value v;

	memset(&v, 0, sizeof v);
	v.i = i;
	return v;
}

static inline emc_cell_value walk_num(double d, int64_t i)
{
	emc_cell_value v = walk_int(i);

	v.d = d;
	return v;
}

static inline emc_cell_value walk_list(int n, int item)
{
	emc_cell_value v = walk_int(0);

	v.n = n;
	for (int i = 0; i < n && i < EMC_MAX_LAYERS; i++)
		v.items[i] = item;
	return v;
}

/* The default of f, as emc_cell_family_defaults sets it in a cell reading f. */
static inline emc_cell_value walk_default(const emc_cell_field *f)
{
	emc_cell_cfg c;
	emc_cell_value v;

	emc_cell_cfg_defaults(&c);
	if (f->families != EMC_FAMILIES_ALL)
		c.model.family = (emc_family)walk_lowest_bit(f->families);
	emc_cell_family_defaults(&c);
	emc_cell_field_get(f, &c, &v);
	return v;
}

static inline void walk_ints(walk_case *out, int *n, const emc_cell_field *f)
{
	int64_t type_max = f->type == EMC_CELL_INT ? INT_MAX : INT64_MAX;
	emc_cell_value v;

	v = walk_int(f->imin);
	walk_add(out, n, f, true, &v, "min", true);
	v = walk_int(f->imax);
	walk_add(out, n, f, true, &v, "max", true);
	if (f->zero) {
		v = walk_int(0);
		walk_add(out, n, f, true, &v, "zero", true);
	}
	v = walk_int(f->imin - 1 == 0 && f->zero ? -1 : f->imin - 1);
	walk_add(out, n, f, false, &v, "min - 1", true);
	if (f->imax < type_max) {
		v = walk_int(f->imax + 1);
		walk_add(out, n, f, false, &v, "max + 1", true);
	}
}

static inline void walk_range(walk_case *out, int *n, const emc_cell_field *f, int64_t e)
{
	double lo = f->min_open ? nextafter(f->min, INFINITY) : f->min;
	double hi = f->max_open ? nextafter(f->max, -INFINITY) : f->max;
	double below = f->min_open ? f->min : nextafter(f->min, -INFINITY);
	double above = f->max_open ? f->max : nextafter(f->max, INFINITY);
	emc_cell_value v;

	v = walk_num(lo, e);
	walk_add(out, n, f, true, &v, "min", true);
	v = walk_num(hi, e);
	walk_add(out, n, f, true, &v, "max", true);
	v = walk_num(below, e);
	walk_add(out, n, f, false, &v, "just below min", true);
	v = walk_num(above, e);
	walk_add(out, n, f, false, &v, "just above max", true);
	v = walk_num(NAN, e);
	walk_add(out, n, f, false, &v, "nan", false);
}

static inline void walk_enum(walk_case *out, int *n, const emc_cell_field *f)
{
	emc_cell_value v;

	for (int i = 0; i < f->n_names; i++) {
		if (f->type == EMC_CELL_LABELS && i == EMC_LABELS_NOISY)
			continue; /* with its fraction, in walk_range */
		v = walk_int(i);
		walk_add(out, n, f, true, &v, f->names[i], true);
	}
	v = walk_int(-1);
	walk_add(out, n, f, false, &v, "value -1", false);
	v = walk_int(f->n_names);
	walk_add(out, n, f, false, &v, "value n_names", false);
}

/* Every case of every row; returns how many. */
static inline int walk_cases(walk_case *out)
{
	int n_rows, n = 0;
	const emc_cell_field *rows = emc_cell_fields(&n_rows);

	for (int r = 0; r < n_rows; r++) {
		const emc_cell_field *f = &rows[r];
		emc_cell_value v = walk_default(f);

		walk_add(out, &n, f, true, &v, "default", true);
		switch (f->type) {
		case EMC_CELL_INT:
		case EMC_CELL_INT64:
			walk_ints(out, &n, f);
			break;
		case EMC_CELL_UINT64:
			v.u = UINT64_MAX;
			walk_add(out, &n, f, true, &v, "max", true);
			v.u = 0;
			walk_add(out, &n, f, true, &v, "min", true);
			break;
		case EMC_CELL_SEED: /* the default is "not given"; any seed may be */
			v = walk_int(1);
			v.u = UINT64_MAX;
			walk_add(out, &n, f, true, &v, "given, max", true);
			v.u = 0;
			walk_add(out, &n, f, true, &v, "given, 0", true);
			break;
		case EMC_CELL_BOOL:
			v = walk_int(1);
			walk_add(out, &n, f, true, &v, "true", true);
			v = walk_int(0);
			walk_add(out, &n, f, true, &v, "false", true);
			break;
		case EMC_CELL_DOUBLE:
			walk_range(out, &n, f, 0);
			break;
		case EMC_CELL_ENUM:
			walk_enum(out, &n, f);
			break;
		case EMC_CELL_LABELS:
			walk_enum(out, &n, f);
			walk_range(out, &n, f, EMC_LABELS_NOISY);
			break;
		case EMC_CELL_LIST:
			v = walk_list(f->min_items, (int)f->imin);
			walk_add(out, &n, f, true, &v, "fewest, min", true);
			/* the most items and the largest item apart: together
			 * they may break a rule (a resnet's blocks in all) */
			v = walk_list(f->max_items, (int)f->imin);
			walk_add(out, &n, f, true, &v, "most", true);
			v = walk_list(f->min_items, (int)f->imax);
			walk_add(out, &n, f, true, &v, "max", true);
			v = walk_list(1, (int)f->imin - 1);
			walk_add(out, &n, f, false, &v, "item min - 1", true);
			v = walk_list(1, (int)f->imax + 1);
			walk_add(out, &n, f, false, &v, "item max + 1", true);
			v = walk_list(f->min_items - 1, 1);
			walk_add(out, &n, f, false, &v, "too few", f->min_items - 1 > 0);
			v = walk_list(f->max_items + 1, 1);
			walk_add(out, &n, f, false, &v, "too many", false); /* more than the array holds */
			break;
		}
	}
	return n;
}

/* v as a spec writes it (a YAML scalar or flow list); exact for doubles. */
static inline void walk_spell(const emc_cell_field *f, const emc_cell_value *v, char *buf, size_t len)
{
	size_t off = 0;

	switch (f->type) {
	case EMC_CELL_INT:
	case EMC_CELL_INT64:
		if (v->i == 0 && f->zero_word)
			snprintf(buf, len, "%s", f->zero_word);
		else
			snprintf(buf, len, "%lld", (long long)v->i);
		break;
	case EMC_CELL_UINT64:
		snprintf(buf, len, "%llu", (unsigned long long)v->u);
		break;
	case EMC_CELL_SEED:
		if (v->i)
			snprintf(buf, len, "%llu", (unsigned long long)v->u);
		else
			snprintf(buf, len, "%s", f->zero_word);
		break;
	case EMC_CELL_DOUBLE:
		snprintf(buf, len, "%.17g", v->d);
		break;
	case EMC_CELL_BOOL:
		snprintf(buf, len, "%s", v->i ? "true" : "false");
		break;
	case EMC_CELL_ENUM:
		snprintf(buf, len, "%s", v->i >= 0 && v->i < f->n_names ? f->names[v->i] : "no-such-name");
		break;
	case EMC_CELL_LABELS:
		if (v->i == EMC_LABELS_NOISY)
			snprintf(buf, len, "noisy:%.17g", v->d);
		else
			snprintf(buf, len, "%s", v->i >= 0 && v->i < f->n_names ? f->names[v->i] : "no-such-name");
		break;
	case EMC_CELL_LIST:
		off += (size_t)snprintf(buf, len, "[");
		for (int i = 0; i < v->n && off < len; i++)
			off += (size_t)snprintf(buf + off, len - off, "%s%d", i ? ", " : "", v->items[i]);
		if (off < len)
			snprintf(buf + off, len - off, "]");
		break;
	}
}

#endif
