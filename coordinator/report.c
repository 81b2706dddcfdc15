/* report.c — emcctl's results and trials, read from the database alone.
 *
 * The store (store_report.h) runs the queries, each in one snapshot of a
 * connection that may be read-only, so a report works while the
 * coordinator runs (WAL readers see the last commit) and after it stopped,
 * and its numbers agree with each other. Here the rows are only printed
 * (format.c: tables, CSV, JSON); nothing here writes, and nothing here
 * speaks SQL. Numbers that the trials report and the JSON show go through
 * store_format_double(), SQLite's printf, whose decimal rounding differs
 * from the C library's on ties; the results table's seconds and
 * certificate use the C library's. Programs parse these outputs, so each
 * stays as it is. Every key the listed cells vary gets a column (axes.h).
 *
 * A cell is a training procedure measured over its replicate seeds; its
 * row is the measurement (docs/method.md): EMC_q, its interval, the seeds
 * the decisions used, p̂ at lo and hi as counts, the flags and the compute.
 * An EMC is shown only for a finished cell. The table writes ">=lo" when
 * the whole allowed range fit; CSV and JSON keep emc numeric and say so in
 * `full`. Flags: "*" unconverged (a deciding no-fit at hi stopped on its
 * budget, so the budget, not the procedure, decided the EMC), "p" decided
 * by plateau stops, "?" a decision taken by the pool's majority, "~" fits
 * above a decided no-fit. A cell whose trials ran on several OpenBLAS
 * kernels is warned about: its outcomes are not one kernel's.
 *
 * `trials` marks each trial on the decided path or not, recomputed here
 * from the stored outcomes with the same measurement the coordinator ran
 * (a pure function of them), so it needs nothing but the database.
 */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "axes.h"
#include "format.h"
#include "measure.h"
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

static const char *or_text(const char *v, const char *none)
{
	return v ? v : none;
}

/* ---- results ------------------------------------------------------------ */

enum { R_CAMPAIGN, R_CELL, R_MODEL, R_ACT, R_OPT, R_DATASET, R_LABELS, R_INPUTS, R_CLASSES, R_SEEDS, R_PARAMS,
       R_EMC, R_FULL, R_EMC_LOW, R_EMC_HIGH, R_LO, R_HI, R_SEEDS_USED, R_LO_FITS, R_LO_TOTAL, R_HI_FITS,
       R_HI_TOTAL, R_HI_PLATEAU, R_HI_GRADNORM, R_HI_BUDGET, R_UNCONVERGED, R_PLATEAU, R_UNCERTAIN, R_NONMONO,
       R_TRIALS, R_CONSUMED, R_GRADS, R_SECONDS, R_KERNELS, R_LMIN, R_LMAX, R_STATE, R_COLS };

static const char *const results_head[R_COLS] = {
	"campaign",   "cell",	      "model",	     "activation", "optimizer",	 "dataset",	"labels",
	"inputs",     "classes",      "seeds",	     "params",	   "emc",	 "full",	"emc_low",
	"emc_high",   "lo",	      "hi",	     "seeds_used", "lo_fits",	 "lo_total",	"hi_fits",
	"hi_total",   "hi_plateau",   "hi_gradnorm", "hi_budget",  "unconverged", "plateau_decided", "uncertain",
	"nonmonotone", "trials",      "trials_consumed", "sample_grads", "train_seconds", "blas_cores",
	"lambda_min", "lambda_max",   "state",
};

/* Scratch for the values results_values() formats. */
typedef struct results_text {
	char cell[16], classes[24], seeds[24], params[24], emc[32], low[24], high[24], lo[24], hi[24], trials[24];
	char seconds[32], used[16], lo_fits[16], lo_total[16], hi_fits[16], hi_total[16], plateau[16], gradnorm[16];
	char budget[16], uncertain[16], nonmono[16], consumed[16], grads[24], kernels[16], lmin[32], lmax[32];
} results_text;

/* The row's values as text; what is not recorded becomes none, except emc,
 * which is "-" until the cell is done. emc is a number here: the table
 * adds ">=" and its flags itself. */
