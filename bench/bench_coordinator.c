/* bench_coordinator.c — how many results per second one emc-coordinator
 * records durably, and how fast it hands out work, under S workers.
 *
 *   bench_coordinator [--coordinator PATH] [--workers 16,64,256]
 *                     [--warmup S=3] [--seconds S=10] [--rate R=5500]
 *                     [--keep] [--trace FILE]
 *
 * For each S it starts a real emc-coordinator (plain text on loopback, a
 * fresh database in a temporary directory) and plays S workers of one slot
 * each from this one process: S DEALER sockets that speak the protocol like
 * emc-worker (Hello, Ready, Heartbeat every second with the progress of the
 * running trial). A trial "trains" for a fixed time, then the worker sends
 * a Result whose outcome follows an oracle — the cell fits n samples iff
 * n <= C, C drawn from the cell's seed — so every cell's search runs its
 * real course (galloping, k-section, cancellations), and a Ready for the
 * next trial. Two runs per S:
 *   saturated  training takes no time: the most the coordinator can take;
 *              with S workers in a closed loop, dispatch latency is then
 *              about S / throughput (Little's law), whatever the code does;
 *   paced      training takes S / R seconds, so about R results per second
 *              are offered: the latency a worker sees at that load.
 *
 * The data is a small IDX dataset written here (100 000 samples of 2×2, so
 * the search has room). Campaigns of 64 cells (about 1800 trials each) are
 * submitted through the control socket so that about 256 cells are always
 * searching: a cell's search is over once it has seen a fit at C and a
 * no-fit at C + 1 (the cell's seed names it), and when fewer than 224 are
 * left a new campaign is submitted. Submissions inside the window are part
 * of what is measured; how many there were is reported.
 *
 * Measured over a fixed window after a warm-up, one JSON line per run:
 *   results_per_s    ResultAcks with recorded = true per second: the
 *                    coordinator acknowledges only after the store's commit,
 *                    so these are results made durable;
 *   dispatch_p50/p99 from sending Ready to receiving the Assign it asked
 *                    for, in milliseconds;
 *   steady_p50/p99   the same, for the Readies (steady_share of them) that
 *                    did not wait while a submission was being handled.
 * The coordinator's log goes to a file in the temporary directory (removed
 * at the end unless --keep); --trace writes every latency and submission
 * with its time, for finding where the tail comes from.
 *
 * Everything is bounded: each phase has a deadline, the coordinator gets
 * SIGTERM and then SIGKILL, and no loop waits for ever.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "wire.h"

#ifndef EMC_COORDINATOR_PATH
#define EMC_COORDINATOR_PATH "emc-coordinator"
#endif

#define MAX_WORKERS	    1024
#define CELLS_PER_CAMPAIGN  64
#define DATA_SAMPLES	    100000
#define DATA_ROWS	    2
#define DATA_COLS	    2
#define DATA_CLASSES	    2
#define HEARTBEAT_MS	    1000
#define SEARCHING_CELLS	    256 /* kept searching at all times (4 campaigns) */
#define SUBMIT_GAP_MS	    50	/* at most one submission per this interval */
#define MAX_CAMPAIGNS	    4096
#define MAX_CELLS	    (MAX_CAMPAIGNS * CELLS_PER_CAMPAIGN)
#define SEEN_FIT_AT_C	    1u
#define SEEN_NO_FIT_ABOVE_C 2u
#define MAX_LATENCIES	    (1 << 22)
#define RECV_BUDGET	    64 /* messages taken from one socket per poll */
#define STARTUP_TIMEOUT_MS  15000
#define STOP_TIMEOUT_MS	    5000

typedef struct sim_worker {
	void *sock;
	bool welcomed;
	bool waiting;	  /* a Ready is out, no Assign yet */
	int64_t ready_us; /* when that Ready was sent */
	int64_t next_heartbeat_ms;
	bool training; /* an Assign is being "trained" until done_us */
	int64_t done_us;
	uint64_t attempt_id, trial_id;
	bool fit;
	uint64_t seed, n; /* the cell (by its seed) and size being trained */
} sim_worker;

