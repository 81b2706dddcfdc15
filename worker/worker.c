/* emc-worker — trains the trials a coordinator hands it.
 *
 * One DEALER socket to the coordinator's ROUTER, owned by the main thread,
 * which is the only thread that touches it. Each slot trains one trial at
 * a time on its own thread (one BLAS thread per slot by default: on small
 * EMC-sized networks more threads per GEMM are slower). A slot thread that
 * finishes pokes the main thread through its own inproc PAIR socket, so
 * the main thread sleeps in zmq_poll() and wakes for either the network or
 * a finished trial — never a polling delay between two trials.
 *
 * The conversation (docs/protocol.md):
 *   worker: Hello(slots, protocol)      coordinator: Welcome(heartbeat, lease)
 *   worker: Ready(credit = free slots)  coordinator: Assign(attempt, n, cell, dataset)
 *   worker: Heartbeat(progress)…        coordinator: Cancel(attempt)
 *   worker: Result(attempt, outcome)    coordinator: ResultAck
 * An Error from the coordinator (it restarted and forgot us) makes the
 * worker say Hello again. SIGTERM / SIGINT stop training, report the
 * running attempts as cancelled and say Bye.
 *
 * Datasets are loaded on the slot thread, once per process, and shared by
 * every slot (read-only after loading).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>
#include <zmq.h>

#include "cli.h"
#include "dataset.h"
#include "log.h"
#include "nn.h"
#include "rng.h"
#include "wire.h"

#define MAX_SLOTS 256
#define HELLO_RETRY_MS 2000
#define DATASET_CACHE_MAX 8
/* Random labels depend on the sample index only, not on the cell's seed,
 * so every cell of a campaign sees the same random labelling. */
#define RANDOM_LABELS_SEED 0x5eed1abe15ULL

extern void openblas_set_num_threads(int num_threads);

typedef enum slot_state { SLOT_FREE = 0, SLOT_BUSY, SLOT_DONE } slot_state;

typedef struct slot {
	int index;
	pthread_t thread;
	bool thread_started;
	void *poke_tx; /* inproc PAIR, slot thread side */
	void *poke_rx; /* inproc PAIR, main thread side */
	slot_state state;

	/* The assignment: written by main before the thread starts. */
	uint64_t attempt_id, trial_id;
	int64_t n;
	emc_cell_cfg cell;
	emc_dataset_ref dataset;

	/* Written by the slot thread; read by main after the poke. */
	nn_trial_result result;
	int rc;
	emc_err err;

	atomic_int cancel;
	pthread_mutex_t progress_lock;
	nn_progress progress;
} slot;

typedef struct cached_dataset {
	emc_dataset_ref ref;
	emc_dataset *ds;
} cached_dataset;

static struct {
	void *ctx;
	void *sock;
	int n_slots;
	int blas_threads;
	slot slots[MAX_SLOTS];
	bool welcomed;
	uint32_t heartbeat_ms;
	int64_t last_hello_ms;
	int64_t last_heartbeat_ms;

	pthread_mutex_t cache_lock;
	cached_dataset cache[DATASET_CACHE_MAX];
	int n_cache;
} W;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* ---- sending ----------------------------------------------------------- */

static int send_env(Emc__Envelope *env)
{
	uint8_t *buf;
	size_t len;
	emc_err err;
	int r = wire_encode(env, &buf, &len, &err);

	if (r < 0) {
		log_error("%s", err.msg);
		return r;
	}
	r = zmq_send(W.sock, buf, len, ZMQ_DONTWAIT);
	free(buf);
	if (r < 0) {
		log_warn("send failed: %s", zmq_strerror(errno));
		return -errno;
	}
	return 0;
}

static void send_hello(void)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Hello hello = EMC__HELLO__INIT;
	char host[HOST_NAME_MAX + 1] = "";
	char *caps[] = { "family:linear", "family:mlp", "format:idx" };
	uint64_t running[MAX_SLOTS];
	size_t n_running = 0;

	gethostname(host, sizeof host - 1);
	for (int i = 0; i < W.n_slots; i++)
		if (W.slots[i].state != SLOT_FREE)
			running[n_running++] = W.slots[i].attempt_id;
	hello.protocol = EMC_PROTOCOL_VERSION;
	hello.host = host;
	hello.pid = (uint32_t)getpid();
	hello.slots = (uint32_t)W.n_slots;
	hello.blas_threads = (uint32_t)W.blas_threads;
	hello.n_capabilities = sizeof caps / sizeof caps[0];
	hello.capabilities = caps;
	hello.n_running_attempts = n_running;
	hello.running_attempts = running;
	env.body_case = EMC__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	send_env(&env);
	W.last_hello_ms = emc_now_ms();
}

