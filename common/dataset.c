/* dataset.c — decoding IDX files, naming datasets, and the nested subsets.
 *
 * IDX is the format of MNIST and Fashion-MNIST: a big-endian header (two
 * zero bytes, a data-type byte, a dimension count, then one 32-bit size
 * per dimension) followed by the raw values. We accept only what EMC
 * needs: images of unsigned bytes with three dimensions (n, rows, cols)
 * and labels of unsigned bytes with one (n). Every field of a header is
 * checked before it is trusted, and a file must hold exactly the bytes its
 * header promises: a short file, trailing bytes, and images and labels
 * that disagree on n are all errors that name the file and the byte offset
 * in the decompressed stream. zlib's gzread reads gzip and plain files
 * alike, so there is one path for both.
 *
 * A header can claim up to EMC_DATASET_MAX_SAMPLES samples of
 * EMC_DATASET_MAX_DIM pixels, far more than any real file holds, so the
 * raw bytes are read into a buffer that grows as data actually arrives: a
 * lying header costs what the file really contains, never what it claims.
 * Only once every byte is present is the float array allocated, touched
 * once and filled through a 256-entry table (x / 255).
 *
 * Subsets. emc_subset_order() returns one order of all samples; subset(m)
 * is its first m entries, so subsets are nested by construction. Within a
 * class the order is a seeded shuffle. Across classes the order is a
 * schedule that keeps every prefix stratified to quota: with c_k samples
 * of class k out of n, the prefix of length m holds floor(m c_k / n) or
 * ceil(m c_k / n) samples of class k, for every m and k at once. The j-th
 * sample of class k (1-based) is a unit job that may not run before slot
 * floor((j-1) n / c_k) + 1 (else the prefix exceeds its ceiling) and must
 * run by slot ceil(j n / c_k) (else the prefix falls under its floor).
 * These jobs satisfy Hall's condition on every window of slots, so a
 * schedule exists, and earliest-deadline-first finds one; ties between
 * equal deadlines are broken by a seeded random key. Two small heaps over
 * the classes make this O(n log K).
 *
 * Random labels depend on (seed, sample index) only, never on the subset,
 * so a sample keeps its random label as the subset grows.
 */
#include "dataset.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "rng.h"

/* A ubyte label is at most 255, so it always fits the class limit and
 * needs no run-time check. */
_Static_assert(EMC_DATASET_MAX_CLASSES >= 256, "ubyte labels must fit the class limit");

#define IDX_TYPE_UBYTE 0x08
#define IDX_IMAGES_DIMS 3
#define IDX_LABELS_DIMS 1
#define IDX_MAX_HEADER_BYTES (4 + 4 * IDX_IMAGES_DIMS)
/* First size of the raw buffer; it doubles up to what the header promises. */
#define RAW_INITIAL_BYTES ((size_t)16 << 20)
/* gzread takes an unsigned int length; stay well inside it. */
#define READ_CHUNK_BYTES ((size_t)1 << 30)
#define GZ_BUFFER_BYTES (1u << 18)

#define DATASETS_DIR_DEFAULT "/usr/share/datasets"
#define DATASETS_DIR_ENV "EMC_DATASETS_DIR"

/* Stream ids for emc_rng_seed(): one per use of a cell's seed here. */
#define STREAM_SUBSET 0x5375627365744f72ULL /* "SubsetOr" */
#define STREAM_LABELS 0x52616e644c61626cULL /* "RandLabl" */

/* ---- IDX files ---------------------------------------------------------- */

typedef struct idx_file {
	gzFile gz;
	const char *path;
	int64_t off; /* bytes consumed from the decompressed stream */
} idx_file;

