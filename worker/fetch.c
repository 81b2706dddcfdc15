/* fetch.c — the cache directory, and datasets fetched from the coordinator.
 *
 * A worker that lacks a dataset (no cache file, and the spec's files are
 * absent, differ, or --no-local-data) fetches the coordinator's canonical
 * encoding by content hash, FETCH_WINDOW requests of 1 MiB in flight.
 * Chunks are appended in order to CACHE/HEX.part; a chunk that does not
 * continue the file answers a request from before a reconnect and is
 * dropped (the new requests cover it). A complete file is renamed to
 * CACHE/HEX.emcd after making room for it; the slots verify its hash when
 * they load it, and a bad copy is removed and fetched again, at most
 * FETCH_RETRIES times per hash.
 *
 * Only one transfer runs at a time: the coordinator's bandwidth is the
 * bottleneck, and the slots waiting for another dataset are started once
 * this one is done (fetch_done_fn, which the worker points at the slots).
 *
 * Threads: the transfer's state is the main thread's alone. Slot threads
 * only read verified files (fetch_cache_load), which needs the directory
 * name and nothing else; eviction may unlink a file a slot is reading,
 * which POSIX allows (the open file stays readable).
 */
#include "fetch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define FETCH_WINDOW	  4 /* chunk requests in flight */
#define FETCH_RETRIES	  3 /* fetches of one hash that may fail verification */
#define FETCH_CHUNK_BYTES (1u << 20)
#define FETCH_MAX_BYTES	  ((uint64_t)1 << 40) /* refuse a transfer claiming more */

/* The one dataset transfer in progress. */
typedef struct transfer {
	bool active;
	uint8_t hash[32];
	char part[EMC_PATH_MAX + 80];
	FILE *f;
	uint64_t offset; /* bytes written */
	uint64_t next;	 /* next byte to ask for */
	uint64_t total;	 /* 0 until the first chunk says */
	uint64_t first;	 /* offset this transfer started from */
	int inflight;
	int64_t started_ms;
} transfer;

struct fetch {
	char dir[EMC_PATH_MAX]; /* fixed at fetch_new: read by slot threads */
	int64_t limit_bytes;
	double bytes_per_ms;
	session *session; /* borrowed */
	fetch_done_fn done;
	void *ctx;
	transfer t;
	struct {
		uint8_t hash[32];
		int failures;
	} failures[8];
};

int fetch_new(const fetch_config *cfg, session *sess, fetch_done_fn done, void *ctx, fetch **ret)
{
	fetch *f;

	if (strlen(cfg->cache_dir) >= sizeof f->dir)
		return -ENAMETOOLONG;
	f = calloc(1, sizeof *f);
	if (!f)
		return -ENOMEM;
	snprintf(f->dir, sizeof f->dir, "%s", cfg->cache_dir);
	f->limit_bytes = cfg->cache_limit_bytes;
	f->bytes_per_ms = cfg->bytes_per_ms;
	f->session = sess;
	f->done = done;
	f->ctx = ctx;
	*ret = f;
	return 0;
}

void fetch_destroy(fetch **p)
{
	if (!*p)
		return;
	fetch_abandon(*p);
	free(*p);
	*p = NULL;
}

static void cache_path(const fetch *f, const uint8_t hash[32], const char *suffix, char *buf, size_t len)
{
	char hex[65];

	emc_hash_hex(hash, hex);
	snprintf(buf, len, "%s/%s.%s", f->dir, hex, suffix);
}

int fetch_cache_load(const fetch *f, const uint8_t hash[32], emc_dataset **ret, emc_err *err)
{
	char path[EMC_PATH_MAX + 80];
	uint8_t *buf = NULL;
	size_t len;
	FILE *file;
	long size;
	int r;

	cache_path(f, hash, "emcd", path, sizeof path);
	file = fopen(path, "rb");
	if (!file)
		return -ENOENT;
	if (fseek(file, 0, SEEK_END) < 0 || (size = ftell(file)) < 0 || fseek(file, 0, SEEK_SET) < 0 ||
	    !(buf = malloc((size_t)size ? (size_t)size : 1))) {
		fclose(file);
		return emc_err_set(err, EIO, "%s: cannot read", path);
	}
	len = fread(buf, 1, (size_t)size, file);
	fclose(file);
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

/* Make room in the cache for `need` more bytes: least recently used first. */
static void cache_evict(const fetch *f, uint64_t need)
{
	for (;;) {
		DIR *d = opendir(f->dir);
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
			snprintf(path, sizeof path, "%s/%s", f->dir, de->d_name);
			if (stat(path, &st) < 0)
				continue;
			used += (uint64_t)st.st_size;
			if (!victim[0] || st.st_mtime < oldest) {
				oldest = st.st_mtime;
				snprintf(victim, sizeof victim, "%s", path);
			}
		}
		closedir(d);
		if (used + need <= (uint64_t)f->limit_bytes || !victim[0])
			return;
		log_info("cache over %lld MiB: evicting %s", (long long)(f->limit_bytes >> 20), victim);
		unlink(victim);
	}
}

