/* emc-worker — trains the trials a coordinator hands it.
 *
 * This file is the program: options, the `worker` that ties the modules
 * together, the main loop and signals. The modules:
 *   session.c  the connection to the coordinator and the outbox of results
 *              (the only one that speaks the wire format);
 *   slots.c    the training threads, one trial per slot;
 *   cache.c    decoded datasets shared by the slots, decoded outside any
 *              lock the other slots wait on;
 *   fetch.c    the cache directory and dataset transfers by content hash.
 * The session calls back into the worker for what it needs from the others
 * (running attempts, progress, assignments, cancels, chunks); the fetch
 * calls back when a transfer ends. Everything except the slot threads runs
 * on the main thread, which sleeps in zmq_poll() on two sockets: the
 * coordinator's and the slots' "a trial finished" socket.
 *
 * SIGTERM / SIGINT drain: no new work is asked for; running trials get
 * --drain-seconds to finish, then are stopped and reported PREEMPTED (the
 * coordinator runs them again elsewhere); the outbox is flushed; Bye. A
 * second signal stops at once.
 *
 * The only process-wide state is `stop_requested`, because a signal
 * handler can reach nothing else: it is a volatile sig_atomic_t counter
 * the handler increments and the main loop reads after every poll (the
 * signal interrupts zmq_poll with EINTR, so it is seen at once).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>
#include <zmq.h>

#include "cache.h"
#include "cli.h"
#include "fetch.h"
#include "log.h"
#include "session.h"
#include "slots.h"

#define FLUSH_MS 3000

extern void openblas_set_num_threads(int num_threads);
extern char *openblas_get_corename(void);

/* Signals received; the handler's only way to reach the main loop. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested++;
}

typedef struct worker_options {
	const char *endpoint;
	const char *keys_dir; /* NULL with --insecure */
	bool insecure;
	int n_slots;
	int blas_threads;
	int64_t drain_ms;
	int64_t memory_limit_bytes; /* 0 = none */
	char cache_dir[EMC_PATH_MAX];
	int64_t cache_limit_bytes;
	bool no_local_data;
	double fetch_bytes_per_ms; /* 0 = no cap */
	int64_t checkpoint_ms;	   /* 0 = no checkpoints */
} worker_options;

typedef struct worker {
	worker_options opt;
	void *zmq_ctx;
	session *session;
	slots *slots;
	fetch *fetch;
	cache *cache;
} worker;

/* ---- the session's and the fetch's callbacks ------------------------------ */

static size_t on_running(void *ctx, uint64_t *ret_ids, size_t max)
{
	worker *w = ctx;

	/* The first Hello is sent before the slots exist. */
	return w->slots ? slots_running(w->slots, ret_ids, max) : 0;
}

static size_t on_progress(void *ctx, session_progress *ret, size_t max)
{
	return slots_progress(((worker *)ctx)->slots, ret, max);
}

static void on_welcomed(void *ctx)
{
	worker *w = ctx;

	fetch_resume(w->fetch);
	session_send_ready(w->session, (uint32_t)slots_free(w->slots));
}

static void on_assign(void *ctx, const session_assign *a)
{
	slots_assign(((worker *)ctx)->slots, a);
}

static void on_cancel(void *ctx, uint64_t attempt_id)
{
	slots_cancel(((worker *)ctx)->slots, attempt_id);
}

static void on_chunk(void *ctx, const session_chunk *c)
{
	fetch_on_chunk(((worker *)ctx)->fetch, c);
}

static void on_fetched(void *ctx, const uint8_t hash[32], const char *error)
{
	slots_dataset_arrived(((worker *)ctx)->slots, hash, error);
}

/* ---- the main loop -------------------------------------------------------- */

/* One turn of the loop: wait for the network, a finished slot, or the
 * next heartbeat, at most max_wait_ms. */
static int loop_once(worker *w, long max_wait_ms)
{
	zmq_pollitem_t items[2] = {
	    {.socket = session_socket(w->session), .events = ZMQ_POLLIN},
	    {.socket = slots_socket(w->slots), .events = ZMQ_POLLIN},
	};
	long timeout = session_tick(w->session, max_wait_ms);

	if (zmq_poll(items, 2, timeout) < 0) {
		if (errno == EINTR)
			return 0;
		log_error("poll: %s", zmq_strerror(errno));
		return -1;
	}
	if (stop_requested)
		session_stop_asking(w->session);
	if (items[0].revents & ZMQ_POLLIN)
		session_receive(w->session);
	if (items[1].revents & ZMQ_POLLIN)
		slots_collect(w->slots);
	session_heartbeat(w->session);
	slots_send_checkpoints(w->slots);
	fetch_pump(w->fetch);
	return 0;
}

