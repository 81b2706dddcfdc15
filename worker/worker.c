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
 * The coordinator answers every heartbeat; a coordinator silent for a lease
 * is presumed gone, and the worker says Hello again with exponential
 * back-off (1 s, 2 s, … 32 s), listing the attempts it still trains so the
 * coordinator can let it keep them. Results wait in an outbox until the
 * coordinator acknowledges them, and are sent again after every Welcome:
 * a result is never lost to a dropped connection, and a duplicate is
 * fenced by the coordinator. An Error (the coordinator restarted and
 * forgot us) also leads to a new Hello.
 *
 * SIGTERM / SIGINT drain: no new work is asked for; running trials get
 * --drain-seconds to finish, then are stopped and reported PREEMPTED (the
 * coordinator runs them again elsewhere); the outbox is flushed; Bye. A
 * second signal stops at once.
 *
 * The worker socket is CURVE-encrypted with the worker's key pair and the
 * coordinator's public key (--keys DIR), unless --insecure is given for a
 * coordinator on the same machine.
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
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <cblas.h>
#include <zmq.h>

#include "cli.h"
#include "dataset.h"
#include "keyfile.h"
#include "log.h"
#include "nn.h"
#include "rng.h"
#include "subset.h"
#include "wire.h"

#define MAX_SLOTS 256
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 32000
#define FLUSH_MS 3000
#define DATASET_CACHE_MAX 8

extern void openblas_set_num_threads(int num_threads);

typedef enum slot_state {
	SLOT_FREE = 0,
	SLOT_BUSY,     /* its thread trains (or prepares the data) */
	SLOT_WAITING,  /* it holds an attempt whose dataset is being fetched */
} slot_state;

#define POKE_DONE 1      /* the slot's thread finished the trial */
#define POKE_NEED_DATA 2 /* the slot's thread needs the dataset fetched first */
#define FETCH_WINDOW 4   /* chunk requests in flight */
#define FETCH_RETRIES 3  /* fetches of one hash that may fail verification */

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
	uint8_t hash[32]; /* the dataset's content hash, if the coordinator sent it */
	bool has_hash;
	bool need_data;   /* set by the thread with POKE_NEED_DATA */

	/* Written by the slot thread; read by main after the poke. */
	nn_trial_result result;
	int rc;
	emc_err err;

	atomic_int cancel;
	bool preempted; /* stopped by our own drain, not by the coordinator */
	pthread_mutex_t progress_lock;
	nn_progress progress;
} slot;

/* A result sent but not yet acknowledged. */
typedef struct pending_result {
	uint64_t attempt_id;
	uint8_t *buf;
	size_t len;
} pending_result;

typedef struct cached_dataset {
	emc_dataset_ref ref;
	emc_dataset *ds;
} cached_dataset;

/* The one dataset transfer in progress: chunks are appended to
 * CACHE/HEX.part in order; a restarted transfer continues where the file
 * ends. */
typedef struct fetch {
	bool active;
	uint8_t hash[32];
	char part[EMC_PATH_MAX + 80];
	FILE *f;
	uint64_t offset;      /* bytes written */
	uint64_t next;        /* next byte to ask for */
	uint64_t total;       /* 0 until the first chunk says */
	uint64_t first;       /* offset this transfer started from */
	int inflight;
	int64_t started_ms;
} fetch;

static struct {
	void *ctx;
	void *sock;
	int n_slots;
	int blas_threads;
	slot slots[MAX_SLOTS];
	bool welcomed;
	uint32_t heartbeat_ms;
	uint32_t lease_ms;      /* coordinator silent this long: presumed gone */
	int64_t last_hello_ms;
	int64_t hello_backoff_ms;
	int64_t last_heartbeat_ms;
	int64_t last_heard_ms;  /* last message from the coordinator */

	pending_result outbox[2 * MAX_SLOTS];
	int n_outbox;

	int64_t memory_limit_bytes; /* 0 = none */
	char cache_dir[EMC_PATH_MAX];
	int64_t cache_limit_bytes;
	bool no_local_data;         /* never read dataset files named by the spec */
	double fetch_bytes_per_ms;  /* transfer rate cap; 0 = none */
	fetch fetch;
	struct { uint8_t hash[32]; int failures; } fetch_failures[8];

	pthread_mutex_t cache_lock;
	cached_dataset cache[DATASET_CACHE_MAX];
	int n_cache;
} W;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested++;
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