static int *failures_of(fetch *f, const uint8_t hash[32])
{
	for (size_t i = 0; i < sizeof f->failures / sizeof f->failures[0]; i++)
		if (memcmp(f->failures[i].hash, hash, 32) == 0 || f->failures[i].failures == 0) {
			memcpy(f->failures[i].hash, hash, 32);
			return &f->failures[i].failures;
		}
	return &f->failures[0].failures;
}

bool fetch_active(const fetch *f)
{
	return f->t.active;
}

void fetch_pump(fetch *f)
{
	transfer *t = &f->t;

	while (session_welcomed(f->session) && t->active && t->inflight < FETCH_WINDOW &&
	       (t->total == 0 ? t->inflight == 0 : t->next < t->total)) {
		/* --fetch-mbps: ask for no more than the rate allows so far. */
		if (f->bytes_per_ms > 0) {
			int64_t elapsed = emc_now_ms() - t->started_ms;
			uint64_t allowed = (uint64_t)((double)(elapsed + 1) * f->bytes_per_ms);

			if (t->next - t->first > allowed)
				return;
		}
		if (session_send_data_request(f->session, t->hash, t->next, FETCH_CHUNK_BYTES) < 0)
			return;
		t->next += FETCH_CHUNK_BYTES;
		t->inflight++;
	}
}

void fetch_start(fetch *f, const uint8_t hash[32])
{
	transfer *t = &f->t;
	char hex[65];

	memset(t, 0, sizeof *t);
	memcpy(t->hash, hash, 32);
	cache_path(f, hash, "part", t->part, sizeof t->part);
	mkdir(f->dir, 0755);
	t->f = fopen(t->part, "ab");
	if (!t->f) {
		log_error("cannot write %s: %s", t->part, strerror(errno));
		return;
	}
	/* A partial file from an interrupted transfer: go on from its end. */
	fseek(t->f, 0, SEEK_END);
	t->offset = t->next = t->first = (uint64_t)ftell(t->f);
	t->active = true;
	t->started_ms = emc_now_ms();
	emc_hash_hex(hash, hex);
	log_info("fetching dataset %.16s… from the coordinator%s", hex, t->offset ? " (resuming)" : "");
	fetch_pump(f);
}

void fetch_resume(fetch *f)
{
	transfer *t = &f->t;

	if (!t->active)
		return;
	log_info("resuming the dataset transfer at byte %llu", (unsigned long long)t->offset);
	t->inflight = 0;
	t->next = t->offset;
	fetch_pump(f);
}

void fetch_abandon(fetch *f)
{
	if (!f->t.active)
		return;
	fclose(f->t.f); /* the partial file stays: the next start resumes it */
	f->t.f = NULL;
	f->t.active = false;
}

/* End the transfer and tell whoever waits. The state is idle before the
 * callback runs, so it may start the next transfer. */
static void end(fetch *f, bool remove_part, const char *error)
{
	uint8_t hash[32];

	memcpy(hash, f->t.hash, 32);
	if (f->t.f)
		fclose(f->t.f);
	f->t.f = NULL;
	if (remove_part)
		unlink(f->t.part);
	f->t.active = false;
	f->done(f->ctx, hash, error);
}

static void finish(fetch *f)
{
	transfer *t = &f->t;
	char path[EMC_PATH_MAX + 80];

	fclose(t->f);
	t->f = NULL;
	cache_evict(f, t->total);
	cache_path(f, t->hash, "emcd", path, sizeof path);
	if (rename(t->part, path) < 0) {
		log_error("cannot move %s into the cache: %s", t->part, strerror(errno));
		end(f, false, "cannot store it in the cache");
		return;
	}
	log_info("fetched %llu bytes in %.1f s", (unsigned long long)t->total,
		 (double)(emc_now_ms() - t->started_ms) / 1000.0);
	/* The slots verify the hash when they load it; a bad copy is removed
	 * and fetched again, at most FETCH_RETRIES times. */
	if (++*failures_of(f, t->hash) > FETCH_RETRIES) {
		unlink(path);
		end(f, false, "it failed verification repeatedly");
		return;
	}
	end(f, false, NULL);
}

void fetch_on_chunk(fetch *f, const session_chunk *c)
{
	transfer *t = &f->t;

	if (!t->active || !c->hash || memcmp(c->hash, t->hash, 32) != 0)
		return;
	if (c->error && *c->error) {
		log_error("the coordinator cannot send the dataset: %s", c->error);
		end(f, true, c->error);
		return;
	}
	if (t->inflight > 0)
		t->inflight--;
	/* Chunks arrive in order; one that does not continue the file is an
	 * answer to a request from before a reconnect: the new requests cover it. */
	if (c->offset != t->offset || c->total == 0 || c->total > FETCH_MAX_BYTES || c->offset + c->len > c->total) {
		fetch_pump(f);
		return;
	}
	t->total = c->total;
	if (c->len && fwrite(c->data, 1, c->len, t->f) != c->len) {
		log_error("cannot write %s: %s", t->part, strerror(errno));
		end(f, false, "cannot write the cache");
		return;
	}
	t->offset += c->len;
	if (t->offset == t->total) {
		finish(f);
		return;
	}
	fetch_pump(f);
}