/* SIGTERM: ask for nothing more, let running trials finish for up to
 * drain_ms, stop the rest (reported PREEMPTED), flush the outbox, Bye. */
static void drain_and_leave(worker *w)
{
	int64_t deadline = emc_now_ms() + w->opt.drain_ms;
	sig_atomic_t signals = stop_requested;

	session_stop_asking(w->session);
	if (slots_busy(w->slots) > 0)
		log_info("draining: %d trial(s) running, up to %lld s to finish", slots_busy(w->slots),
			 (long long)(w->opt.drain_ms / 1000));
	while (slots_busy(w->slots) > 0 && emc_now_ms() < deadline && stop_requested == signals)
		if (loop_once(w, deadline - emc_now_ms() < 200 ? (long)(deadline - emc_now_ms()) : 200) < 0)
			break;
	slots_preempt(w->slots);
	fetch_abandon(w->fetch);
	while (slots_busy(w->slots) > 0)
		if (loop_once(w, 200) < 0)
			break;
	deadline = emc_now_ms() + FLUSH_MS;
	while (session_welcomed(w->session) && session_outbox_len(w->session) > 0 && emc_now_ms() < deadline)
		if (loop_once(w, 100) < 0)
			break;
	if (session_outbox_len(w->session) > 0)
		log_warn("%d result(s) unacknowledged at exit; the coordinator will run them again",
			 session_outbox_len(w->session));
	session_send_bye(w->session, "drained");
}

/* ---- options -------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out, "usage: emc-worker --connect ENDPOINT (--keys DIR | --insecure) [options]\n"
		     "  --connect ENDPOINT   the coordinator's worker endpoint (tcp://host:port or ipc://path)\n"
		     "  --keys DIR           CURVE keys: DIR/worker.key, DIR/worker.pub, DIR/coordinator.pub\n"
		     "  --insecure           plain text, for a coordinator on this machine only\n"
		     "  --slots N            trials trained at once (default: number of cores)\n"
		     "  --blas-threads T     OpenBLAS threads per slot (default 1)\n"
		     "  --drain-seconds S    on SIGTERM, how long running trials may finish (default 30)\n"
		     "  --memory-mb M        refuse trials that would need more memory than this\n"
		     "  --cache-dir DIR      where fetched datasets are kept (default $EMC_CACHE_DIR,\n"
		     "                       else $XDG_CACHE_HOME/emc, else ~/.cache/emc)\n"
		     "  --cache-mb M         size bound of the cache; least recently used go first (default 8192)\n"
		     "  --no-local-data      never read dataset files named by the spec: use the cache or\n"
		     "                       fetch from the coordinator\n"
		     "  --fetch-mbps R       cap dataset transfers at R MiB/s (default: no cap)\n"
		     "  --checkpoint-seconds S  send a running trial's checkpoint at most every S s, so that\n"
		     "                       a lost attempt resumes from it (default 5; 0 = never)\n"
		     "  --verbose | --quiet  more or less logging\n"
		     "  --version            print the version and exit\n");
}

/* A numeric option in [lo, hi]; logs and returns -1 when it is not. */
static int long_option(const char *name, long lo, long hi, long *ret)
{
	emc_err err;

	if (cli_long_option(name, optarg, lo, hi, ret, &err) < 0) {
		log_error("%s", err.msg);
		return -1;
	}
	return 0;
}