static int free_slots(void)
{
	int n = 0;

	for (int i = 0; i < W.n_slots; i++)
		n += W.slots[i].state == SLOT_FREE;
	return n;
}

static void send_ready(uint32_t credit)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Ready ready = EMC__READY__INIT;

	if (credit == 0 || stop_requested)
		return;
	ready.credit = credit;
	env.body_case = EMC__ENVELOPE__BODY_READY;
	env.ready = &ready;
	send_env(&env);
}

static void send_heartbeat(void)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Heartbeat hb = EMC__HEARTBEAT__INIT;
	Emc__AttemptProgress progress[MAX_SLOTS];
	Emc__AttemptProgress *ptrs[MAX_SLOTS];
	size_t n = 0;

	for (int i = 0; i < W.n_slots; i++) {
		slot *s = &W.slots[i];

		if (s->state != SLOT_BUSY)
			continue;
		emc__attempt_progress__init(&progress[n]);
		progress[n].attempt_id = s->attempt_id;
		pthread_mutex_lock(&s->progress_lock);
		progress[n].epoch = s->progress.epoch;
		progress[n].step = s->progress.step;
		progress[n].loss = s->progress.loss;
		progress[n].accuracy = s->progress.accuracy;
		progress[n].seconds = s->progress.seconds;
		pthread_mutex_unlock(&s->progress_lock);
		ptrs[n] = &progress[n];
		n++;
	}
	hb.n_attempts = n;
	hb.attempts = ptrs;
	env.body_case = EMC__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	send_env(&env);
	W.last_heartbeat_ms = emc_now_ms();
}

static void send_result(slot *s)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Result res = EMC__RESULT__INIT;
	const nn_progress *last = &s->result.last;

	res.attempt_id = s->attempt_id;
	res.trial_id = s->trial_id;
	if (s->rc < 0) {
		res.outcome = EMC__OUTCOME__OUTCOME_FAILED;
		res.reason = EMC__STOP_REASON__STOP_ERROR;
		res.error = s->err.msg;
	} else {
		res.outcome = (Emc__Outcome)s->result.outcome;
		res.reason = (Emc__StopReason)s->result.reason;
		res.epochs = last->epoch;
		res.steps = last->step;
		res.train_seconds = last->seconds;
		res.loss = last->loss;
		res.accuracy = last->accuracy;
		res.grad_norm = last->grad_norm;
		res.budget_used = last->budget_used;
		res.params = s->result.params;
	}
	env.body_case = EMC__ENVELOPE__BODY_RESULT;
	env.result = &res;
	send_env(&env);
	log_info("attempt %llu: n=%lld %s (%s) after %lld epochs, %.2fs", (unsigned long long)s->attempt_id,
		 (long long)s->n, s->rc < 0 ? "failed" : emc_outcome_name(s->result.outcome),
		 s->rc < 0 ? s->err.msg : emc_stop_reason_name(s->result.reason), (long long)last->epoch,
		 last->seconds);
}

/* ---- training, on the slot thread ------------------------------------- */

static bool same_ref(const emc_dataset_ref *a, const emc_dataset_ref *b)
{
	return strcmp(a->images, b->images) == 0 && strcmp(a->labels, b->labels) == 0 &&
	       strcmp(a->format, b->format) == 0;
}

/* The dataset for ref, loaded once per process. The cache lock is held
 * while loading so two slots never decode the same files twice. */
static int dataset_get(const emc_dataset_ref *ref, const emc_dataset **ret, emc_err *err)
{
	int r = 0;

	pthread_mutex_lock(&W.cache_lock);
	for (int i = 0; i < W.n_cache; i++)
		if (same_ref(&W.cache[i].ref, ref)) {
			*ret = W.cache[i].ds;
			goto out;
		}
	if (W.n_cache == DATASET_CACHE_MAX) {
		r = emc_err_set(err, ENOSPC, "worker: more than %d datasets in one process", DATASET_CACHE_MAX);
		goto out;
	}
	r = emc_dataset_load(ref, &W.cache[W.n_cache].ds, err);
	if (r < 0)
		goto out;
	W.cache[W.n_cache].ref = *ref;
	*ret = W.cache[W.n_cache].ds;
	W.n_cache++;
out:
	pthread_mutex_unlock(&W.cache_lock);
	return r;
}

