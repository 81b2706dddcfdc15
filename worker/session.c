/* session.c — the conversation with the coordinator, and the outbox.
 *
 * One DEALER socket to the coordinator's ROUTER, used by the main thread
 * alone. The conversation (docs/protocol.md):
 *   worker: Hello(slots, protocol,      coordinator: Welcome(heartbeat, lease)
 *                 version, BLAS kernel and threads)
 *   worker: Ready(credit = free slots)  coordinator: Assign(attempt, n, cell, dataset)
 *   worker: Heartbeat(progress)…        coordinator: Cancel(attempt)
 *   worker: Result(attempt, outcome)    coordinator: ResultAck
 *   worker: DataRequest(hash, offset)   coordinator: DataChunk
 * The coordinator answers every heartbeat; a coordinator silent for a lease
 * is presumed gone, and the worker says Hello again with exponential
 * back-off (1 s, 2 s, … 32 s), listing the attempts it still holds so the
 * coordinator can let it keep them. An Error (the coordinator restarted and
 * forgot us) also leads to a new Hello.
 *
 * Results wait in the outbox, packed, until the coordinator acknowledges
 * them, and are sent again after every Welcome and whenever one has waited
 * RESEND_BEATS heartbeats (the coordinator acknowledges a result only once
 * it is durable, or known never to count): a result is never lost to a
 * dropped connection or a store that refused it, and a duplicate is fenced
 * by the coordinator. Every heartbeat lists every attempt we hold —
 * training, waiting for its dataset, or finished with its result in the
 * outbox — since the coordinator loses an attempt its worker's heartbeats
 * leave out.
 *
 * This is the one worker file that speaks to the wire module: each message
 * is unpacked (and checked) by wire_unpack() into a wire_msg here and
 * handed to the session's handlers; no handler keeps a pointer into it
 * past its call.
 *
 * The socket is CURVE-encrypted with the worker's key pair and the
 * coordinator's public key unless no key directory is given (the caller
 * allows that only for a coordinator on the same machine).
 *
 * A coordinator that refuses us at the handshake (our key is not in its
 * allow-list, or one side speaks CURVE and the other does not) never gets
 * a message through, and a DEALER cannot tell: every send just finds no
 * peer. So a socket monitor watches the handshakes. The first failure is
 * logged once, as what it most likely means; then the socket is
 * disconnected, nothing is sent, and the connection is tried again every
 * REFUSED_RETRY_MS (a key added to the allow-list is picked up at the next
 * try; the coordinator reads it at every handshake). A handshake that
 * succeeds ends the episode, and a Hello goes out at once.
 */
#include "session.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "keyfile.h"
#include "log.h"
#include "rng.h"
#include "wire.h"

#define BACKOFF_MIN_MS	  1000
#define BACKOFF_MAX_MS	  32000
#define SESSION_MAX_SLOTS 256
#define OUTBOX_MAX	  (2 * SESSION_MAX_SLOTS)
#define REFUSED_RETRY_MS  10000
#define RESEND_BEATS	  3 /* heartbeats an unacknowledged result waits before it is sent again */
#define ENDPOINT_MAX	  1024

/* A result sent but not yet acknowledged. */
typedef struct pending_result {
	uint64_t attempt_id;
	uint8_t *buf; /* owned: the packed Envelope */
	size_t len;
	int64_t sent_ms; /* last sent (0: not yet) */
} pending_result;

struct session {
	void *sock;
	void *monitor; /* PAIR: the handshake events of sock */
	char endpoint[ENDPOINT_MAX];
	bool refused;	     /* the last handshake failed: disconnected until the retry */
	bool refusal_logged; /* once per episode, until a handshake succeeds */
	int64_t refused_at_ms;
	session_handlers h;
	int slots, blas_threads;
	char blas_core[WIRE_PROV_MAX + 1];
	uint64_t memory_bytes;
	bool welcomed;
	bool stop_asking;
	uint32_t heartbeat_ms;
	uint32_t lease_ms; /* coordinator silent this long: presumed gone */
	int64_t last_hello_ms;
	int64_t hello_backoff_ms;
	int64_t last_heartbeat_ms;
	int64_t last_heard_ms; /* last message from the coordinator */
	pending_result outbox[OUTBOX_MAX];
	int n_outbox;
};

