/* report.c — emcctl's status and results, read from the database alone.
 *
 * Everything here is a query on a connection that may be read-only, so it
 * works while the coordinator runs (WAL readers see the last commit) and
 * after it stopped. Each report reads inside one savepoint, so its numbers
 * come from one snapshot even while the coordinator keeps writing. Nothing
 * here writes.
 *
 * The values of a results row are computed once, in SQL (the `rows` common
 * table expression below); the three formats only print them. JSON rows are
 * built by SQLite's json_object(), so strings are escaped by SQLite rather
 * than by hand; CSV fields are quoted as RFC 4180 says (a field holding a
 * comma, quote, CR or LF is enclosed in quotes, quotes doubled), lines end
 * in LF. Tables are padded to their widest cell, numbers right-aligned.
 *
 * An EMC is shown only for a finished cell: lo, or ">=lo" when the whole
 * allowed range fit. "Unconverged" means the no-fit at n = hi stopped on
 * its budget, so the budget, not the procedure, decided the EMC.
 */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define TERMINAL_TRIAL "('fit', 'no_fit', 'failed', 'cancelled')"

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

/* ---- helpers ------------------------------------------------------------ */

static int db_fail(sqlite3 *db, const char *what, emc_err *err)
{
	return emc_err_set(err, -EIO, "report: %s: %s", what, sqlite3_errmsg(db));
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret, emc_err *err)
{
	if (sqlite3_prepare_v2(db, sql, -1, ret, NULL) != SQLITE_OK)
		return db_fail(db, "prepare", err);
	return 0;
}

static const char *col_str(sqlite3_stmt *st, int i, const char *null_text)
{
	const char *v = (const char *)sqlite3_column_text(st, i);

	return v ? v : null_text;
}

/* Read-only snapshot: a savepoint outside a transaction begins a deferred
 * one, and nests harmlessly inside one. */