static void on_progress(void *ctx, const nn_progress *p)
{
	slot *s = ctx;

	pthread_mutex_lock(&s->progress_lock);
	s->progress = *p;
	pthread_mutex_unlock(&s->progress_lock);
}

/* Gather subset(n) of the dataset under the cell's label variant and seed,
 * then train. */
static int run_trial(slot *s)
{
	const emc_dataset *ds = NULL;
	uint8_t *labels = NULL, *y = NULL;
	int32_t *order = NULL;
	float *x = NULL;
	nn_hooks hooks = { .progress = on_progress, .ctx = s, .cancel = &s->cancel };
	nn_data data;
	int r;

	r = dataset_get(&s->dataset, &ds, &s->err);
	if (r < 0)
		return r;
	if (s->n < 1 || s->n > ds->n)
		return emc_err_set(&s->err, EINVAL, "worker: n = %lld but the dataset has %lld samples",
				   (long long)s->n, (long long)ds->n);
	labels = malloc((size_t)ds->n);
	order = malloc((size_t)ds->n * sizeof *order);
	y = malloc((size_t)s->n);
	x = malloc((size_t)s->n * (size_t)ds->dim * sizeof *x);
	if (!labels || !order || !y || !x) {
		r = emc_err_set(&s->err, ENOMEM, "worker: out of memory for a subset of %lld samples",
				(long long)s->n);
		goto out;
	}
	r = emc_labels_variant(ds->y, ds->n, ds->shape.classes, s->cell.labels, RANDOM_LABELS_SEED, labels);
	if (r == 0)
		r = emc_subset_order(labels, ds->n, ds->shape.classes, s->cell.seed, order);
	if (r < 0) {
		emc_err_set(&s->err, r, "worker: cannot draw the subset");
		goto out;
	}
	for (int64_t i = 0; i < s->n; i++) {
		memcpy(x + i * ds->dim, ds->x + (int64_t)order[i] * ds->dim, (size_t)ds->dim * sizeof *x);
		y[i] = labels[order[i]];
	}
	data = (nn_data){ .x = x, .y = y, .n = s->n, .shape = ds->shape };
	r = nn_train(&s->cell, &data, &hooks, &s->result, &s->err);
out:
	free(labels);
	free(order);
	free(y);
	free(x);
	return r;
}

static void *slot_main(void *arg)
{
	slot *s = arg;
	char byte = 1;

	s->rc = run_trial(s);
	/* Main reads the result only after this message arrives. */
	zmq_send(s->poke_tx, &byte, 1, 0);
	return NULL;
}

/* ---- handling the coordinator's messages ------------------------------ */

static void handle_assign(const Emc__Assign *a)
{
	slot *s = NULL;
	emc_err err;

	for (int i = 0; i < W.n_slots && !s; i++)
		if (W.slots[i].state == SLOT_FREE)
			s = &W.slots[i];
	if (!s) {
		log_warn("assignment of attempt %llu with no free slot; ignored",
			 (unsigned long long)a->attempt_id);
		return;
	}
	s->attempt_id = a->attempt_id;
	s->trial_id = a->trial_id;
	s->n = (int64_t)a->n;
	memset(&s->result, 0, sizeof s->result);
	memset(&s->progress, 0, sizeof s->progress);
	emc_err_clear(&s->err);
	s->rc = 0;
	atomic_store(&s->cancel, 0);
	if (!a->cell || !a->dataset || wire_cell_from_pb(a->cell, &s->cell, &err) < 0 ||
	    wire_dataset_from_pb(a->dataset, &s->dataset, &err) < 0) {
		if (!a->cell || !a->dataset)
			snprintf(err.msg, sizeof err.msg, "worker: assignment lacks its cell or dataset");
		s->rc = -EINVAL;
		s->err = err;
		s->state = SLOT_BUSY;
		send_result(s);
		s->state = SLOT_FREE;
		send_ready(1);
		return;
	}
	s->state = SLOT_BUSY;
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	s->thread_started = pthread_create(&s->thread, NULL, slot_main, s) == 0;
	if (!s->thread_started) {
		s->rc = emc_err_set(&s->err, EAGAIN, "worker: cannot start a training thread");
		send_result(s);
		s->state = SLOT_FREE;
		send_ready(1);
	}
}