static struct {
	const char *coordinator;
	int warmup_s, window_s;
	int rate;	  /* offered load of the paced runs, results/s */
	int64_t train_us; /* of this run: how long an Assign "trains" */
	bool keep;
	FILE *trace; /* --trace: every dispatch latency and submission, with its time */
	int64_t trace_t0_us;
	void *zctx;
	pid_t child; /* the coordinator, while it runs */
	char dir[64];
	char images[128], labels[128];
	int64_t campaigns_submitted;
	int campaign_seq;
	uint8_t *cell_marks; /* (MAX_CELLS) by seed: SEEN_FIT_AT_C | SEEN_NO_FIT_ABOVE_C */
	int searching;	     /* cells submitted whose search has not ended */
	int64_t last_submit_ms;
	int64_t submit_sent_us[MAX_CAMPAIGNS]; /* answered in order: reply i is for submit i */
	int64_t submit_reply_us[MAX_CAMPAIGNS];
	int replies;
	/* measured */
	bool measuring;
	int64_t results, fenced, assigns, submits_in_window;
	double *latencies_ms;
	size_t n_latencies;
	double *steady_ms; /* the latencies of Readies that waited through no submission */
	size_t n_steady;
} B;

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void)
{
	return now_us() / 1000;
}

static void fail(const char *what, const char *why)
{
	fprintf(stderr, "bench_coordinator: %s: %s\n", what, why);
	if (B.child > 0) {
		kill(B.child, SIGKILL);
		waitpid(B.child, NULL, 0);
	}
	exit(1);
}

/* ---- data and specs --------------------------------------------------------- */

static void put_be32(FILE *f, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	if (fwrite(b, 1, 4, f) != 4)
		fail("write", strerror(errno));
}

/* Plain IDX files: ubyte images (n, rows, cols) and ubyte labels (n). */
static void write_dataset(void)
{
	FILE *fi = fopen(B.images, "wb"), *fl = fopen(B.labels, "wb");
	uint64_t x = 0x9e3779b97f4a7c15u;

	if (!fi || !fl)
		fail("dataset", strerror(errno));
	put_be32(fi, 0x00000803);
	put_be32(fi, DATA_SAMPLES);
	put_be32(fi, DATA_ROWS);
	put_be32(fi, DATA_COLS);
	put_be32(fl, 0x00000801);
	put_be32(fl, DATA_SAMPLES);
	for (int i = 0; i < DATA_SAMPLES; i++) {
		uint8_t px[DATA_ROWS * DATA_COLS], label = (uint8_t)(i % DATA_CLASSES);

		for (size_t k = 0; k < sizeof px; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			px[k] = (uint8_t)x;
		}
		if (fwrite(px, 1, sizeof px, fi) != sizeof px || fwrite(&label, 1, 1, fl) != 1)
			fail("dataset", strerror(errno));
	}
	if (fclose(fi) != 0 || fclose(fl) != 0)
		fail("dataset", strerror(errno));
}

/* The size the cell with this seed can fit: the oracle's C. */
static uint64_t oracle_capacity(uint64_t seed)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15u;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	z ^= z >> 31;
	return 1000 + z % (DATA_SAMPLES - 10000);
}

static wire_msg out; /* about 50 KiB: the message being built */

static void send_msg(void *sock, const wire_msg *m)
{
	uint8_t *buf;
	size_t len;
	emc_err err;

	if (wire_pack(m, &buf, &len, &err) < 0)
		fail("encode", err.msg);
	if (zmq_send(sock, buf, len, ZMQ_DONTWAIT) < 0 && errno != EAGAIN)
		fail("send", zmq_strerror(errno));
	free(buf);
}

/* A campaign of CELLS_PER_CAMPAIGN cells that differ by seed (and so by C),
 * searched exactly (precision 0). */
