/* report.c — emcctl's status, results and trials, read from the database alone.
 *
 * The store (store_report.h) runs the queries, each in one snapshot of a
 * connection that may be read-only, so a report works while the
 * coordinator runs (WAL readers see the last commit) and after it stopped,
 * and its numbers agree with each other. Here the rows are only printed;
 * nothing here writes, and nothing here speaks SQL.
 *
 * Three formats. Tables are padded to their widest cell, numbers
 * right-aligned. CSV fields are quoted as RFC 4180 says (a field holding a
 * comma, quote, CR or LF is enclosed in quotes, quotes doubled), lines end
 * in LF. JSON is one object per row, written as SQLite's json_object()
 * writes one: no spaces, strings escaped as it escapes them, REALs in its
 * "%!0.15g", booleans as true/false. Numbers that the trials report and
 * the JSON show go through store_format_double(), SQLite's printf, whose
 * decimal rounding differs from the C library's on ties; the results
 * table's seconds and certificate use the C library's. Programs parse
 * these outputs, so each stays as it is.
 *
 * An EMC is shown only for a finished cell: lo, or ">=lo" when the whole
 * allowed range fit. "Unconverged" means the no-fit at n = hi stopped on
 * its budget, so the budget, not the procedure, decided the EMC.
 */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store_report.h"

int report_format_parse(const char *s, report_format *ret)
{
	static const char *const names[] = { "table", "csv", "json" };

	for (int i = 0; s && i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = (report_format)i;
			return 0;
		}
	return -EINVAL;
}

static int oom(int r, emc_err *err)
{
	return r == -ENOMEM ? emc_err_set(err, r, "report: out of memory") : r;
}

/* A named campaign the store did not find: say it as the report. */
static int no_campaign(int r, const char *campaign, emc_err *err)
{
	if (r == -ENOENT && campaign)
		return emc_err_set(err, r, "report: no campaign named '%s'", campaign);
	return r;
}

/* ---- an aligned text table ---------------------------------------------- */

typedef struct table {
	int cols;
	const char *align; /* per column: 'l' or 'r' */
	char **cell;       /* rows × cols, owned */
	size_t rows, cap;
} table;

static void table_init(table *t, int cols, const char *align)
{
	memset(t, 0, sizeof *t);
	t->cols = cols;
	t->align = align;
}

static void table_deinit(table *t)
{
	for (size_t i = 0; i < t->rows * (size_t)t->cols; i++)
		free(t->cell[i]);
	free(t->cell);
	memset(t, 0, sizeof *t);
}

/* Append one row of t->cols strings (copied). */
static int table_add(table *t, const char *const *values)
{
	if (t->rows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		char **cell = realloc(t->cell, cap * (size_t)t->cols * sizeof *cell);

		if (!cell)
			return -ENOMEM;
		t->cell = cell;
		t->cap = cap;
	}
	for (int j = 0; j < t->cols; j++) {
		char *v = strdup(values[j] ? values[j] : "");

		if (!v) {
			for (int k = 0; k < j; k++)
				free(t->cell[t->rows * (size_t)t->cols + (size_t)k]);
			return -ENOMEM;
		}
		t->cell[t->rows * (size_t)t->cols + (size_t)j] = v;
	}
	t->rows++;
	return 0;
}

static void table_print(const table *t, const char *indent, FILE *out)
{
	int width[32] = { 0 };

	for (size_t i = 0; i < t->rows; i++)
		for (int j = 0; j < t->cols && j < 32; j++) {
			int len = (int)strlen(t->cell[i * (size_t)t->cols + (size_t)j]);

			if (len > width[j])
				width[j] = len;
		}
	for (size_t i = 0; i < t->rows; i++) {
		fputs(indent, out);
		for (int j = 0; j < t->cols && j < 32; j++) {
			const char *v = t->cell[i * (size_t)t->cols + (size_t)j];
			bool last = j == t->cols - 1;

			if (t->align[j] == 'r')
				fprintf(out, "%*s", width[j], v);
			else
				fprintf(out, "%-*s", last ? 0 : width[j], v);
			fputs(last ? "\n" : "  ", out);
		}
	}
}

/* ---- CSV and JSON -------------------------------------------------------- */

