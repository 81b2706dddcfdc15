/* test_metrics.c — the exposition text of /metrics, and its address.
 *
 * The text is checked as a scraper would read it: every sample belongs to
 * a family announced before it by one # HELP and one # TYPE line; counters
 * end in _total; label values escape backslash, quote and newline; a
 * histogram's buckets rise in le, their counts never fall, the last is
 * le="+Inf" and equals _count, and _sum is the sum of what was observed
 * (a value on a bound counts in that bound's bucket). The address parser
 * refuses what is not [HOST:]PORT, and a port another socket listens on is
 * -EADDRINUSE with a message naming it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "metrics.h"
#include "testutil.h"

#define FAMILIES_MAX 32

static char *format(const metrics_snapshot *s)
{
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(metrics_format(s, &text, &len), 0);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

/* A sample's family: its name, less _bucket/_sum/_count for a histogram. */
static void family_of(const char *sample, char names[][64], char types[][16], int n, char *ret, size_t size)
{
	size_t len = strcspn(sample, "{ ");

	snprintf(ret, size, "%.*s", (int)len, sample);
	for (int i = 0; i < n; i++) {
		size_t fl = strlen(names[i]);

		if (strcmp(types[i], "histogram") == 0 && strncmp(ret, names[i], fl) == 0 &&
		    (!strcmp(ret + fl, "_bucket") || !strcmp(ret + fl, "_sum") || !strcmp(ret + fl, "_count"))) {
			ret[fl] = '\0';
			return;
		}
	}
}

static void test_families(void **state)
{
	metrics_snapshot s;
	char names[FAMILIES_MAX][64], types[FAMILIES_MAX][16], helped[FAMILIES_MAX][64];
	int n = 0, n_help = 0, samples = 0;
	char *text, *save = NULL;

	(void)state;
	metrics_snapshot_init(&s, "1.2.3");
	text = format(&s);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char fam[64];
		bool known = false;

		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_true(n_help < FAMILIES_MAX);
			assert_int_equal(sscanf(line + 7, "%63s", helped[n_help]), 1);
			n_help++;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_true(n < FAMILIES_MAX);
			assert_int_equal(sscanf(line + 7, "%63s %15s", names[n], types[n]), 2);
			/* HELP came just before, for the same family; no family twice */
			assert_int_equal(n_help, n + 1);
			assert_string_equal(helped[n], names[n]);
			for (int i = 0; i < n; i++)
				assert_string_not_equal(names[i], names[n]);
			assert_true(!strcmp(types[n], "gauge") || !strcmp(types[n], "counter") ||
				    !strcmp(types[n], "histogram"));
			if (!strcmp(types[n], "counter"))
				assert_string_equal(names[n] + strlen(names[n]) - 6, "_total");
			assert_int_equal(strncmp(names[n], "emc_", 4), 0);
			n++;
			continue;
		}
		assert_int_not_equal(line[0], '#');
		family_of(line, names, types, n, fam, sizeof fam);
		/* the sample's family is the one announced last */
		assert_true(n > 0);
		known = strcmp(fam, names[n - 1]) == 0;
		if (!known)
			fail_msg("sample '%s' outside its family (last announced: %s)", line, names[n - 1]);
		samples++;
	}
	assert_int_equal(n_help, n);
	/* the series the operators' guide lists */
	{
		static const char *const want[] = {
		    "emc_build_info",
		    "emc_trials",
		    "emc_workers",
		    "emc_results_committed_total",
		    "emc_attempts_lost_total",
		    "emc_train_seconds_total",
		    "emc_sample_gradients_total",
		    "emc_dispatch_latency_seconds",
		    "emc_trial_duration_seconds",
		};
		for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
			bool found = false;

			for (int i = 0; i < n; i++)
				found |= strcmp(names[i], want[w]) == 0;
			if (!found)
				fail_msg("no family %s", want[w]);
		}
	}
	assert_true(samples > 20);
	free(text);
}

static void test_zeros_and_values(void **state)
{
	metrics_snapshot s;
	char *text;

	(void)state;
	metrics_snapshot_init(&s, "1.2.3");
	s.trials[STORE_TRIAL_FIT] = 7;
	s.results[METRICS_NO_FIT] = 3;
	s.sample_grads = 12345678901ull;
	s.train_seconds = 1.5;
	text = format(&s);
	/* every state is a series even at zero */
	for (int st = 0; st < STORE_TRIAL_STATE_COUNT; st++) {
		char want[96];

		snprintf(want, sizeof want, "\nemc_trials{state=\"%s\"} %d\n", store_trial_state_name(st),
			 st == STORE_TRIAL_FIT ? 7 : 0);
		if (!strstr(text, want))
			fail_msg("missing%s", want);
	}
	assert_non_null(strstr(text, "\nemc_results_committed_total{outcome=\"no_fit\"} 3\n"));
	assert_non_null(strstr(text, "\nemc_results_committed_total{outcome=\"cancelled\"} 0\n"));
	assert_non_null(strstr(text, "\nemc_sample_gradients_total 12345678901\n"));
	assert_non_null(strstr(text, "\nemc_train_seconds_total 1.5\n"));
	assert_non_null(strstr(text, "\nemc_workers{state=\"lost\"} 0\n"));
	free(text);
}

