/* store_ckpt.h — the latest checkpoint of each running trial.
 *
 * A worker sends the engine's checkpoint of a running attempt every few
 * seconds; the store keeps the newest one per trial (the one with the
 * highest epoch, from the trial's live attempt only) so that the next
 * attempt of the trial, on any worker, goes on from it. A trial that
 * reaches a terminal state drops its checkpoint (a trigger does it in
 * the same transaction, whatever path ended the trial). Each attempt
 * records the epoch it resumed from and how many checkpoints it delivered:
 * an attempt that delivered none made no progress, and only those count
 * against the trial's lost-attempt budget.
 */
#ifndef EMC_STORE_CKPT_H
#define EMC_STORE_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

/* Keep state as trial_id's checkpoint if attempt_id is the trial's running
 * attempt and epoch is beyond the kept one. 1: kept (and counted for the
 * attempt); 0: not (stale attempt, or no newer); -errno on a store error. */
int store_checkpoint_put(store *s, int64_t trial_id, int64_t attempt_id, int64_t epoch, int64_t step,
			 const uint8_t *state, size_t len, emc_err *err);

/* trial_id's kept checkpoint: *ret_state (the caller frees it) and its
 * length and epoch, or *ret_state = NULL when there is none. */
int store_checkpoint_get(store *s, int64_t trial_id, uint8_t **ret_state, size_t *ret_len, int64_t *ret_epoch,
			 emc_err *err);

/* Record that attempt_id starts from a checkpoint at epoch. */
int store_attempt_resumed(store *s, int64_t attempt_id, int64_t epoch, emc_err *err);

#endif
