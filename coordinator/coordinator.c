/* emc-coordinator — the process around the scheduler: sockets, loop, signals.
 *
 * One libuv loop drives everything:
 *   - the worker ROUTER socket and the control ROUTER socket, each watched
 *     through its ZMQ_FD with uv_poll. That fd is edge-triggered: it says
 *     "something changed", not "a message is waiting". So after every
 *     wake-up we receive until ZMQ_EVENTS has no ZMQ_POLLIN, at most
 *     DRAIN_BUDGET messages per turn; when the budget runs out, or after a
 *     send (which can consume the edge), an idle handle drains again on the
 *     next loop turn.
 *   - a timer that lets the scheduler expire leases and retire silent
 *     workers;
 *   - SIGINT / SIGTERM, which close every handle and leave the loop.
 * With --metrics, a libmicrohttpd thread (metrics.c) serves /metrics from
 * a copy of the numbers this loop publishes after every committed turn;
 * that thread never touches the scheduler or the store.
 *
 * What to run and what happened is the scheduler's business (front.c and
 * the modules behind it); this file only moves frames between it and the
 * sockets, and owns the security of the worker socket (auth.c).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>
#include <zmq.h>

#include "auth.h"
#include "campaign.h"
#include "cli.h"
#include "exclusive.h"
#include "log.h"
#include "front.h"
#include "metrics.h"
#include "store.h"
#include "store_report.h"
#include "wire.h"

#define DRAIN_BUDGET 256
#define TICK_MS	     250
#define METRICS_GAUGES_MS 1000 /* how often /metrics' gauges are read again */

static struct {
	uv_loop_t *loop;
	uv_poll_t worker_poll, control_poll, monitor_poll;
	uv_idle_t idle;
	uv_timer_t tick;
	uv_signal_t sigint, sigterm;
	void *zctx;
	void *worker_sock;
	void *control_sock;
	void *monitor_sock; /* handshake failures on the worker socket */
	auth *auth;

	store *db;
	front *front;
	sched *sched; /* the front's model, borrowed */
	bool exit_when_done;
	int exit_code;
	bool stopping;

	metrics *metrics; /* NULL without --metrics */
	int64_t gauges_ms; /* when the metrics' gauges were last read */
} C;

static void shutdown_loop(int code);
static void on_idle(uv_idle_t *h);
static void on_monitor(uv_poll_t *h, int status, int events);

/* ---- sending ----------------------------------------------------------- */

static int send_frame(void *ctx, outbox_channel ch, const uint8_t *identity, size_t identity_len, const uint8_t *buf,
		      size_t len)
{
	void *sock = ch == OUTBOX_CONTROL ? C.control_sock : C.worker_sock;
	int r;

	(void)ctx;
	r = zmq_send(sock, identity, identity_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
	if (r >= 0)
		r = zmq_send(sock, buf, len, ZMQ_DONTWAIT);
	if (r < 0) {
		r = -errno;
		if (r != -EHOSTUNREACH)
			log_debug("send: %s", zmq_strerror(-r));
	}
	/* A send may consume the fd's edge: look again on the next turn. */
	if (!C.stopping)
		uv_idle_start(&C.idle, on_idle);
	return r < 0 ? r : 0;
}

/* ---- draining the sockets --------------------------------------------- */

/* key: what the ZAP handler named the peer (its CURVE key), or NULL. */
typedef void (*message_fn)(front *f, const uint8_t *id, size_t id_len, const char *key, const uint8_t *buf, size_t len);

static void control_message(front *f, const uint8_t *id, size_t id_len, const char *key, const uint8_t *buf, size_t len)
{
	(void)key; /* the control endpoint is local: who may connect is the file system's business */
	front_control_message(f, id, id_len, buf, len);
}

/* Receive up to DRAIN_BUDGET messages. Returns true if more are waiting. */
static bool drain(void *sock, message_fn handle)
{
	for (int i = 0; i < DRAIN_BUDGET; i++) {
		uint32_t events = 0;
		size_t events_len = sizeof events;
		zmq_msg_t id, body;
		bool extra = false;

		if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &events_len) < 0 || !(events & ZMQ_POLLIN))
			return false;
		zmq_msg_init(&id);
		zmq_msg_init(&body);
		if (zmq_msg_recv(&id, sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&id);
			zmq_msg_close(&body);
			return false;
		}
		if (!zmq_msg_more(&id) || zmq_msg_recv(&body, sock, ZMQ_DONTWAIT) < 0) {
			log_warn("from peer: message without a body dropped");
		} else {
			/* Anything beyond one payload frame is not ours. */
			while (zmq_msg_more(&body)) {
				extra = true;
				if (zmq_msg_recv(&body, sock, ZMQ_DONTWAIT) < 0)
					break;
			}
			if (extra)
				log_warn("from peer: multipart message dropped");
			else
				handle(C.front, zmq_msg_data(&id), zmq_msg_size(&id), zmq_msg_gets(&body, "User-Id"),
				       zmq_msg_data(&body), zmq_msg_size(&body));
		}
		zmq_msg_close(&id);
		zmq_msg_close(&body);
		if (C.stopping)
			return false;
	}
	return true;
}

