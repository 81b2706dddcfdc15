/* fuzz_scheduler.c — a libFuzzer target for the message decoder and for the
 * coordinator's handling of every message a peer can send.
 *
 * Each input goes first, whole, to wire_unpack(). Then it is cut into
 * frames and fed to one scheduler, as the coordinator's loop would feed it,
 * so that sequences (Hello, Ready, Result, ...) are explored and not only
 * single messages. A frame is
 *
 *     flags (1 byte) | length (2 bytes, little endian) | payload (length bytes)
 *
 * and a length running past the end of the input takes what is left. The
 * flags say who sends and what happens after the frame:
 *
 *     bits 0-1  which of four fixed peer identities sends it
 *     bit  2    the control channel (else the worker channel)
 *     bit  3    end of the loop's turn: dispatch, then commit the batch
 *     bits 4-5  then a timer tick: 0 none, 1 now, 2 after a heartbeat
 *               interval, 3 after a lease (clock moved forward first)
 *     bits 6-7  unused
 *
 * Time is virtual: emc_now_ms() is wrapped at link time (--wrap), starts at
 * the same value for every input and moves 1 ms per frame, plus the ticks'
 * jumps. So leases expire, silent workers are retired and orphans give up
 * exactly when the input says, and every input replays the same way.
 *
 * State: one SQLite file, created once, holds two campaigns (one running
 * with three cells, one of whose trials is running with an attempt no
 * worker has reclaimed yet — an orphan — and one paused). A snapshot of it
 * is copied back over the database before every input (SQLite's backup
 * API, through a connection of this file's own: the store lends its to
 * nobody), and a fresh scheduler is built on it, so one input cannot leave
 * state behind for the next and a crash replays from its input alone.
 *
 * Submit on the control channel is passed through only for specs that do
 * not parse, or whose dataset is small and synthetic: loading a real
 * dataset from disk (or a synthetic one of gigabytes) is the dataset
 * module's business and has its own tests; here it would only make the
 * fuzzer slow.
 *
 * Checked after every input (any failure aborts, which libFuzzer reports):
 * every frame the scheduler sends names a peer (1..255 bytes of identity)
 * and decodes again with wire_unpack(); in the store, a trial is running
 * exactly when it has one running attempt, and a campaign that is done has
 * no pending or running trial left. Sanitizers catch the rest.
 *
 * Without -DEMC_FUZZ_LIBFUZZER this file has its own main(): it replays
 * every file given (or every file in each directory given), so that builds
 * without libFuzzer run the corpus as a regression test, and with
 * --write-seeds DIR it writes the seed corpus.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cell.h"
#include "dataset.h"
#include "log.h"
#include "front.h"
#include "spec.h"
#include "store.h"
#include "wire.h"

#define MAX_FRAMES	   64
#define FRAME_HEADER_BYTES 3
#define N_IDENTITIES	   4
#define CLOCK_START_MS	   ((int64_t)1000000000)

#define FLAG_IDENTITY_MASK 0x03u
#define FLAG_CONTROL	   0x04u
#define FLAG_TURN_END	   0x08u
#define FLAG_TICK_SHIFT	   4
#define FLAG_TICK_MASK	   0x03u

enum { TICK_NONE = 0, TICK_NOW, TICK_HEARTBEAT, TICK_LEASE };

/* Submitted specs larger than these are not passed on (see the top). */
#define SUBMIT_MAX_VALUES (1 << 16)
#define SUBMIT_MAX_CELLS  16

/* The cells of the running campaign in the snapshot. */
#define SNAPSHOT_CELLS 3

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int64_t __wrap_emc_now_ms(void);

static int64_t clock_ms = CLOCK_START_MS;

int64_t __wrap_emc_now_ms(void)
{
	return clock_ms;
}

/* Fixed peers: two identities as a ROUTER makes them up (5 bytes, the first
 * zero), a short readable one, and the longest the scheduler takes. */