static void results_values(const store_results_row *r, const char *none, results_text *t, const char *v[R_COLS])
{
	snprintf(t->cell, sizeof t->cell, "%d", r->cell);
	snprintf(t->classes, sizeof t->classes, "%" PRId64, r->classes);
	snprintf(t->seeds, sizeof t->seeds, "%d", r->n_seeds);
	snprintf(t->params, sizeof t->params, "%" PRId64, r->params);
	snprintf(t->emc, sizeof t->emc, "%" PRId64, r->lo);
	snprintf(t->low, sizeof t->low, "%" PRId64, r->emc_low);
	snprintf(t->high, sizeof t->high, "%" PRId64, r->emc_high);
	snprintf(t->lo, sizeof t->lo, "%" PRId64, r->lo);
	snprintf(t->hi, sizeof t->hi, "%" PRId64, r->hi);
	snprintf(t->used, sizeof t->used, "%d", r->seeds_used);
	snprintf(t->lo_fits, sizeof t->lo_fits, "%d", r->lo_fits);
	snprintf(t->lo_total, sizeof t->lo_total, "%d", r->lo_total);
	snprintf(t->hi_fits, sizeof t->hi_fits, "%d", r->hi_fits);
	snprintf(t->hi_total, sizeof t->hi_total, "%d", r->hi_total);
	snprintf(t->plateau, sizeof t->plateau, "%d", r->hi_plateau);
	snprintf(t->gradnorm, sizeof t->gradnorm, "%d", r->hi_gradnorm);
	snprintf(t->budget, sizeof t->budget, "%d", r->hi_budget);
	snprintf(t->uncertain, sizeof t->uncertain, "%d", r->uncertain);
	snprintf(t->nonmono, sizeof t->nonmono, "%d", r->nonmonotone);
	snprintf(t->consumed, sizeof t->consumed, "%d", r->trials_consumed);
	snprintf(t->trials, sizeof t->trials, "%" PRId64, r->trials);
	snprintf(t->grads, sizeof t->grads, "%" PRId64, r->sample_grads);
	snprintf(t->seconds, sizeof t->seconds, "%.2f", r->train_seconds);
	snprintf(t->kernels, sizeof t->kernels, "%d", r->blas_cores);
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
	v[R_SEEDS] = t->seeds;
	v[R_PARAMS] = r->has_params ? t->params : none;
	v[R_EMC] = r->state == STORE_CELL_DONE ? t->emc : "-";
	v[R_FULL] = r->full ? "1" : "0";
	v[R_EMC_LOW] = r->has_interval ? t->low : none;
	v[R_EMC_HIGH] = r->has_interval ? t->high : none;
	v[R_LO] = t->lo;
	v[R_HI] = r->hi != 0 ? t->hi : none;
	v[R_SEEDS_USED] = t->used;
	v[R_LO_FITS] = t->lo_fits;
	v[R_LO_TOTAL] = t->lo_total;
	v[R_HI_FITS] = t->hi_fits;
	v[R_HI_TOTAL] = t->hi_total;
	v[R_HI_PLATEAU] = t->plateau;
	v[R_HI_GRADNORM] = t->gradnorm;
	v[R_HI_BUDGET] = t->budget;
	v[R_UNCONVERGED] = r->unconverged ? "1" : "0";
	v[R_PLATEAU] = r->plateau_decided ? "1" : "0";
	v[R_UNCERTAIN] = t->uncertain;
	v[R_NONMONO] = t->nonmono;
	v[R_TRIALS] = t->trials;
	v[R_CONSUMED] = t->consumed;
	v[R_GRADS] = t->grads;
	v[R_SECONDS] = t->seconds;
	v[R_KERNELS] = t->kernels;
	v[R_LMIN] = isnan(r->lambda_min) ? none : t->lmin;
	v[R_LMAX] = isnan(r->lambda_max) ? none : t->lmax;
	v[R_STATE] = store_cell_state_name(r->state);
}

typedef struct results_ctx {
	FILE *out;
	table t;
	axes ax;	/* the keys the printed cells vary, as columns */
	bool flags[4];  /* a "*", "p", "?", "~" was shown */
	char *mixed;    /* the cells whose trials ran on several kernels, as text */
	bool started;   /* the CSV header or the JSON '[' is out */
	int n;          /* JSON rows written */
} results_ctx;

/* ---- the varying axes as columns ---------------------------------------------
 *
 * A view's fixed columns, with one column per key its cells vary spliced
 * in at `at` (after the columns that name the cell, before the numbers).
 * The head row names each by its spec key. */

#define AXIS_TEXT 96
#define MAX_COLS  (64 + EMC_CELL_MAX_FIELDS)

typedef struct axis_text {
	char v[EMC_CELL_MAX_FIELDS][AXIS_TEXT];
} axis_text;