static void outbox_remove(uint64_t attempt_id)
{
	for (int i = 0; i < W.n_outbox; i++)
		if (W.outbox[i].attempt_id == attempt_id) {
			free(W.outbox[i].buf);
			W.outbox[i] = W.outbox[--W.n_outbox];
			return;
		}
}

/* Send every unacknowledged result again (after a Welcome). */
static void outbox_resend(void)
{
	for (int i = 0; i < W.n_outbox; i++)
		if (zmq_send(W.sock, W.outbox[i].buf, W.outbox[i].len, ZMQ_DONTWAIT) < 0)
			log_warn("send failed: %s", zmq_strerror(errno));
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

/* The coordinator is gone or forgot us: say hello again, backing off. */
static void lose_coordinator(const char *why)
{
	if (W.welcomed)
		log_warn("coordinator %s; saying hello again", why);
	W.welcomed = false;
	W.hello_backoff_ms = BACKOFF_MIN_MS;
	send_hello();
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
		res.has_hessian = s->result.has_hessian;
		res.hessian_min = s->result.hessian_min;
		res.hessian_max = s->result.hessian_max;
		if (s->preempted && s->result.outcome == EMC_OUTCOME_CANCELLED)
			res.outcome = EMC__OUTCOME__OUTCOME_PREEMPTED;
	}
	env.body_case = EMC__ENVELOPE__BODY_RESULT;
	env.result = &res;
	{
		uint8_t *buf;
		size_t len;
		emc_err err;

		if (wire_encode(&env, &buf, &len, &err) < 0) {
			log_error("%s", err.msg);
			return;
		}
		if (W.n_outbox == (int)(sizeof W.outbox / sizeof W.outbox[0])) {
			/* Full of results nobody acknowledges: drop the oldest. */
			free(W.outbox[0].buf);
			W.outbox[0] = W.outbox[--W.n_outbox];
		}
		W.outbox[W.n_outbox++] = (pending_result){ .attempt_id = s->attempt_id, .buf = buf, .len = len };
		if (W.welcomed && zmq_send(W.sock, buf, len, ZMQ_DONTWAIT) < 0)
			log_warn("send failed: %s", zmq_strerror(errno));
	}
	log_info("attempt %llu: n=%lld %s (%s) after %lld epochs, %.2fs", (unsigned long long)s->attempt_id,
		 (long long)s->n,
		 s->rc < 0 ? "failed"
		 : s->preempted && s->result.outcome == EMC_OUTCOME_CANCELLED ? "preempted"
									      : emc_outcome_name(s->result.outcome),
		 s->rc < 0 ? s->err.msg : emc_stop_reason_name(s->result.reason), (long long)last->epoch,
		 last->seconds);
}

/* ---- training, on the slot thread ------------------------------------- */

static bool same_ref(const emc_dataset_ref *a, const emc_dataset_ref *b)
{
	/* Every field names the data or how it is decoded; the struct was
	 * zeroed before it was filled, so comparing bytes is exact. */
	return memcmp(a, b, sizeof *a) == 0;
}

static void cache_path(const uint8_t hash[32], const char *suffix, char *buf, size_t len)
{
	char hex[65];

	emc_hash_hex(hash, hex);
	snprintf(buf, len, "%s/%s.%s", W.cache_dir, hex, suffix);
}

/* Read and verify CACHE/HEX.emcd. -ENOENT when absent; a file that fails
 * verification is removed (and -EAGAIN returned) so it is fetched again. */
static int cache_load(const uint8_t hash[32], emc_dataset **ret, emc_err *err)
{
	char path[EMC_PATH_MAX + 80];
	uint8_t *buf = NULL;
	size_t len;
	FILE *f;
	long size;
	int r;

	cache_path(hash, "emcd", path, sizeof path);
	f = fopen(path, "rb");
	if (!f)
		return -ENOENT;
	if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
	    !(buf = malloc((size_t)size ? (size_t)size : 1))) {
		fclose(f);
		return emc_err_set(err, EIO, "%s: cannot read", path);
	}
	len = fread(buf, 1, (size_t)size, f);
	fclose(f);
	r = emc_dataset_decode(buf, len, hash, path, ret, err);
	free(buf);
	if (r < 0) {
		log_warn("%s; removing it to fetch it again", err->msg);
		unlink(path);
		return -EAGAIN;
	}
	utimensat(AT_FDCWD, path, NULL, 0); /* most recently used */
	return 0;
}