/* ---- metrics ------------------------------------------------------------- */

/* The gauges from their sources: trials by state from the database (so
 * that they are right after a restart), workers from the scheduler. */
static void metrics_gauges_read(metrics_snapshot *s)
{
	int n = sched_worker_count(C.sched);
	sched_worker_info *w = n > 0 ? calloc((size_t)n, sizeof *w) : NULL;
	emc_err err;

	if (store_report_trial_states(C.db, s->trials, &err) < 0)
		log_warn("metrics: %s", err.msg);
	if (w)
		n = sched_worker_list(C.sched, w, n);
	s->workers_alive = w ? n : 0;
	s->workers_busy = 0;
	for (int i = 0; w && i < n; i++)
		s->workers_busy += w[i].busy > 0;
	free(w);
	C.gauges_ms = emc_now_ms();
}

/* After a committed turn: what scrapes see from now on. */
static void metrics_feed(void)
{
	if (!C.metrics)
		return;
	if (emc_now_ms() - C.gauges_ms >= METRICS_GAUGES_MS)
		metrics_gauges_read(metrics_live(C.metrics));
	metrics_publish(C.metrics);
}

/* Serve /metrics on the socket claimed at start, its gauges read before
 * the first scrape, and let the scheduler count into it. 0, or -1 (logged). */
static int metrics_start(int fd)
{
	metrics_snapshot init;
	emc_err err;

	metrics_snapshot_init(&init, EMC_VERSION);
	metrics_gauges_read(&init);
	if (metrics_new(fd, &init, &C.metrics, &err) < 0) {
		log_error("%s", err.msg);
		return -1;
	}
	sched_observe(C.sched, &metrics_sched_observer, C.metrics);
	return 0;
}

static void after_event(void)
{
	if (!C.stopping)
		metrics_feed();
	if (!C.stopping && C.exit_when_done && sched_all_done(C.sched))
		shutdown_loop(0);
}

/* Everything one turn of the loop writes is one transaction (group
 * commit); results are acknowledged once it is durable. */
static bool batch_begin(void)
{
	emc_err err;

	if (front_batch_begin(C.front, &err) < 0) {
		log_error("%s", err.msg);
		shutdown_loop(1);
		return false;
	}
	return true;
}

static void batch_end(void)
{
	emc_err err;

	if (front_batch_end(C.front, &err) < 0) {
		/* Memory ran ahead of the store: stop, and let a restart rebuild. */
		log_error("%s; stopping so that a restart rebuilds state from the database", err.msg);
		shutdown_loop(1);
	}
}

