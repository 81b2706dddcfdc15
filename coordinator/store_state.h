/* store_state.h — the states of campaigns, cells, trials and attempts.
 *
 * Each kind of state is one table here: the name the database stores for
 * each state (STORE_<KIND>_NAME_<STATE>, the one place each is spelt) and
 * a list, STORE_<KIND>_STATES(X), of every state with the sets it belongs
 * to. The enums, the name tables, the predicates and the SQL of every set
 * the store queries (store_priv.h) are generated from these lists, so a
 * new state is one line in a list and a misspelt state does not compile.
 *
 * The names are the database's values: renaming one is a schema change.
 *
 * Parsing is strict: a name that is not in its table is -EINVAL, and the
 * store refuses such a value read from the database as corrupt (naming the
 * table and the value) rather than reading it as some default.
 */
#ifndef EMC_STORE_STATE_H
#define EMC_STORE_STATE_H

#include <stdbool.h>

/* ---- campaigns ---------------------------------------------------------- */

#define STORE_CAMPAIGN_NAME_RUNNING   "running"
#define STORE_CAMPAIGN_NAME_DONE      "done"
#define STORE_CAMPAIGN_NAME_PAUSED    "paused"
#define STORE_CAMPAIGN_NAME_CANCELLED "cancelled"

/* X(state, active): an active campaign is loaded by the coordinator at
 * start (it may get work again); the others are finished. */
#define STORE_CAMPAIGN_STATES(X) \
	X(RUNNING, 1)            \
	X(DONE, 0)               \
	X(PAUSED, 1)             \
	X(CANCELLED, 0)

typedef enum store_campaign_state {
#define X(state, ...) STORE_CAMPAIGN_##state,
	STORE_CAMPAIGN_STATES(X)
#undef X
	STORE_CAMPAIGN_STATE_COUNT
} store_campaign_state;

/* ---- cells -------------------------------------------------------------- */

#define STORE_CELL_NAME_SEARCHING "searching"
#define STORE_CELL_NAME_DONE      "done"
#define STORE_CELL_NAME_FAILED    "failed"
#define STORE_CELL_NAME_CANCELLED "cancelled"

/* X(state, decided): a decided cell's search is over with an answer (an
 * EMC or a failure). A cancelled cell's search was stopped undecided with
 * its campaign; reopening the campaign makes it searching again. */
#define STORE_CELL_STATES(X) \
	X(SEARCHING, 0)      \
	X(DONE, 1)           \
	X(FAILED, 1)         \
	X(CANCELLED, 0)

typedef enum store_cell_state {
#define X(state, ...) STORE_CELL_##state,
	STORE_CELL_STATES(X)
#undef X
	STORE_CELL_STATE_COUNT
} store_cell_state;

/* ---- trials ------------------------------------------------------------- */

#define STORE_TRIAL_NAME_PENDING   "pending"
#define STORE_TRIAL_NAME_RUNNING   "running"
#define STORE_TRIAL_NAME_FIT       "fit"
#define STORE_TRIAL_NAME_NO_FIT    "no_fit"
#define STORE_TRIAL_NAME_FAILED    "failed"
#define STORE_TRIAL_NAME_CANCELLED "cancelled"

/* X(state, terminal): a terminal trial is never written again by a result. */
#define STORE_TRIAL_STATES(X) \
	X(PENDING, 0)         \
	X(RUNNING, 0)         \
	X(FIT, 1)             \
	X(NO_FIT, 1)          \
	X(FAILED, 1)          \
	X(CANCELLED, 1)

typedef enum store_trial_state {
#define X(state, ...) STORE_TRIAL_##state,
	STORE_TRIAL_STATES(X)
#undef X
	STORE_TRIAL_STATE_COUNT
} store_trial_state;

/* ---- attempts ----------------------------------------------------------- */

#define STORE_ATTEMPT_NAME_RUNNING   "running"
#define STORE_ATTEMPT_NAME_DONE      "done"
#define STORE_ATTEMPT_NAME_LOST      "lost"
#define STORE_ATTEMPT_NAME_PREEMPTED "preempted"
#define STORE_ATTEMPT_NAME_FAILED    "failed"
#define STORE_ATTEMPT_NAME_CANCELLED "cancelled"

/* X(state, lost, ended): "lost" attempts count against a trial's budget of
 * lost attempts (its worker vanished or drained); an "ended" attempt
 * stopped without a result that counts, and its trial is pending again
 * (store_attempt_end). done is the attempt that delivered the result. */
#define STORE_ATTEMPT_STATES(X) \
	X(RUNNING, 0, 0)        \
	X(DONE, 0, 0)           \
	X(LOST, 1, 1)           \
	X(PREEMPTED, 1, 1)      \
	X(FAILED, 0, 1)         \
	X(CANCELLED, 0, 1)

typedef enum store_attempt_state {
#define X(state, ...) STORE_ATTEMPT_##state,
	STORE_ATTEMPT_STATES(X)
#undef X
	STORE_ATTEMPT_STATE_COUNT
} store_attempt_state;

/* ---- names and sets ----------------------------------------------------- */

/* The stored name; NULL for a value outside the enum. */
const char *store_campaign_state_name(store_campaign_state s);
const char *store_cell_state_name(store_cell_state s);
const char *store_trial_state_name(store_trial_state s);
const char *store_attempt_state_name(store_attempt_state s);

/* 0 and *ret set for a name in the table (exact, case-sensitive);
 * -EINVAL and *ret untouched for anything else, NULL included. */
int store_campaign_state_parse(const char *name, store_campaign_state *ret);
int store_cell_state_parse(const char *name, store_cell_state *ret);
int store_trial_state_parse(const char *name, store_trial_state *ret);
int store_attempt_state_parse(const char *name, store_attempt_state *ret);

/* The sets of the lists above; false for a value outside the enum. */
bool store_campaign_state_active(store_campaign_state s);
bool store_cell_state_decided(store_cell_state s);
bool store_trial_state_terminal(store_trial_state s);
bool store_attempt_state_ended(store_attempt_state s);

#endif