/* The dataset of slot s, loaded once per process: from memory, from the
 * cache directory, from the files the spec names (when they are here and
 * hash right), or — returning -EAGAIN with s->need_data — fetched from the
 * coordinator by the main thread first. The cache lock is held while
 * loading so two slots never decode the same data twice. */
static int dataset_get(slot *s, const emc_dataset **ret, emc_err *err)
{
	const emc_dataset_ref *ref = &s->dataset;
	emc_dataset *ds = NULL;
	int r = 0;

	pthread_mutex_lock(&W.cache_lock);
	for (int i = 0; i < W.n_cache; i++)
		if (s->has_hash ? memcmp(W.cache[i].ds->hash, s->hash, 32) == 0 : same_ref(&W.cache[i].ref, ref)) {
			*ret = W.cache[i].ds;
			goto out;
		}
	if (W.n_cache == DATASET_CACHE_MAX) {
		r = emc_err_set(err, ENOSPC, "worker: more than %d datasets in one process", DATASET_CACHE_MAX);
		goto out;
	}
	if (s->has_hash) {
		r = cache_load(s->hash, &ds, err);
		if (r == -ENOENT && !W.no_local_data) {
			emc_err why;

			r = emc_dataset_load(ref, &ds, &why);
			if (r == 0 && memcmp(ds->hash, s->hash, 32) != 0) {
				log_warn("local files of the dataset differ from the coordinator's; fetching its copy");
				emc_dataset_destroy(&ds);
				r = -EAGAIN;
			} else if (r < 0) {
				r = -EAGAIN; /* not here: fetch it */
			}
		}
		if (r == -ENOENT || r == -EAGAIN) {
			s->need_data = true;
			r = -EAGAIN;
			goto out;
		}
	} else {
		r = emc_dataset_load(ref, &ds, err);
	}
	if (r < 0)
		goto out;
	W.cache[W.n_cache].ref = *ref;
	W.cache[W.n_cache].ds = ds;
	*ret = ds;
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

/* Materialise subset(n) of the dataset under the cell's variant and seed,
 * then train. */
static int run_trial(slot *s)
{
	const emc_dataset *ds = NULL;
	emc_variant v = emc_variant_of_cell(&s->cell);
	nn_hooks hooks = { .progress = on_progress,
			   .ctx = s,
			   .cancel = &s->cancel,
			   .memory_limit_bytes = W.memory_limit_bytes };
	uint8_t *y = NULL;
	float *x = NULL;
	nn_data data;
	int classes, r;

	r = dataset_get(s, &ds, &s->err);
	if (r < 0)
		return r;
	if (s->n < 1 || s->n > ds->n)
		return emc_err_set(&s->err, EINVAL, "worker: n = %lld but the dataset has %lld samples",
				   (long long)s->n, (long long)ds->n);
	classes = emc_variant_classes(ds, &v, &s->err);
	if (classes < 0)
		return classes;
	y = malloc((size_t)s->n);
	x = malloc((size_t)s->n * (size_t)ds->dim * sizeof *x);
	if (!y || !x) {
		r = emc_err_set(&s->err, ENOMEM, "worker: out of memory for a subset of %lld samples",
				(long long)s->n);
		goto out;
	}
	r = emc_subset_materialize(ds, &v, s->cell.seed, s->n, x, y, &s->err);
	if (r < 0)
		goto out;
	data = (nn_data){ .x = x, .y = y, .n = s->n, .shape = ds->shape };
	data.shape.classes = classes;
	r = nn_train(&s->cell, &data, &hooks, &s->result, &s->err);
out:
	free(y);
	free(x);
	return r;
}

static void *slot_main(void *arg)
{
	slot *s = arg;
	char byte;

	s->rc = run_trial(s);
	byte = s->need_data ? POKE_NEED_DATA : POKE_DONE;
	/* Main reads the result only after this message arrives. */
	zmq_send(s->poke_tx, &byte, 1, 0);
	return NULL;
}

/* ---- handling the coordinator's messages ------------------------------ */

static void fetch_request_more(void);
static void handle_data_chunk(const Emc__DataChunk *c);

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
	s->preempted = false;
	s->need_data = false;
	s->has_hash = a->dataset && a->dataset->content_hash.len == 32;
	if (s->has_hash)
		memcpy(s->hash, a->dataset->content_hash.data, 32);
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
	for (int i = 0; i < W.n_slots; i++) {
		slot *s = &W.slots[i];

		if (s->attempt_id != c->attempt_id)
			continue;
		if (s->state == SLOT_BUSY) {
			atomic_store(&s->cancel, 1);
		} else if (s->state == SLOT_WAITING) {
			s->rc = 0;
			memset(&s->result, 0, sizeof s->result);
			s->result.outcome = EMC_OUTCOME_CANCELLED;
			s->result.reason = EMC_STOP_CANCELLED;
			send_result(s);
			s->state = SLOT_FREE;
			send_ready(1);
		}
	}
}