static int snapshot_begin(sqlite3 *db, emc_err *err)
{
	if (sqlite3_exec(db, "SAVEPOINT report", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, "begin", err);
	return 0;
}

static void snapshot_end(sqlite3 *db)
{
	sqlite3_exec(db, "RELEASE report", NULL, NULL, NULL);
}

/* 1 if a campaign of that name exists, 0 if not, -errno on error. */
static int campaign_exists(sqlite3 *db, const char *name, emc_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	r = prepare(db, "SELECT 1 FROM campaigns WHERE name = ?1", &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_fail(db, "find campaign", err);
	sqlite3_finalize(st);
	return r;
}

/* ---- status ------------------------------------------------------------- */

static const char status_cells_sql[] =
	"SELECT ce.idx, ce.model, ce.activation, ce.optimizer, ce.labels, ce.seed, ce.state, ce.lo, ce.hi,"
	" count(CASE WHEN t.state IN " TERMINAL_TRIAL " THEN 1 END),"
	" count(CASE WHEN t.state = 'running' THEN 1 END),"
	" count(CASE WHEN t.state = 'pending' THEN 1 END)"
	" FROM cells ce LEFT JOIN trials t ON t.cell_id = ce.id"
	" WHERE ce.campaign_id = ?1 GROUP BY ce.id ORDER BY ce.idx";

static int status_campaign(sqlite3 *db, sqlite3_stmt *cells, int64_t id, const char *name, const char *state,
			   FILE *out, emc_err *err)
{
	static const char *const head[] = { "cell",  "model", "activation", "optimizer", "labels", "seed",
					    "state", "bracket", "done",	     "running",	  "queued" };
	int64_t n_cells = 0, n_done = 0, t_done = 0, t_running = 0, t_queued = 0;
	table t;
	int rc, r;

	table_init(&t, 11, "rlllllllrrr");
	r = table_add(&t, head);
	if (r < 0)
		goto fail;
	sqlite3_bind_int64(cells, 1, id);
	while ((rc = sqlite3_step(cells)) == SQLITE_ROW) {
		char idx[24], seed[24], bracket[64], done[24], running[24], queued[24], hi[24];
		const char *cstate = col_str(cells, 6, "?");
		int64_t lo = sqlite3_column_int64(cells, 7), h = sqlite3_column_int64(cells, 8);
		const char *row[11];

		snprintf(idx, sizeof idx, "%d", sqlite3_column_int(cells, 0));
		snprintf(seed, sizeof seed, "%" PRIu64, (uint64_t)sqlite3_column_int64(cells, 5));
		if (h == 0)
			snprintf(hi, sizeof hi, "?");
		else
			snprintf(hi, sizeof hi, "%" PRId64, h);
		snprintf(bracket, sizeof bracket, "[%" PRId64 ", %s)", lo, hi);
		snprintf(done, sizeof done, "%" PRId64, (int64_t)sqlite3_column_int64(cells, 9));
		snprintf(running, sizeof running, "%" PRId64, (int64_t)sqlite3_column_int64(cells, 10));
		snprintf(queued, sizeof queued, "%" PRId64, (int64_t)sqlite3_column_int64(cells, 11));
		row[0] = idx;
		row[1] = col_str(cells, 1, "-");
		row[2] = col_str(cells, 2, "-");
		row[3] = col_str(cells, 3, "-");
		row[4] = col_str(cells, 4, "-");
		row[5] = seed;
		row[6] = cstate;
		row[7] = bracket;
		row[8] = done;
		row[9] = running;
		row[10] = queued;
		r = table_add(&t, row);
		if (r < 0)
			goto fail;
		n_cells++;
		if (strcmp(cstate, "searching") != 0)
			n_done++;
		t_done += sqlite3_column_int64(cells, 9);
		t_running += sqlite3_column_int64(cells, 10);
		t_queued += sqlite3_column_int64(cells, 11);
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(db, "read cells", err);
		goto fail;
	}
	fprintf(out,
		"campaign %s: %s, cells %" PRId64 "/%" PRId64 " done, trials %" PRId64 " done, %" PRId64
		" running, %" PRId64 " queued\n",
		name, state, n_done, n_cells, t_done, t_running, t_queued);
	if (n_cells > 0)
		table_print(&t, "  ", out);
	r = 0;
fail:
	if (r == -ENOMEM)
		emc_err_set(err, r, "report: out of memory");
	sqlite3_reset(cells);
	table_deinit(&t);
	return r;
}

int report_status(store *s, const char *campaign, FILE *out, emc_err *err)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *camps = NULL, *cells = NULL;
	int rc, r, shown = 0;

	r = snapshot_begin(db, err);
	if (r < 0)
		return r;
	r = prepare(db,
		    "SELECT id, name, state FROM campaigns WHERE ?1 IS NULL OR name = ?1 ORDER BY id", &camps,
		    err);
	if (r < 0)
		goto fail;
	r = prepare(db, status_cells_sql, &cells, err);
	if (r < 0)
		goto fail;
	if (campaign)
		sqlite3_bind_text(camps, 1, campaign, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(camps)) == SQLITE_ROW) {
		if (shown++)
			fputc('\n', out);
		r = status_campaign(db, cells, sqlite3_column_int64(camps, 0), col_str(camps, 1, "?"),
				    col_str(camps, 2, "?"), out, err);
		if (r < 0)
			goto fail;
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(db, "read campaigns", err);
		goto fail;
	}
	if (shown == 0) {
		if (campaign) {
			r = emc_err_set(err, -ENOENT, "report: no campaign named '%s'", campaign);
			goto fail;
		}
		fputs("no campaigns\n", out);
	}
	r = 0;
fail:
	sqlite3_finalize(cells);
	sqlite3_finalize(camps);
	snapshot_end(db);
	return r;
}

/* ---- results ------------------------------------------------------------ */

/* One row per cell with every value the formats print. emc is NULL until
 * the cell is done; hi and params are NULL when unknown. */
