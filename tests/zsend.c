/* zsend.c — a hostile or broken peer for the fault tests.
 *
 *   zsend --connect ENDPOINT [--keys DIR] [--identity ID] [--wait-ms MS]
 *         [--seed S] ACTION...
 *
 * Connects one ZeroMQ DEALER (as a worker would; with --keys DIR it is a
 * CURVE client using DIR/worker.key, DIR/worker.pub and
 * DIR/coordinator.pub), sends every ACTION in order, then listens for
 * --wait-ms (default 1000) and prints one line per message that came back:
 *
 *   error MESSAGE | welcome WORKER_ID | result_ack ATTEMPT recorded=0|1 |
 *   heartbeat | cancel ATTEMPT | assign ATTEMPT | other BODY | undecodable LEN
 *
 * and finally "replies N". Actions:
 *
 *   garbage:BYTES          one frame of seeded random bytes
 *   empty                  one empty frame
 *   oversized:BYTES        one frame of BYTES bytes (meant to exceed the limit)
 *   truncated-hello        the first half of a valid Hello
 *   multipart:K            one message of K frames, each a valid Hello
 *   hello:SLOTS[:RUNNING]  a Hello with SLOTS slots listing RUNNING attempts
 *                          (at most WIRE_SLOTS_MAX: the wire carries no more)
 *   version:V              a valid Hello in an envelope of protocol version V
 *   result:ATTEMPT:TRIAL   a Result FIT for that attempt and trial, its epochs
 *                          set to the marker 424242 so a test can look for it
 *   ready:CREDIT           a Ready
 *   heartbeat[:ATTEMPT]    a Heartbeat (with one attempt's progress)
 *   welcome                a Welcome (a message only a coordinator sends)
 *   sleep:MS               pause between two actions
 *
 * Exit status: 0 when every action was sent, 1 when one could not be, 2 on
 * bad arguments. It never waits longer than its own timeouts.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "wire.h"

#define ZSEND_MARKER_EPOCHS 424242
#define ZSEND_MAX_FRAME (64 << 20)
#define ZSEND_MAX_PARTS 64
#define ZSEND_MAX_RUNNING 100000

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
	/* splitmix64: enough for garbage. */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int read_key(const char *dir, const char *name, char out[41])
{
	char path[4096], buf[64];
	size_t n;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "zsend: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n != 40) {
		fprintf(stderr, "zsend: %s: not a Z85 key\n", path);
		return -1;
	}
	memcpy(out, buf, 41);
	return 0;
}

static wire_msg out; /* about 50 KiB: the message being built */

/* Pack out with the given envelope version into a new buffer. */
static uint8_t *pack(uint32_t version, size_t *len)
{
	uint8_t *buf = NULL;
	emc_err err;

	if (wire_pack_version(&out, version, &buf, len, &err) < 0) {
		fprintf(stderr, "zsend: %s\n", err.msg);
		return NULL;
	}
	return buf;
}

/* A Hello claiming n_running attempts; the wire carries at most
 * WIRE_SLOTS_MAX of them, more than any worker may run. */
static uint8_t *make_hello(uint32_t slots, size_t n_running, uint32_t version, size_t *len)
{
	wire_hello *h = &out.hello;

	wire_msg_init(&out, WIRE_HELLO);
	h->n_running = n_running < WIRE_SLOTS_MAX ? n_running : WIRE_SLOTS_MAX;
	for (size_t i = 0; i < h->n_running; i++)
		h->running[i] = 1000000 + i;
	h->protocol = EMC_PROTOCOL_VERSION;
	snprintf(h->host, sizeof h->host, "zsend");
	h->pid = (uint32_t)getpid();
	h->slots = slots;
	h->blas_threads = 1;
	h->n_capabilities = 1;
	snprintf(h->capabilities[0], sizeof h->capabilities[0], "family:mlp");
	return pack(version, len);
}

static int send_frame(void *sock, const void *buf, size_t len, int flags)
{
	if (zmq_send(sock, buf, len, flags) < 0) {
		fprintf(stderr, "zsend: send of %zu bytes: %s\n", len, zmq_strerror(errno));
		return -1;
	}
	return 0;
}

static int send_owned(void *sock, uint8_t *buf, size_t len)
{
	int r;

	if (!buf) {
		fprintf(stderr, "zsend: out of memory\n");
		return -1;
	}
	r = send_frame(sock, buf, len, 0);
	free(buf);
	return r;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*ret = v;
	return true;
}

/* The text after "name:" in action a, or NULL. */
static const char *arg_of(const char *a, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == ':')
		return a + n + 1;
	if (a[n] == '\0')
		return "";
	return NULL;
}