static void drain_all(void)
{
	bool more;

	if (C.stopping || !batch_begin())
		return;
	more = drain(C.worker_sock, front_worker_message);
	if (!C.stopping)
		more |= drain(C.control_sock, control_message);
	if (!C.stopping)
		sched_dispatch(C.sched);
	batch_end();
	after_event();
	if (more && !C.stopping)
		uv_idle_start(&C.idle, on_idle);
}

static void on_idle(uv_idle_t *h)
{
	uv_idle_stop(h);
	drain_all();
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	(void)h;
	(void)events;
	if (status < 0) {
		log_error("poll: %s", uv_strerror(status));
		return;
	}
	drain_all();
}

/* Handshakes that failed on the worker socket: a client without CURVE, or
 * with a broken one, is turned away by libzmq before the ZAP handler is
 * asked, so this is the only place it can be seen. (libzmq reports the
 * local endpoint, not the peer's address.) */
static void on_monitor(uv_poll_t *h, int status, int events)
{
	(void)h;
	(void)events;
	if (status < 0)
		return;
	for (int i = 0; i < DRAIN_BUDGET; i++) {
		uint32_t ev = 0;
		size_t ev_len = sizeof ev;
		zmq_msg_t head, addr;
		uint16_t event = 0;
		uint32_t value = 0;

		if (zmq_getsockopt(C.monitor_sock, ZMQ_EVENTS, &ev, &ev_len) < 0 || !(ev & ZMQ_POLLIN))
			return;
		zmq_msg_init(&head);
		zmq_msg_init(&addr);
		if (zmq_msg_recv(&head, C.monitor_sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&head);
			zmq_msg_close(&addr);
			return;
		}
		if (zmq_msg_more(&head))
			zmq_msg_recv(&addr, C.monitor_sock, ZMQ_DONTWAIT);
		if (zmq_msg_size(&head) >= 6) {
			memcpy(&event, zmq_msg_data(&head), sizeof event);
			memcpy(&value, (const uint8_t *)zmq_msg_data(&head) + 2, sizeof value);
		}
		if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
			log_warn("refused a peer on %.*s: its handshake failed (not CURVE, or a bad key; code 0x%x)",
				 (int)zmq_msg_size(&addr), (const char *)zmq_msg_data(&addr), value);
		zmq_msg_close(&head);
		zmq_msg_close(&addr);
	}
}

static int monitor_start(void)
{
	int fd;
	size_t fd_len = sizeof fd;

	if (zmq_socket_monitor(C.worker_sock, "inproc://emc-worker-monitor",
			       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) < 0)
		return -errno;
	C.monitor_sock = zmq_socket(C.zctx, ZMQ_PAIR);
	if (!C.monitor_sock)
		return -errno;
	zmq_setsockopt(C.monitor_sock, ZMQ_LINGER, &(int){0}, sizeof(int));
	if (zmq_connect(C.monitor_sock, "inproc://emc-worker-monitor") < 0)
		return -errno;
	zmq_getsockopt(C.monitor_sock, ZMQ_FD, &fd, &fd_len);
	uv_poll_init(C.loop, &C.monitor_poll, fd);
	uv_poll_start(&C.monitor_poll, UV_READABLE, on_monitor);
	return 0;
}

/* ---- timers and signals ------------------------------------------------ */

static void on_tick(uv_timer_t *h)
{
	(void)h;
	/* Its fd is edge-triggered like the others: look now and then. */
	if (C.monitor_sock && !C.stopping)
		on_monitor(NULL, 0, 0);
	if (C.stopping || !batch_begin())
		return;
	sched_tick(C.sched);
	batch_end();
	after_event();
}

static void close_cb(uv_handle_t *h)
{
	(void)h;
}

