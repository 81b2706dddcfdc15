/* emcctl — the researcher's command line.
 *
 *   emcctl run SPEC [--workers N] [--db FILE]   coordinator + N local workers
 *   emcctl launch SPEC --coordinator ENDPOINT   submit to a running coordinator
 *   emcctl status [--watch] [CAMPAIGN]          progress, ETA, brackets, workers
 *   emcctl results | summary | trials           the measurement, as tables, CSV, JSON
 *   emcctl plot | report                        the figures (Cairo), one HTML file
 *   emcctl pause | resume | cancel | reopen | workers   a running coordinator
 *
 * The command table below is the one list of commands: `--help`, `emcctl
 * help CMD`, the man page's test and the bash completion all read it.
 *
 * `run` is the embedded default. It checks the spec and its dataset before
 * it starts anything (so a bad spec leaves the database untouched), then
 * starts emc-coordinator and the workers as child processes talking over
 * an ipc:// socket in a private temporary directory, shows progress read
 * from the database (the status view, redrawn in place, on a terminal),
 * and prints the results once the coordinator reports the campaign done.
 * Run again on the same database, it resumes: finished trials are never
 * re-run. Ctrl-C stops everything cleanly; what finished is kept.
 *
 * The views (status, results, summary, trials, plot, report) only read the
 * database file, so they work while the coordinator runs, and after it
 * stopped or crashed.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "keyfile.h"
#include "campaign.h"
#include "cli.h"
#include "log.h"
#include "liveview.h"
#include "report.h"
#include "status.h"
#include "summary.h"
#include "plot.h"
#include "html.h"
#include "store.h"
#include "store_report.h"
#include "wire.h"

#define DEFAULT_DB	   "emc.db"
#define MAX_LOCAL_WORKERS  256
#define SUBMIT_TIMEOUT_MS  60000 /* launch: the coordinator checks the spec and its data first */
#define CONTROL_TIMEOUT_MS 5000	 /* pause, resume, cancel, reopen, workers */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Every command, once: the overview, `emcctl help CMD` and `CMD --help`
 * all print from here. */
typedef struct command {
	const char *name;
	const char *args; /* the synopsis after the name */
	const char *what; /* what it does, indented lines */
} command;

static const command commands[] = {
    {"run", "SPEC [--workers N] [--db FILE] [--blas-threads T] [--max-probes K] [--verbose]",
     "        run a campaign on this machine: a coordinator and N local workers\n"
     "        (default: one per core). The same command resumes an interrupted run.\n"},
    {"launch", "SPEC --coordinator ENDPOINT [--timeout S]",
     "        submit a campaign to a running coordinator's control endpoint\n"
     "        (waits up to S seconds for its answer; default 60)\n"},
    {"status",
     "[--db FILE] [--coordinator ENDPOINT [--timeout S]] [--format table|csv|json] [--watch [--interval S]] "
     "[CAMPAIGN]",
     "        totals by state; per campaign progress, compute and an estimate of the time left; per\n"
     "        cell its bracket [lo, hi) drawn against the search range; workers (live with\n"
     "        --coordinator). --watch redraws every S seconds (default 2) until ^C or until no\n"
     "        campaign shown is running\n"},
    {"results", "[--db FILE] [--format table|csv|json] [CAMPAIGN]",
     "        one row per cell: EMC against parameter count\n"},
    {"summary", "[--db FILE] [--by KEY[,KEY...]] [--format table|csv|json] [CAMPAIGN]",
     "        cells grouped by KEYs (default: the procedures, cells that differ only in the\n"
     "        architecture), sorted by them: EMC, interval, EMC/params, budget stops, compute\n"},
    {"plot", "[--db FILE] [--by KEY[,KEY...]] [--out PREFIX] [--format svg|png|both] [CAMPAIGN]",
     "        figures: PREFIX-emc (EMC against parameters, a series per summary group) and\n"
     "        PREFIX-fits (per cell: fit probability along n); prints each series' colour\n"
     "        and point count, then the files written (default PREFIX: emc)\n"},
    {"report", "[--db FILE] [--by KEY[,KEY...]] [--out FILE.html] [CAMPAIGN]",
     "        one self-contained HTML file: spec, summary, figures, fit curves, flags,\n"
     "        compute, provenance (default: emc-report.html)\n"},
    {"trials", "[--db FILE] [--cell N] [--format table|csv|json] CAMPAIGN",
     "        every trial: n, state, stop reason, epochs, budget used, Hessian, error\n"},
    {"pause", "CAMPAIGN --coordinator ENDPOINT [--timeout S]", "        stop handing out a campaign's trials\n"},
    {"resume", "CAMPAIGN --coordinator ENDPOINT [--timeout S]", "        hand out a paused campaign's trials again\n"},
    {"cancel", "CAMPAIGN --coordinator ENDPOINT [--timeout S]",
     "        give a campaign up: its pending trials are cancelled, its running ones stopped\n"},
    {"reopen", "CAMPAIGN --coordinator ENDPOINT [--timeout S]",
     "        go on with a cancelled campaign: its cancelled cells search again\n"},
    {"workers", "--coordinator ENDPOINT [--timeout S] [--format table|csv|json]",
     "        connected workers: host, slots, busy, last heartbeat, trials done, BLAS kernel\n"},
    {"keygen", "DIR NAME", "        write a CURVE key pair DIR/NAME.key (secret) and DIR/NAME.pub\n"},
};