/* ---- sending ----------------------------------------------------------- */

static int send_msg(session *s, const wire_msg *m)
{
	uint8_t *buf;
	size_t len;
	emc_err err;
	int r;

	if (s->refused)
		return -ENOTCONN; /* nobody to send to until the retry; said once already */
	r = wire_pack(m, &buf, &len, &err);
	if (r < 0) {
		log_error("%s", err.msg);
		return r;
	}
	r = zmq_send(s->sock, buf, len, ZMQ_DONTWAIT);
	free(buf);
	if (r < 0) {
		r = -errno;
		/* Before a Welcome there may be no peer yet: the Hello is
		 * repeated with back-off, and a refusal is logged on its own. */
		if (s->welcomed)
			log_warn("send failed: %s", zmq_strerror(-r));
		else
			log_debug("send failed: %s", zmq_strerror(-r));
		return r;
	}
	return 0;
}

static void send_hello(session *s)
{
	static const char *const caps[] = {"family:linear", "family:mlp", "format:idx"};
	static wire_msg m; /* about 50 KiB; the main thread only */
	wire_hello *h = &m.hello;

	wire_msg_init(&m, WIRE_HELLO);
	gethostname(h->host, sizeof h->host - 1);
	h->protocol = EMC_PROTOCOL_VERSION;
	h->pid = (uint32_t)getpid();
	h->slots = (uint32_t)s->slots;
	h->blas_threads = (uint32_t)s->blas_threads;
	snprintf(h->emc_version, sizeof h->emc_version, "%s", EMC_VERSION);
	snprintf(h->blas_core, sizeof h->blas_core, "%s", s->blas_core);
	h->memory_bytes = s->memory_bytes;
	h->n_capabilities = sizeof caps / sizeof caps[0];
	for (size_t i = 0; i < h->n_capabilities; i++)
		snprintf(h->capabilities[i], sizeof h->capabilities[i], "%s", caps[i]);
	h->n_running = s->h.running(s->h.ctx, h->running, SESSION_MAX_SLOTS);
	send_msg(s, &m);
	s->last_hello_ms = emc_now_ms();
}

/* The coordinator is gone or forgot us: say hello again, backing off. */
static void lose_coordinator(session *s, const char *why)
{
	if (s->welcomed)
		log_warn("coordinator %s; saying hello again", why);
	s->welcomed = false;
	s->hello_backoff_ms = BACKOFF_MIN_MS;
	send_hello(s);
}

void session_send_ready(session *s, uint32_t credit)
{
	wire_msg m = {.kind = WIRE_READY, .ready = {.credit = credit}};

	if (credit == 0 || s->stop_asking)
		return;
	send_msg(s, &m);
}

void session_stop_asking(session *s)
{
	s->stop_asking = true;
}

static void send_heartbeat(session *s)
{
	static wire_msg m; /* about 50 KiB; the main thread only */
	session_progress got[SESSION_MAX_SLOTS];
	size_t n = s->h.progress(s->h.ctx, got, SESSION_MAX_SLOTS);

	wire_msg_init(&m, WIRE_HEARTBEAT);
	for (size_t i = 0; i < n; i++)
		m.heartbeat.attempts[i] = (wire_progress){.attempt_id = got[i].attempt_id,
							  .epoch = got[i].progress.epoch,
							  .step = got[i].progress.step,
							  .loss = got[i].progress.loss,
							  .accuracy = got[i].progress.accuracy,
							  .seconds = got[i].progress.seconds};
	m.heartbeat.n_attempts = n;
	/* Finished attempts are still ours until their result is acknowledged. */
	for (int i = 0; i < s->n_outbox && i < WIRE_SLOTS_MAX; i++)
		m.heartbeat.unacked[m.heartbeat.n_unacked++] = s->outbox[i].attempt_id;
	send_msg(s, &m);
	s->last_heartbeat_ms = emc_now_ms();
}

/* The engine's result goes out as it is; only what the slot knows beyond
 * it — the trial could not run, or our own drain stopped it — changes it. */