static void shutdown_loop(int code)
{
	if (C.stopping)
		return;
	C.stopping = true;
	C.exit_code = code;
	uv_poll_stop(&C.worker_poll);
	uv_poll_stop(&C.control_poll);
	uv_close((uv_handle_t *)&C.worker_poll, close_cb);
	uv_close((uv_handle_t *)&C.control_poll, close_cb);
	if (C.monitor_sock) {
		uv_poll_stop(&C.monitor_poll);
		uv_close((uv_handle_t *)&C.monitor_poll, close_cb);
	}
	uv_close((uv_handle_t *)&C.idle, close_cb);
	uv_close((uv_handle_t *)&C.tick, close_cb);
	uv_close((uv_handle_t *)&C.sigint, close_cb);
	uv_close((uv_handle_t *)&C.sigterm, close_cb);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)h;
	log_info("signal %d: shutting down", signum);
	shutdown_loop(0);
}

/* ---- set-up ------------------------------------------------------------ */

static void usage(FILE *out)
{
	sched_config d;

	sched_config_defaults(&d);
	fprintf(out,
		"usage: emc-coordinator --db FILE [options]\n"
		"  --db FILE              the campaign database (created if missing)\n"
		"  --bind ENDPOINT        where workers connect (default tcp://127.0.0.1:5555)\n"
		"  --keys DIR             CURVE keys: DIR/coordinator.key (secret) and DIR/workers/*.pub\n"
		"                         (the allow-list); required unless --insecure\n"
		"  --insecure             plain text, no authentication: only for ipc:// or loopback\n"
		"  --control ENDPOINT     where emcctl talks to us: ipc:// or loopback only\n"
		"                         (default ipc://FILE.ctl)\n"
		"  --spec SPEC            add (or resume) the campaign in SPEC before serving\n"
		"  --metrics [HOST:]PORT  serve Prometheus metrics on http://HOST:PORT/metrics\n"
		"                         (HOST defaults to 127.0.0.1)\n"
		"  --exit-when-done       exit once no campaign has work left\n"
		"  --heartbeat-ms MS      worker heartbeat interval (default %u)\n"
		"  --lease-ms MS          silence after which a worker's attempts are lost (default %u)\n"
		"  --grace-ms MS          after a restart, how long running attempts wait for their\n"
		"                         worker to reclaim them (default %u)\n"
		"  --max-lost N           lost or preempted attempts per trial before it fails (default %d)\n"
		"  --max-failed N         failed attempts per trial before it fails (default %d)\n"
		"  --max-workers N        connected workers at most (default %d)\n"
		"  --max-probes N         trials of one cell in flight at most (default %d); 1 makes the\n"
		"                         search path independent of timing\n"
		"  --verbose | --quiet    more or less logging\n"
		"  --version              print the version and exit\n",
		d.heartbeat_ms, d.lease_ms, d.grace_ms, d.max_lost, d.max_failed, d.max_workers, d.max_probes);
}

static bool local_endpoint(const char *ep)
{
	return strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0 ||
	       strncmp(ep, "tcp://127.", 10) == 0 || strncmp(ep, "tcp://localhost:", 16) == 0 ||
	       strncmp(ep, "tcp://[::1]:", 12) == 0;
}

static void *bind_router(const char *endpoint, uv_poll_t *poll, bool curve)
{
	void *sock = zmq_socket(C.zctx, ZMQ_ROUTER);
	int64_t maxmsg = EMC_MAX_MESSAGE_BYTES;
	int one = 1, linger = 0;
	int fd;
	size_t fd_len = sizeof fd;

	if (!sock)
		return NULL;
	zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
	zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
	if (curve && auth_server_socket(C.auth, sock) < 0) {
		zmq_close(sock);
		return NULL;
	}
	if (zmq_bind(sock, endpoint) < 0) {
		log_error("cannot bind %s: %s", endpoint, zmq_strerror(errno));
		zmq_close(sock);
		return NULL;
	}
	zmq_getsockopt(sock, ZMQ_FD, &fd, &fd_len);
	uv_poll_init(C.loop, poll, fd);
	uv_poll_start(poll, UV_READABLE, on_poll);
	return sock;
}