#define USAGE_FOOTER                                                                                                   \
	"The database defaults to ./" DEFAULT_DB ". Control commands wait --timeout S seconds\n"                       \
	"for an answer (default 5; launch 60), and exit 1 without one.\n"                                              \
	"Exit status: 0 done; 1 it ran and failed (a refusal, a failed cell, no answer);\n"                            \
	"2 the command line or the spec is wrong (nothing was started or written).\n"

static const command *command_find(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* One command's usage (`emcctl CMD --help`). */
static void command_usage(const command *c, FILE *out)
{
	fprintf(out, "usage: emcctl %s %s\n\n%s\n" USAGE_FOOTER, c->name, c->args, c->what);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: emcctl COMMAND [options]   (emcctl COMMAND --help, emcctl --version)\n\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %s %s\n%s", commands[i].name, commands[i].args, commands[i].what);
	fprintf(out, "\n" USAGE_FOOTER);
}

/* A command line the command cannot use: its own usage, on stderr. */
static void bad_usage(const char *name)
{
	const command *c = command_find(name);

	if (c)
		command_usage(c, stderr);
	else
		usage(stderr);
}

/* The directory of this executable: emc-coordinator and emc-worker are
 * looked for beside it first, then on PATH. */
static void sibling_path(const char *name, char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			/* Installed side by side, or in a build tree (coordinator/, worker/). */
			const char *const subdirs[] = {"", "/../worker", "/../coordinator"};

			for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
				int w = snprintf(buf, len, "%s%s/%s", self, subdirs[i], name);

				if (w > 0 && (size_t)w < len && access(buf, X_OK) == 0)
					return;
			}
		}
	}
	snprintf(buf, len, "%s", name);
}

static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		signal(SIGINT, SIG_IGN); /* the terminal's ^C is ours to handle */
		execvp(argv[0], argv);
		fprintf(stderr, "emcctl: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

/* One status view of the database into a string (caller frees); NULL
 * with the reason on stderr when it cannot be read. */
static char *status_text(store *s, const char *campaign, const status_opts *o, size_t *ret_len)
{
	char *text = NULL;
	FILE *mem = open_memstream(&text, ret_len);
	emc_err err;
	int r;

	if (!mem)
		return NULL;
	r = report_status(s, campaign, o, mem, &err);
	if (fclose(mem) != 0 || r < 0) {
		if (r < 0)
			fprintf(stderr, "emcctl: %s\n", err.msg);
		free(text);
		return NULL;
	}
	return text;
}

/* Progress of `emcctl run`: on a terminal the status view, redrawn in
 * place; elsewhere one line per call. */
static void print_progress(const char *db_path, const char *campaign, liveview *view, int64_t started_ms)
{
	store *s = NULL;
	store_counts counts;
	emc_err err;
	int64_t id = 0;
	double elapsed = (double)(emc_now_ms() - started_ms) / 1000.0;

	if (store_open(db_path, true, &s, &err) < 0)
		return;
	if (view->tty) {
		status_opts o = {.fmt = REPORT_TABLE, .now_ms = emc_wall_ms()};
		size_t len = 0;
		char *text = status_text(s, campaign, &o, &len), *full = NULL;
		size_t full_len = 0;
		FILE *mem = text ? open_memstream(&full, &full_len) : NULL;

		if (mem) {
			fprintf(mem, "[%6.0fs] emcctl run (Ctrl-C stops; the same command resumes)\n", elapsed);
			fwrite(text, 1, len, mem);
			if (fclose(mem) == 0)
				liveview_show(view, full, full_len);
		}
		free(full);
		free(text);
	} else if (store_campaign_find(s, campaign, &id, NULL, NULL, &err) == 1 &&
		   store_counts_get(s, id, &counts, &err) == 0) {
		printf("[%6.0fs] %s: cells %lld/%lld done, trials %lld done, %lld running, %lld queued\n", elapsed,
		       campaign, (long long)counts.cells_done, (long long)counts.cells, (long long)counts.trials_done,
		       (long long)counts.trials_running, (long long)counts.trials_pending);
		fflush(stdout);
	}
	store_close(&s);
}

/* Names the failed cells on stderr as they come; counts them. */
static int note_failed(void *ctx, const store_results_row *r)
{
	if (r->state == STORE_CELL_FAILED) {
		fprintf(stderr,
			"%s cell %d (%s) failed: a decision had no observation left (emcctl trials --cell %d %s "
			"shows the errors)\n",
			(*(int *)ctx)++ == 0 ? "emcctl:" : "       ", r->cell, r->model, r->cell, r->campaign);
	}
	return 0;
}

/* The results table; with fail_on_failed (run), exit status 1 when a cell
 * failed, naming each. */
static int print_results(const char *db_path, const char *campaign, report_format fmt, bool fail_on_failed)
{
	store *s = NULL;
	emc_err err;
	int r, failed = 0;

	if (store_open(db_path, true, &s, &err) < 0) {
		fprintf(stderr, "emcctl: %s\n", err.msg);
		return 1;
	}
	r = report_results(s, campaign, fmt, stdout, &err);
	if (r >= 0 && fail_on_failed) {
		fflush(stdout);
		r = store_report_results(s, campaign, note_failed, &failed, &err);
	}
	store_close(&s);
	if (r < 0) {
		fprintf(stderr, "emcctl: %s\n", err.msg);
		return 1;
	}
	return failed > 0;
}

/* Read the spec file at path and check it all the way down (campaign_prepare).
 * On success the caller owns *ret_text, *ret_dir and *ret_prep; on failure
 * the error is printed and nothing is left to free. */
static int spec_prepare(const char *path, char **ret_text, size_t *ret_len, char **ret_dir, campaign_prep *ret_prep)
{
	char *text = NULL, *dir = NULL;
	size_t len;
	emc_err err;

	if (campaign_read_file(path, &text, &len, &dir, &err) < 0 ||
	    campaign_prepare(text, len, path, dir, ret_prep, &err) < 0) {
		fprintf(stderr, "emcctl: %s\n", err.msg);
		free(text);
		free(dir);
		return -1;
	}
	*ret_text = text;
	*ret_len = len;
	*ret_dir = dir;
	return 0;
}

/* What `emcctl run` was asked for. */
typedef struct run_options {
	const char *db_path, *blas, *max_probes;
	int n_workers;
	bool verbose;
} run_options;

/* Parse run's argv into *o. -1 to go on; otherwise the exit status. */
static int run_parse(int argc, char **argv, run_options *o)
{
	static const struct option opts[] = {{"workers", required_argument, NULL, 'w'},
					     {"db", required_argument, NULL, 'd'},
					     {"blas-threads", required_argument, NULL, 't'},
					     {"max-probes", required_argument, NULL, 'P'},
					     {"verbose", no_argument, NULL, 'v'},
					     {NULL, 0, NULL, 0}};
	emc_err err;
	long v;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "w:d:t:P:v", opts, NULL)) != -1) {
		switch (opt) {
		case 'w':
			if (cli_long_option("workers", optarg, 1, MAX_LOCAL_WORKERS, &v, &err) < 0)
				goto bad_value;
			o->n_workers = (int)v;
			break;
		case 'd':
			o->db_path = optarg;
			break;
		case 't':
			if (cli_long_option("blas-threads", optarg, 1, 256, &v, &err) < 0)
				goto bad_value;
			o->blas = optarg;
			break;
		case 'P':
			if (cli_long_option("max-probes", optarg, 1, 64, &v, &err) < 0)
				goto bad_value;
			o->max_probes = optarg;
			break;
		case 'v':
			o->verbose = true;
			break;
		default:
			bad_usage(argv[0]);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "emcctl run: expected exactly one SPEC\n");
		return 2;
	}
	if (o->n_workers > MAX_LOCAL_WORKERS)
		o->n_workers = MAX_LOCAL_WORKERS;
	return -1;