static void result_fill(const session_result *r, wire_result *res)
{
	res->attempt_id = r->attempt_id;
	res->trial_id = r->trial_id;
	if (r->rc < 0) {
		memset(&res->r, 0, sizeof res->r);
		res->r.outcome = EMC_OUTCOME_FAILED;
		res->r.reason = EMC_STOP_ERROR;
		/* Cut to the result's array, as the coordinator always cut it. */
		snprintf(res->r.error, sizeof res->r.error, "%.*s", (int)sizeof res->r.error - 1, r->err.msg);
		return;
	}
	res->r = r->result;
	if (r->preempted && r->result.outcome == EMC_OUTCOME_CANCELLED)
		res->r.outcome = EMC_OUTCOME_PREEMPTED;
}

static void outbox_send_one(session *s, pending_result *p)
{
	p->sent_ms = emc_now_ms();
	if (zmq_send(s->sock, p->buf, p->len, ZMQ_DONTWAIT) < 0)
		log_warn("send failed: %s", zmq_strerror(errno));
}

void session_send_result(session *s, const session_result *r)
{
	wire_msg m;
	uint8_t *buf;
	size_t len;
	emc_err err;

	wire_msg_init(&m, WIRE_RESULT);
	result_fill(r, &m.result);
	if (wire_pack(&m, &buf, &len, &err) < 0) {
		log_error("%s", err.msg);
		return;
	}
	if (s->n_outbox == OUTBOX_MAX) {
		/* Full of results nobody acknowledges: drop the oldest. */
		free(s->outbox[0].buf);
		s->outbox[0] = s->outbox[--s->n_outbox];
	}
	s->outbox[s->n_outbox++] = (pending_result){.attempt_id = r->attempt_id, .buf = buf, .len = len};
	if (s->welcomed)
		outbox_send_one(s, &s->outbox[s->n_outbox - 1]);
}

int session_outbox_len(const session *s)
{
	return s->n_outbox;
}

static void outbox_remove(session *s, uint64_t attempt_id)
{
	for (int i = 0; i < s->n_outbox; i++)
		if (s->outbox[i].attempt_id == attempt_id) {
			free(s->outbox[i].buf);
			s->outbox[i] = s->outbox[--s->n_outbox];
			return;
		}
}

/* Send the unacknowledged results again: all of them after a Welcome
 * (older_ms = 0), or those sent at least older_ms ago — the coordinator
 * does not acknowledge a result its store refused, and waits for it again. */
static void outbox_resend(session *s, int64_t older_ms)
{
	int64_t now = emc_now_ms();

	for (int i = 0; i < s->n_outbox; i++)
		if (now - s->outbox[i].sent_ms >= older_ms)
			outbox_send_one(s, &s->outbox[i]);
}

int session_send_data_request(session *s, const uint8_t hash[32], uint64_t offset, uint32_t length)
{
	wire_msg m = {.kind = WIRE_DATA_REQUEST,
		      .data_request = {.has_hash = true, .offset = offset, .length = length}};

	memcpy(m.data_request.hash, hash, sizeof m.data_request.hash);
	return send_msg(s, &m);
}

void session_send_checkpoint(session *s, uint64_t attempt_id, uint64_t trial_id, int64_t epoch, int64_t step,
			     const uint8_t *state, size_t len)
{
	wire_msg m;

	if (!s->welcomed)
		return; /* the trial makes another; an old one is no loss */
	wire_msg_init(&m, WIRE_CHECKPOINT);
	m.checkpoint = (wire_checkpoint){
	    .attempt_id = attempt_id, .trial_id = trial_id, .epoch = epoch, .step = step, .state = state, .len = len};
	send_msg(s, &m);
}

void session_send_bye(session *s, const char *reason)
{
	wire_msg m;

	wire_msg_init(&m, WIRE_BYE);
	snprintf(m.bye.reason, sizeof m.bye.reason, "%s", reason);
	send_msg(s, &m);
}

/* ---- receiving ---------------------------------------------------------- */

static void on_welcome(session *s, const wire_welcome *w)
{
	if (!s->welcomed)
		log_info("welcomed as worker %llu", (unsigned long long)w->worker_id);
	s->welcomed = true;
	s->hello_backoff_ms = BACKOFF_MIN_MS;
	if (w->heartbeat_ms >= 50 && w->heartbeat_ms <= 60000)
		s->heartbeat_ms = w->heartbeat_ms;
	if (w->lease_ms >= 2 * s->heartbeat_ms && w->lease_ms <= 3600000)
		s->lease_ms = w->lease_ms;
	outbox_resend(s, 0);
	s->h.welcomed(s->h.ctx);
}