static int parse_option_long(const char *name, const char *text, long min, long max, long *ret)
{
	emc_err err;

	if (cli_long_option(name, text, min, max, ret, &err) < 0) {
		log_error("%s", err.msg);
		return -1;
	}
	return 0;
}

/* What the command line asked for. */
typedef struct options {
	const char *db_path, *bind_ep, *spec_path, *keys_dir, *metrics_addr;
	char control_ep[EMC_PATH_MAX + 16];
	bool insecure;
	sched_config cfg;
} options;

/* One numeric option: its name, the field it sets and its range. */
typedef struct numeric_option {
	int opt;
	const char *name;
	long min, max;
} numeric_option;

static const numeric_option numeric_options[] = {
    {'H', "heartbeat-ms", 50, 60000}, {'L', "lease-ms", 100, 3600000}, {'G', "grace-ms", 0, 3600000},
    {'l', "max-lost", 0, 1000},	      {'f', "max-failed", 0, 1000},    {'W', "max-workers", 1, 65536},
    {'P', "max-probes", 1, 64},
};

static void numeric_set(sched_config *cfg, int opt, long v)
{
	switch (opt) {
	case 'H':
		cfg->heartbeat_ms = (uint32_t)v;
		break;
	case 'L':
		cfg->lease_ms = (uint32_t)v;
		break;
	case 'G':
		cfg->grace_ms = (uint32_t)v;
		break;
	case 'l':
		cfg->max_lost = (int)v;
		break;
	case 'f':
		cfg->max_failed = (int)v;
		break;
	case 'W':
		cfg->max_workers = (int)v;
		break;
	case 'P':
		cfg->max_probes = (int)v;
		break;
	}
}

/* A numeric option's value: 0, 1 when opt is not numeric, -1 on a bad value. */
static int numeric_parse(options *o, int opt, const char *text)
{
	for (size_t i = 0; i < sizeof numeric_options / sizeof numeric_options[0]; i++) {
		const numeric_option *n = &numeric_options[i];
		long v;

		if (n->opt != opt)
			continue;
		if (parse_option_long(n->name, text, n->min, n->max, &v) < 0)
			return -1;
		numeric_set(&o->cfg, opt, v);
		return 0;
	}
	return 1;
}