static int run_action(void *sock, const char *a)
{
	const char *v;
	uint64_t x, y;
	size_t len;
	uint8_t *buf;

	if ((v = arg_of(a, "garbage"))) {
		if (!parse_u64(v, ZSEND_MAX_FRAME, &x))
			goto bad;
		buf = malloc(x ? x : 1);
		if (!buf)
			return -1;
		for (uint64_t i = 0; i < x; i++)
			buf[i] = (uint8_t)rng_next();
		return send_owned(sock, buf, x);
	}
	if ((v = arg_of(a, "empty")))
		return send_frame(sock, "", 0, 0);
	if ((v = arg_of(a, "oversized"))) {
		if (!parse_u64(v, ZSEND_MAX_FRAME, &x))
			goto bad;
		buf = calloc(1, x ? x : 1);
		return send_owned(sock, buf, x);
	}
	if ((v = arg_of(a, "truncated-hello"))) {
		buf = make_hello(1, 0, EMC_PROTOCOL_VERSION, &len);
		return send_owned(sock, buf, len / 2);
	}
	if ((v = arg_of(a, "multipart"))) {
		if (!parse_u64(v, ZSEND_MAX_PARTS, &x) || x < 2)
			goto bad;
		buf = make_hello(1, 0, EMC_PROTOCOL_VERSION, &len);
		if (!buf)
			return -1;
		for (uint64_t i = 0; i < x; i++)
			if (send_frame(sock, buf, len, i + 1 < x ? ZMQ_SNDMORE : 0) < 0) {
				free(buf);
				return -1;
			}
		free(buf);
		return 0;
	}
	if ((v = arg_of(a, "hello"))) {
		char slots[32] = "1";
		const char *colon = strchr(v, ':');

		y = 0;
		if (*v) {
			size_t n = colon ? (size_t)(colon - v) : strlen(v);

			if (n >= sizeof slots)
				goto bad;
			memcpy(slots, v, n);
			slots[n] = '\0';
		}
		if (!parse_u64(slots, UINT32_MAX, &x) || (colon && !parse_u64(colon + 1, ZSEND_MAX_RUNNING, &y)))
			goto bad;
		buf = make_hello((uint32_t)x, (size_t)y, EMC_PROTOCOL_VERSION, &len);
		return send_owned(sock, buf, len);
	}
	if ((v = arg_of(a, "version"))) {
		if (!parse_u64(v, UINT32_MAX, &x))
			goto bad;
		buf = make_hello(1, 0, (uint32_t)x, &len);
		return send_owned(sock, buf, len);
	}
	if ((v = arg_of(a, "result"))) {
		emc_trial_result *r = &out.result.r;
		const char *colon = strchr(v, ':');
		char attempt[32];

		if (!colon || (size_t)(colon - v) >= sizeof attempt)
			goto bad;
		memcpy(attempt, v, (size_t)(colon - v));
		attempt[colon - v] = '\0';
		if (!parse_u64(attempt, UINT64_MAX, &x) || !parse_u64(colon + 1, UINT64_MAX, &y))
			goto bad;
		wire_msg_init(&out, WIRE_RESULT);
		out.result.attempt_id = x;
		out.result.trial_id = y;
		r->outcome = EMC_OUTCOME_FIT;
		r->reason = EMC_STOP_FIT;
		r->epochs = ZSEND_MARKER_EPOCHS;
		r->steps = ZSEND_MARKER_EPOCHS;
		r->accuracy = 1.0;
		buf = pack(EMC_PROTOCOL_VERSION, &len);
		return send_owned(sock, buf, len);
	}
	if ((v = arg_of(a, "ready"))) {
		if (!parse_u64(v, UINT32_MAX, &x))
			goto bad;
		wire_msg_init(&out, WIRE_READY);
		out.ready.credit = (uint32_t)x;
		buf = pack(EMC_PROTOCOL_VERSION, &len);
		return send_owned(sock, buf, len);
	}
	if ((v = arg_of(a, "heartbeat"))) {
		wire_msg_init(&out, WIRE_HEARTBEAT);
		if (*v) {
			if (!parse_u64(v, UINT64_MAX, &x))
				goto bad;
			out.heartbeat.attempts[0].attempt_id = x;
			out.heartbeat.n_attempts = 1;
		}
		buf = pack(EMC_PROTOCOL_VERSION, &len);
		return send_owned(sock, buf, len);
	}
	if ((v = arg_of(a, "welcome"))) {
		wire_msg_init(&out, WIRE_WELCOME);
		out.welcome = (wire_welcome){.worker_id = 1, .heartbeat_ms = 50, .lease_ms = 100};
		buf = pack(EMC_PROTOCOL_VERSION, &len);
		return send_owned(sock, buf, len);
	}
	if ((v = arg_of(a, "sleep"))) {
		if (!parse_u64(v, 60000, &x))
			goto bad;
		usleep((useconds_t)(x * 1000));
		return 0;
	}
bad:
	fprintf(stderr, "zsend: bad action '%s'\n", a);
	return -2;
}