#define RESULTS_ROWS                                                                                             \
	"WITH rows AS (SELECT c.id AS campaign_id, c.name AS campaign, ce.idx AS cell, ce.model, ce.activation," \
	" ce.optimizer, coalesce(c.dataset_desc, c.dataset_name, '') AS dataset, ce.labels,"                      \
	" coalesce(ce.inputs, 'true') AS inputs, ce.classes, ce.seed, ce.params,"                                  \
	" CASE WHEN ce.state = 'done' AND ce.full THEN '>=' || ce.lo WHEN ce.state = 'done' THEN ce.lo END"      \
	"  AS emc,"                                                                                              \
	" ce.full, ce.lo, nullif(ce.hi, 0) AS hi,"                                                               \
	" (SELECT count(*) FROM trials t WHERE t.cell_id = ce.id AND t.state IN " TERMINAL_TRIAL ") AS trials,"  \
	" (SELECT total(t.train_seconds) FROM trials t WHERE t.cell_id = ce.id AND t.state IN " TERMINAL_TRIAL  \
	"  ) AS train_seconds,"                                                                                  \
	" EXISTS (SELECT 1 FROM trials t WHERE t.cell_id = ce.id AND ce.hi > 0 AND t.n = ce.hi"                  \
	"  AND t.state = 'no_fit' AND t.reason = 'budget') AS unconverged,"                                      \
	" (SELECT t.hessian_min FROM trials t WHERE t.cell_id = ce.id AND t.n = ce.lo AND t.state = 'fit')"      \
	"  AS lambda_min,"                                                                                       \
	" (SELECT t.hessian_max FROM trials t WHERE t.cell_id = ce.id AND t.n = ce.lo AND t.state = 'fit')"      \
	"  AS lambda_max,"                                                                                       \
	" ce.state"                                                                                              \
	" FROM cells ce JOIN campaigns c ON c.id = ce.campaign_id WHERE ?1 IS NULL OR c.name = ?1) "

static const char results_sql[] = RESULTS_ROWS
	"SELECT campaign, cell, model, activation, optimizer, dataset, labels, inputs, classes, seed, params, emc,"
	" lo, hi, trials, train_seconds, unconverged, lambda_min, lambda_max, state"
	" FROM rows ORDER BY campaign_id, cell";

static const char results_json_sql[] = RESULTS_ROWS
	"SELECT json_object('campaign', campaign, 'cell', cell, 'model', model, 'activation', activation,"
	" 'optimizer', optimizer, 'dataset', dataset, 'labels', labels, 'inputs', inputs, 'classes', classes,"
	" 'seed', seed, 'params', params,"
	" 'emc', emc, 'full', json(CASE WHEN full THEN 'true' ELSE 'false' END), 'lo', lo, 'hi', hi,"
	" 'trials', trials, 'train_seconds', train_seconds,"
	" 'unconverged', json(CASE WHEN unconverged THEN 'true' ELSE 'false' END),"
	" 'lambda_min', lambda_min, 'lambda_max', lambda_max, 'state', state)"
	" FROM rows ORDER BY campaign_id, cell";

enum { R_CAMPAIGN, R_CELL, R_MODEL, R_ACT, R_OPT, R_DATASET, R_LABELS, R_INPUTS, R_CLASSES, R_SEED, R_PARAMS,
       R_EMC, R_LO, R_HI, R_TRIALS, R_SECONDS, R_UNCONVERGED, R_LMIN, R_LMAX, R_STATE, R_COLS };

static const char *const results_head[R_COLS] = {
	"campaign", "cell", "model",  "activation",	"optimizer",   "dataset", "labels",
	"inputs",   "classes", "seed", "params", "emc", "lo", "hi",
	"trials",   "train_seconds", "unconverged", "lambda_min", "lambda_max", "state",
};

/* The row's values as text; NULL columns become null_text, except emc
 * which is "-" until the cell is done. */
/* Scratch for the values results_values() formats itself. */
typedef struct results_text {
	char seed[24], seconds[32], lmin[32], lmax[32];
} results_text;

static void results_values(sqlite3_stmt *st, const char *null_text, results_text *t, const char *v[R_COLS])
{
	char *seed = t->seed, *seconds = t->seconds;

	for (int j = 0; j < R_COLS; j++)
		v[j] = col_str(st, j, null_text);
	snprintf(seed, 24, "%" PRIu64, (uint64_t)sqlite3_column_int64(st, R_SEED));
	snprintf(seconds, 32, "%.2f", sqlite3_column_double(st, R_SECONDS));
	v[R_SEED] = seed;
	v[R_SECONDS] = seconds;
	v[R_EMC] = col_str(st, R_EMC, "-");
	if (sqlite3_column_type(st, R_LMIN) != SQLITE_NULL) {
		snprintf(t->lmin, sizeof t->lmin, "%.3g", sqlite3_column_double(st, R_LMIN));
		v[R_LMIN] = t->lmin;
	}
	if (sqlite3_column_type(st, R_LMAX) != SQLITE_NULL) {
		snprintf(t->lmax, sizeof t->lmax, "%.3g", sqlite3_column_double(st, R_LMAX));
		v[R_LMAX] = t->lmax;
	}
}

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