/* Parse argv into *o. -1 to go on; otherwise the exit status. */
static int options_parse(int argc, char **argv, options *o)
{
	static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
					     {"bind", required_argument, NULL, 'b'},
					     {"control", required_argument, NULL, 'c'},
					     {"spec", required_argument, NULL, 's'},
					     {"metrics", required_argument, NULL, 'M'},
					     {"exit-when-done", no_argument, NULL, 'x'},
					     {"heartbeat-ms", required_argument, NULL, 'H'},
					     {"lease-ms", required_argument, NULL, 'L'},
					     {"grace-ms", required_argument, NULL, 'G'},
					     {"max-lost", required_argument, NULL, 'l'},
					     {"max-failed", required_argument, NULL, 'f'},
					     {"max-workers", required_argument, NULL, 'W'},
					     {"keys", required_argument, NULL, 'k'},
					     {"insecure", no_argument, NULL, 'I'},
					     {"max-probes", required_argument, NULL, 'P'},
					     {"verbose", no_argument, NULL, 'v'},
					     {"quiet", no_argument, NULL, 'q'},
					     {"help", no_argument, NULL, 'h'},
					     {"version", no_argument, NULL, 'V'},
					     {NULL, 0, NULL, 0}};
	int opt, r;

	while ((opt = getopt_long(argc, argv, "d:b:c:s:M:xH:L:G:l:f:W:k:IP:vqhV", opts, NULL)) != -1) {
		r = numeric_parse(o, opt, optarg);
		if (r < 0)
			return 2;
		if (r == 0)
			continue;
		switch (opt) {
		case 'd':
			o->db_path = optarg;
			break;
		case 'b':
			o->bind_ep = optarg;
			break;
		case 'c':
			snprintf(o->control_ep, sizeof o->control_ep, "%s", optarg);
			break;
		case 's':
			o->spec_path = optarg;
			break;
		case 'M':
			o->metrics_addr = optarg;
			break;
		case 'x':
			C.exit_when_done = true;
			break;
		case 'k':
			o->keys_dir = optarg;
			break;
		case 'I':
			o->insecure = true;
			break;
		case 'v':
			emc_log_set_level(EMC_LOG_DEBUG);
			break;
		case 'q':
			emc_log_set_level(EMC_LOG_WARN);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("emc-coordinator %s (protocol %d, schema %d)\n", EMC_VERSION, EMC_PROTOCOL_VERSION,
			       STORE_SCHEMA_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!o->db_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* The options that only make sense together. 0, or -1 (logged). */
static int options_check(options *o)
{
	if (o->cfg.lease_ms < 2 * o->cfg.heartbeat_ms) {
		log_error("--lease-ms must be at least twice --heartbeat-ms");
		return -1;
	}
	if (!o->control_ep[0])
		snprintf(o->control_ep, sizeof o->control_ep, "ipc://%s.ctl", o->db_path);
	if (!local_endpoint(o->control_ep)) {
		log_error("--control %s: the control endpoint must be ipc:// or loopback", o->control_ep);
		return -1;
	}
	if (o->insecure && o->keys_dir) {
		log_error("--insecure and --keys exclude each other");
		return -1;
	}
	if (o->insecure && !local_endpoint(o->bind_ep)) {
		log_error("--insecure is only for a single machine (ipc:// or loopback), not %s", o->bind_ep);
		return -1;
	}
	if (!o->insecure && !o->keys_dir) {
		log_error("--keys DIR is required (or --insecure for ipc:// or loopback); see emcctl keygen");
		return -1;
	}
	return 0;
}

/* A spec given on the command line, read and prepared (parsed, its data
 * decoded and checked) before the database is even opened: a bad spec must
 * leave no trace. */
typedef struct startup_spec {
	char *text, *dir;
	size_t len;
	campaign_prep prep;
} startup_spec;

static int startup_spec_prepare(const char *path, startup_spec *sp)
{
	emc_err err;

	if (campaign_read_file(path, &sp->text, &sp->len, &sp->dir, &err) < 0 ||
	    campaign_prepare(sp->text, sp->len, path, sp->dir, &sp->prep, &err) < 0) {
		log_error("%s", err.msg);
		return -1;
	}
	return 0;
}

static void startup_spec_deinit(startup_spec *sp)
{
	campaign_prep_deinit(&sp->prep);
	free(sp->text);
	free(sp->dir);
	memset(sp, 0, sizeof *sp);
}

/* Open the store and the scheduler over it, and submit the startup spec
 * (whose decoded dataset the scheduler takes, so this process decodes it
 * once). 0, or the exit status. */
static int state_open(const options *o, startup_spec *sp)
{
	emc_err err;

	if (store_open(o->db_path, false, &C.db, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	if (front_new(C.db, &o->cfg, send_frame, NULL, &C.front, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	C.sched = front_sched(C.front);
	if (o->spec_path) {
		int64_t id;
		sched_submitted found;

		/* --spec asks to run the campaign: a paused one is resumed, a
		 * finished one has nothing left (and --exit-when-done exits) */
		if (sched_submit_prepared(C.sched, &sp->prep, sp->text, sp->len, o->spec_path, true, &id, &found,
					  &err) < 0) {
			log_error("%s", err.msg);
			front_destroy(&C.front);
			store_close(&C.db);
			return 2;
		}
	}
	return 0;
}

/* Sockets, timer and signals on the loop. 0, or the exit status. */
static int loop_start(const options *o)
{
	C.loop = uv_default_loop();
	C.worker_sock = bind_router(o->bind_ep, &C.worker_poll, !o->insecure);
	if (!C.worker_sock)
		return 1;
	C.control_sock = bind_router(o->control_ep, &C.control_poll, false);
	if (!C.control_sock)
		return 1;
	if (!o->insecure && monitor_start() < 0)
		log_warn("cannot watch the worker socket's handshakes: %s", zmq_strerror(errno));
	uv_idle_init(C.loop, &C.idle);
	uv_timer_init(C.loop, &C.tick);
	uv_timer_start(&C.tick, on_tick, TICK_MS, TICK_MS);
	uv_signal_init(C.loop, &C.sigint);
	uv_signal_init(C.loop, &C.sigterm);
	uv_signal_start(&C.sigint, on_signal, SIGINT);
	uv_signal_start(&C.sigterm, on_signal, SIGTERM);
	log_info("serving workers on %s (%s), control on %s", o->bind_ep, o->insecure ? "plain text" : "CURVE",
		 o->control_ep);
	return 0;
}

static void loop_stop(void)
{
	if (sched_results_fenced(C.sched))
		log_info("%" PRId64 " stale result(s) were fenced", sched_results_fenced(C.sched));
	if (C.monitor_sock) {
		on_monitor(NULL, 0, 0); /* refusals not yet logged */
		zmq_socket_monitor(C.worker_sock, NULL, 0);
		zmq_close(C.monitor_sock);
	}
	zmq_close(C.worker_sock);
	zmq_close(C.control_sock);
	auth_destroy(&C.auth);
	zmq_ctx_term(C.zctx);
	uv_loop_close(C.loop);
	front_destroy(&C.front);
	store_close(&C.db);
	metrics_destroy(&C.metrics);
}

int main(int argc, char **argv)
{
	options o = {.bind_ep = "tcp://127.0.0.1:5555"};
	startup_spec sp = {0};
	emc_err err;
	int r, metrics_fd = -1;
	char metrics_where[300];

	emc_log_init("coordinator");
	sched_config_defaults(&o.cfg);
	r = options_parse(argc, argv, &o);
	if (r >= 0)
		return r;
	if (options_check(&o) < 0)
		return 2;
	/* before anything slow or visible: another coordinator may own these */
	if (excl_endpoint_free(o.bind_ep, &err) < 0 || excl_endpoint_free(o.control_ep, &err) < 0 ||
	    excl_db_lock(o.db_path, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	/* the metrics port too: taken is an error before anything starts */
	if (o.metrics_addr && (r = metrics_listen(o.metrics_addr, metrics_where, sizeof metrics_where, &metrics_fd, &err)) < 0) {
		log_error("%s", err.msg);
		return r == -EINVAL ? 2 : 1; /* a bad address is a usage error */
	}
	if (o.spec_path && startup_spec_prepare(o.spec_path, &sp) < 0) {
		startup_spec_deinit(&sp);
		return 2;
	}

	C.zctx = zmq_ctx_new();
	/* The ZAP handler must run before the socket binds: without one,
	 * libzmq admits every client that knows the server's key. */
	if (!o.insecure && auth_new(C.zctx, o.keys_dir, &C.auth, &err) < 0) {
		log_error("%s", err.msg);
		startup_spec_deinit(&sp);
		return 2;
	}
	r = state_open(&o, &sp);
	startup_spec_deinit(&sp);
	if (r != 0)
		return r;
	r = loop_start(&o);
	if (r != 0)
		return r;
	if (metrics_fd >= 0) {
		if (metrics_start(metrics_fd) < 0)
			return 1;
		log_info("serving metrics on http://%s/metrics", metrics_where);
	}

	if (C.exit_when_done && sched_all_done(C.sched))
		shutdown_loop(0);
	else
		uv_idle_start(&C.idle, on_idle);
	uv_run(C.loop, UV_RUN_DEFAULT);

	loop_stop();
	log_info("stopped");
	return C.exit_code;
}