/* c NULL: the head row. Returns the row's length. */
static int splice(const char *const *fixed, int n_fixed, int at, const axes *a, const emc_cell_cfg *c, const char *none,
		  axis_text *t, const char **out)
{
	int k = 0;

	for (int j = 0; j < at; j++)
		out[k++] = fixed[j];
	for (int j = 0; j < a->n_cols; j++) {
		const char *v = c ? axes_value(a->col[j], c, t->v[j], AXIS_TEXT) : a->col[j]->key;

		out[k++] = v ? v : none;
	}
	for (int j = at; j < n_fixed; j++)
		out[k++] = fixed[j];
	return k;
}

static void splice_align(const char *fixed, int at, const axes *a, char *out)
{
	size_t n = strlen(fixed);

	memcpy(out, fixed, (size_t)at);
	memset(out + at, 'l', (size_t)a->n_cols);
	memcpy(out + at + a->n_cols, fixed + at, n - (size_t)at + 1);
}

/* CSV and JSON stream their rows, and begin with the first (or at the end
 * when there is none), so that a refusal prints nothing. The CSV head has
 * the axis columns spliced in at `at`. */
static void stream_start(results_ctx *x, report_format fmt, const char *const *csv_head, int cols, int at)
{
	const char *head[MAX_COLS];
	axis_text unused;

	if (x->started)
		return;
	x->started = true;
	if (fmt == REPORT_CSV)
		csv_row_n(head, splice(csv_head, cols, at, &x->ax, NULL, "", &unused, head), x->out);
	else
		fputc('[', x->out);
}

/* The table: the measurement in a few columns, its flags as marks. */
enum { S_CAMPAIGN, S_CELL, S_MODEL, S_ACT, S_OPT, S_DATASET, S_LABELS, S_INPUTS, S_CLASSES, S_PARAMS, S_SEEDS,
       S_EMC, S_INTERVAL, S_HI, S_P_LO, S_P_HI, S_FLAGS, S_TRIALS, S_GRADS, S_SECONDS, S_STATE, S_COLS };

/* The axis columns go before params. */
#define S_AXES S_PARAMS
#define R_AXES R_PARAMS
/* What the results and trials rows show in their own columns. */
static const char *const results_shown[] = {"model", "activation", "optimizer", "labels", "inputs", "classes", NULL};
static const char *const trials_shown[] = {"model", NULL};

static const char *const shown_head[S_COLS] = {
	"campaign", "cell",   "model",	  "activation", "optimizer", "dataset", "labels",
	"inputs",   "classes", "params", "seeds",	"emc",	     "interval", "hi",
	"p_lo",	    "p_hi",   "flags",	  "trials",	"sample_grads", "train_seconds", "state",
};

/* Remember a cell whose trials ran on several kernels, for the warning. */
static int note_mixed(results_ctx *x, const store_results_row *r)
{
	size_t len = x->mixed ? strlen(x->mixed) : 0;
	int need = snprintf(NULL, 0, "%s%s/%d", len ? ", " : "", r->campaign, r->cell);
	char *m = realloc(x->mixed, len + (size_t)need + 1);

	if (!m)
		return -ENOMEM;
	snprintf(m + len, (size_t)need + 1, "%s%s/%d", len ? ", " : "", r->campaign, r->cell);
	x->mixed = m;
	return 0;
}

static int results_table_row(void *ctx, const store_results_row *r)
{
	static const char marks[4] = { '*', 'p', '?', '~' };
	results_ctx *x = ctx;
	results_text text;
	char emc[48], interval[64], seeds[32], p_lo[32], p_hi[32], flags[8];
	const char *v[R_COLS], *row[S_COLS], *spliced[MAX_COLS];
	axis_text axis;
	bool on[4] = { r->unconverged, r->plateau_decided, r->uncertain > 0, r->nonmonotone > 0 };
	bool done = r->state == STORE_CELL_DONE;
	int nf = 0;

	results_values(r, "-", &text, v);
	for (int i = 0; i < 4; i++)
		if (on[i] && done) {
			flags[nf++] = marks[i];
			x->flags[i] = true;
		}
	flags[nf] = '\0';
	snprintf(emc, sizeof emc, "%s%s%s", done && r->full ? ">=" : "", v[R_EMC], done && r->unconverged ? "*" : "");
	if (r->has_interval && done)
		snprintf(interval, sizeof interval, "[%" PRId64 ", %s%" PRId64 "]", r->emc_low, r->full ? ">=" : "",
			 r->emc_high);
	else
		snprintf(interval, sizeof interval, "-");
	snprintf(seeds, sizeof seeds, "%d/%d", r->seeds_used, r->n_seeds);
	snprintf(p_lo, sizeof p_lo, "%d/%d", r->lo_fits, r->lo_total);
	snprintf(p_hi, sizeof p_hi, "%d/%d", r->hi_fits, r->hi_total);
	if (r->blas_cores > 1 && note_mixed(x, r) < 0)
		return -ENOMEM;
	row[S_CAMPAIGN] = v[R_CAMPAIGN];
	row[S_CELL] = v[R_CELL];
	row[S_MODEL] = v[R_MODEL];
	row[S_ACT] = v[R_ACT];
	row[S_OPT] = v[R_OPT];
	row[S_DATASET] = v[R_DATASET];
	row[S_LABELS] = v[R_LABELS];
	row[S_INPUTS] = v[R_INPUTS];
	row[S_CLASSES] = v[R_CLASSES];
	row[S_PARAMS] = v[R_PARAMS];
	row[S_SEEDS] = seeds;
	row[S_EMC] = emc;
	row[S_INTERVAL] = interval;
	row[S_HI] = v[R_HI];
	row[S_P_LO] = r->lo_total ? p_lo : "-";
	row[S_P_HI] = r->hi_total ? p_hi : "-";
	row[S_FLAGS] = nf ? flags : "-";
	row[S_TRIALS] = v[R_TRIALS];
	row[S_GRADS] = v[R_GRADS];
	row[S_SECONDS] = v[R_SECONDS];
	row[S_STATE] = v[R_STATE];
	splice(row, S_COLS, S_AXES, &x->ax, &r->cfg, "-", &axis, spliced);
	return table_add(&x->t, spliced);
}