static void submit_campaign(void *control)
{
	char text[4096];
	int len, seq = B.campaign_seq++;

	len = snprintf(text, sizeof text,
		       "name: bench-%d\n"
		       "dataset: {format: idx, images: %s, labels: %s}\n"
		       "model: {family: mlp, widths: [[8]]}\n"
		       "search: {start: 16, precision: 0}\n"
		       "seeds: [",
		       seq, B.images, B.labels);
	for (int i = 0; i < CELLS_PER_CAMPAIGN; i++)
		len += snprintf(text + len, sizeof text - (size_t)len, "%s%d", i ? ", " : "",
				seq * CELLS_PER_CAMPAIGN + i);
	snprintf(text + len, sizeof text - (size_t)len, "]\n");
	wire_msg_init(&out, WIRE_SUBMIT);
	out.submit.spec_text = text;
	out.submit.spec_len = strlen(text);
	out.submit.origin = "bench.yaml";
	out.submit.base_dir = B.dir;
	send_msg(control, &out);
	B.campaigns_submitted++;
	B.last_submit_ms = now_ms();
	B.submit_sent_us[seq] = now_us();
	B.submit_reply_us[seq] = 0;
	if (B.trace)
		fprintf(B.trace, "%.3f submit %d\n", (double)(now_us() - B.trace_t0_us) / 1000.0, seq);
	B.searching += CELLS_PER_CAMPAIGN;
	if (B.measuring)
		B.submits_in_window++;
}

/* ---- the coordinator process ------------------------------------------------ */

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		fail("port", strerror(errno));
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static pid_t coordinator_start(const char *bind_ep, const char *control_ep)
{
	char db[128], log[128];
	pid_t pid;

	snprintf(db, sizeof db, "%s/bench.db", B.dir);
	snprintf(log, sizeof log, "%s/coordinator.log", B.dir);
	pid = fork();
	if (pid < 0)
		fail("fork", strerror(errno));
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
		execl(B.coordinator, B.coordinator, "--db", db, "--bind", bind_ep, "--control", control_ep,
		      "--insecure", (char *)NULL);
		_exit(127);
	}
	B.child = pid;
	return pid;
}

static void coordinator_stop(pid_t pid)
{
	int64_t deadline = now_ms() + STOP_TIMEOUT_MS;
	int status;

	B.child = 0;
	kill(pid, SIGTERM);
	while (now_ms() < deadline) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return;
		usleep(10000);
	}
	fprintf(stderr, "bench_coordinator: coordinator did not stop in %d ms; killed\n", STOP_TIMEOUT_MS);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

/* ---- simulated workers ------------------------------------------------------ */

static void worker_hello(sim_worker *w)
{
	wire_msg_init(&out, WIRE_HELLO);
	out.hello.protocol = EMC_PROTOCOL_VERSION;
	snprintf(out.hello.host, sizeof out.hello.host, "bench");
	out.hello.pid = (uint32_t)getpid();
	out.hello.slots = 1;
	out.hello.blas_threads = 1;
	send_msg(w->sock, &out);
	w->welcomed = false;
	w->waiting = false;
}

static void worker_ready(sim_worker *w)
{
	wire_msg m = {.kind = WIRE_READY, .ready = {.credit = 1}};

	w->ready_us = now_us();
	w->waiting = true;
	send_msg(w->sock, &m);
}

static void worker_heartbeat(sim_worker *w)
{
	wire_msg_init(&out, WIRE_HEARTBEAT);
	if (w->training) {
		out.heartbeat.attempts[0] = (wire_progress){.attempt_id = w->attempt_id, .epoch = 1, .loss = 0.5};
		out.heartbeat.n_attempts = 1;
	}
	send_msg(w->sock, &out);
}

/* With precision 0 and a monotone oracle, a cell's search ends exactly
 * when it has seen a fit at C and a no-fit at C + 1. */
