/* front.c — the model, its protocol channels and its outbox, wired once.
 *
 * Nothing is decided here: the model (scheduler.c) decides, the protocol
 * modules translate, the outbox holds. This file only builds them in the
 * right order — the outbox first, because the model's callbacks send
 * through it — and owns the one rule that spans them: the held frames
 * leave after, and only after, the store's batch commits.
 */
#include "front.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "proto_control.h"
#include "proto_worker.h"

struct front {
	store *db;
	outbox *out;
	sched *sched;
	bool batching;
};

int front_new(store *db, const sched_config *cfg, outbox_send_fn send, void *send_ctx, front **ret, emc_err *err)
{
	front *f = calloc(1, sizeof *f);
	int r;

	if (!f || outbox_new(send, send_ctx, &f->out) < 0) {
		free(f);
		return emc_err_set(err, ENOMEM, "coordinator: out of memory");
	}
	f->db = db;
	r = sched_new(db, cfg, &pw_sched_out, f->out, &f->sched, err);
	if (r < 0) {
		front_destroy(&f);
		return r;
	}
	*ret = f;
	return 0;
}

void front_destroy(front **p)
{
	front *f = *p;

	if (!f)
		return;
	sched_destroy(&f->sched);
	outbox_destroy(&f->out);
	free(f);
	*p = NULL;
}

sched *front_sched(front *f)
{
	return f->sched;
}

void front_worker_message(front *f, const uint8_t *identity, size_t identity_len, const char *key, const uint8_t *buf,
			  size_t len)
{
	pw_message(f->sched, f->out, identity, identity_len, key, buf, len);
}

void front_control_message(front *f, const uint8_t *identity, size_t identity_len, const uint8_t *buf, size_t len)
{
	pc_message(f->sched, f->out, identity, identity_len, buf, len);
}

int front_batch_begin(front *f, emc_err *err)
{
	int r = store_batch_begin(f->db, err);

	if (r == 0) {
		f->batching = true;
		outbox_hold_begin(f->out);
	}
	return r;
}

int front_batch_end(front *f, emc_err *err)
{
	int r;

	if (!f->batching)
		return 0;
	f->batching = false;
	r = store_batch_end(f->db, err);
	outbox_release(f->out, r == 0);
	return r;
}