static void csv_field(const char *v, FILE *out)
{
	if (!strpbrk(v, ",\"\r\n")) {
		fputs(v, out);
		return;
	}
	fputc('"', out);
	for (; *v; v++) {
		if (*v == '"')
			fputc('"', out);
		fputc(*v, out);
	}
	fputc('"', out);
}

static void csv_row_n(const char *const *v, int cols, FILE *out)
{
	for (int j = 0; j < cols; j++) {
		if (j)
			fputc(',', out);
		csv_field(v[j], out);
	}
	fputc('\n', out);
}

/* A JSON string, escaped as SQLite's json_object() escapes it: quote and
 * backslash, the short escapes it knows, \u00XX for the other control
 * characters; every other byte as it is. */
static void json_str(const char *v, FILE *out)
{
	static const char special[32] = { [8] = 'b', [9] = 't', [10] = 'n', [12] = 'f', [13] = 'r' };

	if (!v) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 && special[*p])
			fprintf(out, "\\%c", special[*p]);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

/* A REAL as json_object() writes it; NAN (no value) is null. */
static void json_real(double v, FILE *out)
{
	char buf[64];

	if (isnan(v)) {
		fputs("null", out);
		return;
	}
	store_format_double(buf, sizeof buf, "%!0.15g", v);
	fputs(buf, out);
}

/* The separator before a key: '{' for the first, ',' for the others. */
static void json_key(const char *key, bool first, FILE *out)
{
	fputc(first ? '{' : ',', out);
	fprintf(out, "\"%s\":", key);
}

static void json_key_str(const char *key, const char *v, FILE *out)
{
	json_key(key, false, out);
	json_str(v, out);
}

static void json_key_int(const char *key, bool has, int64_t v, FILE *out)
{
	json_key(key, false, out);
	if (has)
		fprintf(out, "%" PRId64, v);
	else
		fputs("null", out);
}

static void json_key_real(const char *key, double v, FILE *out)
{
	json_key(key, false, out);
	json_real(v, out);
}

static void json_key_bool(const char *key, bool v, FILE *out)
{
	json_key(key, false, out);
	fputs(v ? "true" : "false", out);
}

/* Rows of a JSON array: "[", then each row on its own line, indented. */
static void json_row_begin(int *n, FILE *out)
{
	fputs(*n ? ",\n  " : "\n  ", out);
	(*n)++;
}

static void json_array_end(int n, FILE *out)
{
	fputs(n ? "\n]\n" : "]\n", out);
}

static const char *or_text(const char *v, const char *none)
{
	return v ? v : none;
}

/* ---- status ------------------------------------------------------------- */

/* A campaign's header line and cell table are printed together once its
 * last cell is in (the next campaign, or the end, flushes them). */
typedef struct status_ctx {
	FILE *out;
	table t;
	bool open;
	int shown;
	char *header;
} status_ctx;

static void status_flush(status_ctx *x)
{
	if (!x->open)
		return;
	if (x->shown++)
		fputc('\n', x->out);
	fputs(x->header, x->out);
	if (x->t.rows > 1) /* the head row and at least one cell */
		table_print(&x->t, "  ", x->out);
	table_deinit(&x->t);
	free(x->header);
	x->header = NULL;
	x->open = false;
}

#define STATUS_HEADER_FMT                                                                                         \
	"campaign %s: %s, cells %" PRId64 "/%" PRId64 " done, trials %" PRId64 " done, %" PRId64 " running, %" PRId64 \
	" queued\n"

static int status_campaign(void *ctx, const store_status_campaign *c)
{
	static const char *const head[] = { "cell",  "model", "activation", "optimizer", "labels", "seed",
					    "state", "bracket", "done",	     "running",	  "queued" };
	status_ctx *x = ctx;
	const char *state = store_campaign_state_name(c->state);
	int len;

	status_flush(x);
	len = snprintf(NULL, 0, STATUS_HEADER_FMT, c->name, state, c->cells_decided, c->cells, c->trials_done,
		       c->trials_running, c->trials_pending);
	x->header = malloc((size_t)len + 1);
	if (!x->header)
		return -ENOMEM;
	snprintf(x->header, (size_t)len + 1, STATUS_HEADER_FMT, c->name, state, c->cells_decided, c->cells,
		 c->trials_done, c->trials_running, c->trials_pending);
	table_init(&x->t, 11, "rlllllllrrr");
	x->open = true;
	return table_add(&x->t, head);
}