static void csv_row(const char *const *v, FILE *out)
{
	csv_row_n(v, R_COLS, out);
}

static int results_table(sqlite3 *db, sqlite3_stmt *st, FILE *out, emc_err *err)
{
	/* The table marks unconverged EMCs with '*' instead of a column. */
	static const int shown[] = { R_CAMPAIGN, R_CELL,   R_MODEL,  R_ACT, R_OPT, R_DATASET, R_LABELS,
				     R_INPUTS,	 R_CLASSES, R_SEED, R_PARAMS, R_EMC, R_LO,  R_HI,
				     R_TRIALS,	 R_SECONDS, R_LMIN, R_LMAX, R_STATE };
	enum { N = sizeof shown / sizeof shown[0] };
	const char *row[N];
	bool any_unconverged = false;
	table t;
	int rc, r;

	table_init(&t, N, "lrllllllrrrrrrrrrrl");
	for (int j = 0; j < N; j++)
		row[j] = results_head[shown[j]];
	r = table_add(&t, row);
	if (r < 0)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		results_text text;
		char emc[48];
		const char *v[R_COLS];

		results_values(st, "-", &text, v);
		if (sqlite3_column_int(st, R_UNCONVERGED) && sqlite3_column_type(st, R_EMC) != SQLITE_NULL) {
			snprintf(emc, sizeof emc, "%s*", v[R_EMC]);
			v[R_EMC] = emc;
			any_unconverged = true;
		}
		for (int j = 0; j < N; j++)
			row[j] = v[shown[j]];
		r = table_add(&t, row);
		if (r < 0)
			goto fail;
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(db, "read results", err);
		goto fail;
	}
	table_print(&t, "", out);
	if (any_unconverged)
		fputs("* unconverged: the no-fit at n = hi ran out of budget, so the budget decided this EMC\n",
		      out);
	r = 0;
fail:
	if (r == -ENOMEM)
		emc_err_set(err, r, "report: out of memory");
	table_deinit(&t);
	return r;
}

static int results_csv(sqlite3 *db, sqlite3_stmt *st, FILE *out, emc_err *err)
{
	int rc;

	csv_row(results_head, out);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		results_text text;
		const char *v[R_COLS];

		results_values(st, "", &text, v);
		csv_row(v, out);
	}
	return rc == SQLITE_DONE ? 0 : db_fail(db, "read results", err);
}

static int results_json(sqlite3 *db, sqlite3_stmt *st, FILE *out, emc_err *err)
{
	int rc, n = 0;

	fputc('[', out);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fprintf(out, "%s\n  %s", n++ ? "," : "", col_str(st, 0, "null"));
	fputs(n ? "\n]\n" : "]\n", out);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "read results", err);
}

int report_results(store *s, const char *campaign, report_format fmt, FILE *out, emc_err *err)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	int r;

	if (fmt != REPORT_TABLE && fmt != REPORT_CSV && fmt != REPORT_JSON)
		return emc_err_set(err, -EINVAL, "report: unknown format %d", (int)fmt);
	r = snapshot_begin(db, err);
	if (r < 0)
		return r;
	if (campaign) {
		r = campaign_exists(db, campaign, err);
		if (r == 0)
			r = emc_err_set(err, -ENOENT, "report: no campaign named '%s'", campaign);
		if (r < 0)
			goto fail;
	}
	r = prepare(db, fmt == REPORT_JSON ? results_json_sql : results_sql, &st, err);
	if (r < 0)
		goto fail;
	if (campaign)
		sqlite3_bind_text(st, 1, campaign, -1, SQLITE_STATIC);
	switch (fmt) {
	case REPORT_TABLE:
		r = results_table(db, st, out, err);
		break;
	case REPORT_CSV:
		r = results_csv(db, st, out, err);
		break;
	case REPORT_JSON:
		r = results_json(db, st, out, err);
		break;
	}
fail:
	sqlite3_finalize(st);
	snapshot_end(db);
	return r;
}

/* ---- trials --------------------------------------------------------------- */