static uint8_t ident_long[255];
static const struct {
	const uint8_t *bytes;
	size_t len;
} identities[N_IDENTITIES] = {
    {(const uint8_t *)"\x00\x6b\x8b\x45\x67", 5},
    {(const uint8_t *)"\x00\x32\x7b\x23\xc6", 5},
    {(const uint8_t *)"w3", 2},
    {ident_long, sizeof ident_long},
};

static struct {
	char dir[64];
	char path[96];
	store *db;
	sqlite3 *file;     /* the same file, for restoring and checking it */
	sqlite3 *snapshot; /* in memory: the database as every input starts */
	sched_config cfg;
	bool verbose;
	/* per input */
	int64_t sent, acks_recorded, acks_fenced, assigns, errors, submits_skipped;
} F;

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_scheduler: %s: %s\n", what, why ? why : "");
	abort();
}

static void check(bool ok, const char *what)
{
	if (!ok)
		die("invariant broken", what);
}

/* ---- the scheduler's send callback -------------------------------------- */

static int on_send(void *ctx, outbox_channel ch, const uint8_t *identity, size_t identity_len, const uint8_t *buf,
		   size_t len)
{
	static wire_msg back; /* about 50 KiB */
	bool is_assign;
	emc_err err;

	(void)ctx;
	check(ch == OUTBOX_WORKERS || ch == OUTBOX_CONTROL, "send on an unknown channel");
	check(identity != NULL && identity_len >= 1 && identity_len <= 255, "send to a bad identity");
	check(buf != NULL || len == 0, "send of no frame");
	if (wire_unpack(buf, len, &back, &err) < 0)
		die("a message the scheduler sent does not decode", err.msg);
	switch (back.kind) {
	case WIRE_RESULT_ACK:
		if (back.result_ack.recorded)
			F.acks_recorded++;
		else
			F.acks_fenced++;
		break;
	case WIRE_ASSIGN:
		check(back.assign.attempt_id > 0 && back.assign.trial_id > 0 && back.assign.n > 0,
		      "an Assign without attempt, trial or size");
		check(back.assign.rc == 0, "an Assign without a usable cell or data");
		if (F.verbose)
			fprintf(stderr, "  assign attempt %" PRIu64 " of trial %" PRIu64 " (n=%" PRId64 ")\n",
				back.assign.attempt_id, back.assign.trial_id, back.assign.n);
		F.assigns++;
		break;
	case WIRE_ERROR:
		F.errors++;
		break;
	default:
		break;
	}
	is_assign = back.kind == WIRE_ASSIGN;
	wire_msg_deinit(&back);
	F.sent++;
	/* Every fifth Assign finds its worker gone: the model must requeue it. */
	if (is_assign && F.assigns % 5 == 0)
		return -EHOSTUNREACH;
	return 0;
}

/* ---- the database every input starts from ------------------------------- */

static void make_spec(emc_campaign_spec *spec, emc_cell_cfg *cells, int n_cells, const char *name)
{
	memset(spec, 0, sizeof *spec);
	snprintf(spec->name, sizeof spec->name, "%s", name);
	snprintf(spec->dataset.format, sizeof spec->dataset.format, "synthetic");
	snprintf(spec->dataset.split, sizeof spec->dataset.split, "train");
	snprintf(spec->dataset.synth_teacher, sizeof spec->dataset.synth_teacher, "uniform");
	spec->dataset.synth_n = 1000;
	spec->dataset.synth_dim = 4;
	spec->dataset.synth_classes = 2;
	/* Searches short enough that a few results decide a cell: 16, 32. */
	spec->search.start = 16;
	spec->search.precision = 0.01;
	spec->search.max_n = 32;
	for (int i = 0; i < n_cells; i++) {
		emc_cell_cfg_defaults(&cells[i]);
		cells[i].model.widths[0] = 4 << i;
		cells[i].seed = (uint64_t)i;
	}
	spec->n_cells = n_cells;
	spec->cells = cells;
}

/* The content hash of the snapshot's (synthetic) dataset, so that the
 * coordinator can serve it to a worker that asks. */