static int status_cell(void *ctx, const store_status_cell *c)
{
	status_ctx *x = ctx;
	char idx[24], seed[24], bracket[64], done[24], running[24], queued[24], hi[24];
	const char *row[11];

	snprintf(idx, sizeof idx, "%d", c->index);
	snprintf(seed, sizeof seed, "%" PRIu64, c->seed);
	if (c->hi == 0)
		snprintf(hi, sizeof hi, "?");
	else
		snprintf(hi, sizeof hi, "%" PRId64, c->hi);
	snprintf(bracket, sizeof bracket, "[%" PRId64 ", %s)", c->lo, hi);
	snprintf(done, sizeof done, "%" PRId64, c->trials_done);
	snprintf(running, sizeof running, "%" PRId64, c->trials_running);
	snprintf(queued, sizeof queued, "%" PRId64, c->trials_pending);
	row[0] = idx;
	row[1] = or_text(c->model, "-");
	row[2] = or_text(c->activation, "-");
	row[3] = or_text(c->optimizer, "-");
	row[4] = or_text(c->labels, "-");
	row[5] = seed;
	row[6] = store_cell_state_name(c->state);
	row[7] = bracket;
	row[8] = done;
	row[9] = running;
	row[10] = queued;
	return table_add(&x->t, row);
}

int report_status(store *s, const char *campaign, FILE *out, emc_err *err)
{
	status_ctx x = { .out = out };
	int r = store_report_status(s, campaign, status_campaign, status_cell, &x, err);

	if (r >= 0) {
		status_flush(&x);
	} else if (x.open) {
		table_deinit(&x.t);
		free(x.header);
	}
	if (r < 0)
		return oom(r, err);
	if (r == 0) {
		if (campaign)
			return no_campaign(-ENOENT, campaign, err);
		fputs("no campaigns\n", out);
	}
	return 0;
}

/* ---- results ------------------------------------------------------------ */

enum { R_CAMPAIGN, R_CELL, R_MODEL, R_ACT, R_OPT, R_DATASET, R_LABELS, R_INPUTS, R_CLASSES, R_SEED, R_PARAMS,
       R_EMC, R_LO, R_HI, R_TRIALS, R_SECONDS, R_UNCONVERGED, R_LMIN, R_LMAX, R_STATE, R_COLS };

static const char *const results_head[R_COLS] = {
	"campaign", "cell", "model",  "activation",	"optimizer",   "dataset", "labels",
	"inputs",   "classes", "seed", "params", "emc", "lo", "hi",
	"trials",   "train_seconds", "unconverged", "lambda_min", "lambda_max", "state",
};

/* Scratch for the values results_values() formats. */
typedef struct results_text {
	char cell[16], classes[24], seed[24], params[24], emc[32], lo[24], hi[24], trials[24], seconds[32];
	char lmin[32], lmax[32];
} results_text;

/* The row's values as text; what is not recorded becomes none, except emc,
 * which is "-" until the cell is done. */
static void results_values(const store_results_row *r, const char *none, results_text *t, const char *v[R_COLS])
{
	snprintf(t->cell, sizeof t->cell, "%d", r->cell);
	snprintf(t->classes, sizeof t->classes, "%" PRId64, r->classes);
	snprintf(t->seed, sizeof t->seed, "%" PRIu64, r->seed);
	snprintf(t->params, sizeof t->params, "%" PRId64, r->params);
	snprintf(t->emc, sizeof t->emc, "%s%" PRId64, r->full ? ">=" : "", r->lo);
	snprintf(t->lo, sizeof t->lo, "%" PRId64, r->lo);
	snprintf(t->hi, sizeof t->hi, "%" PRId64, r->hi);
	snprintf(t->trials, sizeof t->trials, "%" PRId64, r->trials);
	snprintf(t->seconds, sizeof t->seconds, "%.2f", r->train_seconds);
	snprintf(t->lmin, sizeof t->lmin, "%.3g", r->lambda_min);
	snprintf(t->lmax, sizeof t->lmax, "%.3g", r->lambda_max);
	v[R_CAMPAIGN] = r->campaign;
	v[R_CELL] = t->cell;
	v[R_MODEL] = or_text(r->model, none);
	v[R_ACT] = or_text(r->activation, none);
	v[R_OPT] = or_text(r->optimizer, none);
	v[R_DATASET] = r->dataset;
	v[R_LABELS] = or_text(r->labels, none);
	v[R_INPUTS] = r->inputs;
	v[R_CLASSES] = t->classes;
	v[R_SEED] = t->seed;
	v[R_PARAMS] = r->has_params ? t->params : none;
	v[R_EMC] = r->state == STORE_CELL_DONE ? t->emc : "-";
	v[R_LO] = t->lo;
	v[R_HI] = r->hi != 0 ? t->hi : none;
	v[R_TRIALS] = t->trials;
	v[R_SECONDS] = t->seconds;
	v[R_UNCONVERGED] = r->unconverged ? "1" : "0";
	v[R_LMIN] = isnan(r->lambda_min) ? none : t->lmin;
	v[R_LMAX] = isnan(r->lambda_max) ? none : t->lmax;
	v[R_STATE] = store_cell_state_name(r->state);
}