static int results_csv_row(void *ctx, const store_results_row *r)
{
	results_ctx *x = ctx;
	results_text text;
	axis_text axis;
	const char *v[R_COLS], *row[MAX_COLS];

	stream_start(x, REPORT_CSV, results_head, R_COLS, R_AXES);
	results_values(r, "", &text, v);
	csv_row_n(row, splice(v, R_COLS, R_AXES, &x->ax, &r->cfg, "", &axis, row), x->out);
	return 0;
}

static int results_json_row(void *ctx, const store_results_row *r)
{
	results_ctx *x = ctx;
	FILE *out = x->out;
	bool done = r->state == STORE_CELL_DONE;

	stream_start(x, REPORT_JSON, NULL, 0, 0);
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
	json_key_int("seeds", true, r->n_seeds, out);
	json_key_int("params", r->has_params, r->params, out);
	json_key_int("emc", done, r->lo, out);
	json_key_bool("full", r->full, out);
	json_key_int("emc_low", r->has_interval, r->emc_low, out);
	json_key_int("emc_high", r->has_interval, r->emc_high, out);
	json_key_int("lo", true, r->lo, out);
	json_key_int("hi", r->hi != 0, r->hi, out);
	json_key_int("seeds_used", true, r->seeds_used, out);
	json_key_int("lo_fits", true, r->lo_fits, out);
	json_key_int("lo_total", true, r->lo_total, out);
	json_key_int("hi_fits", true, r->hi_fits, out);
	json_key_int("hi_total", true, r->hi_total, out);
	json_key_int("hi_plateau", true, r->hi_plateau, out);
	json_key_int("hi_gradnorm", true, r->hi_gradnorm, out);
	json_key_int("hi_budget", true, r->hi_budget, out);
	json_key_bool("unconverged", r->unconverged, out);
	json_key_bool("plateau_decided", r->plateau_decided, out);
	json_key_int("uncertain", true, r->uncertain, out);
	json_key_int("nonmonotone", true, r->nonmonotone, out);
	json_key_int("trials", true, r->trials, out);
	json_key_int("trials_consumed", true, r->trials_consumed, out);
	json_key_int("sample_grads", true, r->sample_grads, out);
	json_key_real("train_seconds", r->train_seconds, out);
	json_key_int("blas_cores", true, r->blas_cores, out);
	json_key_real("lambda_min", r->lambda_min, out);
	json_key_real("lambda_max", r->lambda_max, out);
	json_key_str("state", store_cell_state_name(r->state), out);
	json_key("config", false, out);
	axes_json_config(&r->cfg, out);
	fputc('}', out);
	return 0;
}

static void results_legend(const results_ctx *x, FILE *out)
{
	static const char *const legend[4] = {
		"* unconverged: a deciding no-fit at n = hi ran out of budget, so the budget decided this EMC\n",
		"p plateau: a deciding no-fit at n = hi stopped on a loss plateau\n",
		"? uncertain: a decision was the pool's majority when its seeds ran out\n",
		"~ non-monotone: seeds fitted sizes above a size decided not to fit\n",
	};

	for (int i = 0; i < 4; i++)
		if (x->flags[i])
			fputs(legend[i], out);
	if (x->mixed)
		fprintf(out, "warning: cell(s) %s ran on several OpenBLAS kernels; their outcomes are not one kernel's\n",
			x->mixed);
}

