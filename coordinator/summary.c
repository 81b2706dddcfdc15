/* summary.c — cells grouped into procedures, with their EMC, interval,
 * EMC per parameter, budget stops and compute.
 *
 * The cells come from the results query (store_report_results), read once
 * in one snapshot and copied, so that a summary can be grouped, sorted and
 * printed (or drawn, plot.c) in any order. Groups are sorted by their keys'
 * values in turn: numbers as numbers, other values by natural order (digit
 * runs compare as numbers, so mlp[8] comes before mlp[16]); the cells of a
 * group by parameter count, the x axis of the study's figure.
 *
 * The keys are resolved once: a pseudo key (campaign, model, dataset) or a
 * row of the cell field table, by spec key or report column. A key no cell
 * reads is refused, naming the keys there are, so a typo does not turn
 * into one group of everything.
 */
#include "summary.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "axes.h"
#include "format.h"
#include "store_report.h"

typedef enum key_kind { KEY_CAMPAIGN, KEY_MODEL, KEY_DATASET, KEY_FIELD } key_kind;

typedef struct key {
	key_kind kind;
	const emc_cell_field *f; /* KEY_FIELD */
} key;

typedef struct collect {
	summary_cell *cells;
	char **datasets; /* per cell: the dataset's description */
	int n, cap;
	axes ax;
	int campaigns; /* distinct campaigns, counted as they change */
	const char *last_campaign;
} collect;

static char *dup_or(const char *v, const char *none)
{
	return strdup(v ? v : none);
}

static int collect_row(void *ctx, const store_results_row *r)
{
	collect *c = ctx;
	summary_cell *x;

	if (c->n == c->cap) {
		int cap = c->cap ? 2 * c->cap : 32;
		summary_cell *cells = realloc(c->cells, (size_t)cap * sizeof *cells);
		char **ds;

		if (!cells)
			return -ENOMEM;
		c->cells = cells;
		ds = realloc(c->datasets, (size_t)cap * sizeof *ds);
		if (!ds)
			return -ENOMEM;
		c->datasets = ds;
		c->cap = cap;
	}
	x = &c->cells[c->n];
	*x = (summary_cell){
	    .cell = r->cell,
	    .has_params = r->has_params,
	    .params = r->params,
	    .state = r->state,
	    .decided = r->state == STORE_CELL_DONE,
	    .full = r->full,
	    .has_interval = r->has_interval,
	    .emc = r->lo,
	    .emc_low = r->emc_low,
	    .emc_high = r->emc_high,
	    .unconverged = r->unconverged,
	    .hi_budget = r->hi_budget,
	    .trials = r->trials,
	    .sample_grads = r->sample_grads,
	    .train_seconds = r->train_seconds,
	    .cfg = r->cfg,
	};
	x->campaign = dup_or(r->campaign, "");
	x->model = dup_or(r->model, "-");
	c->datasets[c->n] = dup_or(r->dataset, "");
	c->n++;
	if (!x->campaign || !x->model || !c->datasets[c->n - 1])
		return -ENOMEM;
	if (!c->last_campaign || strcmp(c->last_campaign, x->campaign) != 0) {
		c->campaigns++;
		c->last_campaign = x->campaign;
	}
	axes_add(&c->ax, &r->cfg);
	return 0;
}

static void cell_free(summary_cell *c)
{
	free(c->campaign);
	free(c->model);
}

static void collect_deinit(collect *c)
{
	for (int i = 0; i < c->n; i++) {
		cell_free(&c->cells[i]);
		free(c->datasets[i]);
	}
	free(c->cells);
	free(c->datasets);
}

/* ---- keys --------------------------------------------------------------------- */

static int key_resolve(const char *name, key *ret, emc_err *err)
{
	static const char *const pseudo[] = {"campaign", "model", "dataset"};
	int n;
	const emc_cell_field *fields = emc_cell_fields(&n);

	for (int i = 0; i < 3; i++)
		if (strcmp(name, pseudo[i]) == 0) {
			*ret = (key){.kind = (key_kind)i};
			return 0;
		}
	for (int i = 0; i < n; i++)
		if (axes_field_named(&fields[i], name)) {
			*ret = (key){.kind = KEY_FIELD, .f = &fields[i]};
			return 0;
		}
	return emc_err_set(err, -EINVAL,
			   "summary: --by: unknown key '%s' (campaign, model, dataset, or a spec key such as "
			   "optimizer.lr, or its column, lr)",
			   name);
}

/* The procedures: the campaign when there are several, and every varying
 * key the model column does not spell. */