typedef struct results_ctx {
	FILE *out;
	table t;
	bool any_unconverged;
	bool started; /* the CSV header or the JSON '[' is out */
	int n;        /* JSON rows written */
} results_ctx;

/* CSV and JSON stream their rows, and begin with the first (or at the end
 * when there is none), so that a refusal prints nothing. */
static void stream_start(results_ctx *x, report_format fmt, const char *const *csv_head, int cols)
{
	if (x->started)
		return;
	x->started = true;
	if (fmt == REPORT_CSV)
		csv_row_n(csv_head, cols, x->out);
	else
		fputc('[', x->out);
}

/* The table marks unconverged EMCs with '*' instead of a column. */
static const int results_shown[] = { R_CAMPAIGN, R_CELL,   R_MODEL,  R_ACT, R_OPT, R_DATASET, R_LABELS,
				     R_INPUTS,	 R_CLASSES, R_SEED, R_PARAMS, R_EMC, R_LO,  R_HI,
				     R_TRIALS,	 R_SECONDS, R_LMIN, R_LMAX, R_STATE };
#define RESULTS_SHOWN ((int)(sizeof results_shown / sizeof results_shown[0]))

static int results_table_row(void *ctx, const store_results_row *r)
{
	results_ctx *x = ctx;
	results_text text;
	char emc[48];
	const char *v[R_COLS], *row[RESULTS_SHOWN];

	results_values(r, "-", &text, v);
	if (r->unconverged && r->state == STORE_CELL_DONE) {
		snprintf(emc, sizeof emc, "%s*", v[R_EMC]);
		v[R_EMC] = emc;
		x->any_unconverged = true;
	}
	for (int j = 0; j < RESULTS_SHOWN; j++)
		row[j] = v[results_shown[j]];
	return table_add(&x->t, row);
}

static int results_csv_row(void *ctx, const store_results_row *r)
{
	results_ctx *x = ctx;
	results_text text;
	const char *v[R_COLS];

	stream_start(x, REPORT_CSV, results_head, R_COLS);
	results_values(r, "", &text, v);
	csv_row_n(v, R_COLS, x->out);
	return 0;
}

static int results_json_row(void *ctx, const store_results_row *r)
{
	results_ctx *x = ctx;
	FILE *out = x->out;
	char emc[32];

	stream_start(x, REPORT_JSON, NULL, 0);
	json_row_begin(&x->n, out);
	json_key("campaign", true, out);
	json_str(r->campaign, out);
	json_key_int("cell", true, r->cell, out);
	json_key_str("model", r->model, out);
	json_key_str("activation", r->activation, out);
	json_key_str("optimizer", r->optimizer, out);
	json_key_str("dataset", r->dataset, out);
	json_key_str("labels", r->labels, out);
	json_key_str("inputs", r->inputs, out);
	json_key_int("classes", true, r->classes, out);
	json_key_int("seed", true, (int64_t)r->seed, out); /* as the database holds it: signed */
	json_key_int("params", r->has_params, r->params, out);
	if (r->state == STORE_CELL_DONE && r->full) {
		snprintf(emc, sizeof emc, ">=%" PRId64, r->lo);
		json_key_str("emc", emc, out);
	} else {
		json_key_int("emc", r->state == STORE_CELL_DONE, r->lo, out);
	}
	json_key_bool("full", r->full, out);
	json_key_int("lo", true, r->lo, out);
	json_key_int("hi", r->hi != 0, r->hi, out);
	json_key_int("trials", true, r->trials, out);
	json_key_real("train_seconds", r->train_seconds, out);
	json_key_bool("unconverged", r->unconverged, out);
	json_key_real("lambda_min", r->lambda_min, out);
	json_key_real("lambda_max", r->lambda_max, out);
	json_key_str("state", store_cell_state_name(r->state), out);
	fputc('}', out);
	return 0;
}

