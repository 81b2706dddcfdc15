/* store_priv.h — what the store's own files share (store.c, store_report.c).
 *
 * Nothing outside the store includes this: it hands out the SQLite
 * connection and spells states as SQL.
 */
#ifndef EMC_STORE_PRIV_H
#define EMC_STORE_PRIV_H

#include <sqlite3.h>

#include "err.h"
#include "store.h"

/* The connection; the store keeps it. */
sqlite3 *store_sqlite(store *s);

/* Turn the connection's last error into err and an errno (see store.c). */
int store_fail(store *s, const char *what, emc_err *err);

/* Prepare sql for one call (the caller finalizes *ret); on failure *ret is
 * NULL and err names `what`. For statements run too rarely to keep. */
int store_prepare(store *s, const char *what, const char *sql, sqlite3_stmt **ret, emc_err *err);

/* The names a measurement method is stored as (the spec's spelling), and
 * their parse: NULL (a version-1 file) is bisect, an unknown name -EINVAL. */
extern const char *const store_method_names[EMC_SEARCH_METHOD_COUNT];
int store_method_parse(const char *name, emc_search_method *ret);

/* ---- states as SQL, from the lists of store_state.h ---------------------- */

/* One state as an SQL literal: SQL_STATE(TRIAL, RUNNING) is "'running'". */
#define SQL_STATE(KIND, state) "'" STORE_##KIND##_NAME_##state "'"

/* A set as an SQL list, built from a flag of a state list: each member
 * brings its own ", 'name'", so the list opens with '', a value no state
 * has (the schema's CHECKs refuse it), to need no first element. */
#define SQL_IF_1(KIND, state) ", " SQL_STATE(KIND, state)
#define SQL_IF_0(KIND, state)
#define SQL_UNLESS_1(KIND, state)
#define SQL_UNLESS_0(KIND, state) ", " SQL_STATE(KIND, state)

#define SQL_CAMPAIGN_ACTIVE_(state, active)   SQL_IF_##active(CAMPAIGN, state)
#define SQL_CAMPAIGN_FINISHED_(state, active) SQL_UNLESS_##active(CAMPAIGN, state)
#define SQL_CELL_DECIDED_(state, decided)     SQL_IF_##decided(CELL, state)
#define SQL_TRIAL_TERMINAL_(state, terminal)  SQL_IF_##terminal(TRIAL, state)
#define SQL_TRIAL_OPEN_(state, terminal)      SQL_UNLESS_##terminal(TRIAL, state)
#define SQL_ATTEMPT_LOST_(state, lost, ended) SQL_IF_##lost(ATTEMPT, state)

/* ('', 'running', 'paused') */
#define SQL_CAMPAIGN_ACTIVE   "(''" STORE_CAMPAIGN_STATES(SQL_CAMPAIGN_ACTIVE_) ")"
/* ('', 'done', 'cancelled') */
#define SQL_CAMPAIGN_FINISHED "(''" STORE_CAMPAIGN_STATES(SQL_CAMPAIGN_FINISHED_) ")"
/* ('', 'done', 'failed') */
#define SQL_CELL_DECIDED      "(''" STORE_CELL_STATES(SQL_CELL_DECIDED_) ")"
/* ('', 'fit', 'no_fit', 'failed', 'cancelled') */
#define SQL_TRIAL_TERMINAL    "(''" STORE_TRIAL_STATES(SQL_TRIAL_TERMINAL_) ")"
/* ('', 'pending', 'running') */
#define SQL_TRIAL_OPEN        "(''" STORE_TRIAL_STATES(SQL_TRIAL_OPEN_) ")"
/* ('', 'lost', 'preempted') */
#define SQL_ATTEMPT_LOST      "(''" STORE_ATTEMPT_STATES(SQL_ATTEMPT_LOST_) ")"

#endif