bad_value:
	fprintf(stderr, "emcctl run: %s\n", err.msg);
	return 2;
}

/* The processes of one local run: a coordinator and its workers, talking
 * over ipc sockets in a private directory. */
typedef struct local_run {
	char tmpdir[96]; /* $TMPDIR (<= 64 bytes) + "/emc-run-XXXXXX" */
	pid_t coord;
	pid_t workers[MAX_LOCAL_WORKERS];
	int n_workers;
} local_run;

/* Start the coordinator on spec_path and o->n_workers workers. 0 or -1. */
static int local_start(const run_options *o, const char *spec_path, local_run *lr)
{
	char endpoint[PATH_MAX + 16], control[PATH_MAX + 16], coord_bin[PATH_MAX], worker_bin[PATH_MAX], slots[] = "1";

	const char *tmp = getenv("TMPDIR");

	/* $TMPDIR unless it would make the socket paths too long for sun_path */
	if (!tmp || tmp[0] != '/' || strlen(tmp) > 64)
		tmp = "/tmp";
	snprintf(lr->tmpdir, sizeof lr->tmpdir, "%s/emc-run-XXXXXX", tmp);
	if (!mkdtemp(lr->tmpdir)) {
		fprintf(stderr, "emcctl: cannot create a temporary directory: %s\n", strerror(errno));
		return -1;
	}
	snprintf(endpoint, sizeof endpoint, "ipc://%s/workers", lr->tmpdir);
	snprintf(control, sizeof control, "ipc://%s/control", lr->tmpdir);
	sibling_path("emc-coordinator", coord_bin, sizeof coord_bin);
	sibling_path("emc-worker", worker_bin, sizeof worker_bin);
	{
		/* Plain text is fine here: the sockets live in a private
		 * directory (mode 0700) on this machine. No grace for orphans:
		 * the workers are ours, and were stopped with the coordinator. */
		char *cargv[] = {coord_bin,
				 "--db",
				 (char *)o->db_path,
				 "--bind",
				 endpoint,
				 "--control",
				 control,
				 "--spec",
				 (char *)spec_path,
				 "--exit-when-done",
				 "--insecure",
				 "--grace-ms",
				 "0",
				 "--max-probes",
				 (char *)o->max_probes,
				 o->verbose ? "--verbose" : "--quiet",
				 NULL};
		lr->coord = spawn(cargv);
	}
	lr->n_workers = o->n_workers;
	for (int i = 0; i < lr->n_workers; i++) {
		char *wargv[] = {worker_bin,
				 "--connect",
				 endpoint,
				 "--slots",
				 slots,
				 "--blas-threads",
				 (char *)o->blas,
				 "--insecure",
				 "--drain-seconds",
				 "0",
				 o->verbose ? "--verbose" : "--quiet",
				 NULL};
		lr->workers[i] = spawn(wargv);
	}
	return 0;
}