static void on_chunk(session *s, const wire_data_chunk *in)
{
	session_chunk c = {
	    .hash = in->has_hash ? in->hash : NULL,
	    .offset = in->offset,
	    .total = in->total,
	    .data = in->data,
	    .len = in->len,
	    .error = in->error,
	};

	s->h.chunk(s->h.ctx, &c);
}

static void handle_message(session *s, const uint8_t *buf, size_t len)
{
	static wire_msg m; /* about 50 KiB; the main thread only */
	emc_err err;

	if (wire_unpack(buf, len, &m, &err) < 0) {
		log_warn("from coordinator: %s", err.msg);
		return;
	}
	s->last_heard_ms = emc_now_ms();
	switch (m.kind) {
	case WIRE_WELCOME:
		on_welcome(s, &m.welcome);
		break;
	case WIRE_DATA_CHUNK:
		on_chunk(s, &m.data_chunk);
		break;
	case WIRE_HEARTBEAT:
		break;
	case WIRE_ASSIGN:
		if (s->welcomed)
			s->h.assign(s->h.ctx, &m.assign);
		break;
	case WIRE_CANCEL:
		s->h.cancel(s->h.ctx, m.cancel.attempt_id);
		break;
	case WIRE_RESULT_ACK:
		if (!m.result_ack.recorded)
			log_info("attempt %llu: the coordinator did not record the result (stale)",
				 (unsigned long long)m.result_ack.attempt_id);
		outbox_remove(s, m.result_ack.attempt_id);
		break;
	case WIRE_ERROR:
		/* Messages queued while the connection was down each earn an
		 * Error from a restarted coordinator: one Hello answers them all. */
		if (s->welcomed) {
			log_warn("coordinator says: %s", m.error.message);
			lose_coordinator(s, "does not know us");
		}
		break;
	default:
		log_warn("from coordinator: unexpected message (%s)", wire_kind_name(m.kind));
		break;
	}
	wire_msg_deinit(&m);
}

void session_receive(session *s)
{
	for (;;) {
		zmq_msg_t msg;

		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, s->sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&msg);
			break;
		}
		if (zmq_msg_more(&msg)) {
			/* One frame per message: drop multipart garbage whole. */
			while (zmq_msg_more(&msg) && zmq_msg_recv(&msg, s->sock, ZMQ_DONTWAIT) >= 0)
				;
			log_warn("from coordinator: multipart message dropped");
		} else {
			handle_message(s, zmq_msg_data(&msg), zmq_msg_size(&msg));
		}
		zmq_msg_close(&msg);
	}
}

/* ---- handshakes (the socket monitor) ------------------------------------ */

/* What a failed handshake most likely means, said once per episode. */
static void log_refusal(const session *s, uint16_t event, uint32_t value)
{
	if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
		log_error("the coordinator at %s refused this worker's key (not in its allow-list?): "
			  "ZAP status %u; trying again every %d s",
			  s->endpoint, (unsigned)value, REFUSED_RETRY_MS / 1000);
	else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
		log_error("the handshake with the coordinator at %s failed (protocol error 0x%x: do both sides "
			  "use CURVE, and is coordinator.pub this coordinator's key?); trying again every %d s",
			  s->endpoint, (unsigned)value, REFUSED_RETRY_MS / 1000);
	else
		log_error("the handshake with the coordinator at %s failed (%s); trying again every %d s", s->endpoint,
			  zmq_strerror((int)value), REFUSED_RETRY_MS / 1000);
}

static void on_handshake_failed(session *s, uint16_t event, uint32_t value)
{
	if (!s->refusal_logged)
		log_refusal(s, event, value);
	else
		log_debug("handshake with %s failed again (event 0x%x, %u)", s->endpoint, event, (unsigned)value);
	s->refusal_logged = true;
	if (!s->refused) {
		/* Our own slow retry replaces libzmq's: it may retry every
		 * second or, for some refusals, never again. */
		zmq_disconnect(s->sock, s->endpoint);
		s->refused = true;
	}
	s->refused_at_ms = emc_now_ms();
}

