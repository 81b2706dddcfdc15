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
};

static int verb_find(const char *name)
{
	for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
		if (strcmp(verbs[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void send_env(outbox *o, const uint8_t *id, size_t id_len, Emc__Envelope *env)
{
	uint8_t *buf;
	size_t len;
	emc_err err;

	if (wire_encode(env, &buf, &len, &err) < 0) {
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
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Error e = EMC__ERROR__INIT;

	e.message = (char *)message;
	env.body_case = EMC__ENVELOPE__BODY_ERROR;
	env.error = &e;
	send_env(o, id, id_len, &env);
}

static void control_reply(outbox *o, const uint8_t *id, size_t id_len, bool ok, const char *message,
			  Emc__WorkerInfo **workers, size_t n_workers)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__ControlReply r = EMC__CONTROL_REPLY__INIT;

	r.ok = ok;
	r.message = (char *)message;
	r.workers = workers;
	r.n_workers = n_workers;
	env.body_case = EMC__ENVELOPE__BODY_CONTROL_REPLY;
	env.control_reply = &r;
	send_env(o, id, id_len, &env);
}

static void on_submit(sched *s, outbox *o, const uint8_t *id, size_t id_len, const Emc__Submit *sub)
{
	Emc__Envelope reply = EMC__ENVELOPE__INIT;
	Emc__SubmitReply sr = EMC__SUBMIT_REPLY__INIT;
	int64_t cid = 0;
	bool resumed = false;
	emc_err err;

	if (!sub->spec_text) {
		send_error(o, id, id_len, "submit: no spec");
		return;
	}
	emc_err_clear(&err);
	if (sched_submit(s, sub->spec_text, strlen(sub->spec_text), sub->origin && *sub->origin ? sub->origin : "spec",
			 sub->base_dir && *sub->base_dir ? sub->base_dir : NULL, &cid, &resumed, &err) < 0) {
		sr.ok = false;
		sr.message = err.msg;
	} else {
		sr.ok = true;
		sr.campaign_id = (uint64_t)cid;
		sr.resumed = resumed;
	}
	reply.body_case = EMC__ENVELOPE__BODY_SUBMIT_REPLY;
	reply.submit_reply = &sr;
	send_env(o, id, id_len, &reply);
}

static void on_workers(sched *s, outbox *o, const uint8_t *id, size_t id_len)
{
	int n = sched_worker_count(s);
	sched_worker_info *info = calloc((size_t)n + 1, sizeof *info);
	Emc__WorkerInfo *pb = calloc((size_t)n + 1, sizeof *pb);
	Emc__WorkerInfo **ptrs = calloc((size_t)n + 1, sizeof *ptrs);

	if (!info || !pb || !ptrs) {
		control_reply(o, id, id_len, false, "out of memory", NULL, 0);
		goto out;
	}
	n = sched_worker_list(s, info, n);
	for (int i = 0; i < n; i++) {
		emc__worker_info__init(&pb[i]);
		pb[i].id = (uint64_t)info[i].id;
		pb[i].host = info[i].host;
		pb[i].slots = (uint32_t)info[i].slots;
		pb[i].busy = (uint32_t)info[i].busy;
		pb[i].last_heartbeat_ms_ago = info[i].last_seen_ms_ago;
		pb[i].trials_done = (uint64_t)info[i].trials_done;
		ptrs[i] = &pb[i];
	}
	control_reply(o, id, id_len, true, "", ptrs, (size_t)n);
out:
	free(info);
	free(pb);
	free(ptrs);
}

static void on_control(sched *s, outbox *o, const uint8_t *id, size_t id_len, const Emc__Control *ctl)
{
	const char *verb = ctl->verb ? ctl->verb : "";
	const char *name = ctl->campaign ? ctl->campaign : "";
	char message[EMC_ERR_MAX + 64];
	int v = verb_find(verb);
	emc_err err;

	if (v < 0) {
		snprintf(message, sizeof message, "unknown verb '%.40s' (pause, resume, cancel, workers)", verb);
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
	}
	control_reply(o, id, id_len, true, message, NULL, 0);
}

void pc_message(sched *s, outbox *o, const uint8_t *id, size_t id_len, const uint8_t *buf, size_t len)
{
	Emc__Envelope *env = NULL;
	emc_err err;

	if (wire_decode(buf, len, &env, &err) < 0) {
		send_error(o, id, id_len, err.msg);
		return;
	}
	switch (env->body_case) {
	case EMC__ENVELOPE__BODY_SUBMIT:
		on_submit(s, o, id, id_len, env->submit);
		break;
	case EMC__ENVELOPE__BODY_CONTROL:
		on_control(s, o, id, id_len, env->control);
		break;
	default:
		send_error(o, id, id_len, "control: expected Submit or Control");
		break;
	}
	wire_free(&env);
	sched_dispatch(s);
}
