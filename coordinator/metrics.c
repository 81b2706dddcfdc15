/* metrics.c — what the coordinator tells Prometheus, and the thread that
 * tells it.
 *
 * The numbers live in a metrics_snapshot: gauges the loop refreshes (trials
 * by state from the database, so a restarted coordinator reports them as
 * they are; connected workers from the scheduler), counters and histograms
 * the scheduler's observer callbacks add to as things happen. The loop
 * owns the live snapshot and publishes a copy after every committed turn;
 * the libmicrohttpd thread formats the published copy under the mutex.
 * A copy is a few hundred bytes and a scrape comes every few seconds, so
 * copying whole snapshots costs nothing and keeps the locking obvious: the
 * lock is held for a memcpy on either side, never while formatting a
 * request or running the loop.
 *
 * The format is the text exposition format, version 0.0.4: every family
 * has its # HELP and # TYPE lines before its samples; label values escape
 * backslash, double quote and newline; a histogram's buckets are
 * cumulative, end with le="+Inf" equal to its _count, then _sum and
 * _count. Every label value a family can take is written, zeros included,
 * so a query never sees a series appear out of nothing.
 *
 * The server answers GET and HEAD of /metrics only (404 for any other
 * path, 405 for any other method), with few connections and a short
 * timeout: it is for a scraper, not for the public.
 */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cli.h"
#include "log.h"

#define DEFAULT_HOST	   "127.0.0.1"
#define LISTEN_BACKLOG	   16
#define CONNECTIONS_MAX	   16
#define CONNECTION_TIMEOUT 10 /* seconds */
#define CONTENT_TYPE	   "text/plain; version=0.0.4; charset=utf-8"
#define PLAIN_TYPE	   "text/plain; charset=utf-8"

/* Waiting for a worker is usually milliseconds; minutes means no worker. */
static const double dispatch_bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300};
/* A trial takes from a fraction of a second to hours. */
static const double duration_bounds[] = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400};

static const char *const outcome_names[METRICS_OUTCOME_COUNT] = {
    [METRICS_FIT] = STORE_TRIAL_NAME_FIT,
    [METRICS_NO_FIT] = STORE_TRIAL_NAME_NO_FIT,
    [METRICS_FAILED] = STORE_TRIAL_NAME_FAILED,
    [METRICS_CANCELLED] = STORE_TRIAL_NAME_CANCELLED,
};

static const char *const attempt_names[METRICS_ATTEMPT_COUNT] = {
    [METRICS_ATTEMPT_LOST] = STORE_ATTEMPT_NAME_LOST,
    [METRICS_ATTEMPT_PREEMPTED] = STORE_ATTEMPT_NAME_PREEMPTED,
    [METRICS_ATTEMPT_FAILED] = STORE_ATTEMPT_NAME_FAILED,
};

/* ---- the snapshot ------------------------------------------------------------ */

static void histogram_init(metrics_histogram *h, const double *bounds, int n)
{
	memset(h, 0, sizeof *h);
	h->n_bounds = n;
	memcpy(h->bounds, bounds, (size_t)n * sizeof *bounds);
}

void metrics_snapshot_init(metrics_snapshot *s, const char *version)
{
	memset(s, 0, sizeof *s);
	snprintf(s->version, sizeof s->version, "%s", version ? version : "");
	histogram_init(&s->dispatch, dispatch_bounds, (int)(sizeof dispatch_bounds / sizeof dispatch_bounds[0]));
	histogram_init(&s->duration, duration_bounds, (int)(sizeof duration_bounds / sizeof duration_bounds[0]));
}

void metrics_observe(metrics_histogram *h, double v)
{
	int i = 0;

	if (isnan(v))
		return;
	while (i < h->n_bounds && v > h->bounds[i])
		i++;
	h->counts[i]++;
	h->sum += v;
	h->count++;
}

/* ---- formatting ---------------------------------------------------------------- */