static void snapshot_dataset_hash(uint8_t ret[32])
{
	emc_campaign_spec spec;
	emc_cell_cfg cells[1];
	emc_dataset *ds = NULL;
	emc_err err;

	make_spec(&spec, cells, 1, "hash");
	if (emc_dataset_load(&spec.dataset, &ds, &err) < 0)
		die("dataset", err.msg);
	memcpy(ret, ds->hash, 32);
	emc_dataset_destroy(&ds);
}

static int first_cell(void *ctx, const store_cell_row *c)
{
	int64_t *ret = ctx;

	if (*ret == 0)
		*ret = c->id;
	return 0;
}

static void build_snapshot(void)
{
	emc_campaign_spec spec;
	emc_cell_cfg cells[SNAPSHOT_CELLS];
	store_dataset_info ds = {.n_total = 1000, .shape = {1, 1, 4, 2}, .description = "synthetic"};
	int64_t campaign_id, paused_id, cell_id = 0, trial_id, worker_id, attempt_id;
	char ident_text[2 * 5 + 1];
	sqlite3_backup *b;
	emc_err err;

	snapshot_dataset_hash(ds.hash);
	make_spec(&spec, cells, SNAPSHOT_CELLS, "fuzz");
	if (store_campaign_insert(F.db, &spec, "name: fuzz\n", "00", &ds, &campaign_id, &err) < 0)
		die("campaign", err.msg);
	make_spec(&spec, cells, 1, "fuzz-paused");
	if (store_campaign_insert(F.db, &spec, "name: fuzz-paused\n", "01", &ds, &paused_id, &err) < 0 ||
	    store_campaign_set_state(F.db, paused_id, STORE_CAMPAIGN_PAUSED, &err) < 0)
		die("paused campaign", err.msg);

	/* An orphan: running when "the previous coordinator" stopped. */
	if (store_load_active(F.db, NULL, first_cell, NULL, &cell_id, &err) < 0 || cell_id == 0)
		die("cells", err.msg);
	for (size_t i = 0; i < identities[0].len; i++)
		snprintf(ident_text + 2 * i, 3, "%02x", identities[0].bytes[i]);
	if (store_worker_upsert(F.db, ident_text, "fuzz:1", 2, &worker_id, &err) < 0 ||
	    store_trial_insert(F.db, cell_id, 16, 0, 0, &trial_id, &err) < 0 ||
	    store_attempt_start(F.db, trial_id, worker_id, 10000, &attempt_id, &err) < 0)
		die("orphan", err.msg);

	if (sqlite3_open(":memory:", &F.snapshot) != SQLITE_OK)
		die("snapshot", sqlite3_errmsg(F.snapshot));
	b = sqlite3_backup_init(F.snapshot, "main", F.file, "main");
	if (!b || sqlite3_backup_step(b, -1) != SQLITE_DONE || sqlite3_backup_finish(b) != SQLITE_OK)
		die("snapshot", sqlite3_errmsg(F.snapshot));
}

static void restore_snapshot(void)
{
	sqlite3_backup *b = sqlite3_backup_init(F.file, "main", F.snapshot, "main");

	if (!b || sqlite3_backup_step(b, -1) != SQLITE_DONE || sqlite3_backup_finish(b) != SQLITE_OK)
		die("restoring the snapshot", sqlite3_errmsg(F.file));
}