static void handle_message(const uint8_t *buf, size_t len)
{
	Emc__Envelope *env = NULL;
	emc_err err;

	if (wire_decode(buf, len, &env, &err) < 0) {
		log_warn("from coordinator: %s", err.msg);
		return;
	}
	W.last_heard_ms = emc_now_ms();
	switch (env->body_case) {
	case EMC__ENVELOPE__BODY_WELCOME:
		if (!W.welcomed)
			log_info("welcomed as worker %llu", (unsigned long long)env->welcome->worker_id);
		W.welcomed = true;
		W.hello_backoff_ms = BACKOFF_MIN_MS;
		if (env->welcome->heartbeat_ms >= 50 && env->welcome->heartbeat_ms <= 60000)
			W.heartbeat_ms = env->welcome->heartbeat_ms;
		if (env->welcome->lease_ms >= 2 * W.heartbeat_ms && env->welcome->lease_ms <= 3600000)
			W.lease_ms = env->welcome->lease_ms;
		outbox_resend();
		if (W.fetch.active) {
			/* Requests sent before the reconnect may be lost. */
			log_info("resuming the dataset transfer at byte %llu", (unsigned long long)W.fetch.offset);
			W.fetch.inflight = 0;
			W.fetch.next = W.fetch.offset;
			fetch_request_more();
		}
		send_ready((uint32_t)free_slots());
		break;
	case EMC__ENVELOPE__BODY_DATA_CHUNK:
		handle_data_chunk(env->data_chunk);
		break;
	case EMC__ENVELOPE__BODY_HEARTBEAT:
		break;
	case EMC__ENVELOPE__BODY_ASSIGN:
		if (W.welcomed)
			handle_assign(env->assign);
		break;
	case EMC__ENVELOPE__BODY_CANCEL:
		handle_cancel(env->cancel);
		break;
	case EMC__ENVELOPE__BODY_RESULT_ACK:
		if (!env->result_ack->recorded)
			log_info("attempt %llu: the coordinator did not record the result (stale)",
				 (unsigned long long)env->result_ack->attempt_id);
		outbox_remove(env->result_ack->attempt_id);
		break;
	case EMC__ENVELOPE__BODY_ERROR:
		/* Messages queued while the connection was down each earn an
		 * Error from a restarted coordinator: one Hello answers them all. */
		if (W.welcomed) {
			log_warn("coordinator says: %s", env->error->message);
			lose_coordinator("does not know us");
		}
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

static void fetch_start(const uint8_t hash[32]);

static void collect_finished(slot *s)
{
	char byte;

	while (zmq_recv(s->poke_rx, &byte, 1, ZMQ_DONTWAIT) >= 0) {
		pthread_join(s->thread, NULL);
		s->thread_started = false;
		if (byte == POKE_NEED_DATA && !atomic_load(&s->cancel)) {
			s->state = SLOT_WAITING;
			s->need_data = false;
			if (!W.fetch.active)
				fetch_start(s->hash);
			continue;
		}
		if (byte == POKE_NEED_DATA) { /* cancelled while it waited */
			s->rc = 0;
			s->result.outcome = EMC_OUTCOME_CANCELLED;
			s->result.reason = EMC_STOP_CANCELLED;
		}
		send_result(s);
		s->state = SLOT_FREE;
		if (W.welcomed)
			send_ready(1);
	}
}

/* ---- fetching a dataset from the coordinator ---------------------------- */

static void fetch_request_more(void)
{
	while (W.welcomed && W.fetch.active && W.fetch.inflight < FETCH_WINDOW &&
	       (W.fetch.total == 0 ? W.fetch.inflight == 0 : W.fetch.next < W.fetch.total)) {
		/* --fetch-mbps: ask for no more than the rate allows so far. */
		if (W.fetch_bytes_per_ms > 0) {
			int64_t elapsed = emc_now_ms() - W.fetch.started_ms;
			uint64_t allowed = (uint64_t)((elapsed + 1) * W.fetch_bytes_per_ms);

			if (W.fetch.next - W.fetch.first > allowed)
				return;
		}
		Emc__Envelope env = EMC__ENVELOPE__INIT;
		Emc__DataRequest q = EMC__DATA_REQUEST__INIT;

		q.hash.data = W.fetch.hash;
		q.hash.len = 32;
		q.offset = W.fetch.next;
		q.length = 1u << 20;
		env.body_case = EMC__ENVELOPE__BODY_DATA_REQUEST;
		env.data_request = &q;
		if (send_env(&env) < 0)
			return;
		W.fetch.next += q.length;
		W.fetch.inflight++;
	}
}

static void fetch_start(const uint8_t hash[32])
{
	fetch *f = &W.fetch;
	char hex[65];

	memset(f, 0, sizeof *f);
	memcpy(f->hash, hash, 32);
	cache_path(hash, "part", f->part, sizeof f->part);
	mkdir(W.cache_dir, 0755);
	f->f = fopen(f->part, "ab");
	if (!f->f) {
		log_error("cannot write %s: %s", f->part, strerror(errno));
		return;
	}
	/* A partial file from an interrupted transfer: go on from its end. */
	fseek(f->f, 0, SEEK_END);
	f->offset = f->next = f->first = (uint64_t)ftell(f->f);
	f->active = true;
	f->started_ms = emc_now_ms();
	emc_hash_hex(hash, hex);
	log_info("fetching dataset %.16s… from the coordinator%s", hex, f->offset ? " (resuming)" : "");
	fetch_request_more();
}

/* Make room in the cache for `need` more bytes: least recently used first. */
static void cache_evict(uint64_t need)
{
	for (;;) {
		DIR *d = opendir(W.cache_dir);
		struct dirent *de;
		uint64_t used = 0;
		time_t oldest = 0;
		char victim[EMC_PATH_MAX + 300] = "", path[EMC_PATH_MAX + 300];
		struct stat st;

		if (!d)
			return;
		while ((de = readdir(d))) {
			size_t len = strlen(de->d_name);

			if (len < 6 || strcmp(de->d_name + len - 5, ".emcd") != 0)
				continue;
			snprintf(path, sizeof path, "%s/%s", W.cache_dir, de->d_name);
			if (stat(path, &st) < 0)
				continue;
			used += (uint64_t)st.st_size;
			if (!victim[0] || st.st_mtime < oldest) {
				oldest = st.st_mtime;
				snprintf(victim, sizeof victim, "%s", path);
			}
		}
		closedir(d);
		if (used + need <= (uint64_t)W.cache_limit_bytes || !victim[0])
			return;
		log_info("cache over %lld MiB: evicting %s", (long long)(W.cache_limit_bytes >> 20), victim);
		unlink(victim);
	}
}

static int *fetch_failures_of(const uint8_t hash[32])
{
	for (size_t i = 0; i < sizeof W.fetch_failures / sizeof W.fetch_failures[0]; i++)
		if (memcmp(W.fetch_failures[i].hash, hash, 32) == 0 || W.fetch_failures[i].failures == 0) {
			memcpy(W.fetch_failures[i].hash, hash, 32);
			return &W.fetch_failures[i].failures;
		}
	return &W.fetch_failures[0].failures;
}

/* Every slot waiting for this hash: train now, or fail with why. */
static void fetch_release(const uint8_t hash[32], const char *error)
{
	for (int i = 0; i < W.n_slots; i++) {
		slot *s = &W.slots[i];

		if (s->state != SLOT_WAITING || memcmp(s->hash, hash, 32) != 0)
			continue;
		if (error) {
			s->rc = emc_err_set(&s->err, EIO, "worker: dataset transfer failed: %s", error);
			send_result(s);
			s->state = SLOT_FREE;
			send_ready(1);
			continue;
		}
		s->state = SLOT_BUSY;
		s->thread_started = pthread_create(&s->thread, NULL, slot_main, s) == 0;
	}
	/* Another dataset may be awaited too. */
	for (int i = 0; i < W.n_slots && !W.fetch.active; i++)
		if (W.slots[i].state == SLOT_WAITING)
			fetch_start(W.slots[i].hash);
}

static void fetch_finish(void)
{
	fetch *f = &W.fetch;
	char path[EMC_PATH_MAX + 80];
	uint8_t hash[32];

	memcpy(hash, f->hash, 32);
	fclose(f->f);
	f->f = NULL;
	f->active = false;
	cache_evict(f->total);
	cache_path(hash, "emcd", path, sizeof path);
	if (rename(f->part, path) < 0) {
		log_error("cannot move %s into the cache: %s", f->part, strerror(errno));
		fetch_release(hash, "cannot store it in the cache");
		return;
	}
	log_info("fetched %llu bytes in %.1f s", (unsigned long long)f->total,
		 (double)(emc_now_ms() - f->started_ms) / 1000.0);
	/* The slots verify the hash when they load it; a bad copy is removed
	 * and fetched again, at most FETCH_RETRIES times. */
	if (++*fetch_failures_of(hash) > FETCH_RETRIES) {
		unlink(path);
		fetch_release(hash, "it failed verification repeatedly");
		return;
	}
	fetch_release(hash, NULL);
}

static void handle_data_chunk(const Emc__DataChunk *c)
{
	fetch *f = &W.fetch;

	if (!f->active || c->hash.len != 32 || memcmp(c->hash.data, f->hash, 32) != 0)
		return;
	if (c->error && *c->error) {
		uint8_t hash[32];

		log_error("the coordinator cannot send the dataset: %s", c->error);
		memcpy(hash, f->hash, 32);
		fclose(f->f);
		unlink(f->part);
		f->active = false;
		fetch_release(hash, c->error);
		return;
	}
	if (f->inflight > 0)
		f->inflight--;
	/* Chunks arrive in order; one that does not continue the file is an
	 * answer to a request from before a reconnect: the new requests cover it. */
	if (c->offset != f->offset || c->total == 0 || c->total > (uint64_t)1 << 40 ||
	    c->offset + c->data.len > c->total) {
		fetch_request_more();
		return;
	}
	f->total = c->total;
	if (c->data.len && fwrite(c->data.data, 1, c->data.len, f->f) != c->data.len) {
		uint8_t hash[32];

		log_error("cannot write %s: %s", f->part, strerror(errno));
		memcpy(hash, f->hash, 32);
		fclose(f->f);
		f->active = false;
		fetch_release(hash, "cannot write the cache");
		return;
	}
	f->offset += c->data.len;
	if (f->offset == f->total) {
		fetch_finish();
		return;
	}
	fetch_request_more();
}

static int busy_slots(void)
{
	return W.n_slots - free_slots();
}

/* ---- set-up and the main loop ----------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: emc-worker --connect ENDPOINT (--keys DIR | --insecure) [options]\n"
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

/* One turn of the loop: wait for the network, a finished slot, or the
 * next heartbeat, at most max_wait_ms. */
static int loop_once(long max_wait_ms)
{
	zmq_pollitem_t items[MAX_SLOTS + 1];
	int64_t now = emc_now_ms();
	long timeout = max_wait_ms;

	items[0] = (zmq_pollitem_t){ .socket = W.sock, .events = ZMQ_POLLIN };
	for (int i = 0; i < W.n_slots; i++)
		items[i + 1] = (zmq_pollitem_t){ .socket = W.slots[i].poke_rx, .events = ZMQ_POLLIN };
	if (W.welcomed) {
		int64_t due = W.last_heartbeat_ms + W.heartbeat_ms - now;

		if (due < timeout)
			timeout = due < 0 ? 0 : due;
		if (now - W.last_heard_ms > W.lease_ms)
			lose_coordinator("is silent");
	} else if (now - W.last_hello_ms >= W.hello_backoff_ms) {
		send_hello();
		W.hello_backoff_ms = W.hello_backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : W.hello_backoff_ms * 2;
	} else if (W.last_hello_ms + W.hello_backoff_ms - now < timeout) {
		timeout = W.last_hello_ms + W.hello_backoff_ms - now;
	}
	if (zmq_poll(items, W.n_slots + 1, timeout) < 0) {
		if (errno == EINTR)
			return 0;
		log_error("poll: %s", zmq_strerror(errno));
		return -1;
	}
	if (items[0].revents & ZMQ_POLLIN)
		drain_socket();
	for (int i = 0; i < W.n_slots; i++)
		if (items[i + 1].revents & ZMQ_POLLIN)
			collect_finished(&W.slots[i]);
	if (W.welcomed && emc_now_ms() - W.last_heartbeat_ms >= W.heartbeat_ms)
		send_heartbeat();
	fetch_request_more();
	return 0;
}

/* SIGTERM: ask for nothing more, let running trials finish for up to
 * drain_ms, stop the rest (reported PREEMPTED), flush the outbox, Bye. */
static void drain_and_leave(int64_t drain_ms)
{
	int64_t deadline = emc_now_ms() + drain_ms;
	sig_atomic_t signals = stop_requested;

	if (busy_slots() > 0)
		log_info("draining: %d trial(s) running, up to %lld s to finish", busy_slots(),
			 (long long)(drain_ms / 1000));
	while (busy_slots() > 0 && emc_now_ms() < deadline && stop_requested == signals)
		if (loop_once(deadline - emc_now_ms() < 200 ? deadline - emc_now_ms() : 200) < 0)
			break;
	for (int i = 0; i < W.n_slots; i++) {
		slot *s = &W.slots[i];

		if (s->state == SLOT_BUSY) {
			s->preempted = true;
			atomic_store(&s->cancel, 1);
		} else if (s->state == SLOT_WAITING) {
			s->rc = 0;
			memset(&s->result, 0, sizeof s->result);
			s->result.outcome = EMC_OUTCOME_CANCELLED;
			s->preempted = true;
			send_result(s);
			s->state = SLOT_FREE;
		}
	}
	if (W.fetch.active) {
		fclose(W.fetch.f); /* the partial file stays: the next start resumes it */
		W.fetch.active = false;
	}
	while (busy_slots() > 0)
		if (loop_once(200) < 0)
			break;
	deadline = emc_now_ms() + FLUSH_MS;
	while (W.welcomed && W.n_outbox > 0 && emc_now_ms() < deadline)
		if (loop_once(100) < 0)
			break;
	if (W.n_outbox > 0)
		log_warn("%d result(s) unacknowledged at exit; the coordinator will run them again", W.n_outbox);
	{
		Emc__Envelope env = EMC__ENVELOPE__INIT;
		Emc__Bye bye = EMC__BYE__INIT;

		bye.reason = "drained";
		env.body_case = EMC__ENVELOPE__BODY_BYE;
		env.bye = &bye;
		send_env(&env);
	}
}

static int setup_curve(const char *keys_dir)
{
	char path[EMC_PATH_MAX + 32], pub[41], sec[41], server[41];
	emc_err err;

	snprintf(path, sizeof path, "%s/worker.key", keys_dir);
	if (emc_key_read(path, sec, &err) < 0)
		goto fail;
	snprintf(path, sizeof path, "%s/worker.pub", keys_dir);
	if (emc_key_read(path, pub, &err) < 0)
		goto fail;
	snprintf(path, sizeof path, "%s/coordinator.pub", keys_dir);
	if (emc_key_read(path, server, &err) < 0)
		goto fail;
	if (zmq_setsockopt(W.sock, ZMQ_CURVE_SERVERKEY, server, 40) < 0 ||
	    zmq_setsockopt(W.sock, ZMQ_CURVE_PUBLICKEY, pub, 40) < 0 ||
	    zmq_setsockopt(W.sock, ZMQ_CURVE_SECRETKEY, sec, 40) < 0) {
		log_error("cannot set up CURVE: %s", zmq_strerror(errno));
		return -1;
	}
	return 0;
fail:
	log_error("%s", err.msg);
	return -1;
}

static bool local_endpoint(const char *ep)
{
	return strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "tcp://127.", 10) == 0 ||
	       strncmp(ep, "tcp://localhost:", 16) == 0 || strncmp(ep, "tcp://[::1]:", 12) == 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'c' },	  { "slots", required_argument, NULL, 's' },
		{ "blas-threads", required_argument, NULL, 't' }, { "keys", required_argument, NULL, 'k' },
		{ "insecure", no_argument, NULL, 'I' },		  { "drain-seconds", required_argument, NULL, 'D' },
		{ "memory-mb", required_argument, NULL, 'M' },	  { "cache-dir", required_argument, NULL, 'C' },
		{ "cache-mb", required_argument, NULL, 'B' },	  { "no-local-data", no_argument, NULL, 'N' },
		{ "fetch-mbps", required_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },		  { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *endpoint = NULL, *keys_dir = NULL;
	bool insecure = false;
	struct sigaction sa;
	int opt, linger = 1000, rc = 0, ivl = BACKOFF_MIN_MS, ivl_max = BACKOFF_MAX_MS;
	int64_t maxmsg = EMC_MAX_MESSAGE_BYTES, drain_ms = 30000;
	char ident[128];
	emc_rng rng;
	emc_err err;
	long v;

	emc_log_init("worker");
	W.n_slots = (int)sysconf(_SC_NPROCESSORS_ONLN);
	W.blas_threads = 1;
	W.heartbeat_ms = 1000;
	W.lease_ms = 10000;
	W.cache_limit_bytes = (int64_t)8192 << 20;
	while ((opt = getopt_long(argc, argv, "c:s:t:k:ID:M:C:B:NR:vqh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			endpoint = optarg;
			break;
		case 's':
			if (cli_long_option("slots", optarg, 1, MAX_SLOTS, &v, &err) < 0) {
				log_error("%s", err.msg);
				return 2;
			}
			W.n_slots = (int)v;
			break;
		case 't':
			if (cli_long_option("blas-threads", optarg, 1, 256, &v, &err) < 0) {
				log_error("%s", err.msg);
				return 2;
			}
			W.blas_threads = (int)v;
			break;
		case 'k':
			keys_dir = optarg;
			break;
		case 'I':
			insecure = true;
			break;
		case 'D':
			if (cli_long_option("drain-seconds", optarg, 0, 86400, &v, &err) < 0) {
				log_error("%s", err.msg);
				return 2;
			}
			drain_ms = (int64_t)v * 1000;
			break;
		case 'M':
			if (cli_long_option("memory-mb", optarg, 1, 1 << 30, &v, &err) < 0) {
				log_error("%s", err.msg);
				return 2;
			}
			W.memory_limit_bytes = (int64_t)v << 20;
			break;
		case 'C':
			if (strlen(optarg) >= sizeof W.cache_dir) {
				log_error("--cache-dir: path too long");
				return 2;
			}
			snprintf(W.cache_dir, sizeof W.cache_dir, "%s", optarg);
			break;
		case 'B':
			if (cli_long_option("cache-mb", optarg, 1, 1 << 30, &v, &err) < 0) {
				log_error("%s", err.msg);
				return 2;
			}
			W.cache_limit_bytes = (int64_t)v << 20;
			break;
		case 'N':
			W.no_local_data = true;
			break;
		case 'R':
			if (cli_long_option("fetch-mbps", optarg, 1, 1 << 20, &v, &err) < 0) {
				log_error("%s", err.msg);
				return 2;
			}
			W.fetch_bytes_per_ms = (double)v * 1048.576;
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
	if (!W.cache_dir[0]) {
		const char *env = getenv("EMC_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");

		if (env && *env)
			snprintf(W.cache_dir, sizeof W.cache_dir, "%.1000s", env);
		else if (xdg && *xdg)
			snprintf(W.cache_dir, sizeof W.cache_dir, "%.1000s/emc", xdg);
		else
			snprintf(W.cache_dir, sizeof W.cache_dir, "%.1000s/.cache/emc", home && *home ? home : "/tmp");
	}
	if (insecure == (keys_dir != NULL)) {
		log_error("give --keys DIR (CURVE) or, for a coordinator on this machine, --insecure");
		return 2;
	}
	if (insecure && !local_endpoint(endpoint)) {
		log_error("--insecure is only for a coordinator on this machine (ipc:// or loopback), not %s",
			  endpoint);
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
	zmq_setsockopt(W.sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
	zmq_setsockopt(W.sock, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(W.sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
	zmq_setsockopt(W.sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
	if (keys_dir && setup_curve(keys_dir) < 0)
		return 2;
	if (zmq_connect(W.sock, endpoint) < 0) {
		log_error("cannot connect to %s: %s", endpoint, zmq_strerror(errno));
		return 1;
	}
	if (setup_slots() < 0) {
		log_error("cannot set up slots: %s", zmq_strerror(errno));
		return 1;
	}
	log_info("connecting to %s (%s) with %d slot(s), %d BLAS thread(s) each", endpoint,
		 insecure ? "plain text" : "CURVE", W.n_slots, W.blas_threads);
	W.hello_backoff_ms = BACKOFF_MIN_MS;
	send_hello();

	while (!stop_requested)
		if (loop_once(W.heartbeat_ms) < 0) {
			rc = 1;
			break;
		}
	drain_and_leave(drain_ms);
	log_info("stopped");
	for (int i = 0; i < W.n_slots; i++) {
		if (W.slots[i].thread_started)
			pthread_join(W.slots[i].thread, NULL);
		zmq_close(W.slots[i].poke_rx);
		zmq_close(W.slots[i].poke_tx);
		pthread_mutex_destroy(&W.slots[i].progress_lock);
	}
	for (int i = 0; i < W.n_outbox; i++)
		free(W.outbox[i].buf);
	zmq_close(W.sock);
	zmq_ctx_term(W.ctx);
	for (int i = 0; i < W.n_cache; i++)
		emc_dataset_destroy(&W.cache[i].ds);
	return rc;
}