static void cell_note(uint64_t seed, uint64_t n)
{
	uint64_t c;
	uint8_t before;

	if (seed >= MAX_CELLS)
		return;
	c = oracle_capacity(seed);
	before = B.cell_marks[seed];
	if (n == c)
		B.cell_marks[seed] |= SEEN_FIT_AT_C;
	else if (n == c + 1)
		B.cell_marks[seed] |= SEEN_NO_FIT_ABOVE_C;
	if (before != B.cell_marks[seed] && B.cell_marks[seed] == (SEEN_FIT_AT_C | SEEN_NO_FIT_ABOVE_C))
		B.searching--;
}

/* Training is over: the Result, then a Ready for the next trial. */
static void worker_finish(sim_worker *w, bool cancelled)
{
	emc_trial_result *r = &out.result.r;

	if (!cancelled)
		cell_note(w->seed, w->n);
	w->training = false;
	wire_msg_init(&out, WIRE_RESULT);
	out.result.attempt_id = w->attempt_id;
	out.result.trial_id = w->trial_id;
	if (cancelled) {
		r->outcome = EMC_OUTCOME_CANCELLED;
		r->reason = EMC_STOP_CANCELLED;
	} else {
		r->outcome = w->fit ? EMC_OUTCOME_FIT : EMC_OUTCOME_NO_FIT;
		r->reason = w->fit ? EMC_STOP_FIT : EMC_STOP_PLATEAU;
	}
	r->epochs = 1;
	r->steps = 1;
	r->train_seconds = (double)B.train_us / 1e6;
	r->accuracy = w->fit ? 1.0 : 0.5;
	send_msg(w->sock, &out);
	worker_ready(w);
}

/* Was a submission being handled (sent, not answered) during [from, to]? */
static bool waited_through_submit(int64_t from, int64_t to)
{
	for (int i = B.campaign_seq - 1; i >= 0; i--) {
		if (B.submit_reply_us[i] != 0 && B.submit_reply_us[i] < from)
			return false; /* answered in order: all earlier ones too */
		if (B.submit_sent_us[i] < to)
			return true;
	}
	return false;
}

static void worker_assigned(sim_worker *w, const wire_assign *a)
{

	if (w->waiting) {
		int64_t t = now_us();

		if (B.measuring && B.n_latencies < MAX_LATENCIES) {
			B.latencies_ms[B.n_latencies++] = (double)(t - w->ready_us) / 1000.0;
			if (!waited_through_submit(w->ready_us, t))
				B.steady_ms[B.n_steady++] = (double)(t - w->ready_us) / 1000.0;
		}
		if (B.trace)
			fprintf(B.trace, "%.3f dispatch %.3f\n", (double)(t - B.trace_t0_us) / 1000.0,
				(double)(t - w->ready_us) / 1000.0);
		w->waiting = false;
	}
	if (B.measuring)
		B.assigns++;
	if (w->training) /* one slot: the coordinator should not do this */
		fail("assign", "a second trial for a worker with one slot");
	w->training = true;
	w->attempt_id = a->attempt_id;
	w->trial_id = a->trial_id;
	w->fit = a->rc == 0 && a->n > 0 && (uint64_t)a->n <= oracle_capacity(a->cell.seed);
	w->seed = a->rc == 0 ? a->cell.seed : UINT64_MAX;
	w->n = (uint64_t)a->n;
	w->done_us = now_us() + B.train_us;
	if (B.train_us == 0)
		worker_finish(w, false);
}

static void worker_message(sim_worker *w, const uint8_t *buf, size_t len)
{
	static wire_msg m; /* about 50 KiB */
	emc_err err;

	if (wire_unpack(buf, len, &m, &err) < 0)
		fail("from the coordinator", err.msg);
	switch (m.kind) {
	case WIRE_WELCOME:
		w->welcomed = true;
		worker_ready(w);
		break;
	case WIRE_ASSIGN:
		worker_assigned(w, &m.assign);
		break;
	case WIRE_RESULT_ACK:
		if (B.measuring) {
			if (m.result_ack.recorded)
				B.results++;
			else
				B.fenced++;
		}
		break;
	case WIRE_ERROR:
		worker_hello(w); /* as emc-worker does */
		break;
	case WIRE_CANCEL:
		/* As emc-worker: the trial stops and says so. A Cancel for
		 * what already ended is ignored. */
		if (w->training && m.cancel.attempt_id == w->attempt_id)
			worker_finish(w, true);
		break;
	default: /* Heartbeat answers */
		break;
	}
	wire_msg_deinit(&m);
}