static void handle_cancel(const Emc__Cancel *c)
{
	for (int i = 0; i < W.n_slots; i++)
		if (W.slots[i].state == SLOT_BUSY && W.slots[i].attempt_id == c->attempt_id)
			atomic_store(&W.slots[i].cancel, 1);
}

static void handle_message(const uint8_t *buf, size_t len)
{
	Emc__Envelope *env = NULL;
	emc_err err;

	if (wire_decode(buf, len, &env, &err) < 0) {
		log_warn("from coordinator: %s", err.msg);
		return;
	}
	switch (env->body_case) {
	case EMC__ENVELOPE__BODY_WELCOME:
		if (!W.welcomed)
			log_info("welcomed as worker %llu", (unsigned long long)env->welcome->worker_id);
		W.welcomed = true;
		if (env->welcome->heartbeat_ms >= 50 && env->welcome->heartbeat_ms <= 60000)
			W.heartbeat_ms = env->welcome->heartbeat_ms;
		send_ready((uint32_t)free_slots());
		break;
	case EMC__ENVELOPE__BODY_ASSIGN:
		if (W.welcomed)
			handle_assign(env->assign);
		break;
	case EMC__ENVELOPE__BODY_CANCEL:
		handle_cancel(env->cancel);
		break;
	case EMC__ENVELOPE__BODY_RESULT_ACK:
		break;
	case EMC__ENVELOPE__BODY_ERROR:
		log_warn("coordinator says: %s; saying hello again", env->error->message);
		W.welcomed = false;
		send_hello();
		break;
	default:
		log_warn("from coordinator: unexpected message (body %d)", (int)env->body_case);
		break;
	}
	wire_free(&env);
}

static void drain_socket(void)
{
	for (;;) {
		zmq_msg_t msg;
		int n;

		zmq_msg_init(&msg);
		n = zmq_msg_recv(&msg, W.sock, ZMQ_DONTWAIT);
		if (n < 0) {
			zmq_msg_close(&msg);
			return;
		}
		if (zmq_msg_more(&msg)) {
			/* One frame per message: drop multipart garbage whole. */
			while (zmq_msg_more(&msg) && zmq_msg_recv(&msg, W.sock, ZMQ_DONTWAIT) >= 0)
				;
			log_warn("from coordinator: multipart message dropped");
		} else {
			handle_message(zmq_msg_data(&msg), zmq_msg_size(&msg));
		}
		zmq_msg_close(&msg);
	}
}

static void collect_finished(slot *s)
{
	char byte;

	while (zmq_recv(s->poke_rx, &byte, 1, ZMQ_DONTWAIT) >= 0) {
		pthread_join(s->thread, NULL);
		s->thread_started = false;
		send_result(s);
		s->state = SLOT_FREE;
		if (W.welcomed)
			send_ready(1);
	}
}