/* Wait for the coordinator to finish (or ^C), showing progress; then stop
 * the workers. Returns the coordinator's wait status. */
static int local_wait(local_run *lr, const char *db_path, const char *campaign, liveview *view, int64_t started_ms)
{
	int64_t last_progress_ms = 0;
	int status = 0;

	for (;;) {
		pid_t done = waitpid(lr->coord, &status, WNOHANG);

		if (done == lr->coord)
			break;
		if (interrupted) {
			kill(lr->coord, SIGTERM);
			waitpid(lr->coord, &status, 0);
			break;
		}
		if (emc_now_ms() - last_progress_ms >= (view->tty ? 1000 : 10000)) {
			print_progress(db_path, campaign, view, started_ms);
			last_progress_ms = emc_now_ms();
		}
		usleep(100 * 1000);
	}
	for (int i = 0; i < lr->n_workers; i++)
		kill(lr->workers[i], SIGTERM);
	for (int i = 0; i < lr->n_workers; i++)
		waitpid(lr->workers[i], NULL, 0);
	/* the socket files stay behind when a process is killed */
	for (const char *const *f = (const char *const[]){"workers", "control", NULL}; *f; f++) {
		char path[PATH_MAX + 16];

		snprintf(path, sizeof path, "%s/%s", lr->tmpdir, *f);
		unlink(path);
	}
	if (rmdir(lr->tmpdir) < 0)
		fprintf(stderr, "emcctl: cannot remove %s: %s\n", lr->tmpdir, strerror(errno));
	return status;
}

/* Before anything is printed or started: a campaign of this name already
 * in the database must be this spec (same parsed content). A database
 * that cannot be read here is left to the coordinator, which says why. */
static int run_preflight(const char *db_path, const campaign_prep *prep, const char *text, size_t len,
			 const char *origin)
{
	store_campaign_state state;
	store *s = NULL;
	int64_t id;
	emc_err err;
	int r;

	if (access(db_path, F_OK) != 0 || store_open(db_path, true, &s, &err) < 0)
		return 0;
	r = campaign_find_same(s, prep, text, len, origin, &id, &state, &err);
	store_close(&s);
	if (r == -EEXIST) {
		fprintf(stderr, "emcctl: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	run_options o = {
	    .db_path = DEFAULT_DB, .blas = "1", .max_probes = "16", .n_workers = (int)sysconf(_SC_NPROCESSORS_ONLN)};
	char *text = NULL, *dir = NULL;
	campaign_prep prep;
	liveview view;
	local_run lr;
	size_t len;
	int64_t started_ms = emc_now_ms();
	struct sigaction sa;
	emc_err err;
	int status, rc;

	rc = run_parse(argc, argv, &o);
	if (rc >= 0)
		return rc;
	/* Check everything before anything starts or is written. */
	if (spec_prepare(argv[optind], &text, &len, &dir, &prep) < 0)
		return 2;
	rc = run_preflight(o.db_path, &prep, text, len, argv[optind]);
	if (rc == 0 && campaign_memory_check(&prep, 0, argv[optind], &err) < 0) {
		fprintf(stderr, "emcctl: %s\n", err.msg);
		rc = -1;
	}
	free(text);
	free(dir);
	if (rc < 0) {
		campaign_prep_deinit(&prep);
		return 2;
	}
	emc_dataset_destroy(&prep.data); /* the coordinator decodes its own */
	printf("campaign %s: %d cell(s) on %s (%lld samples), %d local worker(s)\n", prep.spec->name,
	       prep.spec->n_cells, prep.dataset.description, (long long)prep.dataset.n_total, o.n_workers);
	fflush(stdout);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (local_start(&o, argv[optind], &lr) < 0) {
		campaign_prep_deinit(&prep);
		return 1;
	}
	liveview_init(&view, stdout);
	status = local_wait(&lr, o.db_path, prep.spec->name, &view, started_ms);
	print_progress(o.db_path, prep.spec->name, &view, started_ms);

	if (interrupted) {
		fprintf(stderr, "emcctl: interrupted; run the same command again to resume\n");
		rc = 130;
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "emcctl: the coordinator failed (%s %d)\n",
			WIFEXITED(status) ? "exit status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		rc = 1;
	} else {
		printf("\nEMC after %.1f s:\n", (double)(emc_now_ms() - started_ms) / 1000.0);
		rc = print_results(o.db_path, prep.spec->name, REPORT_TABLE, true);
	}
	campaign_prep_deinit(&prep);
	return rc;
}

/* Send one message to a coordinator's control endpoint and wait for the
 * answer. On success *ret is the unpacked reply (wire_msg_deinit). */
static int control_request(const char *endpoint, const wire_msg *req, wire_msg *ret, int timeout)
{
	int linger = 0, rc = -1, n;
	void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_DEALER);
	int64_t maxmsg = EMC_MAX_MESSAGE_BYTES;
	uint8_t *buf = NULL;
	size_t blen;
	zmq_msg_t msg;
	emc_err err;

	zmq_msg_init(&msg);
	/* No fast path for a missing ipc socket file: a coordinator just
	 * started may not have bound yet, and libzmq connects when it does. */
	zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
	if (wire_pack(req, &buf, &blen, &err) < 0) {
		fprintf(stderr, "emcctl: %s\n", err.msg);
		goto out;
	}
	if (zmq_connect(sock, endpoint) < 0 || zmq_send(sock, buf, blen, 0) < 0) {
		fprintf(stderr, "emcctl: cannot reach %s: %s\n", endpoint, zmq_strerror(errno));
		goto out;
	}
	n = zmq_msg_recv(&msg, sock, 0);
	if (n < 0) {
		fprintf(stderr, "emcctl: no answer from %s within %g s (--timeout)\n", endpoint, timeout / 1000.0);
		goto out;
	}
	if (wire_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg), ret, &err) < 0) {
		fprintf(stderr, "emcctl: bad answer from %s: %s\n", endpoint, err.msg);
		goto out;
	}
	rc = 0;