/* Every trial of a campaign (or of one cell of it): how each probe ended
 * and why. The column names are the query's; the three formats print them
 * as they come. */
/* A number formatted for reading, or NULL when there is none. */
#define FMT(fmt, col) "CASE WHEN " col " IS NULL THEN NULL ELSE printf('" fmt "', " col ") END"

static const char trials_sql[] =
	"SELECT c.name AS campaign, ce.idx AS cell, ce.model, t.n, t.state, t.reason, t.epochs, t.steps,"
	" " FMT("%.2f", "t.train_seconds") " AS train_seconds, " FMT("%.4g", "t.loss") " AS loss,"
	" " FMT("%.4f", "t.accuracy") " AS accuracy, " FMT("%.2f", "t.budget_used") " AS budget_used, t.attempts,"
	" " FMT("%.3g", "t.hessian_min") " AS lambda_min, " FMT("%.3g", "t.hessian_max") " AS lambda_max,"
	" t.error"
	" FROM trials t JOIN cells ce ON ce.id = t.cell_id JOIN campaigns c ON c.id = ce.campaign_id"
	" WHERE c.name = ?1 AND (?2 < 0 OR ce.idx = ?2) ORDER BY ce.idx, t.n";

static const char trials_json_sql[] =
	"SELECT json_object('campaign', c.name, 'cell', ce.idx, 'model', ce.model, 'n', t.n, 'state', t.state,"
	" 'reason', t.reason, 'epochs', t.epochs, 'steps', t.steps, 'train_seconds', t.train_seconds,"
	" 'loss', t.loss, 'accuracy', t.accuracy, 'budget_used', t.budget_used, 'attempts', t.attempts,"
	" 'lambda_min', t.hessian_min, 'lambda_max', t.hessian_max, 'error', t.error)"
	" FROM trials t JOIN cells ce ON ce.id = t.cell_id JOIN campaigns c ON c.id = ce.campaign_id"
	" WHERE c.name = ?1 AND (?2 < 0 OR ce.idx = ?2) ORDER BY ce.idx, t.n";

#define TRIALS_COLS 16

static int trials_text(sqlite3 *db, sqlite3_stmt *st, report_format fmt, FILE *out, emc_err *err)
{
	const char *row[TRIALS_COLS];
	table t;
	int rc, r = 0;

	table_init(&t, TRIALS_COLS, "lrlrllrrrrrrrrrl");
	for (int j = 0; j < TRIALS_COLS; j++)
		row[j] = sqlite3_column_name(st, j);
	if (fmt == REPORT_CSV)
		csv_row_n(row, TRIALS_COLS, out);
	else if ((r = table_add(&t, row)) < 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int j = 0; j < TRIALS_COLS; j++)
			row[j] = col_str(st, j, fmt == REPORT_CSV ? "" : "-");
		if (fmt == REPORT_CSV) {
			csv_row_n(row, TRIALS_COLS, out);
		} else if ((r = table_add(&t, row)) < 0) {
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(db, "read trials", err);
		goto out;
	}
	if (fmt == REPORT_TABLE)
		table_print(&t, "", out);
out:
	if (r == -ENOMEM)
		emc_err_set(err, r, "report: out of memory");
	table_deinit(&t);
	return r;
}

int report_trials(store *s, const char *campaign, int cell, report_format fmt, FILE *out, emc_err *err)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	int r;

	if (fmt != REPORT_TABLE && fmt != REPORT_CSV && fmt != REPORT_JSON)
		return emc_err_set(err, -EINVAL, "report: unknown format %d", (int)fmt);
	r = snapshot_begin(db, err);
	if (r < 0)
		return r;
	r = campaign_exists(db, campaign, err);
	if (r == 0)
		r = emc_err_set(err, -ENOENT, "report: no campaign named '%s'", campaign);
	if (r < 0)
		goto fail;
	r = prepare(db, fmt == REPORT_JSON ? trials_json_sql : trials_sql, &st, err);
	if (r < 0)
		goto fail;
	sqlite3_bind_text(st, 1, campaign, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, cell);
	r = fmt == REPORT_JSON ? results_json(db, st, out, err) : trials_text(db, st, fmt, out, err);
fail:
	sqlite3_finalize(st);
	snapshot_end(db);
	return r;
}