static int keys_default(summary *sm, const collect *c, key *keys)
{
	axes ax = c->ax;
	static const char *const shown[] = {"model", NULL};

	axes_columns(&ax, shown);
	if (c->campaigns > 1) {
		keys[sm->n_keys] = (key){.kind = KEY_CAMPAIGN};
		if (!(sm->keys[sm->n_keys++] = strdup("campaign")))
			return -ENOMEM;
	}
	for (int i = 0; i < ax.n_cols && sm->n_keys < SUMMARY_MAX_KEYS; i++) {
		keys[sm->n_keys] = (key){.kind = KEY_FIELD, .f = ax.col[i]};
		if (!(sm->keys[sm->n_keys++] = strdup(ax.col[i]->key)))
			return -ENOMEM;
	}
	return 0;
}

static int keys_parse(summary *sm, const char *by, key *keys, emc_err *err)
{
	char *copy = strdup(by), *save = NULL;
	int r = copy ? 0 : -ENOMEM;

	for (char *k = copy ? strtok_r(copy, ",", &save) : NULL; r == 0 && k; k = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*k))
			k++;
		for (char *e = k + strlen(k); e > k && isspace((unsigned char)e[-1]);)
			*--e = '\0';
		if (!*k)
			continue;
		if (sm->n_keys == SUMMARY_MAX_KEYS)
			r = emc_err_set(err, -EINVAL, "summary: --by: at most %d keys", SUMMARY_MAX_KEYS);
		else if ((r = key_resolve(k, &keys[sm->n_keys], err)) == 0 && !(sm->keys[sm->n_keys++] = strdup(k)))
			r = -ENOMEM;
	}
	free(copy);
	return r;
}

/* A key the user named must be one some cell reads. */
static int keys_read(const summary *sm, const key *keys, const collect *c, emc_err *err)
{
	for (int k = 0; k < sm->n_keys; k++) {
		int i = 0;

		if (keys[k].kind != KEY_FIELD)
			continue;
		while (i < c->n && !emc_cell_field_reads(keys[k].f, &c->cells[i].cfg))
			i++;
		if (i == c->n && c->n > 0)
			return emc_err_set(err, -EINVAL, "summary: --by: no cell reads %s", keys[k].f->key);
	}
	return 0;
}

static const char *key_value(const key *k, const collect *c, int i, char *buf, size_t len)
{
	const char *v;

	switch (k->kind) {
	case KEY_CAMPAIGN:
		return c->cells[i].campaign;
	case KEY_MODEL:
		return c->cells[i].model;
	case KEY_DATASET:
		return c->datasets[i];
	case KEY_FIELD:
		v = axes_value(k->f, &c->cells[i].cfg, buf, len);
		return v ? v : "-";
	}
	return "-";
}

/* ---- grouping and order ---------------------------------------------------------- */