out:
	zmq_msg_close(&msg);
	free(buf);
	zmq_close(sock);
	zmq_ctx_term(ctx);
	return rc;
}

/* --timeout SECONDS: a number in (0, 86400]. */
static int timeout_parse(const char *text, int *ret_ms)
{
	char *end;
	double v = strtod(text, &end);

	if (end == text || *end || !(v > 0 && v <= 86400)) {
		fprintf(stderr, "emcctl: --timeout: expected seconds in (0, 86400], got '%s'\n", text);
		return -1;
	}
	*ret_ms = (int)(v * 1000 + 0.5) > 0 ? (int)(v * 1000 + 0.5) : 1;
	return 0;
}

/* One control command: 0 and *ret the coordinator's accepting reply (the
 * caller deinits it); else the exit status, its reason on stderr — 2 for a
 * campaign name too long to send, 1 for no answer, a refusal or an error. */
static int control_call(const char *endpoint, const char *verb, const char *campaign, int timeout_ms, wire_msg *ret)
{
	static wire_msg req; /* about 50 KiB */

	if (strlen(campaign) >= sizeof req.control.campaign) {
		fprintf(stderr, "emcctl: campaign name of %zu bytes, at most %zu\n", strlen(campaign),
			sizeof req.control.campaign - 1);
		return 2;
	}
	wire_msg_init(&req, WIRE_CONTROL);
	snprintf(req.control.verb, sizeof req.control.verb, "%s", verb);
	snprintf(req.control.campaign, sizeof req.control.campaign, "%s", campaign);
	if (control_request(endpoint, &req, ret, timeout_ms) < 0)
		return 1;
	if (ret->kind == WIRE_CONTROL_REPLY && ret->control_reply.ok)
		return 0;
	if (ret->kind == WIRE_CONTROL_REPLY)
		fprintf(stderr, "emcctl: %s\n", ret->control_reply.message);
	else if (ret->kind == WIRE_ERROR)
		fprintf(stderr, "emcctl: coordinator: %s\n", ret->error.message);
	else
		fprintf(stderr, "emcctl: %s: unexpected answer\n", endpoint);
	wire_msg_deinit(ret);
	return 1;
}

static int cmd_control(int argc, char **argv, const char *verb)
{
	static const struct option opts[] = {{"coordinator", required_argument, NULL, 'c'},
					     {"timeout", required_argument, NULL, 't'},
					     {"format", required_argument, NULL, 'f'},
					     {NULL, 0, NULL, 0}};
	const char *endpoint = NULL, *campaign = "";
	report_format fmt = REPORT_TABLE;
	static wire_msg reply; /* about 50 KiB */
	bool workers = strcmp(verb, "workers") == 0;
	int opt, rc, timeout_ms = CONTROL_TIMEOUT_MS;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:t:f:", opts, NULL)) != -1) {
		if (opt == 'c') {
			endpoint = optarg;
		} else if (opt == 'f' && workers) {
			if (report_format_parse(optarg, &fmt) < 0) {
				fprintf(stderr, "emcctl: --format must be table, csv or json\n");
				return 2;
			}
		} else if (opt != 't' || timeout_parse(optarg, &timeout_ms) < 0) {
			bad_usage(argv[0]);
			return 2;
		}
	}
	if (!workers && optind < argc)
		campaign = argv[optind++];
	if (optind != argc || !endpoint || (!workers && !*campaign)) {
		fprintf(stderr, "emcctl %s: expected %s--coordinator ENDPOINT\n", verb, workers ? "" : "CAMPAIGN ");
		return 2;
	}
	rc = control_call(endpoint, verb, campaign, timeout_ms, &reply);
	if (rc != 0)
		return rc;
	if (workers) {
		emc_err err;

		rc = report_workers(reply.control_reply.workers, reply.control_reply.n_workers, fmt, stdout, &err) < 0;
		if (rc)
			fprintf(stderr, "emcctl: %s\n", err.msg);
	} else {
		printf("%s\n", reply.control_reply.message);
	}
	wire_msg_deinit(&reply);
	return rc;
}

