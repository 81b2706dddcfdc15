/* store_provenance.c — the provenance of a campaign, read for its report.
 *
 * Part of the store (its SQL lives with store.c's), read-only, run once
 * per `emcctl report`, so the statement is prepared for the call. The
 * distinct values a campaign's trials recorded (emc version, host, BLAS
 * kernel and threads) are listed in SQL, each sorted, so that a report of
 * the same database always reads the same. Everything is read inside one
 * snapshot (store_report_snapshot_begin): the provenance then agrees with
 * the summary read beside it while a coordinator keeps writing.
 */
#include "store_provenance.h"

#include <errno.h>
#include <stdio.h>

#include "store_priv.h"
#include "store_report.h"

/* The distinct values of one trials expression for campaign c, sorted. */
#define DISTINCT_LIST(expr)                                                                                            \
	"(SELECT group_concat(v, ', ') FROM (SELECT DISTINCT " expr " AS v FROM trials t"                              \
	" JOIN cells ce ON ce.id = t.cell_id WHERE ce.campaign_id = c.id AND " expr " IS NOT NULL ORDER BY 1))"

static const char provenance_sql[] =
    "SELECT c.name, c.spec_text, c.spec_hash, coalesce(c.dataset_desc, c.dataset_name), hex(c.dataset_hash),"
    " c.created_at, c.finished_at, " DISTINCT_LIST("t.emc_version") ", " DISTINCT_LIST("t.host") ", " DISTINCT_LIST(
	"t.blas_core || ' x ' || t.blas_threads") ","
						  " (SELECT count(*) FROM trials t JOIN cells ce ON ce.id = t.cell_id"
						  "  WHERE ce.campaign_id = c.id AND t.state IN (" SQL_STATE(
						      TRIAL,
						      FIT) ", " SQL_STATE(TRIAL,
									  NO_FIT) "))"
										  " FROM campaigns c WHERE ?1 IS NULL "
										  "OR c.name = ?1 ORDER BY c.id";

#define COL_TEXT(st, i) ((const char *)sqlite3_column_text((st), (i)))

static void row_read(sqlite3_stmt *st, store_provenance_row *r)
{
	const char *hash = COL_TEXT(st, 4);

	*r = (store_provenance_row){
	    .name = COL_TEXT(st, 0),
	    .spec_text = COL_TEXT(st, 1),
	    .spec_hash = COL_TEXT(st, 2),
	    .dataset = COL_TEXT(st, 3),
	    .dataset_hash = hash && *hash ? hash : NULL,
	    .has_created = sqlite3_column_type(st, 5) != SQLITE_NULL,
	    .created_ms = sqlite3_column_int64(st, 5),
	    .has_finished = sqlite3_column_type(st, 6) != SQLITE_NULL,
	    .finished_ms = sqlite3_column_int64(st, 6),
	    .emc_versions = COL_TEXT(st, 7),
	    .hosts = COL_TEXT(st, 8),
	    .blas = COL_TEXT(st, 9),
	    .trials_recorded = sqlite3_column_int64(st, 10),
	};
}

int store_report_provenance(store *s, const char *campaign, store_provenance_fn fn, void *ctx, emc_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc, r, n = 0;

	r = store_report_snapshot_begin(s, err);
	if (r < 0)
		return r;
	r = store_prepare(s, "prepare provenance", provenance_sql, &st, err);
	if (r < 0)
		goto out;
	if (campaign)
		sqlite3_bind_text(st, 1, campaign, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_provenance_row row;

		row_read(st, &row);
		r = fn(ctx, &row);
		if (r < 0)
			goto out;
		n++;
	}
	if (rc != SQLITE_DONE)
		r = store_fail(s, "read provenance", err);
	else if (n == 0 && campaign)
		r = emc_err_set(err, -ENOENT, "store: no campaign named '%s'", campaign);
	else
		r = n;
out:
	sqlite3_finalize(st);
	store_report_snapshot_end(s);
	return r;
}