/* One option; 0, or -1 for a bad value (already logged). */
static int apply_option(worker_options *o, int opt)
{
	long v;

	switch (opt) {
	case 'c':
		o->endpoint = optarg;
		return 0;
	case 'k':
		o->keys_dir = optarg;
		return 0;
	case 'I':
		o->insecure = true;
		return 0;
	case 'N':
		o->no_local_data = true;
		return 0;
	case 'v':
		emc_log_set_level(EMC_LOG_DEBUG);
		return 0;
	case 'q':
		emc_log_set_level(EMC_LOG_WARN);
		return 0;
	case 'C':
		if (strlen(optarg) >= sizeof o->cache_dir) {
			log_error("--cache-dir: path too long");
			return -1;
		}
		snprintf(o->cache_dir, sizeof o->cache_dir, "%s", optarg);
		return 0;
	case 's':
		if (long_option("slots", 1, SLOTS_MAX, &v) < 0)
			return -1;
		o->n_slots = (int)v;
		return 0;
	case 't':
		if (long_option("blas-threads", 1, 256, &v) < 0)
			return -1;
		o->blas_threads = (int)v;
		return 0;
	case 'D':
		if (long_option("drain-seconds", 0, 86400, &v) < 0)
			return -1;
		o->drain_ms = (int64_t)v * 1000;
		return 0;
	case 'M':
		if (long_option("memory-mb", 1, 1 << 30, &v) < 0)
			return -1;
		o->memory_limit_bytes = (int64_t)v << 20;
		return 0;
	case 'B':
		if (long_option("cache-mb", 1, 1 << 30, &v) < 0)
			return -1;
		o->cache_limit_bytes = (int64_t)v << 20;
		return 0;
	case 'R':
		if (long_option("fetch-mbps", 1, 1 << 20, &v) < 0)
			return -1;
		o->fetch_bytes_per_ms = (double)v * 1048.576;
		return 0;
	case 'P':
		if (long_option("checkpoint-seconds", 0, 86400, &v) < 0)
			return -1;
		o->checkpoint_ms = (int64_t)v * 1000;
		return 0;
	}
	return -1;
}

static bool local_endpoint(const char *ep)
{
	return strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "tcp://127.", 10) == 0 ||
	       strncmp(ep, "tcp://localhost:", 16) == 0 || strncmp(ep, "tcp://[::1]:", 12) == 0;
}

static void default_cache_dir(worker_options *o)
{
	const char *env = getenv("EMC_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");

	if (o->cache_dir[0])
		return;
	if (env && *env)
		snprintf(o->cache_dir, sizeof o->cache_dir, "%.1000s", env);
	else if (xdg && *xdg)
		snprintf(o->cache_dir, sizeof o->cache_dir, "%.1000s/emc", xdg);
	else
		snprintf(o->cache_dir, sizeof o->cache_dir, "%.1000s/.cache/emc", home && *home ? home : "/tmp");
}

/* Parse the command line into o. *ret_exit says whether to stop now, with
 * the returned exit code (0 after --help, 2 for a usage error, logged). */