static int cmd_keygen(int argc, char **argv)
{
	emc_err err;

	if (argc != 3) {
		fprintf(stderr, "emcctl keygen: expected DIR NAME\n");
		return 2;
	}
	if (emc_key_write_pair(argv[1], argv[2], &err) < 0) {
		fprintf(stderr, "emcctl: %s\n", err.msg);
		return 1;
	}
	printf("wrote %s/%s.key (secret) and %s/%s.pub\n", argv[1], argv[2], argv[1], argv[2]);
	return 0;
}

static int cmd_launch(int argc, char **argv)
{
	static const struct option opts[] = {{"coordinator", required_argument, NULL, 'c'},
					     {"timeout", required_argument, NULL, 't'},
					     {NULL, 0, NULL, 0}};
	const char *endpoint = NULL;
	char *text = NULL, *dir = NULL;
	size_t len;
	campaign_prep prep;
	int opt, rc = 1, timeout_ms = SUBMIT_TIMEOUT_MS;
	static wire_msg req, reply; /* about 50 KiB each */

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:t:", opts, NULL)) != -1) {
		if (opt == 'c') {
			endpoint = optarg;
		} else if (opt != 't' || timeout_parse(optarg, &timeout_ms) < 0) {
			bad_usage(argv[0]);
			return 2;
		}
	}
	if (optind + 1 != argc || !endpoint) {
		fprintf(stderr, "emcctl launch: expected SPEC and --coordinator ENDPOINT\n");
		return 2;
	}
	if (spec_prepare(argv[optind], &text, &len, &dir, &prep) < 0)
		return 2;
	campaign_prep_deinit(&prep);

	wire_msg_init(&req, WIRE_SUBMIT);
	req.submit.spec_text = text;
	req.submit.spec_len = strlen(text);
	req.submit.origin = argv[optind];
	req.submit.base_dir = dir;
	if (control_request(endpoint, &req, &reply, timeout_ms) < 0)
		goto out;
	if (reply.kind == WIRE_SUBMIT_REPLY && reply.submit_reply.ok) {
		printf("campaign %llu %s\n", (unsigned long long)reply.submit_reply.campaign_id,
		       reply.submit_reply.resumed ? "resumed" : "submitted");
		rc = 0;
	} else if (reply.kind == WIRE_SUBMIT_REPLY) {
		fprintf(stderr, "emcctl: %s\n", reply.submit_reply.message);
	} else if (reply.kind == WIRE_ERROR) {
		fprintf(stderr, "emcctl: coordinator: %s\n", reply.error.message);
	}
out:
	wire_msg_deinit(&reply);
	free(text);
	free(dir);
	return rc;
}

/* Open the database for reading, saying why not on stderr. */
static int open_readonly(const char *db_path, store **ret)
{
	emc_err err;

	if (access(db_path, R_OK) != 0) {
		fprintf(stderr, "emcctl: %s: %s\n", db_path, strerror(errno));
		return -1;
	}
	if (store_open(db_path, true, ret, &err) < 0) {
		fprintf(stderr, "emcctl: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int cmd_trials(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
					     {"format", required_argument, NULL, 'f'},
					     {"cell", required_argument, NULL, 'c'},
					     {NULL, 0, NULL, 0}};
	const char *db_path = DEFAULT_DB;
	report_format fmt = REPORT_TABLE;
	store *s = NULL;
	emc_err err;
	long cell = -1;
	int opt, r;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "d:f:c:", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			db_path = optarg;
			break;
		case 'f':
			if (report_format_parse(optarg, &fmt) < 0) {
				fprintf(stderr, "emcctl: --format must be table, csv or json\n");
				return 2;
			}
			break;
		case 'c':
			if (cli_long(optarg, 0, 1 << 30, &cell) < 0) {
				fprintf(stderr, "emcctl trials: --cell must be a cell number\n");
				return 2;
			}
			break;
		default:
			bad_usage(argv[0]);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "emcctl trials: expected CAMPAIGN\n");
		return 2;
	}
	if (open_readonly(db_path, &s) < 0)
		return 1;
	r = report_trials(s, argv[optind], (int)cell, fmt, stdout, &err);
	store_close(&s);
	if (r < 0) {
		fprintf(stderr, "emcctl: %s\n", err.msg);
		return 1;
	}
	return 0;
}

typedef struct status_cmd {
	const char *db_path, *campaign, *endpoint;
	report_format fmt;
	int timeout_ms, interval_ms;
	bool watch;
} status_cmd;