static void on_handshake_succeeded(session *s)
{
	if (s->refusal_logged)
		log_info("the coordinator at %s accepted this worker's key", s->endpoint);
	s->refusal_logged = false;
}

/* Read every event the monitor holds: two frames each, the first
 * (uint16 event, uint32 value), the second the peer's address. */
static void monitor_drain(session *s)
{
	for (;;) {
		uint8_t head[6], addr[256];
		uint16_t event;
		uint32_t value;
		int more = 0;
		size_t more_len = sizeof more;
		int n = zmq_recv(s->monitor, head, sizeof head, ZMQ_DONTWAIT);

		if (n < 0)
			return;
		zmq_getsockopt(s->monitor, ZMQ_RCVMORE, &more, &more_len);
		while (more) {
			zmq_recv(s->monitor, addr, sizeof addr, 0);
			zmq_getsockopt(s->monitor, ZMQ_RCVMORE, &more, &more_len);
		}
		if (n != (int)sizeof head)
			continue;
		memcpy(&event, head, sizeof event);
		memcpy(&value, head + 2, sizeof value);
		if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
			on_handshake_succeeded(s);
		else
			on_handshake_failed(s, event, value);
	}
}

/* Refused a while ago: connect again and say Hello; it waits in the pipe
 * until the handshake is done, or is dropped with it. */
static void refused_retry(session *s)
{
	if (zmq_connect(s->sock, s->endpoint) < 0) {
		log_warn("cannot connect to %s again: %s", s->endpoint, zmq_strerror(errno));
		s->refused_at_ms = emc_now_ms();
		return;
	}
	s->refused = false;
	s->hello_backoff_ms = BACKOFF_MIN_MS;
	send_hello(s);
}

void session_heartbeat(session *s)
{
	if (s->welcomed && emc_now_ms() - s->last_heartbeat_ms >= s->heartbeat_ms) {
		send_heartbeat(s);
		outbox_resend(s, (int64_t)RESEND_BEATS * s->heartbeat_ms);
	}
}

long session_tick(session *s, long max_wait_ms)
{
	int64_t now;
	long timeout = max_wait_ms;

	monitor_drain(s);
	now = emc_now_ms();
	if (s->refused) {
		int64_t due = s->refused_at_ms + REFUSED_RETRY_MS - now;

		if (due > 0)
			return due < timeout ? (long)due : timeout;
		refused_retry(s);
	}
	if (s->welcomed) {
		int64_t due = s->last_heartbeat_ms + s->heartbeat_ms - now;

		if (due < timeout)
			timeout = due < 0 ? 0 : (long)due;
		if (now - s->last_heard_ms > s->lease_ms)
			lose_coordinator(s, "is silent");
	} else if (now - s->last_hello_ms >= s->hello_backoff_ms) {
		send_hello(s);
		s->hello_backoff_ms =
		    s->hello_backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->hello_backoff_ms * 2;
	} else if (s->last_hello_ms + s->hello_backoff_ms - now < timeout) {
		timeout = (long)(s->last_hello_ms + s->hello_backoff_ms - now);
	}
	return timeout;
}

bool session_welcomed(const session *s)
{
	return s->welcomed;
}

void *session_socket(session *s)
{
	return s->sock;
}

/* ---- set-up ------------------------------------------------------------- */

static int setup_curve(void *sock, const char *keys_dir, emc_err *err)
{
	char path[EMC_PATH_MAX + 32], pub[41], sec[41], server[41];

	snprintf(path, sizeof path, "%s/worker.key", keys_dir);
	if (emc_key_read(path, sec, err) < 0)
		return -EKEYREJECTED;
	snprintf(path, sizeof path, "%s/worker.pub", keys_dir);
	if (emc_key_read(path, pub, err) < 0)
		return -EKEYREJECTED;
	snprintf(path, sizeof path, "%s/coordinator.pub", keys_dir);
	if (emc_key_read(path, server, err) < 0)
		return -EKEYREJECTED;
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server, 40) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, 40) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, 40) < 0) {
		emc_err_set(err, EKEYREJECTED, "cannot set up CURVE: %s", zmq_strerror(errno));
		return -EKEYREJECTED;
	}
	return 0;
}

/* A PAIR socket on the inproc endpoint where libzmq reports sock's
 * handshakes; before the connect, so that the first one is seen. */