static void test_escaping(void **state)
{
	metrics_snapshot s;
	char *text;

	(void)state;
	metrics_snapshot_init(&s, "1.0 \"odd\" \\build\nline");
	text = format(&s);
	assert_non_null(strstr(text, "\nemc_build_info{version=\"1.0 \\\"odd\\\" \\\\build\\nline\"} 1\n"));
	free(text);
}

/* Check one histogram's lines in text; returns its _count. */
static uint64_t histogram_check(const char *text, const char *name, double want_sum)
{
	char prefix[96];
	const char *p = text;
	double last_le = -INFINITY;
	uint64_t last = 0, count = 0;
	bool inf = false;
	double sum = NAN;
	int buckets = 0;

	snprintf(prefix, sizeof prefix, "\n%s_bucket{le=\"", name);
	while ((p = strstr(p, prefix))) {
		char le[40];
		unsigned long long c;
		double v;

		p += strlen(prefix);
		assert_int_equal(sscanf(p, "%39[^\"]\"} %llu", le, &c), 2);
		assert_false(inf); /* nothing after +Inf */
		if (strcmp(le, "+Inf") == 0) {
			inf = true;
			v = INFINITY;
		} else {
			v = strtod(le, NULL);
		}
		assert_true(v > last_le);
		assert_true(c >= last);
		last_le = v;
		last = c;
		buckets++;
	}
	assert_true(inf);
	assert_true(buckets >= 2);
	snprintf(prefix, sizeof prefix, "\n%s_count ", name);
	assert_non_null((p = strstr(text, prefix)));
	count = strtoull(p + strlen(prefix), NULL, 10);
	assert_int_equal(count, last); /* +Inf == _count */
	snprintf(prefix, sizeof prefix, "\n%s_sum ", name);
	assert_non_null((p = strstr(text, prefix)));
	sum = strtod(p + strlen(prefix), NULL);
	assert_true(fabs(sum - want_sum) <= 1e-9 * (1 + fabs(want_sum)));
	return count;
}

static void test_histograms(void **state)
{
	static const double seen[] = {0.0004, 0.001, 0.002, 0.7, 1, 42, 1e6, 1e6};
	metrics_snapshot s;
	double sum = 0;
	char *text;

	(void)state;
	metrics_snapshot_init(&s, "1.2.3");
	text = format(&s);
	assert_int_equal(histogram_check(text, "emc_dispatch_latency_seconds", 0), 0);
	free(text);

	for (size_t i = 0; i < sizeof seen / sizeof seen[0]; i++) {
		metrics_observe(&s.dispatch, seen[i]);
		metrics_observe(&s.duration, seen[i]);
		sum += seen[i];
	}
	metrics_observe(&s.dispatch, NAN); /* not an observation */
	text = format(&s);
	assert_int_equal(histogram_check(text, "emc_dispatch_latency_seconds", sum), 8);
	assert_int_equal(histogram_check(text, "emc_trial_duration_seconds", sum), 8);
	/* a value on a bound is in that bound's bucket: 0.0004 and 0.001 */
	assert_non_null(strstr(text, "\nemc_dispatch_latency_seconds_bucket{le=\"0.001\"} 2\n"));
	/* beyond the last bound: only +Inf holds the two 1e6 */
	assert_non_null(strstr(text, "\nemc_dispatch_latency_seconds_bucket{le=\"300\"} 6\n"));
	assert_non_null(strstr(text, "\nemc_dispatch_latency_seconds_bucket{le=\"+Inf\"} 8\n"));
	free(text);
}

static void test_addresses(void **state)
{
	static const char *const bad[] = {"",	    "0",     "65536",	"x",	  "127.0.0.1:", "127.0.0.1:99999",
					  "::1:80", "[::1]", "[::1]80", "[::1:80"};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	char addr[64], where[300];
	emc_err err;
	int fd, taken;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int r = metrics_listen(bad[i], NULL, 0, &fd, &err);

		if (r != -EINVAL)
			fail_msg("'%s': %d (%s)", bad[i], r, r == 0 ? "accepted" : err.msg);
	}
	/* a port another socket listens on */
	taken = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(taken >= 0);
	assert_int_equal(bind(taken, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(taken, 1), 0);
	assert_int_equal(getsockname(taken, (struct sockaddr *)&sa, &len), 0);
	snprintf(addr, sizeof addr, "%u", ntohs(sa.sin_port));
	assert_int_equal(metrics_listen(addr, NULL, 0, &fd, &err), -EADDRINUSE);
	snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(sa.sin_port));
	assert_non_null(strstr(err.msg, addr));
	close(taken);
	/* free again: the same address binds (the default host is loopback) */
	assert_int_equal(metrics_listen(addr + strlen("127.0.0.1:"), where, sizeof where, &fd, &err), 0);
	assert_string_equal(where, addr);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	assert_int_equal(ntohl(sa.sin_addr.s_addr), INADDR_LOOPBACK);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_families),   cmocka_unit_test(test_zeros_and_values), cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_histograms), cmocka_unit_test(test_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