static int status_parse(int argc, char **argv, status_cmd *c)
{
	static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
					     {"format", required_argument, NULL, 'f'},
					     {"coordinator", required_argument, NULL, 'c'},
					     {"timeout", required_argument, NULL, 't'},
					     {"watch", no_argument, NULL, 'w'},
					     {"interval", required_argument, NULL, 'i'},
					     {NULL, 0, NULL, 0}};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "d:f:c:t:wi:", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			c->db_path = optarg;
			break;
		case 'f':
			if (report_format_parse(optarg, &c->fmt) < 0) {
				fprintf(stderr, "emcctl: --format must be table, csv or json\n");
				return 2;
			}
			break;
		case 'c':
			c->endpoint = optarg;
			break;
		case 't':
			if (timeout_parse(optarg, &c->timeout_ms) < 0)
				return 2;
			break;
		case 'w':
			c->watch = true;
			break;
		case 'i':
			if (timeout_parse(optarg, &c->interval_ms) < 0)
				return 2;
			break;
		default:
			bad_usage(argv[0]);
			return 2;
		}
	}
	if (optind < argc)
		c->campaign = argv[optind++];
	if (optind != argc) {
		bad_usage(argv[0]);
		return 2;
	}
	return -1;
}

/* One view: 0 shown, 1 failed (said on stderr); *ret_active counts the
 * campaigns shown that are not finished. */
static int status_once(store *s, const status_cmd *c, liveview *view, int *ret_active)
{
	static wire_msg reply;
	status_opts o = {.fmt = c->fmt, .now_ms = emc_wall_ms(), .endpoint = c->endpoint, .ret_active = ret_active};
	bool live = false;
	size_t len = 0;
	char *text;

	if (c->endpoint) {
		if (control_call(c->endpoint, "workers", "", c->timeout_ms, &reply) != 0)
			return 1;
		live = o.have_live = true;
		o.live = reply.control_reply.workers;
		o.n_live = reply.control_reply.n_workers;
	}
	text = status_text(s, c->campaign, &o, &len);
	if (live)
		wire_msg_deinit(&reply);
	if (!text)
		return 1;
	liveview_show(view, text, len);
	free(text);
	return 0;
}

/* status: once, or with --watch every --interval seconds until ^C or
 * until no campaign shown is running or paused. */
static int cmd_status(int argc, char **argv)
{
	status_cmd c = {.db_path = DEFAULT_DB, .timeout_ms = CONTROL_TIMEOUT_MS, .interval_ms = 2000};
	struct sigaction sa;
	liveview view;
	store *s = NULL;
	int rc = status_parse(argc, argv, &c), active = 0;

	if (rc >= 0)
		return rc;
	if (open_readonly(c.db_path, &s) < 0)
		return 1;
	liveview_init(&view, stdout);
	if (!c.watch)
		view.tty = false; /* one view: nothing to redraw */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	do {
		rc = status_once(s, &c, &view, &active);
		for (int64_t until = emc_now_ms() + c.interval_ms;
		     c.watch && rc == 0 && active && !interrupted && emc_now_ms() < until;)
			usleep(50 * 1000);
	} while (c.watch && rc == 0 && active && !interrupted);
	store_close(&s);
	return rc;
}

typedef enum view { VIEW_RESULTS, VIEW_SUMMARY } view;

/* results and summary: read-only views of one database. */
static int cmd_report(int argc, char **argv, view which)
{
	static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
					     {"format", required_argument, NULL, 'f'},
					     {"by", required_argument, NULL, 'b'},
					     {NULL, 0, NULL, 0}};
	const char *db_path = DEFAULT_DB, *campaign = NULL, *by = NULL;
	report_format fmt = REPORT_TABLE;
	store *s = NULL;
	emc_err err;
	int opt, r;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "d:f:b:", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			db_path = optarg;
			break;
		case 'f':
			if (report_format_parse(optarg, &fmt) < 0) {
				fprintf(stderr, "emcctl: --format must be table, csv or json\n");
				return 2;
			}
			break;
		case 'b':
			if (which == VIEW_SUMMARY) {
				by = optarg;
				break;
			}
			/* fall through */
		default:
			bad_usage(argv[0]);
			return 2;
		}
	}
	if (optind < argc)
		campaign = argv[optind++];
	if (optind != argc) {
		bad_usage(argv[0]);
		return 2;
	}
	if (open_readonly(db_path, &s) < 0)
		return 1;
	if (which == VIEW_SUMMARY)
		r = report_summary(s, campaign, by, fmt, stdout, &err);
	else
		r = report_results(s, campaign, fmt, stdout, &err);
	store_close(&s);
	if (r < 0) {
		fprintf(stderr, "emcctl: %s\n", err.msg);
		return r == -EINVAL ? 2 : 1;
	}
	return 0;
}

typedef enum artifact { ARTIFACT_PLOT, ARTIFACT_REPORT } artifact;

/* The options of plot and report; -1 (usage printed) or 0. */
static int artifact_args(int argc, char **argv, artifact which, const char **db_path, const char **by,
			 const char **out, unsigned *formats, const char **campaign)
{
	static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
					     {"by", required_argument, NULL, 'b'},
					     {"out", required_argument, NULL, 'o'},
					     {"format", required_argument, NULL, 'f'},
					     {NULL, 0, NULL, 0}};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "d:b:o:f:", opts, NULL)) != -1) {
		if (opt == 'd') {
			*db_path = optarg;
		} else if (opt == 'b') {
			*by = optarg;
		} else if (opt == 'o' && *optarg) {
			*out = optarg;
		} else if (opt == 'f' && which == ARTIFACT_PLOT) {
			*formats = strcmp(optarg, "svg") == 0	 ? PLOT_SVG
				   : strcmp(optarg, "png") == 0	 ? PLOT_PNG
				   : strcmp(optarg, "both") == 0 ? PLOT_SVG | PLOT_PNG
								 : 0;
			if (!*formats) {
				fprintf(stderr, "emcctl plot: --format must be svg, png or both\n");
				return -1;
			}
		} else {
			bad_usage(argv[0]);
			return -1;
		}
	}
	if (optind < argc)
		*campaign = argv[optind++];
	if (optind != argc) {
		bad_usage(argv[0]);
		return -1;
	}
	return 0;
}