static int parse_options(int argc, char **argv, worker_options *o, bool *ret_exit)
{
	static const struct option opts[] = {{"connect", required_argument, NULL, 'c'},
					     {"slots", required_argument, NULL, 's'},
					     {"blas-threads", required_argument, NULL, 't'},
					     {"keys", required_argument, NULL, 'k'},
					     {"insecure", no_argument, NULL, 'I'},
					     {"drain-seconds", required_argument, NULL, 'D'},
					     {"memory-mb", required_argument, NULL, 'M'},
					     {"cache-dir", required_argument, NULL, 'C'},
					     {"cache-mb", required_argument, NULL, 'B'},
					     {"no-local-data", no_argument, NULL, 'N'},
					     {"fetch-mbps", required_argument, NULL, 'R'},
					     {"checkpoint-seconds", required_argument, NULL, 'P'},
					     {"verbose", no_argument, NULL, 'v'},
					     {"quiet", no_argument, NULL, 'q'},
					     {"help", no_argument, NULL, 'h'},
					     {"version", no_argument, NULL, 'V'},
					     {NULL, 0, NULL, 0}};
	int opt;

	*ret_exit = true;
	while ((opt = getopt_long(argc, argv, "c:s:t:k:ID:M:C:B:NR:P:vqhV", opts, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return 0;
		}
		if (opt == 'V') {
			printf("emc-worker %s (protocol %d, OpenBLAS kernel %s)\n", EMC_VERSION, EMC_PROTOCOL_VERSION,
			       openblas_get_corename());
			return 0;
		}
		if (opt == '?' || opt == ':') {
			usage(stderr);
			return 2;
		}
		if (apply_option(o, opt) < 0)
			return 2;
	}
	if (!o->endpoint || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (o->insecure == (o->keys_dir != NULL)) {
		log_error("give --keys DIR (CURVE) or, for a coordinator on this machine, --insecure");
		return 2;
	}
	if (o->insecure && !local_endpoint(o->endpoint)) {
		log_error("--insecure is only for a coordinator on this machine (ipc:// or loopback), not %s",
			  o->endpoint);
		return 2;
	}
	default_cache_dir(o);
	*ret_exit = false;
	return 0;
}

/* ---- set-up --------------------------------------------------------------- */

/* The memory this worker's trials may use, as its Hello announces it: the
 * --memory-mb limit when given, else the machine's physical memory (0 when
 * unknown). */
static uint64_t memory_announced(const worker *w)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);

	if (w->opt.memory_limit_bytes > 0)
		return (uint64_t)w->opt.memory_limit_bytes;
	return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

/* Build the modules in dependency order: the session (which the fetch and
 * the slots send through), the fetch, the cache, the slots. Returns 0, or
 * the exit code after logging why. */
static int worker_init(worker *w)
{
	const session_handlers handlers = {.ctx = w,
					   .running = on_running,
					   .progress = on_progress,
					   .welcomed = on_welcomed,
					   .assign = on_assign,
					   .cancel = on_cancel,
					   .chunk = on_chunk};
	const session_config scfg = {.endpoint = w->opt.endpoint,
				     .keys_dir = w->opt.keys_dir,
				     .slots = w->opt.n_slots,
				     .blas_threads = w->opt.blas_threads,
				     .blas_core = openblas_get_corename(),
				     .memory_bytes = memory_announced(w)};
	const fetch_config fcfg = {.cache_dir = w->opt.cache_dir,
				   .cache_limit_bytes = w->opt.cache_limit_bytes,
				   .bytes_per_ms = w->opt.fetch_bytes_per_ms};
	const slots_config lcfg = {.n = w->opt.n_slots,
				   .memory_limit_bytes = w->opt.memory_limit_bytes,
				   .no_local_data = w->opt.no_local_data,
				   .checkpoint_ms = w->opt.checkpoint_ms};
	emc_err err;
	int r;

	w->zmq_ctx = zmq_ctx_new();
	if (!w->zmq_ctx) {
		log_error("cannot create a ZeroMQ context: %s", zmq_strerror(errno));
		return 1;
	}
	r = session_new(w->zmq_ctx, &scfg, &handlers, &w->session, &err);
	if (r < 0) {
		log_error("%s", err.msg);
		return r == -EKEYREJECTED ? 2 : 1; /* bad keys: a usage error */
	}
	if (fetch_new(&fcfg, w->session, on_fetched, w, &w->fetch) < 0 || cache_new(&w->cache) < 0) {
		log_error("out of memory");
		return 1;
	}
	if (slots_new(w->zmq_ctx, &lcfg, w->session, w->fetch, w->cache, &w->slots, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	return 0;
}

/* Threads first (they use the cache and their sockets), the context last
 * (it waits for every socket to close). */
static void worker_deinit(worker *w)
{
	slots_destroy(&w->slots);
	fetch_destroy(&w->fetch);
	session_destroy(&w->session);
	if (w->zmq_ctx)
		zmq_ctx_term(w->zmq_ctx);
	w->zmq_ctx = NULL;
	cache_destroy(&w->cache);
}

int main(int argc, char **argv)
{
	worker w = {.opt = {.n_slots = (int)sysconf(_SC_NPROCESSORS_ONLN),
			    .blas_threads = 1,
			    .drain_ms = 30000,
			    .checkpoint_ms = 5000,
			    .cache_limit_bytes = (int64_t)8192 << 20}};
	struct sigaction sa;
	bool exit_now;
	int rc;

	emc_log_init("worker");
	rc = parse_options(argc, argv, &w.opt, &exit_now);
	if (exit_now)
		return rc;
	if (w.opt.n_slots > SLOTS_MAX)
		w.opt.n_slots = SLOTS_MAX;
	openblas_set_num_threads(w.opt.blas_threads);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	rc = worker_init(&w);
	if (rc != 0) {
		worker_deinit(&w);
		return rc;
	}
	log_info("emc %s connecting to %s (%s) with %d slot(s), %d BLAS thread(s) each, kernel %s", EMC_VERSION,
		 w.opt.endpoint, w.opt.insecure ? "plain text" : "CURVE", w.opt.n_slots, w.opt.blas_threads,
		 openblas_get_corename());
	session_start(w.session);

	while (!stop_requested)
		if (loop_once(&w, 1000) < 0) {
			rc = 1;
			break;
		}
	drain_and_leave(&w);
	log_info("stopped");
	worker_deinit(&w);
	return rc;
}