/* ---- set-up and the main loop ----------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: emc-worker --connect ENDPOINT [options]\n"
		"  --connect ENDPOINT   the coordinator's worker endpoint (tcp://host:port or ipc://path)\n"
		"  --slots N            trials trained at once (default: number of cores)\n"
		"  --blas-threads T     OpenBLAS threads per slot (default 1)\n"
		"  --verbose | --quiet  more or less logging\n");
}

static int setup_slots(void)
{
	for (int i = 0; i < W.n_slots; i++) {
		slot *s = &W.slots[i];
		char ep[64];

		s->index = i;
		pthread_mutex_init(&s->progress_lock, NULL);
		snprintf(ep, sizeof ep, "inproc://slot-%d", i);
		s->poke_rx = zmq_socket(W.ctx, ZMQ_PAIR);
		s->poke_tx = zmq_socket(W.ctx, ZMQ_PAIR);
		if (!s->poke_rx || !s->poke_tx || zmq_bind(s->poke_rx, ep) < 0 || zmq_connect(s->poke_tx, ep) < 0)
			return -errno;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'c' }, { "slots", required_argument, NULL, 's' },
		{ "blas-threads", required_argument, NULL, 't' }, { "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },		 { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *endpoint = NULL;
	struct sigaction sa;
	int opt, maxmsg = EMC_MAX_MESSAGE_BYTES, linger = 1000, rc = 0;
	char ident[128];
	emc_rng rng;
	long v;

	emc_log_init("worker");
	W.n_slots = (int)sysconf(_SC_NPROCESSORS_ONLN);
	W.blas_threads = 1;
	W.heartbeat_ms = 1000;
	while ((opt = getopt_long(argc, argv, "c:s:t:vqh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			endpoint = optarg;
			break;
		case 's':
			if (cli_long(optarg, 1, MAX_SLOTS, &v) < 0) {
				log_error("--slots must be a whole number from 1 to %d", MAX_SLOTS);
				return 2;
			}
			W.n_slots = (int)v;
			break;
		case 't':
			if (cli_long(optarg, 1, 256, &v) < 0) {
				log_error("--blas-threads must be a whole number from 1 to 256");
				return 2;
			}
			W.blas_threads = (int)v;
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
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!endpoint || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (W.n_slots > MAX_SLOTS)
		W.n_slots = MAX_SLOTS;
	openblas_set_num_threads(W.blas_threads);
	pthread_mutex_init(&W.cache_lock, NULL);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	W.ctx = zmq_ctx_new();
	W.sock = zmq_socket(W.ctx, ZMQ_DEALER);
	/* A routing id of our own lets the coordinator tell a reconnecting
	 * worker from a new one. */
	emc_rng_seed(&rng, (uint64_t)emc_wall_ms() ^ ((uint64_t)getpid() << 32), 0);
	snprintf(ident, sizeof ident, "w-%d-%016llx", (int)getpid(), (unsigned long long)emc_rng_next(&rng));
	zmq_setsockopt(W.sock, ZMQ_ROUTING_ID, ident, strlen(ident));
	zmq_setsockopt(W.sock, ZMQ_MAXMSGSIZE, &(int64_t){ maxmsg }, sizeof(int64_t));
	zmq_setsockopt(W.sock, ZMQ_LINGER, &linger, sizeof linger);
	if (zmq_connect(W.sock, endpoint) < 0) {
		log_error("cannot connect to %s: %s", endpoint, zmq_strerror(errno));
		return 1;
	}
	if (setup_slots() < 0) {
		log_error("cannot set up slots: %s", zmq_strerror(errno));
		return 1;
	}
	log_info("connecting to %s with %d slot(s), %d BLAS thread(s) each", endpoint, W.n_slots, W.blas_threads);
	send_hello();

	while (!stop_requested) {
		zmq_pollitem_t items[MAX_SLOTS + 1];
		int64_t now = emc_now_ms();
		long timeout = W.heartbeat_ms;

		items[0] = (zmq_pollitem_t){ .socket = W.sock, .events = ZMQ_POLLIN };
		for (int i = 0; i < W.n_slots; i++)
			items[i + 1] = (zmq_pollitem_t){ .socket = W.slots[i].poke_rx, .events = ZMQ_POLLIN };
		if (W.welcomed) {
			int64_t due = W.last_heartbeat_ms + W.heartbeat_ms - now;

			timeout = due < 0 ? 0 : due;
		} else if (now - W.last_hello_ms >= HELLO_RETRY_MS) {
			send_hello();
		}
		if (zmq_poll(items, W.n_slots + 1, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", zmq_strerror(errno));
			rc = 1;
			break;
		}
		if (items[0].revents & ZMQ_POLLIN)
			drain_socket();
		for (int i = 0; i < W.n_slots; i++)
			if (items[i + 1].revents & ZMQ_POLLIN)
				collect_finished(&W.slots[i]);
		if (W.welcomed && emc_now_ms() - W.last_heartbeat_ms >= W.heartbeat_ms)
			send_heartbeat();
	}

	/* Drain: stop every running trial, report it, say goodbye. */
	for (int i = 0; i < W.n_slots; i++) {
		slot *s = &W.slots[i];

		if (s->state == SLOT_BUSY) {
			atomic_store(&s->cancel, 1);
			pthread_join(s->thread, NULL);
			s->thread_started = false;
			send_result(s);
			s->state = SLOT_FREE;
		}
	}
	{
		Emc__Envelope env = EMC__ENVELOPE__INIT;
		Emc__Bye bye = EMC__BYE__INIT;

		bye.reason = stop_requested ? "signal" : "error";
		env.body_case = EMC__ENVELOPE__BODY_BYE;
		env.bye = &bye;
		send_env(&env);
	}
	log_info("stopped");
	for (int i = 0; i < W.n_slots; i++) {
		zmq_close(W.slots[i].poke_rx);
		zmq_close(W.slots[i].poke_tx);
		pthread_mutex_destroy(&W.slots[i].progress_lock);
	}
	zmq_close(W.sock);
	zmq_ctx_term(W.ctx);
	for (int i = 0; i < W.n_cache; i++)
		emc_dataset_destroy(&W.cache[i].ds);
	return rc;
}