/* plot: the figures, files beside PREFIX. */
static int cmd_plot(int argc, char **argv)
{
	const char *db_path = DEFAULT_DB, *by = NULL, *prefix = "emc", *campaign = NULL;
	unsigned formats = PLOT_SVG;
	plot_data *d = NULL;
	store *s = NULL;
	emc_err err;
	int r;

	if (artifact_args(argc, argv, ARTIFACT_PLOT, &db_path, &by, &prefix, &formats, &campaign) < 0)
		return 2;
	if (open_readonly(db_path, &s) < 0)
		return 1;
	r = plot_data_build(s, campaign, by, &d, &err);
	store_close(&s);
	if (r >= 0)
		r = plot_write_files(d, prefix, formats, stdout, &err);
	plot_data_destroy(&d);
	plot_shutdown();
	if (r < 0) {
		fprintf(stderr, "emcctl: %s\n", err.msg);
		return r == -EINVAL ? 2 : 1;
	}
	return 0;
}

/* report: the HTML file, written beside its final name and renamed into
 * place, so that a reader never opens half a report. */
static int cmd_html(int argc, char **argv)
{
	const char *db_path = DEFAULT_DB, *by = NULL, *path = "emc-report.html", *campaign = NULL;
	unsigned formats = 0;
	char tmp[PATH_MAX];
	store *s = NULL;
	emc_err err;
	FILE *f;
	int r;

	if (artifact_args(argc, argv, ARTIFACT_REPORT, &db_path, &by, &path, &formats, &campaign) < 0)
		return 2;
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
		fprintf(stderr, "emcctl report: --out is too long\n");
		return 2;
	}
	if (open_readonly(db_path, &s) < 0)
		return 1;
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "emcctl: %s: %s\n", tmp, strerror(errno));
		store_close(&s);
		return 1;
	}
	r = html_report_write(s, campaign, by, f, &err);
	store_close(&s);
	plot_shutdown();
	if (fclose(f) != 0 && r >= 0)
		r = emc_err_set(&err, -EIO, "report: %s: %s", tmp, strerror(errno));
	if (r >= 0 && rename(tmp, path) != 0)
		r = emc_err_set(&err, -errno, "report: %s: %s", path, strerror(errno));
	if (r < 0) {
		remove(tmp);
		fprintf(stderr, "emcctl: %s\n", err.msg);
		return r == -EINVAL ? 2 : 1;
	}
	printf("wrote %s\n", path);
	return 0;
}

/* `--help` or `-h` anywhere after the command asks for its usage, before
 * its own option parsing would call it an unknown option. */
static bool help_asked(int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

/* -1 when argv asks for no help or version; else the exit status. */
static int help_or_version(int argc, char **argv)
{
	const command *c = command_find(argv[1]);

	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("emcctl %s (protocol %d, schema %d)\n", EMC_VERSION, EMC_PROTOCOL_VERSION, STORE_SCHEMA_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 && argc > 2) {
		c = command_find(argv[2]);
		if (!c) {
			fprintf(stderr, "emcctl: unknown command '%s'\n", argv[2]);
			bad_usage(argv[0]);
			return 2;
		}
		command_usage(c, stdout);
		return 0;
	}
	if (c && help_asked(argc, argv)) {
		command_usage(c, stdout);
		return 0;
	}
	return -1;
}

int main(int argc, char **argv)
{
	int rc;

	emc_log_init("emcctl");
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	rc = help_or_version(argc, argv);
	if (rc >= 0)
		return rc;
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "launch") == 0)
		return cmd_launch(argc - 1, argv + 1);
	if (strcmp(argv[1], "status") == 0)
		return cmd_status(argc - 1, argv + 1);
	if (strcmp(argv[1], "results") == 0)
		return cmd_report(argc - 1, argv + 1, VIEW_RESULTS);
	if (strcmp(argv[1], "summary") == 0)
		return cmd_report(argc - 1, argv + 1, VIEW_SUMMARY);
	if (strcmp(argv[1], "trials") == 0)
		return cmd_trials(argc - 1, argv + 1);
	if (strcmp(argv[1], "plot") == 0)
		return cmd_plot(argc - 1, argv + 1);
	if (strcmp(argv[1], "report") == 0)
		return cmd_html(argc - 1, argv + 1);
	if (strcmp(argv[1], "pause") == 0 || strcmp(argv[1], "resume") == 0 || strcmp(argv[1], "cancel") == 0 ||
	    strcmp(argv[1], "reopen") == 0 || strcmp(argv[1], "workers") == 0)
		return cmd_control(argc - 1, argv + 1, argv[1]);
	if (strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc - 1, argv + 1);
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "emcctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