static int setup_monitor(session *s, void *zmq_ctx, emc_err *err)
{
	char addr[64];
	int linger = 0;

	snprintf(addr, sizeof addr, "inproc://emc-session-monitor-%p", (void *)s);
	if (zmq_socket_monitor(s->sock, addr,
			       ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
				   ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) < 0)
		return emc_err_set(err, errno, "cannot monitor the socket: %s", zmq_strerror(errno));
	s->monitor = zmq_socket(zmq_ctx, ZMQ_PAIR);
	if (!s->monitor)
		return emc_err_set(err, errno, "cannot create a socket: %s", zmq_strerror(errno));
	zmq_setsockopt(s->monitor, ZMQ_LINGER, &linger, sizeof linger);
	if (zmq_connect(s->monitor, addr) < 0)
		return emc_err_set(err, errno, "cannot connect the socket monitor: %s", zmq_strerror(errno));
	return 0;
}

/* The socket's options, then connect. -EKEYREJECTED for unusable keys. */
static int setup_socket(void *sock, const session_config *cfg, emc_err *err)
{
	int linger = 1000, ivl = BACKOFF_MIN_MS, ivl_max = BACKOFF_MAX_MS;
	int64_t maxmsg = EMC_MAX_MESSAGE_BYTES;
	char ident[128];
	emc_rng rng;
	int r;

	/* A routing id of our own lets the coordinator tell a reconnecting
	 * worker from a new one. */
	emc_rng_seed(&rng, (uint64_t)emc_wall_ms() ^ ((uint64_t)getpid() << 32), 0);
	snprintf(ident, sizeof ident, "w-%d-%016llx", (int)getpid(), (unsigned long long)emc_rng_next(&rng));
	zmq_setsockopt(sock, ZMQ_ROUTING_ID, ident, strlen(ident));
	zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
	zmq_setsockopt(sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
	if (cfg->keys_dir && (r = setup_curve(sock, cfg->keys_dir, err)) < 0)
		return r;
	if (zmq_connect(sock, cfg->endpoint) < 0) {
		r = -errno;
		emc_err_set(err, -r, "cannot connect to %s: %s", cfg->endpoint, zmq_strerror(-r));
		return r;
	}
	return 0;
}

int session_new(void *zmq_ctx, const session_config *cfg, const session_handlers *handlers, session **ret, emc_err *err)
{
	session *s = calloc(1, sizeof *s);
	int r;

	if (!s)
		return emc_err_set(err, ENOMEM, "out of memory");
	s->h = *handlers;
	s->slots = cfg->slots;
	s->blas_threads = cfg->blas_threads;
	s->memory_bytes = cfg->memory_bytes;
	snprintf(s->blas_core, sizeof s->blas_core, "%s", cfg->blas_core ? cfg->blas_core : "");
	s->heartbeat_ms = 1000;
	s->lease_ms = 10000;
	s->hello_backoff_ms = BACKOFF_MIN_MS;
	if (strlen(cfg->endpoint) >= sizeof s->endpoint) {
		r = emc_err_set(err, ENAMETOOLONG, "endpoint too long: %.64s...", cfg->endpoint);
		goto fail;
	}
	snprintf(s->endpoint, sizeof s->endpoint, "%s", cfg->endpoint);
	s->sock = zmq_socket(zmq_ctx, ZMQ_DEALER);
	if (!s->sock) {
		r = emc_err_set(err, errno, "cannot create a socket: %s", zmq_strerror(errno));
		goto fail;
	}
	r = setup_monitor(s, zmq_ctx, err);
	if (r < 0)
		goto fail;
	r = setup_socket(s->sock, cfg, err);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	session_destroy(&s);
	return r;
}

void session_start(session *s)
{
	s->hello_backoff_ms = BACKOFF_MIN_MS;
	send_hello(s);
}

void session_destroy(session **p)
{
	session *s = *p;

	if (!s)
		return;
	for (int i = 0; i < s->n_outbox; i++)
		free(s->outbox[i].buf);
	if (s->sock && s->monitor)
		zmq_socket_monitor(s->sock, NULL, 0);
	if (s->monitor)
		zmq_close(s->monitor);
	if (s->sock)
		zmq_close(s->sock);
	free(s);
	*p = NULL;
}