static int results_table(store *s, const char *campaign, results_ctx *x, emc_err *err)
{
	static const char fixed_align[] = "lrllllllrrrrlrrrlrrrl";
	char align[MAX_COLS + 1];
	const char *head[MAX_COLS];
	axis_text unused;
	int r;

	splice_align(fixed_align, S_AXES, &x->ax, align);
	table_init(&x->t, S_COLS + x->ax.n_cols, align);
	splice(shown_head, S_COLS, S_AXES, &x->ax, NULL, "", &unused, head);
	r = table_add(&x->t, head);
	if (r == 0)
		r = store_report_results(s, campaign, results_table_row, x, err);
	if (r >= 0)
		r = table_print(&x->t, "", x->out);
	if (r >= 0)
		results_legend(x, x->out);
	table_deinit(&x->t);
	free(x->mixed);
	return r;
}

static int axes_note_result(void *ctx, const store_results_row *r)
{
	axes_add(ctx, &r->cfg);
	return 0;
}

/* Both passes read one snapshot: the columns are those of the rows printed. */
static int results_walk(store *s, const char *campaign, report_format fmt, results_ctx *x, emc_err *err)
{
	int r = store_report_snapshot_begin(s, err);

	if (r < 0)
		return r;
	axes_init(&x->ax);
	r = store_report_results(s, campaign, axes_note_result, &x->ax, err);
	axes_columns(&x->ax, results_shown);
	if (r >= 0 && fmt == REPORT_TABLE)
		r = results_table(s, campaign, x, err);
	else if (r >= 0)
		r = store_report_results(s, campaign, fmt == REPORT_CSV ? results_csv_row : results_json_row, x, err);
	store_report_snapshot_end(s);
	return r;
}

int report_results(store *s, const char *campaign, report_format fmt, FILE *out, emc_err *err)
{
	results_ctx x = { .out = out };
	int r;

	if (fmt != REPORT_TABLE && fmt != REPORT_CSV && fmt != REPORT_JSON)
		return emc_err_set(err, -EINVAL, "report: unknown format %d", (int)fmt);
	r = no_campaign(oom(results_walk(s, campaign, fmt, &x, err), err), campaign, err);
	if (r < 0)
		return r;
	if (fmt != REPORT_TABLE)
		stream_start(&x, fmt, results_head, R_COLS, R_AXES);
	if (fmt == REPORT_JSON)
		json_array_end(x.n, out);
	return 0;
}

/* ---- trials --------------------------------------------------------------- */

enum { T_CAMPAIGN, T_CELL, T_MODEL, T_N, T_SEED_INDEX, T_SEED, T_STATE, T_ON_PATH, T_REASON, T_EPOCHS, T_STEPS,
       T_SECONDS, T_GRADS, T_LOSS, T_ACCURACY, T_BUDGET, T_ATTEMPTS, T_LMIN, T_LMAX, T_HOST, T_KERNEL, T_ERROR,
       T_COLS };

/* The axis columns go after the model. */
#define T_AXES T_N

static const char *const trials_head[T_COLS] = {
	"campaign", "cell",	    "model",	"n",	      "seed_index", "seed",	  "state",    "on_path",
	"reason",   "epochs",	    "steps",	"train_seconds", "sample_grads", "loss",	  "accuracy", "budget_used",
	"attempts", "lambda_min", "lambda_max", "host",	      "blas_core",  "error",
};

/* "%.4f" of the largest double has 309 digits before the point. */
#define REAL_TEXT_MAX 320

typedef struct trials_text {
	char cell[16], n[24], seed_index[16], seed[24], epochs[24], steps[24], attempts[24], grads[24];
	char seconds[REAL_TEXT_MAX], loss[REAL_TEXT_MAX], accuracy[REAL_TEXT_MAX], budget[REAL_TEXT_MAX];
	char lmin[REAL_TEXT_MAX], lmax[REAL_TEXT_MAX];
} trials_text;

/* The decided paths of a campaign's cells, recomputed from their stored
 * outcomes: one measurement per cell index that has trials. */
typedef struct paths {
	measure **m; /* (cap) by cell index; NULL: no trials, or not measurable */
	int cap;
	axes *ax; /* the trials' cells, noted once each */
	int last_cell;
} paths;