static int results_table(store *s, const char *campaign, FILE *out, emc_err *err)
{
	results_ctx x = { .out = out };
	const char *row[RESULTS_SHOWN];
	int r;

	table_init(&x.t, RESULTS_SHOWN, "lrllllllrrrrrrrrrrl");
	for (int j = 0; j < RESULTS_SHOWN; j++)
		row[j] = results_head[results_shown[j]];
	r = table_add(&x.t, row);
	if (r == 0)
		r = store_report_results(s, campaign, results_table_row, &x, err);
	if (r >= 0) {
		table_print(&x.t, "", out);
		if (x.any_unconverged)
			fputs("* unconverged: the no-fit at n = hi ran out of budget, so the budget decided this EMC\n",
			      out);
	}
	table_deinit(&x.t);
	return r;
}

int report_results(store *s, const char *campaign, report_format fmt, FILE *out, emc_err *err)
{
	results_ctx x = { .out = out };
	int r;

	switch (fmt) {
	case REPORT_TABLE:
		r = results_table(s, campaign, out, err);
		break;
	case REPORT_CSV:
		r = store_report_results(s, campaign, results_csv_row, &x, err);
		break;
	case REPORT_JSON:
		r = store_report_results(s, campaign, results_json_row, &x, err);
		break;
	default:
		return emc_err_set(err, -EINVAL, "report: unknown format %d", (int)fmt);
	}
	r = no_campaign(oom(r, err), campaign, err);
	if (r < 0)
		return r;
	if (fmt != REPORT_TABLE)
		stream_start(&x, fmt, results_head, R_COLS);
	if (fmt == REPORT_JSON)
		json_array_end(x.n, out);
	return 0;
}

/* ---- trials --------------------------------------------------------------- */

enum { T_CAMPAIGN, T_CELL, T_MODEL, T_N, T_STATE, T_REASON, T_EPOCHS, T_STEPS, T_SECONDS, T_LOSS, T_ACCURACY,
       T_BUDGET, T_ATTEMPTS, T_LMIN, T_LMAX, T_ERROR, T_COLS };

static const char *const trials_head[T_COLS] = {
	"campaign", "cell",	"model",       "n",	   "state",	 "reason",     "epochs",     "steps",
	"train_seconds", "loss", "accuracy", "budget_used", "attempts", "lambda_min", "lambda_max", "error",
};

/* "%.4f" of the largest double has 309 digits before the point. */
#define REAL_TEXT_MAX 320

typedef struct trials_text {
	char cell[16], n[24], epochs[24], steps[24], attempts[24];
	char seconds[REAL_TEXT_MAX], loss[REAL_TEXT_MAX], accuracy[REAL_TEXT_MAX], budget[REAL_TEXT_MAX];
	char lmin[REAL_TEXT_MAX], lmax[REAL_TEXT_MAX];
} trials_text;

/* A number by SQLite's printf, or none when there is none. */
static const char *real_text(char *buf, size_t size, const char *fmt, double v, const char *none)
{
	if (isnan(v))
		return none;
	store_format_double(buf, size, fmt, v);
	return buf;
}

