/* proto_control.c — the control protocol, between wire and model.
 *
 * A control client sends one request and waits for one reply: Submit is
 * answered by a SubmitReply, Control by a ControlReply, anything else by
 * an Error. Verbs travel as strings on the wire; here they become enums,
 * through the one table below, before the model sees them.
 *
 * Every reply is packed once and held, as bytes, in the outbox until the
 * batch commits (or sent at once when no batch is open).
 */
#include "proto_control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "wire.h"

typedef enum control_action { ACTION_WORKERS = 0, ACTION_CAMPAIGN } control_action;

static const struct {
	const char *name;
	control_action action;
	sched_verb verb; /* for ACTION_CAMPAIGN */
} verbs[] = {
    {"workers", ACTION_WORKERS, 0},
    {"pause", ACTION_CAMPAIGN, SCHED_VERB_PAUSE},
    {"resume", ACTION_CAMPAIGN, SCHED_VERB_RESUME},
    {"cancel", ACTION_CAMPAIGN, SCHED_VERB_CANCEL},
    {"reopen", ACTION_CAMPAIGN, SCHED_VERB_REOPEN},
};

static int verb_find(const char *name)
{
	for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
		if (strcmp(verbs[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void send_msg(outbox *o, const uint8_t *id, size_t id_len, const wire_msg *m)
{
	uint8_t *buf;
	size_t len;
	emc_err err;

	if (wire_pack(m, &buf, &len, &err) < 0) {
		log_error("%s", err.msg);
		return;
	}
	/* If it cannot be held, a reply now beats no reply. */
	if (outbox_hold(o, OUTBOX_CONTROL, id, id_len, buf, len) < 0)
		outbox_send(o, OUTBOX_CONTROL, id, id_len, buf, len);
	free(buf);
}

static void send_error(outbox *o, const uint8_t *id, size_t id_len, const char *message)
{
	wire_msg m;

	wire_msg_init(&m, WIRE_ERROR);
	snprintf(m.error.message, sizeof m.error.message, "%s", message);
	send_msg(o, id, id_len, &m);
}

static void control_reply(outbox *o, const uint8_t *id, size_t id_len, bool ok, const char *message,
			  wire_worker_info *workers, size_t n_workers)
{
	wire_msg m;

	wire_msg_init(&m, WIRE_CONTROL_REPLY);
	m.control_reply.ok = ok;
	snprintf(m.control_reply.message, sizeof m.control_reply.message, "%s", message);
	m.control_reply.workers = workers;
	m.control_reply.n_workers = n_workers;
	send_msg(o, id, id_len, &m);
}

static void on_submit(sched *s, outbox *o, const uint8_t *id, size_t id_len, const wire_submit *sub)
{
	wire_msg m;
	int64_t cid = 0;
	sched_submitted found = SCHED_SUBMIT_NEW;
	emc_err err;

	emc_err_clear(&err);
	wire_msg_init(&m, WIRE_SUBMIT_REPLY);
	/* launch asks for work: a paused campaign stays paused (resume is
	 * its own verb), and a finished one has none */
	if (sched_submit(s, sub->spec_text, sub->spec_len, *sub->origin ? sub->origin : "spec",
			 *sub->base_dir ? sub->base_dir : NULL, false, &cid, &found, &err) < 0) {
		m.submit_reply.ok = false;
		snprintf(m.submit_reply.message, sizeof m.submit_reply.message, "%s", err.msg);
	} else if (found == SCHED_SUBMIT_DONE) {
		m.submit_reply.ok = false;
		m.submit_reply.campaign_id = (uint64_t)cid;
		snprintf(m.submit_reply.message, sizeof m.submit_reply.message, "%s", err.msg);
	} else {
		bool resumed = found == SCHED_SUBMIT_RESUMED;

		m.submit_reply.ok = true;
		m.submit_reply.campaign_id = (uint64_t)cid;
		m.submit_reply.resumed = resumed;
	}
	send_msg(o, id, id_len, &m);
}

static void on_workers(sched *s, outbox *o, const uint8_t *id, size_t id_len)
{
	int n = sched_worker_count(s);
	sched_worker_info *info = calloc((size_t)n + 1, sizeof *info);
	wire_worker_info *w = calloc((size_t)n + 1, sizeof *w);

	if (!info || !w) {
		control_reply(o, id, id_len, false, "out of memory", NULL, 0);
		goto out;
	}
	n = sched_worker_list(s, info, n);
	for (int i = 0; i < n; i++) {
		w[i].id = (uint64_t)info[i].id;
		snprintf(w[i].host, sizeof w[i].host, "%s", info[i].host);
		w[i].slots = (uint32_t)info[i].slots;
		w[i].busy = (uint32_t)info[i].busy;
		w[i].last_heartbeat_ms_ago = info[i].last_seen_ms_ago;
		w[i].trials_done = (uint64_t)info[i].trials_done;
		snprintf(w[i].blas_core, sizeof w[i].blas_core, "%s", info[i].blas_core);
	}
	control_reply(o, id, id_len, true, "", w, (size_t)n);
out:
	free(info);
	free(w);
}

static void on_control(sched *s, outbox *o, const uint8_t *id, size_t id_len, const wire_control *ctl)
{
	const char *verb = ctl->verb;
	const char *name = ctl->campaign;
	char message[EMC_ERR_MAX + 64];
	int v = verb_find(verb);
	emc_err err;

	if (v < 0) {
		snprintf(message, sizeof message, "unknown verb '%.40s' (pause, resume, cancel, reopen, workers)",
			 verb);
		control_reply(o, id, id_len, false, message, NULL, 0);
		return;
	}
	if (verbs[v].action == ACTION_WORKERS) {
		on_workers(s, o, id, id_len);
		return;
	}
	if (sched_campaign_control(s, verbs[v].verb, name, &err) < 0) {
		control_reply(o, id, id_len, false, err.msg, NULL, 0);
		return;
	}
	switch (verbs[v].verb) {
	case SCHED_VERB_PAUSE:
		snprintf(message, sizeof message, "campaign %s paused (running trials finish; no new ones start)",
			 name);
		break;
	case SCHED_VERB_RESUME:
		snprintf(message, sizeof message, "campaign %s resumed", name);
		break;
	case SCHED_VERB_CANCEL:
		snprintf(message, sizeof message, "campaign %s cancelled", name);
		break;
	case SCHED_VERB_REOPEN:
		snprintf(message, sizeof message, "campaign %s reopened: its cancelled cells search again", name);
		break;
	}
	control_reply(o, id, id_len, true, message, NULL, 0);
}

void pc_message(sched *s, outbox *o, const uint8_t *id, size_t id_len, const uint8_t *buf, size_t len)
{
	static wire_msg m; /* about 50 KiB; the loop's thread only */
	emc_err err;

	if (wire_unpack(buf, len, &m, &err) < 0) {
		send_error(o, id, id_len, err.msg);
		return;
	}
	switch (m.kind) {
	case WIRE_SUBMIT:
		on_submit(s, o, id, id_len, &m.submit);
		break;
	case WIRE_CONTROL:
		on_control(s, o, id, id_len, &m.control);
		break;
	default:
		send_error(o, id, id_len, "control: expected Submit or Control");
		break;
	}
	wire_msg_deinit(&m);
	sched_dispatch(s);
}