/* Numbers as numbers; otherwise natural order. */
static int value_cmp(const char *a, const char *b)
{
	char *ea, *eb;
	double x = strtod(a, &ea), y = strtod(b, &eb);

	if (ea != a && !*ea && eb != b && !*eb)
		return (x > y) - (x < y);
	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			unsigned long long u = strtoull(a, &ea, 10), v = strtoull(b, &eb, 10);

			if (u != v)
				return u < v ? -1 : 1;
			a = ea;
			b = eb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

/* ctx: the number of keys. */
static int group_cmp(const void *pa, const void *pb, void *ctx)
{
	const summary_group *a = pa, *b = pb;
	int keys = *(const int *)ctx;

	for (int k = 0; k < keys; k++) {
		int d = value_cmp(a->values[k], b->values[k]);

		if (d)
			return d;
	}
	return 0;
}

static int cell_cmp(const void *pa, const void *pb)
{
	const summary_cell *a = pa, *b = pb;
	int d;

	if (a->has_params != b->has_params)
		return a->has_params ? -1 : 1;
	if (a->params != b->params)
		return a->params < b->params ? -1 : 1;
	d = strcmp(a->campaign, b->campaign);
	return d ? d : a->cell - b->cell;
}

static summary_group *group_find(summary *sm, char *const *values)
{
	for (int g = 0; g < sm->n_groups; g++) {
		int k = 0;

		while (k < sm->n_keys && strcmp(sm->groups[g].values[k], values[k]) == 0)
			k++;
		if (k == sm->n_keys)
			return &sm->groups[g];
	}
	return NULL;
}

static summary_group *group_add(summary *sm, const char *const *values)
{
	summary_group *grown = realloc(sm->groups, (size_t)(sm->n_groups + 1) * sizeof *grown), *g;

	if (!grown)
		return NULL;
	sm->groups = grown;
	g = &sm->groups[sm->n_groups++];
	memset(g, 0, sizeof *g);
	for (int k = 0; k < sm->n_keys; k++)
		if (!(g->values[k] = strdup(values[k])))
			return NULL;
	return g;
}

/* Move cell i of c into its group (the strings move with it). */
static int group_cell(summary *sm, const key *keys, collect *c, int i)
{
	char text[SUMMARY_MAX_KEYS][96];
	const char *values[SUMMARY_MAX_KEYS];
	summary_group *g;
	summary_cell *cells;

	for (int k = 0; k < sm->n_keys; k++)
		values[k] = key_value(&keys[k], c, i, text[k], sizeof text[k]);
	g = group_find(sm, (char *const *)values);
	if (!g && !(g = group_add(sm, values)))
		return -ENOMEM;
	cells = realloc(g->cells, (size_t)(g->n_cells + 1) * sizeof *cells);
	if (!cells)
		return -ENOMEM;
	g->cells = cells;
	g->cells[g->n_cells++] = c->cells[i];
	c->cells[i].campaign = c->cells[i].model = NULL;
	g->decided += c->cells[i].decided;
	g->unconverged += c->cells[i].decided && c->cells[i].unconverged;
	g->trials += c->cells[i].trials;
	g->sample_grads += c->cells[i].sample_grads;
	g->train_seconds += c->cells[i].train_seconds;
	return 0;
}

int summary_build(store *s, const char *campaign, const char *by, summary **ret, emc_err *err)
{
	collect c = {0};
	key keys[SUMMARY_MAX_KEYS];
	summary *sm = calloc(1, sizeof *sm);
	int r = sm ? 0 : -ENOMEM;

	axes_init(&c.ax);
	if (r == 0 && by && *by)
		r = keys_parse(sm, by, keys, err);
	if (r == 0)
		r = store_report_results(s, campaign, collect_row, &c, err);
	if (r >= 0 && !(by && *by))
		r = keys_default(sm, &c, keys);
	else if (r >= 0)
		r = keys_read(sm, keys, &c, err);
	for (int i = 0; r >= 0 && i < c.n; i++)
		r = group_cell(sm, keys, &c, i);
	collect_deinit(&c);
	if (r < 0) {
		summary_destroy(&sm);
		if (r == -ENOENT && campaign)
			return emc_err_set(err, r, "summary: no campaign named '%s'", campaign);
		return r == -ENOMEM ? emc_err_set(err, r, "summary: out of memory") : r;
	}
	for (int g = 0; g < sm->n_groups; g++)
		qsort(sm->groups[g].cells, (size_t)sm->groups[g].n_cells, sizeof *sm->groups[g].cells, cell_cmp);
	qsort_r(sm->groups, (size_t)sm->n_groups, sizeof *sm->groups, group_cmp, &sm->n_keys);
	*ret = sm;
	return 0;
}

void summary_destroy(summary **p)
{
	summary *sm = *p;

	if (!sm)
		return;
	for (int g = 0; g < sm->n_groups; g++) {
		for (int k = 0; k < sm->n_keys; k++)
			free(sm->groups[g].values[k]);
		for (int i = 0; i < sm->groups[g].n_cells; i++)
			cell_free(&sm->groups[g].cells[i]);
		free(sm->groups[g].cells);
	}
	for (int k = 0; k < sm->n_keys; k++)
		free(sm->keys[k]);
	free(sm->groups);
	free(sm);
	*p = NULL;
}

double summary_emc_per_param(const summary_cell *c)
{
	if (!c->decided || !c->has_params || c->params <= 0)
		return NAN;
	return (double)c->emc / (double)c->params;
}

int summary_group_label(const summary *sm, const summary_group *g, char *buf, size_t len)
{
	size_t off = 0;

	if (len)
		buf[0] = '\0';
	if (sm->n_keys == 0)
		return snprintf(buf, len, "all cells");
	for (int k = 0; k < sm->n_keys && off < len; k++) {
		int w = snprintf(buf + off, len - off, "%s%s=%s", k ? ", " : "", sm->keys[k], g->values[k]);

		if (w < 0)
			return -EINVAL;
		off += (size_t)w;
	}
	return (int)off;
}

/* ---- printing ----------------------------------------------------------------------- */

enum {
	U_CAMPAIGN,
	U_CELL,
	U_MODEL,
	U_PARAMS,
	U_EMC,
	U_FULL,
	U_LOW,
	U_HIGH,
	U_PER_PARAM,
	U_UNCONV,
	U_HI_BUDGET,
	U_TRIALS,
	U_GRADS,
	U_SECONDS,
	U_STATE,
	U_COLS
};

static const char *const cell_head[U_COLS] = {
    "campaign",	     "cell",	    "model",	 "params", "emc",	   "full",	    "emc_low", "emc_high",
    "emc_per_param", "unconverged", "hi_budget", "trials", "sample_grads", "train_seconds", "state",
};

typedef struct cell_text {
	char cell[16], params[24], emc[24], low[24], high[24], per[32], hi_budget[16], trials[24], grads[24];
	char seconds[32];
} cell_text;

static void cell_values(const summary_cell *c, const char *none, cell_text *t, const char *v[U_COLS])
{
	double per = summary_emc_per_param(c);

	snprintf(t->cell, sizeof t->cell, "%d", c->cell);
	snprintf(t->params, sizeof t->params, "%" PRId64, c->params);
	snprintf(t->emc, sizeof t->emc, "%" PRId64, c->emc);
	snprintf(t->low, sizeof t->low, "%" PRId64, c->emc_low);
	snprintf(t->high, sizeof t->high, "%" PRId64, c->emc_high);
	store_format_double(t->per, sizeof t->per, "%.4g", per);
	snprintf(t->hi_budget, sizeof t->hi_budget, "%d", c->hi_budget);
	snprintf(t->trials, sizeof t->trials, "%" PRId64, c->trials);
	snprintf(t->grads, sizeof t->grads, "%" PRId64, c->sample_grads);
	snprintf(t->seconds, sizeof t->seconds, "%.2f", c->train_seconds);
	v[U_CAMPAIGN] = c->campaign;
	v[U_CELL] = t->cell;
	v[U_MODEL] = c->model;
	v[U_PARAMS] = c->has_params ? t->params : none;
	v[U_EMC] = c->decided ? t->emc : none;
	v[U_FULL] = c->full ? "1" : "0";
	v[U_LOW] = c->decided && c->has_interval ? t->low : none;
	v[U_HIGH] = c->decided && c->has_interval ? t->high : none;
	v[U_PER_PARAM] = isnan(per) ? none : t->per;
	v[U_UNCONV] = c->decided && c->unconverged ? "1" : "0";
	v[U_HI_BUDGET] = t->hi_budget;
	v[U_TRIALS] = t->trials;
	v[U_GRADS] = t->grads;
	v[U_SECONDS] = t->seconds;
	v[U_STATE] = store_cell_state_name(c->state);
}

/* The table: a line per group (its keys, its cells, budget stops and
 * compute), then its cells; emc as results shows it (">=" when the whole
 * range fit, "*" when a budget stop decided it). */
static int summary_table(const summary *sm, FILE *out)
{
	static const char *const head[] = {"campaign", "cell",	       "model",		"params",
					   "emc",      "interval",     "emc/params",	"budget_stops",
					   "trials",   "sample_grads", "train_seconds", "state"};
	int r = 0;

	for (int g = 0; r >= 0 && g < sm->n_groups; g++) {
		const summary_group *gr = &sm->groups[g];
		char label[1024];
		table t;

		summary_group_label(sm, gr, label, sizeof label);
		fprintf(out,
			"%s%s: %d cells, %d decided, %d unconverged, %" PRId64 " trials, %" PRId64
			" sample-gradients, %.2f s\n",
			g ? "\n" : "", label, gr->n_cells, gr->decided, gr->unconverged, gr->trials, gr->sample_grads,
			gr->train_seconds);
		table_init(&t, 12, "lrlrrlrrrrrl");
		r = table_add(&t, head);
		for (int i = 0; r >= 0 && i < gr->n_cells; i++) {
			const summary_cell *c = &gr->cells[i];
			cell_text text;
			const char *v[U_COLS];
			char emc[48], interval[64];
			const char *row[12];

			cell_values(c, "-", &text, v);
			snprintf(emc, sizeof emc, "%s%s%s", c->decided && c->full ? ">=" : "", v[U_EMC],
				 c->decided && c->unconverged ? "*" : "");
			if (c->decided && c->has_interval)
				snprintf(interval, sizeof interval, "[%s, %s%s]", v[U_LOW], c->full ? ">=" : "",
					 v[U_HIGH]);
			else
				snprintf(interval, sizeof interval, "-");
			row[0] = v[U_CAMPAIGN];
			row[1] = v[U_CELL];
			row[2] = v[U_MODEL];
			row[3] = v[U_PARAMS];
			row[4] = emc;
			row[5] = interval;
			row[6] = v[U_PER_PARAM];
			row[7] = v[U_HI_BUDGET];
			row[8] = v[U_TRIALS];
			row[9] = v[U_GRADS];
			row[10] = v[U_SECONDS];
			row[11] = v[U_STATE];
			r = table_add(&t, row);
		}
		if (r >= 0)
			r = table_print(&t, "  ", out);
		table_deinit(&t);
	}
	if (r >= 0 && sm->n_groups == 0)
		fputs("no cells\n", out);
	return r;
}

/* CSV: one row per cell, led by its group's number and keys. */
static int summary_csv(const summary *sm, FILE *out)
{
	const char *row[1 + SUMMARY_MAX_KEYS + U_COLS];
	int k = 0;

	row[k++] = "group";
	for (int j = 0; j < sm->n_keys; j++)
		row[k++] = sm->keys[j];
	memcpy(row + k, cell_head, sizeof cell_head);
	csv_row_n(row, k + U_COLS, out);
	for (int g = 0; g < sm->n_groups; g++) {
		char num[16];

		snprintf(num, sizeof num, "%d", g);
		row[0] = num;
		for (int j = 0; j < sm->n_keys; j++)
			row[1 + j] = sm->groups[g].values[j];
		for (int i = 0; i < sm->groups[g].n_cells; i++) {
			cell_text text;

			cell_values(&sm->groups[g].cells[i], "", &text, row + k);
			csv_row_n(row, k + U_COLS, out);
		}
	}
	return 0;
}

static void json_cell(const summary_cell *c, FILE *out)
{
	json_key("campaign", true, out);
	json_str(c->campaign, out);
	json_key_int("cell", true, c->cell, out);
	json_key_str("model", c->model, out);
	json_key_int("params", c->has_params, c->params, out);
	json_key_int("emc", c->decided, c->emc, out);
	json_key_bool("full", c->full, out);
	json_key_int("emc_low", c->decided && c->has_interval, c->emc_low, out);
	json_key_int("emc_high", c->decided && c->has_interval, c->emc_high, out);
	json_key_real("emc_per_param", summary_emc_per_param(c), out);
	json_key_bool("unconverged", c->decided && c->unconverged, out);
	json_key_int("hi_budget", true, c->hi_budget, out);
	json_key_int("trials", true, c->trials, out);
	json_key_int("sample_grads", true, c->sample_grads, out);
	json_key_real("train_seconds", c->train_seconds, out);
	json_key_str("state", store_cell_state_name(c->state), out);
	json_key("config", false, out);
	axes_json_config(&c->cfg, out);
	fputc('}', out);
}

/* JSON: one object per group, its keys in "group", its cells in "cells". */
static int summary_json(const summary *sm, FILE *out)
{
	int n = 0;

	fputc('[', out);
	for (int g = 0; g < sm->n_groups; g++) {
		const summary_group *gr = &sm->groups[g];

		json_row_begin(&n, out);
		json_key("group", true, out);
		fputc('{', out);
		for (int k = 0; k < sm->n_keys; k++) {
			if (k)
				fputc(',', out);
			json_str(sm->keys[k], out);
			fputc(':', out);
			json_str(gr->values[k], out);
		}
		fputc('}', out);
		json_key_int("n_cells", true, gr->n_cells, out);
		json_key_int("decided", true, gr->decided, out);
		json_key_int("unconverged", true, gr->unconverged, out);
		json_key_int("trials", true, gr->trials, out);
		json_key_int("sample_grads", true, gr->sample_grads, out);
		json_key_real("train_seconds", gr->train_seconds, out);
		json_key("cells", false, out);
		fputc('[', out);
		for (int i = 0; i < gr->n_cells; i++) {
			if (i)
				fputc(',', out);
			json_cell(&gr->cells[i], out);
		}
		fputs("]}", out);
	}
	json_array_end(n, out);
	return 0;
}

int report_summary(store *s, const char *campaign, const char *by, report_format fmt, FILE *out, emc_err *err)
{
	summary *sm = NULL;
	int r;

	if (fmt != REPORT_TABLE && fmt != REPORT_CSV && fmt != REPORT_JSON)
		return emc_err_set(err, -EINVAL, "report: unknown format %d", (int)fmt);
	r = summary_build(s, campaign, by, &sm, err);
	if (r < 0)
		return r;
	r = fmt == REPORT_TABLE ? summary_table(sm, out)
	    : fmt == REPORT_CSV ? summary_csv(sm, out)
				: summary_json(sm, out);
	summary_destroy(&sm);
	return r == -ENOMEM ? emc_err_set(err, r, "summary: out of memory") : r;
}
