/* store_ckpt.c — the latest checkpoint of each running trial (store_ckpt.h).
 *
 * Part of the store. A checkpoint arrives every few seconds per running
 * slot, so each statement is prepared for its call, like the reports'. The
 * guard that only the trial's live attempt may write, and only forward in
 * epochs, is in the statement itself: the row cannot go backwards whatever
 * order checkpoints and restarts come in. Dropping the checkpoint of an
 * ended trial is the schema's trigger (store.c), so no path that ends a
 * trial can forget it.
 */
#include "store_ckpt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_priv.h"

int store_checkpoint_put(store *s, int64_t trial_id, int64_t attempt_id, int64_t epoch, int64_t step,
			 const uint8_t *state, size_t len, emc_err *err)
{
	static const char put[] =
	    "INSERT INTO checkpoints (trial_id, attempt_id, epoch, step, state, written_at)"
	    " SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM attempts a"
	    "  WHERE a.id = ?2 AND a.trial_id = ?1 AND a.state = " SQL_STATE(
		ATTEMPT, RUNNING) ")"
				  " ON CONFLICT (trial_id) DO UPDATE SET attempt_id = excluded.attempt_id, epoch = "
				  "excluded.epoch,"
				  "  step = excluded.step, state = excluded.state, written_at = excluded.written_at"
				  " WHERE excluded.epoch > checkpoints.epoch";
	sqlite3_stmt *st = NULL;
	int r, kept;

	if (len == 0 || epoch < 0 || step < 0)
		return 0;
	r = store_prepare(s, "prepare checkpoint", put, &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, trial_id);
	sqlite3_bind_int64(st, 2, attempt_id);
	sqlite3_bind_int64(st, 3, epoch);
	sqlite3_bind_int64(st, 4, step);
	sqlite3_bind_blob64(st, 5, state, len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, emc_wall_ms());
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(s, "keep checkpoint", err);
	sqlite3_finalize(st);
	if (r < 0)
		return r;
	kept = sqlite3_changes(store_sqlite(s)) > 0;
	if (!kept)
		return 0;
	r = store_prepare(s, "prepare checkpoint", "UPDATE attempts SET checkpoints = checkpoints + 1 WHERE id = ?1", &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, attempt_id);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(s, "count checkpoint", err);
	sqlite3_finalize(st);
	return r < 0 ? r : 1;
}

int store_checkpoint_get(store *s, int64_t trial_id, uint8_t **ret_state, size_t *ret_len, int64_t *ret_epoch,
			 emc_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	*ret_state = NULL;
	*ret_len = 0;
	*ret_epoch = 0;
	r = store_prepare(s, "prepare checkpoint", "SELECT epoch, state FROM checkpoints WHERE trial_id = ?1", &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, trial_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		const void *blob = sqlite3_column_blob(st, 1);

		if (len > 0 && blob) {
			*ret_state = malloc(len);
			if (!*ret_state) {
				sqlite3_finalize(st);
				return emc_err_set(err, -ENOMEM, "store: out of memory for a checkpoint of %zu bytes",
						   len);
			}
			memcpy(*ret_state, blob, len);
			*ret_len = len;
			*ret_epoch = sqlite3_column_int64(st, 0);
		}
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? 0 : store_fail(s, "read checkpoint", err);
	}
	sqlite3_finalize(st);
	return r;
}

int store_attempt_resumed(store *s, int64_t attempt_id, int64_t epoch, emc_err *err)
{
	sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "prepare checkpoint", "UPDATE attempts SET resumed_epoch = ?2 WHERE id = ?1", &st, err);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, attempt_id);
	sqlite3_bind_int64(st, 2, epoch);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(s, "record resume", err);
	sqlite3_finalize(st);
	return r;
}
