/* store_state.c — name tables and sets of the store's states.
 *
 * Everything here is generated from the lists in store_state.h: a name
 * table indexed by the enum, and one table of flags per set. Lookups are
 * linear; the longest table has six names.
 */
#include "store_state.h"

#include <errno.h>
#include <string.h>

static const char *name_of(const char *const *names, int count, int v)
{
	return v >= 0 && v < count ? names[v] : NULL;
}

static int parse_name(const char *const *names, int count, const char *s, int *ret)
{
	for (int i = 0; s && i < count; i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = i;
			return 0;
		}
	return -EINVAL;
}

static bool flag_of(const bool *flags, int count, int v)
{
	return v >= 0 && v < count && flags[v];
}

/* For one kind: its name table, _name(), _parse(), and the predicate `pred`
 * of the one set C code asks about (FLAG_ENTRY_<KIND> picks its flag). */
#define DEFINE_STATE(kind, KIND, pred)                                                  \
	static const char *const kind##_names[STORE_##KIND##_STATE_COUNT] = {           \
		STORE_##KIND##_STATES(NAME_ENTRY_##KIND)                                \
	};                                                                              \
	static const bool kind##_##pred[STORE_##KIND##_STATE_COUNT] = {                 \
		STORE_##KIND##_STATES(FLAG_ENTRY_##KIND)                                \
	};                                                                              \
	const char *store_##kind##_state_name(store_##kind##_state s)                   \
	{                                                                               \
		return name_of(kind##_names, STORE_##KIND##_STATE_COUNT, (int)s);       \
	}                                                                               \
	int store_##kind##_state_parse(const char *name, store_##kind##_state *ret)     \
	{                                                                               \
		int v, r = parse_name(kind##_names, STORE_##KIND##_STATE_COUNT, name, &v); \
		if (r == 0)                                                             \
			*ret = (store_##kind##_state)v;                                 \
		return r;                                                               \
	}                                                                               \
	bool store_##kind##_state_##pred(store_##kind##_state s)                        \
	{                                                                               \
		return flag_of(kind##_##pred, STORE_##KIND##_STATE_COUNT, (int)s);      \
	}

#define NAME_ENTRY_CAMPAIGN(state, ...) [STORE_CAMPAIGN_##state] = STORE_CAMPAIGN_NAME_##state,
#define NAME_ENTRY_CELL(state, ...)     [STORE_CELL_##state] = STORE_CELL_NAME_##state,
#define NAME_ENTRY_TRIAL(state, ...)    [STORE_TRIAL_##state] = STORE_TRIAL_NAME_##state,
#define NAME_ENTRY_ATTEMPT(state, ...)  [STORE_ATTEMPT_##state] = STORE_ATTEMPT_NAME_##state,

#define FLAG_ENTRY_CAMPAIGN(state, active)      [STORE_CAMPAIGN_##state] = active,
#define FLAG_ENTRY_CELL(state, decided)         [STORE_CELL_##state] = decided,
#define FLAG_ENTRY_TRIAL(state, terminal)       [STORE_TRIAL_##state] = terminal,
#define FLAG_ENTRY_ATTEMPT(state, lost, ended)  [STORE_ATTEMPT_##state] = ended,

DEFINE_STATE(campaign, CAMPAIGN, active)
DEFINE_STATE(cell, CELL, decided)
DEFINE_STATE(trial, TRIAL, terminal)
DEFINE_STATE(attempt, ATTEMPT, ended)