static void trials_values(const store_trials_row *r, const char *none, trials_text *t, const char *v[T_COLS])
{
	snprintf(t->cell, sizeof t->cell, "%d", r->cell);
	snprintf(t->n, sizeof t->n, "%" PRId64, r->n);
	snprintf(t->epochs, sizeof t->epochs, "%" PRId64, r->epochs);
	snprintf(t->steps, sizeof t->steps, "%" PRId64, r->steps);
	snprintf(t->attempts, sizeof t->attempts, "%" PRId64, r->attempts);
	v[T_CAMPAIGN] = r->campaign;
	v[T_CELL] = t->cell;
	v[T_MODEL] = or_text(r->model, none);
	v[T_N] = t->n;
	v[T_STATE] = store_trial_state_name(r->state);
	v[T_REASON] = r->reason != EMC_STOP_NONE ? emc_stop_reason_name(r->reason) : none;
	v[T_EPOCHS] = r->has_epochs ? t->epochs : none;
	v[T_STEPS] = r->has_steps ? t->steps : none;
	v[T_SECONDS] = real_text(t->seconds, sizeof t->seconds, "%.2f", r->train_seconds, none);
	v[T_LOSS] = real_text(t->loss, sizeof t->loss, "%.4g", r->loss, none);
	v[T_ACCURACY] = real_text(t->accuracy, sizeof t->accuracy, "%.4f", r->accuracy, none);
	v[T_BUDGET] = real_text(t->budget, sizeof t->budget, "%.2f", r->budget_used, none);
	v[T_ATTEMPTS] = t->attempts;
	v[T_LMIN] = real_text(t->lmin, sizeof t->lmin, "%.3g", r->hessian_min, none);
	v[T_LMAX] = real_text(t->lmax, sizeof t->lmax, "%.3g", r->hessian_max, none);
	v[T_ERROR] = or_text(r->error, none);
}

static int trials_table_row(void *ctx, const store_trials_row *r)
{
	results_ctx *x = ctx;
	trials_text text;
	const char *v[T_COLS];

	trials_values(r, "-", &text, v);
	return table_add(&x->t, v);
}

static int trials_csv_row(void *ctx, const store_trials_row *r)
{
	results_ctx *x = ctx;
	trials_text text;
	const char *v[T_COLS];

	stream_start(x, REPORT_CSV, trials_head, T_COLS);
	trials_values(r, "", &text, v);
	csv_row_n(v, T_COLS, x->out);
	return 0;
}

static int trials_json_row(void *ctx, const store_trials_row *r)
{
	results_ctx *x = ctx;
	FILE *out = x->out;

	stream_start(x, REPORT_JSON, NULL, 0);
	json_row_begin(&x->n, out);
	json_key("campaign", true, out);
	json_str(r->campaign, out);
	json_key_int("cell", true, r->cell, out);
	json_key_str("model", r->model, out);
	json_key_int("n", true, r->n, out);
	json_key_str("state", store_trial_state_name(r->state), out);
	json_key_str("reason", r->reason != EMC_STOP_NONE ? emc_stop_reason_name(r->reason) : NULL, out);
	json_key_int("epochs", r->has_epochs, r->epochs, out);
	json_key_int("steps", r->has_steps, r->steps, out);
	json_key_real("train_seconds", r->train_seconds, out);
	json_key_real("loss", r->loss, out);
	json_key_real("accuracy", r->accuracy, out);
	json_key_real("budget_used", r->budget_used, out);
	json_key_int("attempts", true, r->attempts, out);
	json_key_real("lambda_min", r->hessian_min, out);
	json_key_real("lambda_max", r->hessian_max, out);
	json_key_str("error", r->error, out);
	fputc('}', out);
	return 0;
}

int report_trials(store *s, const char *campaign, int cell, report_format fmt, FILE *out, emc_err *err)
{
	results_ctx x = { .out = out };
	int r;

	switch (fmt) {
	case REPORT_TABLE:
		table_init(&x.t, T_COLS, "lrlrllrrrrrrrrrl");
		r = table_add(&x.t, trials_head);
		if (r == 0)
			r = store_report_trials(s, campaign, cell, trials_table_row, &x, err);
		if (r >= 0)
			table_print(&x.t, "", out);
		table_deinit(&x.t);
		break;
	case REPORT_CSV:
		r = store_report_trials(s, campaign, cell, trials_csv_row, &x, err);
		break;
	case REPORT_JSON:
		r = store_report_trials(s, campaign, cell, trials_json_row, &x, err);
		break;
	default:
		return emc_err_set(err, -EINVAL, "report: unknown format %d", (int)fmt);
	}
	r = no_campaign(oom(r, err), campaign, err);
	if (r < 0)
		return r;
	if (fmt != REPORT_TABLE)
		stream_start(&x, fmt, trials_head, T_COLS);
	if (fmt == REPORT_JSON)
		json_array_end(x.n, out);
	return 0;
}