static void control_message(const uint8_t *buf, size_t len)
{
	static wire_msg m; /* about 50 KiB */
	emc_err err;

	if (wire_unpack(buf, len, &m, &err) < 0)
		fail("from the control socket", err.msg);
	if (m.kind != WIRE_SUBMIT_REPLY || !m.submit_reply.ok)
		fail("submit refused", m.kind == WIRE_SUBMIT_REPLY ? m.submit_reply.message : "no reply");
	if (B.replies < B.campaign_seq) {
		B.submit_reply_us[B.replies] = now_us();
		if (B.trace)
			fprintf(B.trace, "%.3f submit_reply %.3f\n", (double)(now_us() - B.trace_t0_us) / 1000.0,
				(double)(now_us() - B.submit_sent_us[B.replies]) / 1000.0);
		B.replies++;
	}
	wire_msg_deinit(&m);
}

/* Take what waits on one socket; returns the number of messages. */
static int drain(void *sock, sim_worker *w)
{
	int n = 0;

	for (; n < RECV_BUDGET; n++) {
		zmq_msg_t m;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			break;
		}
		if (w)
			worker_message(w, zmq_msg_data(&m), zmq_msg_size(&m));
		else
			control_message(zmq_msg_data(&m), zmq_msg_size(&m));
		zmq_msg_close(&m);
	}
	return n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double p)
{
	if (n == 0)
		return 0.0;
	return sorted[(size_t)(p * (double)(n - 1) + 0.5)];
}

static void *dealer(const char *endpoint, const char *identity)
{
	void *s = zmq_socket(B.zctx, ZMQ_DEALER);
	int linger = 0, hwm = 100000;

	if (!s)
		fail("socket", zmq_strerror(errno));
	if (identity)
		zmq_setsockopt(s, ZMQ_ROUTING_ID, identity, strlen(identity));
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
	zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
	if (zmq_connect(s, endpoint) < 0)
		fail(endpoint, zmq_strerror(errno));
	return s;
}