static void print_reply(zmq_msg_t *frame)
{
	static wire_msg m; /* about 50 KiB */
	emc_err err;

	if (wire_unpack(zmq_msg_data(frame), zmq_msg_size(frame), &m, &err) < 0) {
		printf("undecodable %zu\n", zmq_msg_size(frame));
		return;
	}
	switch (m.kind) {
	case WIRE_ERROR:
		printf("error %s\n", m.error.message);
		break;
	case WIRE_WELCOME:
		printf("welcome %" PRIu64 "\n", m.welcome.worker_id);
		break;
	case WIRE_RESULT_ACK:
		printf("result_ack %" PRIu64 " recorded=%d\n", m.result_ack.attempt_id, m.result_ack.recorded ? 1 : 0);
		break;
	case WIRE_HEARTBEAT:
		printf("heartbeat\n");
		break;
	case WIRE_CANCEL:
		printf("cancel %" PRIu64 "\n", m.cancel.attempt_id);
		break;
	case WIRE_ASSIGN:
		printf("assign %" PRIu64 "\n", m.assign.attempt_id);
		break;
	default:
		printf("other %s\n", wire_kind_name(m.kind));
		break;
	}
	wire_msg_deinit(&m);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: zsend --connect ENDPOINT [--keys DIR] [--identity ID] [--wait-ms MS] [--seed S] ACTION...\n"
		   "actions: garbage:BYTES empty oversized:BYTES truncated-hello multipart:K\n"
		   "         hello:SLOTS[:RUNNING] version:V result:ATTEMPT:TRIAL ready:CREDIT\n"
		   "         heartbeat[:ATTEMPT] welcome sleep:MS\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'c' }, { "keys", required_argument, NULL, 'k' },
		{ "identity", required_argument, NULL, 'i' }, { "wait-ms", required_argument, NULL, 'w' },
		{ "seed", required_argument, NULL, 's' },    { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *endpoint = NULL, *keys = NULL, *identity = NULL;
	uint64_t wait_ms = 1000, seed = 1;
	char ident[64];
	int opt, rc = 0, replies = 0, linger = 1000, timeout = 5000;
	void *ctx, *sock;
	int64_t deadline;

	while ((opt = getopt_long(argc, argv, "c:k:i:w:s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			endpoint = optarg;
			break;
		case 'k':
			keys = optarg;
			break;
		case 'i':
			identity = optarg;
			break;
		case 'w':
			if (!parse_u64(optarg, 600000, &wait_ms)) {
				usage(stderr);
				return 2;
			}
			break;
		case 's':
			if (!parse_u64(optarg, UINT64_MAX, &seed)) {
				usage(stderr);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!endpoint || optind >= argc) {
		usage(stderr);
		return 2;
	}
	rng_state ^= seed * 0xd1b54a32d192ed03ull;
	if (!identity) {
		snprintf(ident, sizeof ident, "zsend-%d-%016" PRIx64, (int)getpid(), rng_next());
		identity = ident;
	}

	ctx = zmq_ctx_new();
	sock = zmq_socket(ctx, ZMQ_DEALER);
	zmq_setsockopt(sock, ZMQ_ROUTING_ID, identity, strlen(identity));
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(sock, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
	if (keys) {
		char pub[41], sec[41], server[41];

		if (read_key(keys, "worker.key", sec) < 0 || read_key(keys, "worker.pub", pub) < 0 ||
		    read_key(keys, "coordinator.pub", server) < 0)
			return 2;
		if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server, 40) < 0 ||
		    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, 40) < 0 ||
		    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, 40) < 0) {
			fprintf(stderr, "zsend: CURVE: %s\n", zmq_strerror(errno));
			return 2;
		}
	}
	if (zmq_connect(sock, endpoint) < 0) {
		fprintf(stderr, "zsend: connect %s: %s\n", endpoint, zmq_strerror(errno));
		return 1;
	}

	for (int i = optind; i < argc; i++) {
		int r = run_action(sock, argv[i]);

		if (r == -2) {
			rc = 2;
			break;
		}
		if (r < 0)
			rc = 1;
	}

	deadline = now_ms() + (int64_t)wait_ms;
	while (rc != 2) {
		zmq_pollitem_t item = { .socket = sock, .events = ZMQ_POLLIN };
		int64_t left = deadline - now_ms();
		zmq_msg_t msg;

		if (left <= 0)
			break;
		if (zmq_poll(&item, 1, (long)left) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!(item.revents & ZMQ_POLLIN))
			continue;
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) >= 0) {
			replies++;
			print_reply(&msg);
		}
		zmq_msg_close(&msg);
	}
	printf("replies %d\n", replies);
	fflush(stdout);
	/* Queued frames that never reached a peer are dropped after the linger. */
	zmq_close(sock);
	zmq_ctx_term(ctx);
	return rc;
}