static const char *idx_type_name(int t)
{
	switch (t) {
	case 0x08: return "unsigned byte";
	case 0x09: return "signed byte";
	case 0x0B: return "short";
	case 0x0C: return "int";
	case 0x0D: return "float";
	case 0x0E: return "double";
	default: return "unknown";
	}
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int idx_open(idx_file *f, const char *path, emc_err *err)
{
	int e;

	f->path = path;
	f->off = 0;
	errno = 0;
	f->gz = gzopen(path, "rb");
	if (!f->gz) {
		/* gzopen leaves errno 0 when it ran out of memory. */
		e = errno ? errno : ENOMEM;
		return emc_err_set(err, -e, "%s: cannot open: %s", path, strerror(e));
	}
	/* Larger than zlib's 8 KiB default: fewer read(2) calls on big files. */
	gzbuffer(f->gz, GZ_BUFFER_BYTES);
	return 0;
}

static void idx_close(idx_file *f)
{
	/* Reading: gzclose can only report what the reads already reported. */
	if (f->gz)
		gzclose(f->gz);
	f->gz = NULL;
}

/* Read up to len bytes; fewer only at end of file. *ret_got is the count. */
static int idx_read(idx_file *f, void *buf, size_t len, size_t *ret_got, emc_err *err)
{
	size_t got = 0;

	while (got < len) {
		size_t want = len - got < READ_CHUNK_BYTES ? len - got : READ_CHUNK_BYTES;
		int r = gzread(f->gz, (uint8_t *)buf + got, (unsigned)want);

		if (r < 0) {
			int zerr;
			const char *msg = gzerror(f->gz, &zerr);
			int64_t at = f->off + (int64_t)got;

			if (zerr == Z_ERRNO) {
				int e = errno ? errno : EIO;
				return emc_err_set(err, -e, "%s: read error after byte %lld: %s", f->path,
						   (long long)at, strerror(e));
			}
			/* zlib prefixes its message with the path; we name it once. */
			if (!msg)
				msg = "unknown error";
			else if (strncmp(msg, f->path, strlen(f->path)) == 0 &&
				 strncmp(msg + strlen(f->path), ": ", 2) == 0)
				msg += strlen(f->path) + 2;
			return emc_err_set(err, -EINVAL, "%s: corrupt gzip data after byte %lld: %s",
					   f->path, (long long)at, msg);
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	f->off += (int64_t)got;
	*ret_got = got;
	return 0;
}

/* Read and check the header of an IDX file of unsigned bytes with `ndims`
 * dimensions; `kind` ("images", "labels") names it in messages. */
static int idx_header(idx_file *f, const char *kind, int ndims, uint32_t *ret_dims, emc_err *err)
{
	uint8_t h[IDX_MAX_HEADER_BYTES];
	size_t len = 4 + 4 * (size_t)ndims, got;
	uint32_t want_magic = (uint32_t)IDX_TYPE_UBYTE << 8 | (uint32_t)ndims;
	int r;

	r = idx_read(f, h, len, &got, err);
	if (r < 0)
		return r;
	/* Judge whatever fields did arrive before calling the file short: a
	 * stranger's file is better described as "not IDX" than as truncated. */
	if (got >= 4) {
		uint32_t magic = be32(h);

		if (h[0] != 0 || h[1] != 0)
			return emc_err_set(err, -EINVAL,
					   "%s: byte 0: not an IDX file: magic 0x%08x, expected 0x%08x "
					   "(IDX %s of unsigned bytes)",
					   f->path, magic, want_magic, kind);
		if (h[2] != IDX_TYPE_UBYTE)
			return emc_err_set(err, -EINVAL,
					   "%s: byte 2: IDX data type 0x%02x (%s) is not supported: "
					   "expected 0x08 (unsigned byte)",
					   f->path, h[2], idx_type_name(h[2]));
		if (h[3] != ndims)
			return emc_err_set(err, -EINVAL,
					   "%s: byte 3: %d dimensions, but IDX %s have %d (magic 0x%08x, "
					   "expected 0x%08x)",
					   f->path, h[3], kind, ndims, magic, want_magic);
	}
	if (got < len)
		return emc_err_set(err, -EINVAL,
				   "%s: truncated at byte %lld of %zu: expected the %zu-byte IDX %s header",
				   f->path, (long long)f->off, len, len, kind);
	for (int i = 0; i < ndims; i++)
		ret_dims[i] = be32(h + 4 + 4 * i);
	return 0;
}

/* Read exactly len payload bytes and insist that the file ends there. On
 * success *ret_raw is a new buffer of len bytes the caller frees. */
static int idx_payload(idx_file *f, int64_t len, const char *what, uint8_t **ret_raw, emc_err *err)
{
	size_t cap = (size_t)len < RAW_INITIAL_BYTES ? (size_t)len : RAW_INITIAL_BYTES;
	int64_t start = f->off, total = f->off + len;
	uint8_t *raw = malloc(cap), extra;
	size_t got = 0, n;
	int r;

	if (!raw) {
		r = emc_err_set(err, -ENOMEM, "%s: out of memory for %s", f->path, what);
		goto fail;
	}
	while (got < (size_t)len) {
		if (got == cap) {
			size_t ncap = cap * 2 < (size_t)len ? cap * 2 : (size_t)len;
			uint8_t *p = realloc(raw, ncap);

			if (!p) {
				r = emc_err_set(err, -ENOMEM, "%s: out of memory for %s", f->path, what);
				goto fail;
			}
			raw = p;
			cap = ncap;
		}
		r = idx_read(f, raw + got, cap - got, &n, err);
		if (r < 0)
			goto fail;
		got += n;
		if (got < cap) {
			r = emc_err_set(err, -EINVAL,
					"%s: truncated at byte %lld of %lld: expected %lld bytes of %s "
					"after the %lld-byte header",
					f->path, (long long)f->off, (long long)total, (long long)len, what,
					(long long)start);
			goto fail;
		}
	}
	r = idx_read(f, &extra, 1, &n, err);
	if (r < 0)
		goto fail;
	if (n != 0) {
		r = emc_err_set(err, -EINVAL,
				"%s: trailing data at byte %lld: the header promises a file of %lld bytes",
				f->path, (long long)total, (long long)total);
		goto fail;
	}
	*ret_raw = raw;
	return 0;
fail:
	free(raw);
	return r;
}

static int load_idx(const char *images, const char *labels, emc_dataset **ret, emc_err *err)
{
	idx_file fi = { 0 }, fl = { 0 };
	uint32_t idims[IDX_IMAGES_DIMS], ldims[IDX_LABELS_DIMS];
	uint8_t *raw = NULL, *y = NULL, max_label = 0;
	emc_dataset *d = NULL;
	float lut[256];
	int64_t n, dim;
	char what[96];
	int r;

	r = idx_open(&fi, images, err);
	if (r < 0)
		goto fail;
	r = idx_header(&fi, "images", IDX_IMAGES_DIMS, idims, err);
	if (r < 0)
		goto fail;
	if (idims[0] < 1 || idims[0] > EMC_DATASET_MAX_SAMPLES) {
		r = emc_err_set(err, -EINVAL, "%s: byte 4: %u images; expected 1 to %d", images,
				idims[0], EMC_DATASET_MAX_SAMPLES);
		goto fail;
	}
	if (idims[1] < 1 || idims[2] < 1 || (uint64_t)idims[1] * idims[2] > EMC_DATASET_MAX_DIM) {
		r = emc_err_set(err, -EINVAL,
				"%s: byte 8: images of %u x %u pixels; expected 1 to %d pixels each",
				images, idims[1], idims[2], EMC_DATASET_MAX_DIM);
		goto fail;
	}
	n = idims[0];
	dim = (int64_t)idims[1] * idims[2];

	r = idx_open(&fl, labels, err);
	if (r < 0)
		goto fail;
	r = idx_header(&fl, "labels", IDX_LABELS_DIMS, ldims, err);
	if (r < 0)
		goto fail;
	if (ldims[0] != n) {
		r = emc_err_set(err, -EINVAL, "%s: byte 4: %u labels, but %s holds %lld images", labels,
				ldims[0], images, (long long)n);
		goto fail;
	}

	r = idx_payload(&fl, n, "labels", &y, err);
	if (r < 0)
		goto fail;
	idx_close(&fl);
	for (int64_t i = 0; i < n; i++)
		if (y[i] > max_label)
			max_label = y[i];

	snprintf(what, sizeof what, "pixel data (%lld images of %ux%u)", (long long)n, idims[1],
		 idims[2]);
	r = idx_payload(&fi, n * dim, what, &raw, err);
	if (r < 0)
		goto fail;
	idx_close(&fi);

	d = calloc(1, sizeof *d);
	if (d)
		d->x = malloc((size_t)(n * dim) * sizeof *d->x);
	if (!d || !d->x) {
		r = emc_err_set(err, -ENOMEM, "%s: out of memory for %lld images", images,
				(long long)n);
		goto fail;
	}
	for (int v = 0; v < 256; v++)
		lut[v] = (float)v / 255.0f;
	for (int64_t i = 0; i < n * dim; i++)
		d->x[i] = lut[raw[i]];
	free(raw);

	d->n = n;
	d->dim = dim;
	d->y = y;
	d->shape.channels = 1;
	d->shape.height = (int)idims[1];
	d->shape.width = (int)idims[2];
	/* One class is no classification problem; keep the model's output at
	 * two classes at least. */
	d->shape.classes = max_label + 1 < 2 ? 2 : max_label + 1;
	*ret = d;
	return 0;
fail:
	idx_close(&fi);
	idx_close(&fl);
	free(raw);
	free(y);
	emc_dataset_destroy(&d);
	return r;
}

int emc_dataset_load(const emc_dataset_ref *ref, emc_dataset **ret, emc_err *err)
{
	assert(ref && ret);
	if (!ref->format[0])
		return emc_err_set(err, -EINVAL, "dataset.format: not given; known formats: idx");
	if (strcmp(ref->format, "idx") != 0)
		return emc_err_set(err, -EINVAL, "dataset.format: unknown format '%s'; known formats: idx",
				   ref->format);
	if (!ref->images[0])
		return emc_err_set(err, -EINVAL, "dataset.images: no file given");
	if (!ref->labels[0])
		return emc_err_set(err, -EINVAL, "dataset.labels: no file given");
	return load_idx(ref->images, ref->labels, ret, err);
}

void emc_dataset_destroy(emc_dataset **p)
{
	if (!p || !*p)
		return;
	free((*p)->x);
	free((*p)->y);
	free(*p);
	*p = NULL;
}

/* ---- naming: aliases and paths ------------------------------------------ */

enum { SPLIT_TRAIN, SPLIT_TEST, SPLIT_COUNT };

typedef struct alias {
	const char *name;
	const char *dir;     /* under the datasets directory */
	const char *package; /* the Debian package that ships it */
	const char *files[SPLIT_COUNT][2]; /* images, labels */
} alias;

static const alias aliases[] = {
	{ "fashion-mnist",
	  "fashion-mnist",
	  "dataset-fashion-mnist",
	  { { "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz" },
	    { "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz" } } },
};

#define N_ALIASES (sizeof aliases / sizeof aliases[0])

static void alias_list(char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < N_ALIASES && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s (Debian package %s)",
					 i ? ", " : "", aliases[i].name, aliases[i].package);
}

/* 0 when path names an existing file that is not a directory. */
static int check_file(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	return 0;
}

static int resolve_alias(emc_dataset_ref *ref, const char *root, emc_err *err)
{
	const alias *a = NULL;
	char paths[2][EMC_PATH_MAX], list[256];
	int split, r;

	for (size_t i = 0; i < N_ALIASES; i++)
		if (strcmp(ref->name, aliases[i].name) == 0)
			a = &aliases[i];
	if (!a) {
		alias_list(list, sizeof list);
		return emc_err_set(err, -EINVAL, "dataset.name: unknown dataset '%s'; known: %s",
				   ref->name, list);
	}
	if (!ref->split[0] || strcmp(ref->split, "train") == 0)
		split = SPLIT_TRAIN;
	else if (strcmp(ref->split, "test") == 0)
		split = SPLIT_TEST;
	else
		return emc_err_set(err, -EINVAL,
				   "dataset.split: unknown split '%s' of %s; expected train or test",
				   ref->split, a->name);
	if (ref->format[0] && strcmp(ref->format, "idx") != 0)
		return emc_err_set(err, -EINVAL, "dataset.format: %s is IDX data, not '%s'", a->name,
				   ref->format);

	for (int i = 0; i < 2; i++) {
		int len = snprintf(paths[i], sizeof paths[i], "%s/%s/%s", root, a->dir,
				   a->files[split][i]);

		if (len < 0 || (size_t)len >= sizeof paths[i])
			return emc_err_set(err, -ENAMETOOLONG, "dataset %s: path under %s is too long",
					   a->name, root);
		r = check_file(paths[i]);
		if (r < 0)
			return emc_err_set(err, r, "dataset %s: %s: %s; install Debian package %s",
					   a->name, paths[i], strerror(-r), a->package);
	}
	strcpy(ref->format, "idx");
	strcpy(ref->split, split == SPLIT_TRAIN ? "train" : "test");
	strcpy(ref->images, paths[0]);
	strcpy(ref->labels, paths[1]);
	return 0;
}

/* Make ref's path field `key` absolute against base_dir and check that it
 * names a file. */
static int resolve_path(char *path, const char *key, const char *base_dir, emc_err *err)
{
	char cwd[EMC_PATH_MAX], out[EMC_PATH_MAX];
	int len, r;

	if (!path[0])
		return emc_err_set(err, -EINVAL, "dataset.%s: no file given", key);
	if (path[0] == '/') {
		len = snprintf(out, sizeof out, "%s", path);
	} else if (base_dir && base_dir[0] == '/') {
		len = snprintf(out, sizeof out, "%s/%s", base_dir, path);
	} else {
		if (!getcwd(cwd, sizeof cwd))
			return emc_err_set(err, -errno, "dataset.%s: %s: cannot find the current directory: %s",
					   key, path, strerror(errno));
		if (base_dir && base_dir[0])
			len = snprintf(out, sizeof out, "%s/%s/%s", cwd, base_dir, path);
		else
			len = snprintf(out, sizeof out, "%s/%s", cwd, path);
	}
	if (len < 0 || (size_t)len >= sizeof out)
		return emc_err_set(err, -ENAMETOOLONG, "dataset.%s: %s: path too long", key, path);
	r = check_file(out);
	if (r < 0)
		return emc_err_set(err, r, "dataset.%s: %s: %s", key, out, strerror(-r));
	strcpy(path, out);
	return 0;
}

int emc_dataset_resolve(emc_dataset_ref *ref, const char *base_dir, emc_err *err)
{
	const char *root = getenv(DATASETS_DIR_ENV);
	char list[256];
	int r;

	assert(ref);
	if (!root || !root[0])
		root = DATASETS_DIR_DEFAULT;
	/* An alias always (re)writes its paths, so resolving twice is harmless. */
	if (ref->name[0])
		return resolve_alias(ref, root, err);
	if (!ref->format[0]) {
		alias_list(list, sizeof list);
		return emc_err_set(err, -EINVAL,
				   "dataset.format: not given; known formats: idx (or give dataset.name, "
				   "one of: %s)",
				   list);
	}
	if (strcmp(ref->format, "idx") != 0)
		return emc_err_set(err, -EINVAL, "dataset.format: unknown format '%s'; known formats: idx",
				   ref->format);
	r = resolve_path(ref->images, "images", base_dir, err);
	if (r < 0)
		return r;
	return resolve_path(ref->labels, "labels", base_dir, err);
}

/* ---- nested stratified subsets ------------------------------------------ */

/* A class waiting in one of the two heaps: keyed by the release slot of its
 * next sample (waiting) or by its deadline and a random tie (ready). */
typedef struct slot_key {
	int64_t when;
	uint64_t tie;
	int cls;
} slot_key;

static bool key_less(const slot_key *a, const slot_key *b)
{
	if (a->when != b->when)
		return a->when < b->when;
	if (a->tie != b->tie)
		return a->tie < b->tie;
	return a->cls < b->cls;
}

static void heap_push(slot_key *h, int *len, slot_key k)
{
	int i = (*len)++;

	while (i > 0 && key_less(&k, &h[(i - 1) / 2])) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = k;
}

static slot_key heap_pop(slot_key *h, int *len)
{
	slot_key top = h[0], last = h[--(*len)];
	int i = 0;

	for (;;) {
		int c = 2 * i + 1;

		if (c >= *len)
			break;
		if (c + 1 < *len && key_less(&h[c + 1], &h[c]))
			c++;
		if (!key_less(&h[c], &last))
			break;
		h[i] = h[c];
		i = c;
	}
	if (*len > 0)
		h[i] = last;
	return top;
}

/* Slots are 1-based; j is the 1-based rank of a sample within its class of
 * c samples out of n. */
static int64_t release_slot(int64_t j, int64_t c, int64_t n)
{
	return (j - 1) * n / c + 1;
}

static int64_t deadline_slot(int64_t j, int64_t c, int64_t n)
{
	return (j * n + c - 1) / c;
}

int emc_subset_order(const uint8_t *y, int64_t n, int classes, uint64_t seed, int32_t *ret_order)
{
	int64_t count[EMC_DATASET_MAX_CLASSES] = { 0 }, start[EMC_DATASET_MAX_CLASSES];
	int64_t taken[EMC_DATASET_MAX_CLASSES] = { 0 }, fill[EMC_DATASET_MAX_CLASSES];
	slot_key wait[EMC_DATASET_MAX_CLASSES], ready[EMC_DATASET_MAX_CLASSES];
	int n_wait = 0, n_ready = 0;
	int32_t *members;
	emc_rng rng;

	if (n < 0 || n > INT32_MAX || classes < 1 || classes > EMC_DATASET_MAX_CLASSES)
		return -EINVAL;
	for (int64_t i = 0; i < n; i++) {
		if (y[i] >= classes)
			return -EINVAL;
		count[y[i]]++;
	}
	if (n == 0)
		return 0;
	members = malloc((size_t)n * sizeof *members);
	if (!members)
		return -ENOMEM;

	/* Members grouped by class in index order, then each class shuffled:
	 * the shuffle alone decides which samples of a class come first. */
	emc_rng_seed(&rng, seed, STREAM_SUBSET);
	for (int k = 0, s = 0; k < classes; k++) {
		start[k] = fill[k] = s;
		s += (int)count[k];
	}
	for (int64_t i = 0; i < n; i++)
		members[fill[y[i]]++] = (int32_t)i;
	for (int k = 0; k < classes; k++)
		emc_rng_shuffle_i32(&rng, members + start[k], count[k]);

	for (int k = 0; k < classes; k++)
		if (count[k] > 0)
			heap_push(wait, &n_wait, (slot_key){ release_slot(1, count[k], n), 0, k });
	for (int64_t m = 1; m <= n; m++) {
		slot_key top;
		int k;

		while (n_wait > 0 && wait[0].when <= m) {
			k = heap_pop(wait, &n_wait).cls;
			heap_push(ready, &n_ready,
				  (slot_key){ deadline_slot(taken[k] + 1, count[k], n), emc_rng_next(&rng), k });
		}
		/* Feasibility (see the top of the file) guarantees a ready class
		 * whose deadline has not passed. */
		assert(n_ready > 0);
		top = heap_pop(ready, &n_ready);
		assert(top.when >= m);
		k = top.cls;
		ret_order[m - 1] = members[start[k] + taken[k]];
		taken[k]++;
		if (taken[k] < count[k])
			heap_push(wait, &n_wait, (slot_key){ release_slot(taken[k] + 1, count[k], n), 0, k });
	}
	free(members);
	return 0;
}

/* ---- label variants ----------------------------------------------------- */

int emc_labels_variant(const uint8_t *y, int64_t n, int classes, emc_labels variant, uint64_t seed,
		       uint8_t *ret_y)
{
	emc_rng rng;
	uint64_t key;

	if (n < 0 || classes < 1 || classes > EMC_DATASET_MAX_CLASSES)
		return -EINVAL;
	switch (variant) {
	case EMC_LABELS_TRUE:
		if (n > 0)
			memcpy(ret_y, y, (size_t)n);
		return 0;
	case EMC_LABELS_RANDOM:
		/* One key per seed, then a generator per index seeded from
		 * (key, index): the label of a sample cannot depend on n. */
		emc_rng_seed(&rng, seed, STREAM_LABELS);
		key = emc_rng_next(&rng);
		for (int64_t i = 0; i < n; i++) {
			emc_rng_seed(&rng, key, (uint64_t)i);
			ret_y[i] = (uint8_t)emc_rng_below(&rng, (uint64_t)classes);
		}
		return 0;
	default:
		return -EINVAL;
	}
}