/* One run with n_workers simulated workers; prints its JSON line. */
static int run(int n_workers)
{
	char bind_ep[64], control_ep[64], ident[32];
	sim_worker *workers = calloc((size_t)n_workers, sizeof *workers);
	zmq_pollitem_t *items = calloc((size_t)n_workers + 1, sizeof *items);
	int64_t t0 = now_us(), start_ms, end_ms, deadline, started_ms;
	int initial = SEARCHING_CELLS / CELLS_PER_CAMPAIGN;
	int welcomed = 0, r = 0;
	pid_t pid;

	if (!workers || !items)
		fail("bench", "out of memory");
	snprintf(bind_ep, sizeof bind_ep, "tcp://127.0.0.1:%d", free_port());
	snprintf(control_ep, sizeof control_ep, "tcp://127.0.0.1:%d", free_port());
	pid = coordinator_start(bind_ep, control_ep);

	B.campaigns_submitted = B.results = B.fenced = B.assigns = B.submits_in_window = 0;
	B.n_latencies = B.n_steady = 0;
	B.measuring = false;
	items[n_workers].socket = dealer(control_ep, NULL);
	items[n_workers].events = ZMQ_POLLIN;
	/* Enough work for the whole run, before any worker asks. */
	for (int i = 0; i < initial; i++)
		submit_campaign(items[n_workers].socket);
	deadline = now_ms() + STARTUP_TIMEOUT_MS * 4;
	for (int got = 0; got < initial;) {
		if (now_ms() > deadline)
			fail("submit", "no reply from the coordinator");
		if (zmq_poll(&items[n_workers], 1, 100) > 0)
			got += drain(items[n_workers].socket, NULL);
	}

	for (int i = 0; i < n_workers; i++) {
		snprintf(ident, sizeof ident, "bench-w%d", i);
		workers[i].sock = dealer(bind_ep, ident);
		workers[i].next_heartbeat_ms = now_ms() + HEARTBEAT_MS;
		items[i].socket = workers[i].sock;
		items[i].events = ZMQ_POLLIN;
		worker_hello(&workers[i]);
	}

	started_ms = now_ms();
	B.trace_t0_us = now_us();
	if (B.trace)
		fprintf(B.trace, "# run: %d workers, training %.1f ms\n", n_workers, (double)B.train_us / 1000.0);
	start_ms = started_ms + (int64_t)B.warmup_s * 1000;
	end_ms = start_ms + (int64_t)B.window_s * 1000;
	for (int64_t now = started_ms; now < end_ms; now = now_ms()) {
		if (!B.measuring && now >= start_ms) {
			B.measuring = true;
			t0 = now_us();
		}
		if (zmq_poll(items, n_workers + 1, B.train_us ? 1 : 5) < 0 && errno != EINTR)
			fail("poll", zmq_strerror(errno));
		for (int i = 0; i < n_workers; i++)
			if (items[i].revents & ZMQ_POLLIN)
				drain(items[i].socket, &workers[i]);
		if (items[n_workers].revents & ZMQ_POLLIN)
			drain(items[n_workers].socket, NULL);
		now = now_ms();
		for (int i = 0; i < n_workers; i++) {
			sim_worker *w = &workers[i];

			if (w->training && now_us() >= w->done_us)
				worker_finish(w, false);
			if (now >= w->next_heartbeat_ms) {
				if (w->welcomed)
					worker_heartbeat(w);
				else
					worker_hello(w);
				w->next_heartbeat_ms = now + HEARTBEAT_MS;
			}
		}
		if (B.searching < SEARCHING_CELLS - CELLS_PER_CAMPAIGN / 2 && B.campaign_seq < MAX_CAMPAIGNS &&
		    now - B.last_submit_ms >= SUBMIT_GAP_MS)
			submit_campaign(items[n_workers].socket);
		if (welcomed < n_workers) {
			welcomed = 0;
			for (int i = 0; i < n_workers; i++)
				welcomed += workers[i].welcomed;
			if (welcomed < n_workers && now - started_ms > STARTUP_TIMEOUT_MS)
				fail("start", "not every worker was welcomed in time");
		}
	}

	{
		double seconds = (double)(now_us() - t0) / 1e6;

		qsort(B.latencies_ms, B.n_latencies, sizeof *B.latencies_ms, cmp_double);
		qsort(B.steady_ms, B.n_steady, sizeof *B.steady_ms, cmp_double);
		printf("{\"workers\":%d,\"results_per_s\":%.0f,\"dispatch_p50_ms\":%.3f,\"dispatch_p99_ms\":%.3f,"
		       "\"steady_p50_ms\":%.3f,\"steady_p99_ms\":%.3f,\"steady_share\":%.3f,"
		       "\"train_ms\":%.1f,\"window_s\":%.1f,\"results\":%" PRId64 ",\"fenced\":%" PRId64
		       ",\"assigns\":%" PRId64 ",\"campaigns\":%" PRId64 ",\"campaigns_added_in_window\":%" PRId64
		       "}\n",
		       n_workers, (double)B.results / seconds, percentile(B.latencies_ms, B.n_latencies, 0.50),
		       percentile(B.latencies_ms, B.n_latencies, 0.99), percentile(B.steady_ms, B.n_steady, 0.50),
		       percentile(B.steady_ms, B.n_steady, 0.99),
		       B.n_latencies ? (double)B.n_steady / (double)B.n_latencies : 0.0, (double)B.train_us / 1000.0,
		       seconds, B.results, B.fenced, B.assigns, B.campaigns_submitted, B.submits_in_window);
		fflush(stdout);
	}

	for (int i = 0; i <= n_workers; i++)
		zmq_close(items[i].socket);
	coordinator_stop(pid);
	free(workers);
	free(items);
	return r;
}