static void cleanup(void)
{
	store_close(&F.db);
	if (F.file)
		sqlite3_close(F.file);
	F.file = NULL;
	if (F.snapshot)
		sqlite3_close(F.snapshot);
	F.snapshot = NULL;
	if (F.dir[0]) {
		char p[128];
		static const char *const suffixes[] = {"", "-wal", "-shm"};

		for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
			snprintf(p, sizeof p, "%s%s", F.path, suffixes[i]);
			unlink(p);
		}
		rmdir(F.dir);
		F.dir[0] = '\0';
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	emc_err err;

	(void)argc;
	(void)argv;
	emc_log_init("fuzz");
	if (!F.verbose)
		emc_log_set_level((enum emc_log_level)(EMC_LOG_ERROR + 1)); /* silence: inputs are meant to be bad */
	memset(ident_long, 0xab, sizeof ident_long);
	snprintf(F.dir, sizeof F.dir, "%s/emc-fuzz-XXXXXX", tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(F.dir))
		die("mkdtemp", strerror(errno));
	snprintf(F.path, sizeof F.path, "%s/fuzz.db", F.dir);
	atexit(cleanup);
	if (store_open(F.path, false, &F.db, &err) < 0)
		die("store", err.msg);
	if (sqlite3_open_v2(F.path, &F.file, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		die("opening the database again", sqlite3_errmsg(F.file));
	sqlite3_busy_timeout(F.file, 5000);
	build_snapshot();
	sched_config_defaults(&F.cfg);
	F.cfg.max_workers = N_IDENTITIES - 1; /* so that "too many workers" is reachable */
	F.cfg.max_lost = 1;		      /* and giving up on a trial, in a few frames */
	F.cfg.max_failed = 1;
	return 0;
}

/* ---- one input ------------------------------------------------------------ */

static int64_t sql_count(const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(F.file, sql, -1, &st, NULL) != SQLITE_OK)
		die("invariant query", sqlite3_errmsg(F.file));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void check_store(void)
{
	check(sql_count("SELECT count(*) FROM trials t WHERE (t.state = 'running') !="
			" ((SELECT count(*) FROM attempts a WHERE a.trial_id = t.id AND a.state = 'running') = 1)") ==
		  0,
	      "store: a trial is running iff it has one running attempt");
	check(sql_count("SELECT count(*) FROM trials t JOIN cells c ON c.id = t.cell_id"
			" JOIN campaigns k ON k.id = c.campaign_id"
			" WHERE k.state = 'done' AND t.state IN ('pending', 'running')") == 0,
	      "store: a campaign that is done has no pending or running trial");
}

static void batch_begin(front *f)
{
	emc_err err;

	if (front_batch_begin(f, &err) < 0)
		die("batch begin", err.msg);
}

static void batch_end(front *f)
{
	emc_err err;

	if (front_batch_end(f, &err) < 0)
		die("batch end", err.msg);
}

/* Submit of a spec that would load real data or much of it: not passed on. */
static bool submit_too_costly(const uint8_t *buf, size_t len)
{
	static wire_msg m; /* about 50 KiB */
	emc_campaign_spec *spec = NULL;
	const wire_submit *sub;
	bool costly = false;
	emc_err err;

	if (wire_unpack(buf, len, &m, &err) < 0)
		return false;
	sub = m.kind == WIRE_SUBMIT ? &m.submit : NULL;
	if (sub && emc_spec_parse_string(sub->spec_text, sub->spec_len, *sub->origin ? sub->origin : "spec",
					 *sub->base_dir ? sub->base_dir : NULL, &spec, &err) == 0) {
		const emc_dataset_ref *d = &spec->dataset;

		costly = d->name[0] || strcmp(d->format, "synthetic") != 0 || spec->n_cells > SUBMIT_MAX_CELLS ||
			 d->synth_dim < 1 || d->synth_n > SUBMIT_MAX_VALUES / d->synth_dim ||
			 d->synth_classes > SUBMIT_MAX_VALUES / d->synth_dim;
		emc_spec_destroy(&spec);
	}
	wire_msg_deinit(&m);
	return costly;
}

static void tick(front *f, unsigned kind)
{
	if (kind == TICK_HEARTBEAT)
		clock_ms += F.cfg.heartbeat_ms;
	else if (kind == TICK_LEASE)
		clock_ms += F.cfg.lease_ms + 1;
	batch_begin(f);
	sched_tick(front_sched(f));
	batch_end(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static wire_msg m; /* about 50 KiB */
	front *f = NULL;
	sched *s;
	size_t off = 0;
	emc_err err;

	/* The decoder alone, on the whole input. */
	if (wire_unpack(data, size, &m, &err) == 0) {
		check(m.kind > WIRE_NONE && m.kind < WIRE_KIND_COUNT, "wire_unpack accepted a frame without a body");
		wire_msg_deinit(&m);
		check(m.kind == WIRE_NONE, "wire_msg_deinit left the message set");
	}

	restore_snapshot();
	clock_ms = CLOCK_START_MS;
	F.sent = F.acks_recorded = F.acks_fenced = F.assigns = F.errors = F.submits_skipped = 0;
	if (front_new(F.db, &F.cfg, on_send, NULL, &f, &err) < 0)
		die("front_new", err.msg);
	s = front_sched(f);

	batch_begin(f);
	for (int i = 0; i < MAX_FRAMES && off < size; i++) {
		unsigned flags = data[off];
		size_t len = 0, ident = flags & FLAG_IDENTITY_MASK;
		unsigned tick_kind = (flags >> FLAG_TICK_SHIFT) & FLAG_TICK_MASK;
		const uint8_t *payload;

		if (size - off >= FRAME_HEADER_BYTES)
			len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		off = size - off >= FRAME_HEADER_BYTES ? off + FRAME_HEADER_BYTES : size;
		if (len > size - off)
			len = size - off;
		payload = data + off;
		off += len;
		clock_ms++;

		if (!(flags & FLAG_CONTROL))
			front_worker_message(f, identities[ident].bytes, identities[ident].len, NULL, payload, len);
		else if (submit_too_costly(payload, len))
			F.submits_skipped++;
		else
			front_control_message(f, identities[ident].bytes, identities[ident].len, payload, len);

		if ((flags & FLAG_TURN_END) || tick_kind != TICK_NONE) {
			sched_dispatch(s);
			batch_end(f);
			if (tick_kind != TICK_NONE)
				tick(f, tick_kind);
			batch_begin(f);
		}
	}
	sched_dispatch(s);
	batch_end(f);
	(void)sched_all_done(s);
	check(sched_results_fenced(s) >= 0, "fenced results counted below zero");
	front_destroy(&f);
	check(f == NULL, "front_destroy left the pointer set");
	check_store();
	if (F.verbose)
		fprintf(stderr,
			"  sent %" PRId64 ": %" PRId64 " assign, %" PRId64 " ack recorded, %" PRId64
			" ack fenced, %" PRId64 " error; %" PRId64 " submit skipped\n",
			F.sent, F.assigns, F.acks_recorded, F.acks_fenced, F.errors, F.submits_skipped);
	return 0;
}

#ifndef EMC_FUZZ_LIBFUZZER

/* ---- the seed corpus ---------------------------------------------------- */

typedef struct seed {
	uint8_t buf[4096];
	size_t len;
} seed;

static wire_msg seed_msg; /* about 50 KiB: the message being built */

static void seed_frame(seed *sd, unsigned flags, const wire_msg *m)
{
	uint8_t *buf;
	size_t len;
	emc_err err;

	if (wire_pack(m, &buf, &len, &err) < 0)
		die("seed", err.msg);
	if (sd->len + FRAME_HEADER_BYTES + len > sizeof sd->buf)
		die("seed", "too long");
	sd->buf[sd->len++] = (uint8_t)flags;
	sd->buf[sd->len++] = (uint8_t)(len & 0xff);
	sd->buf[sd->len++] = (uint8_t)(len >> 8);
	memcpy(sd->buf + sd->len, buf, len);
	sd->len += len;
	free(buf);
}

static void seed_hello(seed *sd, unsigned flags, uint32_t slots, uint64_t *running, size_t n_running)
{
	wire_hello *h = &seed_msg.hello;

	wire_msg_init(&seed_msg, WIRE_HELLO);
	h->protocol = EMC_PROTOCOL_VERSION;
	snprintf(h->host, sizeof h->host, "fuzz");
	h->pid = 1;
	h->slots = slots;
	h->blas_threads = 1;
	h->n_running = n_running;
	memcpy(h->running, running, n_running * sizeof *running);
	seed_frame(sd, flags, &seed_msg);
}

static void seed_ready(seed *sd, unsigned flags, uint32_t credit)
{
	wire_msg_init(&seed_msg, WIRE_READY);
	seed_msg.ready.credit = credit;
	seed_frame(sd, flags, &seed_msg);
}

static void seed_heartbeat(seed *sd, unsigned flags, uint64_t attempt_id)
{
	wire_msg_init(&seed_msg, WIRE_HEARTBEAT);
	seed_msg.heartbeat.attempts[0] = (wire_progress){
	    .attempt_id = attempt_id, .epoch = 3, .step = 30, .loss = 0.5, .accuracy = 0.75, .seconds = 1.5};
	seed_msg.heartbeat.n_attempts = attempt_id ? 1 : 0;
	seed_frame(sd, flags, &seed_msg);
}

static void seed_result(seed *sd, unsigned flags, uint64_t attempt_id, uint64_t trial_id, emc_outcome outcome)
{
	emc_trial_result *r = &seed_msg.result.r;

	wire_msg_init(&seed_msg, WIRE_RESULT);
	seed_msg.result.attempt_id = attempt_id;
	seed_msg.result.trial_id = trial_id;
	r->outcome = outcome;
	r->reason = outcome == EMC_OUTCOME_FIT ? EMC_STOP_FIT : EMC_STOP_PLATEAU;
	r->epochs = 10;
	r->steps = 100;
	r->train_seconds = 0.25;
	r->loss = 0.01;
	r->accuracy = outcome == EMC_OUTCOME_FIT ? 1.0 : 0.9;
	r->params = 42;
	snprintf(r->error, sizeof r->error, "%s", outcome == EMC_OUTCOME_FAILED ? "out of memory" : "");
	seed_frame(sd, flags, &seed_msg);
}

static void seed_bye(seed *sd, unsigned flags)
{
	wire_msg_init(&seed_msg, WIRE_BYE);
	snprintf(seed_msg.bye.reason, sizeof seed_msg.bye.reason, "drained");
	seed_frame(sd, flags, &seed_msg);
}

static void seed_data_request(seed *sd, unsigned flags, const uint8_t hash[32], uint64_t offset, uint32_t length)
{
	wire_msg_init(&seed_msg, WIRE_DATA_REQUEST);
	seed_msg.data_request.has_hash = true;
	memcpy(seed_msg.data_request.hash, hash, 32);
	seed_msg.data_request.offset = offset;
	seed_msg.data_request.length = length;
	seed_frame(sd, flags, &seed_msg);
}

static void seed_submit(seed *sd, unsigned flags, const char *text)
{
	wire_msg_init(&seed_msg, WIRE_SUBMIT);
	seed_msg.submit.spec_text = text;
	seed_msg.submit.spec_len = strlen(text);
	seed_msg.submit.origin = "tiny.yaml";
	seed_frame(sd, flags | FLAG_CONTROL, &seed_msg);
}

static void seed_control(seed *sd, unsigned flags, const char *verb, const char *campaign)
{
	wire_msg_init(&seed_msg, WIRE_CONTROL);
	snprintf(seed_msg.control.verb, sizeof seed_msg.control.verb, "%s", verb);
	snprintf(seed_msg.control.campaign, sizeof seed_msg.control.campaign, "%s", campaign);
	seed_frame(sd, flags | FLAG_CONTROL, &seed_msg);
}

static void seed_write(const char *dir, const char *name, const seed *sd)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(sd->buf, 1, sd->len, f) != sd->len || fclose(f) != 0)
		die(path, strerror(errno));
}

#define TURN	   FLAG_TURN_END
#define TICK(kind) ((unsigned)(kind) << FLAG_TICK_SHIFT)

/* In the snapshot, attempt 1 of trial 1 (cell 1) is the orphan; trials 2
 * and 3 (cells 2 and 3) are queued, so a worker's first Assign is attempt
 * 2 of trial 2. Peer 0 is the orphan's old worker. */
static void write_seeds(const char *dir)
{
	static const char tiny_spec[] = "name: tiny\n"
					"dataset: {format: synthetic, n: 200, dim: 3, classes: 2, seed: 7}\n"
					"model: {family: mlp, widths: [[4], [8]]}\n"
					"search: {start: 8}\n";
	uint64_t orphan = 1;
	uint8_t hash[32];
	seed sd;

	mkdir(dir, 0755);
	sd.len = 0;
	seed_hello(&sd, 0, 2, NULL, 0);
	seed_write(dir, "hello", &sd);

	sd.len = 0;
	seed_hello(&sd, 0, 2, NULL, 0);
	seed_ready(&sd, TURN, 2);
	seed_write(dir, "hello-ready", &sd);

	sd.len = 0;
	seed_hello(&sd, 1, 1, NULL, 0);
	seed_ready(&sd, 1 | TURN, 1);
	seed_heartbeat(&sd, 1 | TICK(TICK_HEARTBEAT), 2);
	seed_heartbeat(&sd, 1, 77);
	seed_write(dir, "heartbeat", &sd);

	sd.len = 0;
	seed_hello(&sd, 1, 1, NULL, 0);
	seed_ready(&sd, 1 | TURN, 1);
	seed_result(&sd, 1 | TURN, 2, 2, EMC_OUTCOME_FIT);
	seed_ready(&sd, 1 | TURN, 1);
	seed_result(&sd, 1 | TURN, 3, 3, EMC_OUTCOME_NO_FIT);
	seed_result(&sd, 1 | TURN, 2, 2, EMC_OUTCOME_FIT); /* a duplicate: fenced */
	seed_write(dir, "result", &sd);

	sd.len = 0;
	seed_result(&sd, 1, 1, 1, EMC_OUTCOME_NO_FIT);
	seed_hello(&sd, 1 | TURN, 2, &orphan, 1);
	seed_write(dir, "result-orphan", &sd);

	sd.len = 0;
	seed_hello(&sd, 0, 2, &orphan, 1);
	seed_heartbeat(&sd, 0, 1);
	seed_result(&sd, 0 | TURN, 1, 1, EMC_OUTCOME_FAILED);
	seed_write(dir, "reclaim-failed", &sd);

	sd.len = 0;
	seed_hello(&sd, 2, 1, NULL, 0);
	seed_ready(&sd, 2 | TURN, 1);
	seed_heartbeat(&sd, 2 | TICK(TICK_LEASE), 0);
	seed_hello(&sd, 2 | TICK(TICK_LEASE), 1, NULL, 0);
	seed_write(dir, "lease-expiry", &sd);

	sd.len = 0;
	seed_hello(&sd, 3, 4, NULL, 0);
	seed_ready(&sd, 3 | TURN, 4);
	seed_bye(&sd, 3 | TURN);
	seed_write(dir, "bye", &sd);

	/* Every cell decided, the campaign done: attempts 2-5 are trials 2-5
	 * (cells 2, 3, 1, 2 at n = 16, 16, 32, 32); then the orphan ends and
	 * cell 3 gets n = 32 as attempt 6 (trial 6). */
	sd.len = 0;
	seed_hello(&sd, 1, 4, NULL, 0);
	seed_ready(&sd, 1 | TURN, 4);
	seed_result(&sd, 1, 2, 2, EMC_OUTCOME_FIT);
	seed_result(&sd, 1, 5, 5, EMC_OUTCOME_FIT);
	seed_result(&sd, 1, 3, 3, EMC_OUTCOME_FIT);
	seed_result(&sd, 1 | TURN, 4, 4, EMC_OUTCOME_FIT);
	seed_result(&sd, 1 | TURN, 1, 1, EMC_OUTCOME_NO_FIT);
	seed_ready(&sd, 1 | TURN, 4);
	seed_result(&sd, 1 | TURN, 6, 6, EMC_OUTCOME_FIT);
	seed_write(dir, "campaign-done", &sd);

	/* Preempted, then stopped on its own (not asked), then preempted
	 * again: past max_lost, the trial fails and so does its cell. */
	sd.len = 0;
	seed_hello(&sd, 2, 1, NULL, 0);
	seed_ready(&sd, 2 | TURN, 1);
	seed_result(&sd, 2 | TURN, 2, 2, EMC_OUTCOME_PREEMPTED);
	seed_ready(&sd, 2 | TURN, 1);
	seed_result(&sd, 2 | TURN, 3, 3, EMC_OUTCOME_CANCELLED);
	seed_ready(&sd, 2 | TURN, 1);
	seed_result(&sd, 2 | TURN, 4, 2, EMC_OUTCOME_PREEMPTED);
	seed_ready(&sd, 2 | TURN, 1);
	seed_write(dir, "give-up", &sd);

	sd.len = 0;
	seed_submit(&sd, 0, tiny_spec);
	seed_hello(&sd, 1, 1, NULL, 0);
	seed_ready(&sd, 1 | TURN, 1);
	seed_write(dir, "submit", &sd);

	sd.len = 0;
	seed_hello(&sd, 0, 2, NULL, 0);
	seed_control(&sd, 0, "workers", "");
	seed_write(dir, "control-workers", &sd);

	sd.len = 0;
	seed_control(&sd, 0, "pause", "fuzz");
	seed_control(&sd, 0, "resume", "fuzz-paused");
	seed_hello(&sd, 1, 1, NULL, 0);
	seed_ready(&sd, 1 | TURN, 1);
	seed_control(&sd, 0, "cancel", "fuzz-paused");
	seed_control(&sd, 0 | TURN, "cancel", "fuzz");
	seed_write(dir, "control-campaigns", &sd);

	/* A worker that lacks the data: the first piece, one past the end,
	 * and a hash nobody has. */
	snapshot_dataset_hash(hash);
	sd.len = 0;
	seed_hello(&sd, 0, 1, NULL, 0);
	seed_data_request(&sd, 0, hash, 0, 4096);
	seed_data_request(&sd, 0, hash, 1u << 20, 4096);
	hash[0] ^= 1;
	seed_data_request(&sd, 0, hash, 0, 4096);
	seed_write(dir, "data-request", &sd);

	/* Not an emc message at all: framing runs past the end, a frame that
	 * does not unpack, one with another version. */
	{
		static const uint8_t garbage[] = {0x00, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0x04, 0x04,
						  0x00, 0x08, 0x02, 0x52, 0x00, 0x0b, 0xff, 0xff, 0x0a, 0x0d};

		memcpy(sd.buf, garbage, sizeof garbage);
		sd.len = sizeof garbage;
		seed_write(dir, "garbage", &sd);
	}
}

/* ---- replaying a corpus ------------------------------------------------- */

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t cap = 1 << 20, len;

	if (!f) {
		fprintf(stderr, "fuzz_scheduler: %s: %s\n", path, strerror(errno));
		return -1;
	}
	buf = malloc(cap);
	if (!buf)
		die("replay", "out of memory");
	len = fread(buf, 1, cap, f);
	fclose(f);
	if (F.verbose)
		fprintf(stderr, "%s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int replay(const char *path, int *count)
{
	struct stat st;
	struct dirent **names;
	int n, r = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "fuzz_scheduler: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (replay_file(path) < 0)
			return -1;
		(*count)++;
		return 0;
	}
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "fuzz_scheduler: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char child[1024];

		snprintf(child, sizeof child, "%s/%s", path, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(child, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(child) < 0)
				r = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	int count = 0, first = 1, r = 0;

	if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0) {
		write_seeds(argv[2]);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		F.verbose = true;
		first = 2;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: fuzz_scheduler [-v] FILE|DIR...\n"
				"       fuzz_scheduler --write-seeds DIR\n");
		return 2;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	/* TAP, so that the test counts as one check. */
	printf("1..1\n");
	fflush(stdout);
	for (int i = first; i < argc; i++)
		if (replay(argv[i], &count) < 0)
			r = -1;
	printf("%s 1 - %d input(s) replayed without a crash\n", r == 0 && count > 0 ? "ok" : "not ok", count);
	return r == 0 && count > 0 ? 0 : 1;
}

#endif