static void paths_deinit(paths *p)
{
	for (int i = 0; i < p->cap; i++)
		measure_destroy(&p->m[i]);
	free(p->m);
	p->m = NULL;
	p->cap = 0;
}

/* First pass: every terminal outcome into its cell's measurement. */
static int paths_collect(void *ctx, const store_trials_row *r)
{
	paths *p = ctx;
	measure_outcome mo;

	if (r->cell < 0)
		return 0;
	if (r->cell != p->last_cell)
		axes_add(p->ax, &r->cfg);
	p->last_cell = r->cell;
	if (r->cell >= p->cap) {
		int cap = r->cell + 64;
		measure **m = realloc(p->m, (size_t)cap * sizeof *m);

		if (!m)
			return -ENOMEM;
		memset(m + p->cap, 0, (size_t)(cap - p->cap) * sizeof *m);
		p->m = m;
		p->cap = cap;
	}
	if (!p->m[r->cell]) {
		measure_config cfg;

		campaign_measure_config(&r->search, r->n_total, r->n_seeds, &cfg);
		if (measure_new(&cfg, &p->m[r->cell]) < 0)
			return 0; /* shown as unknown */
	}
	if (campaign_trial_outcome(r->state, r->reason, &mo))
		measure_record(p->m[r->cell], r->n, r->seed_index, mo);
	return 0;
}

/* "yes" / "no" for a terminal trial, NULL (unknown) otherwise. */
static const char *on_path(const paths *p, const store_trials_row *r)
{
	if (!store_trial_state_terminal(r->state) || r->cell < 0 || r->cell >= p->cap || !p->m[r->cell])
		return NULL;
	return measure_on_path(p->m[r->cell], r->n, r->seed_index) ? "yes" : "no";
}

/* A number by SQLite's printf, or none when there is none. */
static const char *real_text(char *buf, size_t size, const char *fmt, double v, const char *none)
{
	if (isnan(v))
		return none;
	store_format_double(buf, size, fmt, v);
	return buf;
}

static void trials_values(const store_trials_row *r, const paths *p, const char *none, trials_text *t,
			  const char *v[T_COLS])
{
	const char *path = on_path(p, r);

	snprintf(t->cell, sizeof t->cell, "%d", r->cell);
	snprintf(t->n, sizeof t->n, "%" PRId64, r->n);
	snprintf(t->seed_index, sizeof t->seed_index, "%d", r->seed_index);
	snprintf(t->seed, sizeof t->seed, "%" PRIu64, r->seed);
	snprintf(t->epochs, sizeof t->epochs, "%" PRId64, r->epochs);
	snprintf(t->steps, sizeof t->steps, "%" PRId64, r->steps);
	snprintf(t->attempts, sizeof t->attempts, "%" PRId64, r->attempts);
	snprintf(t->grads, sizeof t->grads, "%" PRId64, r->sample_grads);
	v[T_CAMPAIGN] = r->campaign;
	v[T_CELL] = t->cell;
	v[T_MODEL] = or_text(r->model, none);
	v[T_N] = t->n;
	v[T_SEED_INDEX] = t->seed_index;
	v[T_SEED] = t->seed;
	v[T_STATE] = store_trial_state_name(r->state);
	v[T_ON_PATH] = or_text(path, none);
	v[T_REASON] = r->reason != EMC_STOP_NONE ? emc_stop_reason_name(r->reason) : none;
	v[T_EPOCHS] = r->has_epochs ? t->epochs : none;
	v[T_STEPS] = r->has_steps ? t->steps : none;
	v[T_SECONDS] = real_text(t->seconds, sizeof t->seconds, "%.2f", r->train_seconds, none);
	v[T_GRADS] = r->has_sample_grads ? t->grads : none;
	v[T_LOSS] = real_text(t->loss, sizeof t->loss, "%.4g", r->loss, none);
	v[T_ACCURACY] = real_text(t->accuracy, sizeof t->accuracy, "%.4f", r->accuracy, none);
	v[T_BUDGET] = real_text(t->budget, sizeof t->budget, "%.2f", r->budget_used, none);
	v[T_ATTEMPTS] = t->attempts;
	v[T_LMIN] = real_text(t->lmin, sizeof t->lmin, "%.3g", r->hessian_min, none);
	v[T_LMAX] = real_text(t->lmax, sizeof t->lmax, "%.3g", r->hessian_max, none);
	v[T_HOST] = or_text(r->host, none);
	v[T_KERNEL] = or_text(r->blas_core, none);
	v[T_ERROR] = or_text(r->error, none);
}

typedef struct trials_ctx {
	results_ctx x;
	paths p;
	char align[MAX_COLS + 1];
} trials_ctx;