static void remove_dir(void)
{
	static const char *const files[] = {"images.idx",   "labels.idx",   "bench.db",
					    "bench.db-wal", "bench.db-shm", "coordinator.log"};
	char p[192];

	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(p, sizeof p, "%s/%s", B.dir, files[i]);
		unlink(p);
	}
	rmdir(B.dir);
}

/* A run in a new temporary directory with a new database and coordinator. */
static void run_fresh(int n_workers, int64_t train_us)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(B.dir, sizeof B.dir, "%s/emc-bench-XXXXXX", tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(B.dir))
		fail("mkdtemp", strerror(errno));
	snprintf(B.images, sizeof B.images, "%s/images.idx", B.dir);
	snprintf(B.labels, sizeof B.labels, "%s/labels.idx", B.dir);
	write_dataset();
	B.campaign_seq = 0;
	B.replies = 0;
	memset(B.cell_marks, 0, MAX_CELLS);
	B.searching = 0;
	B.train_us = train_us;
	run(n_workers);
	if (B.keep)
		fprintf(stderr, "bench_coordinator: kept %s\n", B.dir);
	else
		remove_dir();
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_coordinator [--coordinator PATH] [--workers 16,64,256] [--warmup S=3]\n"
		   "                         [--seconds S=10] [--rate R=5500] [--keep] [--trace FILE]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"coordinator", required_argument, NULL, 'c'},
	    {"workers", required_argument, NULL, 'w'},
	    {"warmup", required_argument, NULL, 'u'},
	    {"seconds", required_argument, NULL, 's'},
	    {"keep", no_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {"rate", required_argument, NULL, 'r'},
	    {"trace", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	char workers_list[256] = "16,64,256", *save = NULL;
	int opt;

	B.coordinator = EMC_COORDINATOR_PATH;
	B.warmup_s = 3;
	B.rate = 5500;
	B.window_s = 10;
	while ((opt = getopt_long(argc, argv, "c:w:u:s:r:t:kh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			B.coordinator = optarg;
			break;
		case 'w':
			snprintf(workers_list, sizeof workers_list, "%s", optarg);
			break;
		case 'u':
			B.warmup_s = atoi(optarg);
			break;
		case 's':
			B.window_s = atoi(optarg);
			break;
		case 'r':
			B.rate = atoi(optarg);
			break;
		case 't':
			B.trace = fopen(optarg, "w");
			if (!B.trace)
				fail(optarg, strerror(errno));
			break;
		case 'k':
			B.keep = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (B.warmup_s < 0 || B.warmup_s > 600 || B.window_s < 1 || B.window_s > 600 || B.rate < 0 ||
	    B.rate > 1000000) {
		fprintf(stderr, "bench_coordinator: --warmup, --seconds and --rate must be 0..600, 1..600 and "
				"0..1000000\n");
		return 2;
	}
	B.latencies_ms = malloc(MAX_LATENCIES * sizeof *B.latencies_ms);
	B.steady_ms = malloc(MAX_LATENCIES * sizeof *B.steady_ms);
	B.cell_marks = calloc(MAX_CELLS, 1);
	if (!B.latencies_ms || !B.steady_ms || !B.cell_marks)
		fail("bench", "out of memory");
	signal(SIGPIPE, SIG_IGN);
	B.zctx = zmq_ctx_new();

	for (char *tok = strtok_r(workers_list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int n = atoi(tok);

		if (n < 1 || n > MAX_WORKERS) {
			fprintf(stderr, "bench_coordinator: --workers: %s is not in 1..%d\n", tok, MAX_WORKERS);
			return 2;
		}
		/* Saturated (workers answer at once), then paced at --rate. */
		run_fresh(n, 0);
		if (B.rate > 0)
			run_fresh(n, (int64_t)n * 1000000 / B.rate);
	}
	zmq_ctx_term(B.zctx);
	free(B.latencies_ms);
	free(B.steady_ms);
	free(B.cell_marks);
	if (B.trace)
		fclose(B.trace);
	return 0;
}