/* A label value: backslash, double quote and newline escaped. */
static void put_label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			fputs("\\\\", f);
		else if (*v == '"')
			fputs("\\\"", f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void put_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{label="value"} number; label NULL: no labels. */
static void put_sample(FILE *f, const char *name, const char *label, const char *value, const char *number)
{
	fputs(name, f);
	if (label) {
		fprintf(f, "{%s=\"", label);
		put_label_value(f, value);
		fputs("\"}", f);
	}
	fprintf(f, " %s\n", number);
}

static void put_u64(FILE *f, const char *name, const char *label, const char *value, uint64_t v)
{
	char num[32];

	snprintf(num, sizeof num, "%" PRIu64, v);
	put_sample(f, name, label, value, num);
}

static void put_double(FILE *f, const char *name, const char *label, const char *value, double v)
{
	char num[40];

	if (isnan(v))
		snprintf(num, sizeof num, "NaN");
	else if (isinf(v))
		snprintf(num, sizeof num, "%s", v > 0 ? "+Inf" : "-Inf");
	else
		snprintf(num, sizeof num, "%.17g", v);
	put_sample(f, name, label, value, num);
}

static void put_histogram(FILE *f, const char *name, const char *help, const metrics_histogram *h)
{
	char series[96], le[40];
	uint64_t cumulative = 0;

	put_family(f, name, "histogram", help);
	snprintf(series, sizeof series, "%s_bucket", name);
	for (int i = 0; i < h->n_bounds; i++) {
		cumulative += h->counts[i];
		snprintf(le, sizeof le, "%.17g", h->bounds[i]);
		put_u64(f, series, "le", le, cumulative);
	}
	cumulative += h->counts[h->n_bounds];
	put_u64(f, series, "le", "+Inf", cumulative);
	snprintf(series, sizeof series, "%s_sum", name);
	put_double(f, series, NULL, NULL, h->sum);
	snprintf(series, sizeof series, "%s_count", name);
	put_u64(f, series, NULL, NULL, h->count);
}

static void put_gauges(FILE *f, const metrics_snapshot *s)
{
	put_family(f, "emc_build_info", "gauge", "The running emc-coordinator's version (always 1).");
	put_u64(f, "emc_build_info", "version", s->version, 1);

	put_family(f, "emc_trials", "gauge", "Trials in the database by state, every campaign.");
	for (int st = 0; st < STORE_TRIAL_STATE_COUNT; st++)
		put_u64(f, "emc_trials", "state", store_trial_state_name((store_trial_state)st),
			(uint64_t)s->trials[st]);

	put_family(f, "emc_workers", "gauge",
		   "Workers: alive = connected, busy = connected and running a trial, "
		   "lost = retired for silence since the coordinator started.");
	put_u64(f, "emc_workers", "state", "alive", (uint64_t)s->workers_alive);
	put_u64(f, "emc_workers", "state", "busy", (uint64_t)s->workers_busy);
	put_u64(f, "emc_workers", "state", "lost", (uint64_t)s->workers_lost);
}

static void put_counters(FILE *f, const metrics_snapshot *s)
{
	put_family(f, "emc_results_committed_total", "counter",
		   "Terminal trial results recorded since the coordinator started, by outcome.");
	for (int o = 0; o < METRICS_OUTCOME_COUNT; o++)
		put_u64(f, "emc_results_committed_total", "outcome", outcome_names[o], s->results[o]);

	put_family(f, "emc_attempts_lost_total", "counter",
		   "Attempts that ended without a result that counts, since the coordinator started, by how.");
	for (int a = 0; a < METRICS_ATTEMPT_COUNT; a++)
		put_u64(f, "emc_attempts_lost_total", "how", attempt_names[a], s->attempts_lost[a]);

	put_family(f, "emc_train_seconds_total", "counter",
		   "Training time the recorded results report, since the coordinator started.");
	put_double(f, "emc_train_seconds_total", NULL, NULL, s->train_seconds);

	put_family(f, "emc_sample_gradients_total", "counter",
		   "Per-sample gradients (batch rows of every optimizer step) the recorded results report, "
		   "since the coordinator started.");
	put_u64(f, "emc_sample_gradients_total", NULL, NULL, s->sample_grads);
}

int metrics_format(const metrics_snapshot *s, char **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	put_gauges(f, s);
	put_counters(f, s);
	put_histogram(f, "emc_dispatch_latency_seconds",
		      "Seconds from a trial becoming ready to its Assign being sent.", &s->dispatch);
	put_histogram(f, "emc_trial_duration_seconds",
		      "Seconds from an attempt's start to its recorded result (attempts this process started).",
		      &s->duration);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return -ENOMEM;
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* ---- the scheduler's observer ----------------------------------------------------- */

static void on_dispatched(void *ctx, int64_t waited_ms)
{
	metrics_observe(&metrics_live(ctx)->dispatch, (double)waited_ms / 1000.0);
}

static void on_recorded(void *ctx, const emc_trial_result *r, int64_t ran_ms)
{
	metrics_snapshot *s = metrics_live(ctx);
	int o = r->outcome == EMC_OUTCOME_FIT	      ? METRICS_FIT
		: r->outcome == EMC_OUTCOME_NO_FIT    ? METRICS_NO_FIT
		: r->outcome == EMC_OUTCOME_FAILED    ? METRICS_FAILED
		: r->outcome == EMC_OUTCOME_CANCELLED ? METRICS_CANCELLED
						      : -1;

	if (o >= 0)
		s->results[o]++;
	/* The worker's figures: a counter must not go backwards on a bad one. */
	if (isfinite(r->train_seconds) && r->train_seconds > 0)
		s->train_seconds += r->train_seconds;
	if (r->sample_grads > 0)
		s->sample_grads += (uint64_t)r->sample_grads;
	if (ran_ms >= 0)
		metrics_observe(&s->duration, (double)ran_ms / 1000.0);
}

static void on_attempt_lost(void *ctx, store_attempt_state how)
{
	metrics_snapshot *s = metrics_live(ctx);

	if (how == STORE_ATTEMPT_LOST)
		s->attempts_lost[METRICS_ATTEMPT_LOST]++;
	else if (how == STORE_ATTEMPT_PREEMPTED)
		s->attempts_lost[METRICS_ATTEMPT_PREEMPTED]++;
	else if (how == STORE_ATTEMPT_FAILED)
		s->attempts_lost[METRICS_ATTEMPT_FAILED]++;
}

static void on_worker_lost(void *ctx)
{
	metrics_live(ctx)->workers_lost++;
}

const sched_observer metrics_sched_observer = {
    .dispatched = on_dispatched,
    .recorded = on_recorded,
    .attempt_lost = on_attempt_lost,
    .worker_lost = on_worker_lost,
};

/* ---- the server ---------------------------------------------------------------- */

struct metrics {
	struct MHD_Daemon *daemon;
	pthread_mutex_t lock; /* guards published */
	metrics_snapshot published;
	metrics_snapshot live; /* the loop's alone */
};

metrics_snapshot *metrics_live(metrics *m)
{
	return &m->live;
}

void metrics_publish(metrics *m)
{
	pthread_mutex_lock(&m->lock);
	m->published = m->live;
	pthread_mutex_unlock(&m->lock);
}

/* Queue body: taken (malloc'ed, freed by MHD) when `take`, else static. */
static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, char *body, size_t len, bool take,
			       const char *type)
{
	struct MHD_Response *rsp =
	    MHD_create_response_from_buffer(len, body, take ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	enum MHD_Result r;

	if (!rsp) {
		if (take)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(rsp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	r = MHD_queue_response(conn, status, rsp);
	MHD_destroy_response(rsp);
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
	static char not_found[] = "not found: only /metrics is served\n";
	static char not_allowed[] = "only GET and HEAD\n";
	metrics *m = cls;
	metrics_snapshot snap;
	char *body;
	size_t len;

	(void)version;
	(void)upload;
	(void)con_cls;
	if (*upload_len) {
		*upload_len = 0; /* a body we do not want: swallowed */
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed, sizeof not_allowed - 1, false,
			       PLAIN_TYPE);
	if (strcmp(url, "/metrics") != 0)
		return respond(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof not_found - 1, false, PLAIN_TYPE);
	pthread_mutex_lock(&m->lock);
	snap = m->published;
	pthread_mutex_unlock(&m->lock);
	if (metrics_format(&snap, &body, &len) < 0)
		return MHD_NO;
	return respond(conn, MHD_HTTP_OK, body, len, true, CONTENT_TYPE);
}

/* libmicrohttpd's complaints, as our log lines. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof line, fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_warn("metrics: %s", line);
}

/* "[HOST:]PORT" or "[V6]:PORT" into host and port text. */
static int address_split(const char *addr, char *host, size_t host_size, char *port, size_t port_size, emc_err *err)
{
	const char *colon, *h = addr, *p;
	size_t hlen;
	long v;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');

		if (!end || end[1] != ':')
			return emc_err_set(err, -EINVAL, "--metrics %s: expected [IPV6]:PORT", addr);
		h = addr + 1;
		hlen = (size_t)(end - h);
		p = end + 2;
	} else if ((colon = strrchr(addr, ':'))) {
		if (strchr(addr, ':') != colon)
			return emc_err_set(err, -EINVAL, "--metrics %s: write an IPv6 host in brackets, [::1]:PORT",
					   addr);
		hlen = (size_t)(colon - addr);
		p = colon + 1;
	} else {
		hlen = 0;
		p = addr;
	}
	if (cli_long(p, 1, 65535, &v) < 0)
		return emc_err_set(err, -EINVAL, "--metrics %s: the port must be a number from 1 to 65535", addr);
	if (hlen == 0) {
		h = DEFAULT_HOST;
		hlen = strlen(DEFAULT_HOST);
	}
	if (hlen >= host_size)
		return emc_err_set(err, -EINVAL, "--metrics %s: host name too long", addr);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	snprintf(port, port_size, "%ld", v);
	return 0;
}

int metrics_listen(const char *addr, char *where, size_t where_size, int *ret_fd, emc_err *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *ai = NULL;
	char host[256], port[8];
	int fd, r, one = 1;

	r = address_split(addr, host, sizeof host, port, sizeof port, err);
	if (r < 0)
		return r;
	r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0)
		return emc_err_set(err, -EINVAL, "--metrics %s: cannot resolve %s: %s", addr, host, gai_strerror(r));
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0) {
		r = -errno;
		freeaddrinfo(ai);
		return emc_err_set(err, r, "metrics: cannot listen on %s:%s: %s", host, port, strerror(-r));
	}
	/* a restart may bind while the old connections linger in TIME_WAIT;
	 * a port another process listens on stays refused */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		r = -errno;
		close(fd);
		freeaddrinfo(ai);
		return emc_err_set(err, r, "metrics: cannot listen on %s:%s: %s", host, port, strerror(-r));
	}
	freeaddrinfo(ai);
	if (where)
		snprintf(where, where_size, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
	*ret_fd = fd;
	return 0;
}

int metrics_new(int fd, const metrics_snapshot *init, metrics **ret, emc_err *err)
{
	metrics *m = calloc(1, sizeof *m);
	struct sockaddr_storage sa;
	socklen_t sa_len = sizeof sa;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

	if (!m) {
		close(fd);
		return emc_err_set(err, -ENOMEM, "metrics: out of memory");
	}
	pthread_mutex_init(&m->lock, NULL);
	m->live = *init;
	m->published = *init;
	if (getsockname(fd, (struct sockaddr *)&sa, &sa_len) == 0 && sa.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->daemon =
	    MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
			     MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS_MAX,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT, MHD_OPTION_END);
	if (!m->daemon) {
		close(fd);
		pthread_mutex_destroy(&m->lock);
		free(m);
		return emc_err_set(err, -EIO, "metrics: cannot start the HTTP server");
	}
	*ret = m;
	return 0;
}

void metrics_destroy(metrics **p)
{
	metrics *m = *p;

	if (!m)
		return;
	MHD_stop_daemon(m->daemon); /* joins its thread and closes the listening socket */
	pthread_mutex_destroy(&m->lock);
	free(m);
	*p = NULL;
}