static int trials_table_begin(trials_ctx *c);

static int trials_table_row(void *ctx, const store_trials_row *r)
{
	trials_ctx *c = ctx;
	trials_text text;
	axis_text axis;
	const char *v[T_COLS], *row[MAX_COLS];

	trials_values(r, &c->p, "-", &text, v);
	splice(v, T_COLS, T_AXES, &c->x.ax, &r->cfg, "-", &axis, row);
	return table_add(&c->x.t, row);
}

static int trials_csv_row(void *ctx, const store_trials_row *r)
{
	trials_ctx *c = ctx;
	trials_text text;
	axis_text axis;
	const char *v[T_COLS], *row[MAX_COLS];

	stream_start(&c->x, REPORT_CSV, trials_head, T_COLS, T_AXES);
	trials_values(r, &c->p, "", &text, v);
	csv_row_n(row, splice(v, T_COLS, T_AXES, &c->x.ax, &r->cfg, "", &axis, row), c->x.out);
	return 0;
}

static int trials_json_row(void *ctx, const store_trials_row *r)
{
	trials_ctx *c = ctx;
	FILE *out = c->x.out;
	const char *path = on_path(&c->p, r);

	stream_start(&c->x, REPORT_JSON, NULL, 0, 0);
	json_row_begin(&c->x.n, out);
	json_key("campaign", true, out);
	json_str(r->campaign, out);
	json_key_int("cell", true, r->cell, out);
	json_key_str("model", r->model, out);
	json_key_int("n", true, r->n, out);
	json_key_int("seed_index", true, r->seed_index, out);
	json_key_int("seed", true, (int64_t)r->seed, out); /* as the database holds it: signed */
	json_key_str("state", store_trial_state_name(r->state), out);
	json_key("on_path", false, out);
	fputs(path ? (path[0] == 'y' ? "true" : "false") : "null", out);
	json_key_str("reason", r->reason != EMC_STOP_NONE ? emc_stop_reason_name(r->reason) : NULL, out);
	json_key_int("epochs", r->has_epochs, r->epochs, out);
	json_key_int("steps", r->has_steps, r->steps, out);
	json_key_real("train_seconds", r->train_seconds, out);
	json_key_int("sample_grads", r->has_sample_grads, r->sample_grads, out);
	json_key_real("loss", r->loss, out);
	json_key_real("accuracy", r->accuracy, out);
	json_key_real("budget_used", r->budget_used, out);
	json_key_int("attempts", true, r->attempts, out);
	json_key_real("lambda_min", r->hessian_min, out);
	json_key_real("lambda_max", r->hessian_max, out);
	json_key_str("host", r->host, out);
	json_key_str("blas_core", r->blas_core, out);
	json_key_str("error", r->error, out);
	json_key("config", false, out);
	axes_json_config(&r->cfg, out);
	fputc('}', out);
	return 0;
}

/* Both passes read one snapshot, so the paths match the rows printed. */
static int trials_walk(store *s, const char *campaign, int cell, report_format fmt, trials_ctx *c, emc_err *err)
{
	store_trials_fn fn = fmt == REPORT_CSV ? trials_csv_row : fmt == REPORT_JSON ? trials_json_row : trials_table_row;
	int r = store_report_snapshot_begin(s, err);

	if (r < 0)
		return r;
	axes_init(&c->x.ax);
	c->p.ax = &c->x.ax;
	c->p.last_cell = -1;
	r = store_report_trials(s, campaign, cell, paths_collect, &c->p, err);
	axes_columns(&c->x.ax, trials_shown);
	if (r >= 0 && fmt == REPORT_TABLE)
		r = trials_table_begin(c);
	if (r >= 0)
		r = store_report_trials(s, campaign, cell, fn, c, err);
	store_report_snapshot_end(s);
	return r;
}

static int trials_table_begin(trials_ctx *c)
{
	static const char fixed_align[] = "lrlrrrllrrrrrrrrrrrlll";
	const char *head[MAX_COLS];
	axis_text unused;

	splice_align(fixed_align, T_AXES, &c->x.ax, c->align);
	table_init(&c->x.t, T_COLS + c->x.ax.n_cols, c->align);
	splice(trials_head, T_COLS, T_AXES, &c->x.ax, NULL, "", &unused, head);
	return table_add(&c->x.t, head);
}

