/* campaign.h — a spec checked all the way down before anything is written.
 *
 * Both emcctl (before it starts any process) and emc-coordinator (before it
 * inserts a campaign) run the same checks: the spec parses, its dataset
 * resolves and decodes, and every cell's model is one the engine can build
 * on that data. Only then does the campaign reach the database, so a bad
 * spec leaves the database exactly as it was.
 */
#ifndef EMC_CAMPAIGN_H
#define EMC_CAMPAIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "dataset.h"
#include "err.h"
#include "measure.h"
#include "spec.h"
#include "store.h"

typedef struct campaign_prep {
	emc_campaign_spec *spec;   /* owned */
	store_dataset_info dataset;
	char spec_hash[65];	   /* BLAKE2b-256 of the spec text, hex: the same text is the same spec */
	emc_dataset *data;         /* owned: the decoded dataset; whoever serves it may take it */
	/* The cell that needs the most memory (-1: no cell) and a lower bound
	 * of what it needs: campaign_memory_floor of its model. */
	int need_cell;
	uint64_t need_bytes;
} campaign_prep;

/* A lower bound of the memory one trial of a cell with `params` parameters
 * needs, computable without the engine: its parameters, their gradients and
 * the optimizer's state per parameter (none for gd or sgd without momentum,
 * one for sgd with momentum, two for adam and adamw), at 4 bytes each.
 * Activations, the data and the workspace come on top. */
uint64_t campaign_memory_floor(const emc_cell_cfg *cell, int64_t params);

/* "11.9 GiB", "512.0 MiB": bytes for a person. */
void campaign_bytes_text(uint64_t bytes, char *buf, size_t size);

/* With no worker that announced its memory, a cell that surely needs more
 * than this (1 TiB) is refused: more than a machine that trains on CPUs
 * has, so such a model could only fail on every attempt. */
#define CAMPAIGN_MEMORY_CEILING_BYTES ((uint64_t)1 << 40)

/* 0 when prep's largest cell can fit `most` bytes (the largest memory a
 * connected worker announced; 0: none did, so CAMPAIGN_MEMORY_CEILING_BYTES);
 * else -EFBIG, err naming origin, the cell, its model and both sizes. */
int campaign_memory_check(const campaign_prep *prep, uint64_t most, const char *origin, emc_err *err);

/* Parse and check spec text; decode its dataset to learn its size and shape.
 * On success *ret owns the spec and the decoded dataset (ret->data). */
int campaign_prepare(const char *text, size_t len, const char *origin, const char *base_dir, campaign_prep *ret,
		     emc_err *err);

/* Read a spec file (bounded by EMC_SPEC_MAX_BYTES) into a new NUL-terminated
 * buffer the caller frees; also returns the file's directory (caller frees). */
int campaign_read_file(const char *path, char **ret_text, size_t *ret_len, char **ret_dir, emc_err *err);

void campaign_prep_deinit(campaign_prep *p);

/* The campaign of prep's name in db, if any: 0 when there is none; 1 and
 * *ret_id, *ret_state when there is one with the same spec; -EEXIST when
 * its spec differs, err naming the first key that does. A spec is the
 * same when it parses to the same campaign (emc_spec_diff): a comment, the
 * key order or the YAML layout may change; a value may not. text and len
 * are prep's spec text. */
int campaign_find_same(store *db, const campaign_prep *prep, const char *text, size_t len, const char *origin,
		       int64_t *ret_id, store_campaign_state *ret_state, emc_err *err);

/* The measurement of one cell of a campaign: its search settings, sizes up
 * to max_n (or the dataset's n_total when max_n is 0), over a pool of
 * n_seeds replicate seeds. The settings map 1:1 onto measure_config; a
 * spec or database that predates the measurement keys (quantile 0, never a
 * valid one) takes measure_config_default's values for all of them. */
void campaign_measure_config(const emc_search_cfg *search, int64_t n_total, int n_seeds, measure_config *ret);

/* The measurement's view of a trial's terminal outcome (why: its stop
 * reason); false for one it does not count (cancelled, or not terminal). */
bool campaign_measure_outcome(emc_outcome o, emc_stop_reason why, measure_outcome *ret);

/* The same for a stored trial state. */
bool campaign_trial_outcome(store_trial_state state, emc_stop_reason why, measure_outcome *ret);

#endif