int report_trials(store *s, const char *campaign, int cell, report_format fmt, FILE *out, emc_err *err)
{
	trials_ctx c = { .x = { .out = out } };
	int r;

	if (fmt != REPORT_TABLE && fmt != REPORT_CSV && fmt != REPORT_JSON)
		return emc_err_set(err, -EINVAL, "report: unknown format %d", (int)fmt);
	r = trials_walk(s, campaign, cell, fmt, &c, err);
	if (r >= 0 && fmt == REPORT_TABLE)
		r = table_print(&c.x.t, "", out);
	table_deinit(&c.x.t);
	paths_deinit(&c.p);
	r = no_campaign(oom(r, err), campaign, err);
	if (r < 0)
		return r;
	if (fmt != REPORT_TABLE)
		stream_start(&c.x, fmt, trials_head, T_COLS, T_AXES);
	if (fmt == REPORT_JSON)
		json_array_end(c.x.n, out);
	return 0;
}

/* ---- workers ------------------------------------------------------------- */

/* Unlike the views above, this list comes from a running coordinator (a
 * control reply), not from the database: who is connected is memory, not
 * a record. The same three formats, the same column names in each. */

enum { W_ID, W_HOST, W_SLOTS, W_BUSY, W_HEARTBEAT, W_TRIALS, W_KERNEL, W_COLS };

static const char *const workers_head[W_COLS] = {
	"worker", "host", "slots", "busy", "last_heartbeat_s", "trials_done", "blas_core",
};

typedef struct workers_text {
	char id[24], slots[16], busy[16], heartbeat[32], trials[24];
} workers_text;

/* aligned: for the aligned table (tenths of seconds, "-" for none), else CSV. */
static void workers_values(const wire_worker_info *w, bool aligned, workers_text *t, const char *v[W_COLS])
{
	snprintf(t->id, sizeof t->id, "%" PRIu64, w->id);
	snprintf(t->slots, sizeof t->slots, "%" PRIu32, w->slots);
	snprintf(t->busy, sizeof t->busy, "%" PRIu32, w->busy);
	/* The table shows tenths, as a person reads it; CSV the milliseconds sent. */
	snprintf(t->heartbeat, sizeof t->heartbeat, aligned ? "%.1f" : "%.3f",
		 (double)w->last_heartbeat_ms_ago / 1000.0);
	snprintf(t->trials, sizeof t->trials, "%" PRIu64, w->trials_done);
	v[W_ID] = t->id;
	v[W_HOST] = w->host;
	v[W_SLOTS] = t->slots;
	v[W_BUSY] = t->busy;
	v[W_HEARTBEAT] = t->heartbeat;
	v[W_TRIALS] = t->trials;
	v[W_KERNEL] = w->blas_core[0] ? w->blas_core : aligned ? "-" : "";
}

static void workers_json(const wire_worker_info *w, size_t n, FILE *out)
{
	int rows = 0;

	fputc('[', out);
	for (size_t i = 0; i < n; i++) {
		json_row_begin(&rows, out);
		/* ids are unsigned on the wire; JSON readers want them as numbers */
		json_key("worker", true, out);
		fprintf(out, "%" PRIu64, w[i].id);
		json_key_str("host", w[i].host, out);
		json_key_int("slots", true, w[i].slots, out);
		json_key_int("busy", true, w[i].busy, out);
		json_key_real("last_heartbeat_s", (double)w[i].last_heartbeat_ms_ago / 1000.0, out);
		json_key("trials_done", false, out);
		fprintf(out, "%" PRIu64, w[i].trials_done);
		json_key_str("blas_core", w[i].blas_core[0] ? w[i].blas_core : NULL, out);
		fputc('}', out);
	}
	json_array_end(rows, out);
}

int report_workers(const wire_worker_info *w, size_t n, report_format fmt, FILE *out, emc_err *err)
{
	workers_text text;
	const char *v[W_COLS];
	table t;
	int r = 0;

	if (fmt == REPORT_JSON) {
		workers_json(w, n, out);
		return 0;
	}
	if (fmt == REPORT_CSV) {
		csv_row_n(workers_head, W_COLS, out);
		for (size_t i = 0; i < n; i++) {
			workers_values(&w[i], false, &text, v);
			csv_row_n(v, W_COLS, out);
		}
		return 0;
	}
	if (fmt != REPORT_TABLE)
		return emc_err_set(err, -EINVAL, "report: unknown format %d", (int)fmt);
	table_init(&t, W_COLS, "rlrrrrl");
	r = table_add(&t, workers_head);
	for (size_t i = 0; r == 0 && i < n; i++) {
		workers_values(&w[i], true, &text, v);
		r = table_add(&t, v);
	}
	if (r == 0)
		table_print(&t, "", out);
	table_deinit(&t);
	return oom(r, err);
}
