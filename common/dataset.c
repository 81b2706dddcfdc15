/* dataset.c — naming datasets, decoding IDX, and what every format shares.
 *
 * A dataset reference (emc_dataset_ref) names data either by an alias —
 * the files of a Debian package — or by a format and its files.
 * emc_dataset_resolve() turns either into absolute paths and checks that
 * they exist, so a campaign with a missing file is refused before any
 * trial runs; emc_dataset_load() decodes, preprocesses and names the data.
 * The decoders of CIFAR batches, CSV tables and synthetic data live in
 * cifar.c, csvdata.c and synth.c; IDX lives here.
 *
 * Preprocessing is part of what a dataset *is*: images arrive in [0, 1]
 * and, when the reference asks, are standardised per channel with the
 * statistics of the whole training split (so a sample's values never
 * depend on the subset it is in, and a test split is standardised with
 * the training statistics, as it would be in deployment). Tabular
 * features are standardised by their loader. Then the content is hashed:
 * BLAKE2b-256 over a fixed little-endian encoding of n, the shape, the
 * float32 samples and the labels. The hash is the dataset's identity —
 * two files that decode alike are one dataset, whatever their names.
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
 */
#include "dataset.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <sodium.h>

#include "dataset_priv.h"

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
#define SKLEARN_DIR_DEFAULT "/usr/lib/python3/dist-packages/sklearn/datasets/data"
#define SKLEARN_DIR_ENV "EMC_SKLEARN_DATA_DIR"

#define FORMATS "idx, cifar10, cifar100, csv, synthetic"
/* Images have at most this many channels (IDX 1, CIFAR 3). */
#define MAX_CHANNELS 4

/* The hash's encoding starts with this tag; a new encoding gets a new tag. */
#define HASH_TAG "emc-dataset-v1"
#define HASH_CHUNK_VALUES 4096

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

/* ---- what every format shares ------------------------------------------ */

int dataset_new(int64_t n, int64_t dim, const char *what, emc_dataset **ret, emc_err *err)
{
	emc_dataset *d = calloc(1, sizeof *d);

	assert(n > 0 && dim > 0 && n <= DATASET_MAX_VALUES / dim);
	if (d) {
		d->x = malloc((size_t)(n * dim) * sizeof *d->x);
		d->y = malloc((size_t)n);
	}
	if (!d || !d->x || !d->y) {
		emc_dataset_destroy(&d);
		return emc_err_set(err, -ENOMEM, "%s: out of memory for %lld samples of %lld values",
				   what, (long long)n, (long long)dim);
	}
	d->n = n;
	d->dim = dim;
	*ret = d;
	return 0;
}

/* Mean and population standard deviation of v[0], v[stride], ... (count
 * values), two passes in double. A constant column reports sd 0 exactly:
 * comparing min and max, not the variance, which rounding can leave a
 * hair above zero (and dividing by that would blow the column up). */
static void column_stats(const double *v, int64_t count, int64_t stride, double *ret_mean,
			 double *ret_sd)
{
	double sum = 0, ss = 0, lo = v[0], hi = v[0], mean;

	for (int64_t i = 0; i < count; i++) {
		double x = v[i * stride];

		sum += x;
		lo = x < lo ? x : lo;
		hi = x > hi ? x : hi;
	}
	mean = sum / (double)count;
	for (int64_t i = 0; i < count; i++)
		ss += (v[i * stride] - mean) * (v[i * stride] - mean);
	*ret_mean = mean;
	*ret_sd = lo == hi ? 0.0 : sqrt(ss / (double)count);
}

void dataset_standardize_columns(double *v, int64_t n, int64_t d)
{
	for (int64_t j = 0; j < d; j++) {
		double mean, sd;

		column_stats(v + j, n, d, &mean, &sd);
		for (int64_t i = 0; i < n; i++)
			v[i * d + j] = sd > 0 ? (v[i * d + j] - mean) / sd : 0.0;
	}
}

/* Per-channel mean and standard deviation of an image dataset. */
static void channel_stats(const emc_dataset *d, double *mean, double *sd)
{
	int64_t plane = d->dim / d->shape.channels;

	for (int c = 0; c < d->shape.channels; c++) {
		double sum = 0, ss = 0, m;
		float lo = d->x[c * plane], hi = lo;

		for (int64_t i = 0; i < d->n; i++) {
			const float *p = d->x + i * d->dim + c * plane;

			for (int64_t j = 0; j < plane; j++) {
				sum += p[j];
				lo = p[j] < lo ? p[j] : lo;
				hi = p[j] > hi ? p[j] : hi;
			}
		}
		m = sum / ((double)d->n * (double)plane);
		for (int64_t i = 0; i < d->n; i++) {
			const float *p = d->x + i * d->dim + c * plane;

			for (int64_t j = 0; j < plane; j++)
				ss += (p[j] - m) * (p[j] - m);
		}
		mean[c] = m;
		sd[c] = lo == hi ? 0.0 : sqrt(ss / ((double)d->n * (double)plane));
	}
}

static void standardize_channels(emc_dataset *d, const double *mean, const double *sd)
{
	int64_t plane = d->dim / d->shape.channels;

	for (int64_t i = 0; i < d->n; i++)
		for (int c = 0; c < d->shape.channels; c++) {
			float *p = d->x + i * d->dim + c * plane;

			for (int64_t j = 0; j < plane; j++)
				p[j] = sd[c] > 0 ? (float)((p[j] - mean[c]) / sd[c]) : 0.0f;
		}
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The canonical encoding of a decoded dataset, which is both what its hash
 * is computed over and what is sent to workers: the tag, n (int64),
 * channels, height, width, classes (int32 each), every float32 of x, then
 * every label byte, all little-endian. -0.0 is written as +0.0 so that the
 * same numbers hash alike. */
#define ENCODING_HEAD (sizeof HASH_TAG - 1 + 8 + 4 * 4)

static void encode_head(const emc_dataset *d, uint8_t head[ENCODING_HEAD])
{
	size_t at = sizeof HASH_TAG - 1;

	memcpy(head, HASH_TAG, at);
	put_le(head + at, (uint64_t)d->n, 8);
	put_le(head + at + 8, (uint32_t)d->shape.channels, 4);
	put_le(head + at + 12, (uint32_t)d->shape.height, 4);
	put_le(head + at + 16, (uint32_t)d->shape.width, 4);
	put_le(head + at + 20, (uint32_t)d->shape.classes, 4);
}

static void encode_floats(const float *x, int64_t m, uint8_t *out)
{
	for (int64_t j = 0; j < m; j++) {
		float f = x[j] == 0.0f ? 0.0f : x[j];
		uint32_t bits;

		memcpy(&bits, &f, sizeof bits);
		put_le(out + 4 * j, bits, 4);
	}
}

static int dataset_hash(emc_dataset *d, emc_err *err)
{
	crypto_generichash_state st;
	uint8_t head[ENCODING_HEAD], buf[HASH_CHUNK_VALUES * 4];
	int64_t total = d->n * d->dim;

	if (sodium_init() < 0)
		return emc_err_set(err, -EIO, "dataset: cannot initialise libsodium for hashing");
	encode_head(d, head);
	crypto_generichash_init(&st, NULL, 0, sizeof d->hash);
	crypto_generichash_update(&st, head, sizeof head);
	for (int64_t i = 0; i < total; i += HASH_CHUNK_VALUES) {
		int64_t m = total - i < HASH_CHUNK_VALUES ? total - i : HASH_CHUNK_VALUES;

		encode_floats(d->x + i, m, buf);
		crypto_generichash_update(&st, buf, (unsigned long long)(4 * m));
	}
	crypto_generichash_update(&st, d->y, (unsigned long long)d->n);
	crypto_generichash_final(&st, d->hash, sizeof d->hash);
	return 0;
}

/* The encoding is exactly the byte stream dataset_hash() feeds BLAKE2b, so
 * a receiver checks a transfer by hashing what arrived. */
int emc_dataset_encode(const emc_dataset *ds, uint8_t **ret_buf, size_t *ret_len, emc_err *err)
{
	size_t len = ENCODING_HEAD + (size_t)ds->n * (size_t)ds->dim * 4 + (size_t)ds->n;
	uint8_t *buf = malloc(len);

	if (!buf)
		return emc_err_set(err, -ENOMEM, "dataset: out of memory encoding %zu bytes", len);
	encode_head(ds, buf);
	encode_floats(ds->x, ds->n * ds->dim, buf + ENCODING_HEAD);
	memcpy(buf + ENCODING_HEAD + (size_t)ds->n * (size_t)ds->dim * 4, ds->y, (size_t)ds->n);
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

int emc_dataset_decode(const uint8_t *buf, size_t len, const uint8_t expect_hash[32], const char *origin,
		       emc_dataset **ret, emc_err *err)
{
	size_t head = ENCODING_HEAD;
	uint8_t hash[32];
	emc_dataset *d;
	uint64_t n;
	int64_t c, h, w, k, dim;

	if (sodium_init() < 0)
		return emc_err_set(err, -EIO, "dataset: cannot initialise libsodium for hashing");
	crypto_generichash(hash, sizeof hash, buf, len, NULL, 0);
	if (expect_hash && sodium_memcmp(hash, expect_hash, sizeof hash) != 0)
		return emc_err_set(err, -EBADMSG, "%s: content hash mismatch (%zu bytes): corrupt or wrong data",
				   origin, len);
	if (len < head || memcmp(buf, HASH_TAG, sizeof HASH_TAG - 1) != 0)
		return emc_err_set(err, -EINVAL, "%s: not an emc dataset encoding (bad header at byte 0)", origin);
	n = get_le(buf + sizeof HASH_TAG - 1, 8);
	c = (int64_t)get_le(buf + sizeof HASH_TAG - 1 + 8, 4);
	h = (int64_t)get_le(buf + sizeof HASH_TAG - 1 + 12, 4);
	w = (int64_t)get_le(buf + sizeof HASH_TAG - 1 + 16, 4);
	k = (int64_t)get_le(buf + sizeof HASH_TAG - 1 + 20, 4);
	dim = c * h * w;
	if (n < 1 || n > EMC_DATASET_MAX_SAMPLES || c < 1 || h < 1 || w < 1 || dim > EMC_DATASET_MAX_DIM || k < 2 ||
	    k > EMC_DATASET_MAX_CLASSES)
		return emc_err_set(err, -EINVAL, "%s: impossible sizes in the header (byte %zu)", origin,
				   sizeof HASH_TAG - 1);
	if (len != head + (size_t)n * (size_t)dim * 4 + (size_t)n)
		return emc_err_set(err, -EINVAL, "%s: %zu bytes, expected %zu for %llu samples of %lld values",
				   origin, len, head + (size_t)n * (size_t)dim * 4 + (size_t)n, (unsigned long long)n,
				   (long long)dim);
	d = calloc(1, sizeof *d);
	if (!d)
		return emc_err_set(err, -ENOMEM, "dataset: out of memory");
	d->n = (int64_t)n;
	d->dim = dim;
	d->shape = (emc_input_shape){ .channels = (int)c, .height = (int)h, .width = (int)w, .classes = (int)k };
	d->x = malloc((size_t)n * (size_t)dim * sizeof *d->x);
	d->y = malloc((size_t)n);
	if (!d->x || !d->y) {
		emc_dataset_destroy(&d);
		return emc_err_set(err, -ENOMEM, "dataset: out of memory for %llu samples", (unsigned long long)n);
	}
	for (int64_t i = 0; i < (int64_t)n * dim; i++) {
		uint32_t bits = (uint32_t)get_le(buf + head + 4 * (size_t)i, 4);

		memcpy(&d->x[i], &bits, sizeof bits);
	}
	memcpy(d->y, buf + head + (size_t)n * (size_t)dim * 4, (size_t)n);
	for (uint64_t i = 0; i < n; i++)
		if (d->y[i] >= k) {
			emc_dataset_destroy(&d);
			return emc_err_set(err, -EINVAL, "%s: label %u >= %lld classes at byte %zu", origin,
					   buf[head + (size_t)n * (size_t)dim * 4 + i], (long long)k,
					   head + (size_t)n * (size_t)dim * 4 + (size_t)i);
		}
	memcpy(d->hash, hash, sizeof hash);
	*ret = d;
	return 0;
}

void emc_hash_hex(const uint8_t hash[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = hex[hash[i] >> 4];
		out[2 * i + 1] = hex[hash[i] & 15];
	}
	out[64] = '\0';
}

void emc_dataset_hash_hex(const emc_dataset *ds, char out[65])
{
	emc_hash_hex(ds->hash, out);
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

enum alias_kind { ALIAS_IDX, ALIAS_SKLEARN };

typedef struct alias {
	const char *name;
	enum alias_kind kind;
	const char *package;  /* the Debian package that ships it */
	const char *root;     /* where the package puts it ... */
	const char *root_env; /* ... unless this environment variable says otherwise */
	const char *dir;      /* under root */
	const char *files[SPLIT_COUNT][2]; /* idx: images, labels; sklearn: the table (train only) */
	/* sklearn: whether the first row is scikit-learn's "n,d,names" header;
	 * without one, the number of features and classes */
	bool header;
	int features, classes;
} alias;

static const alias aliases[] = {
	{ "fashion-mnist", ALIAS_IDX, "dataset-fashion-mnist", DATASETS_DIR_DEFAULT, DATASETS_DIR_ENV,
	  "fashion-mnist",
	  { { "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz" },
	    { "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz" } },
	  false, 0, 0 },
	{ "iris", ALIAS_SKLEARN, "python3-sklearn", SKLEARN_DIR_DEFAULT, SKLEARN_DIR_ENV, "",
	  { { "iris.csv", NULL }, { NULL, NULL } }, true, 0, 0 },
	{ "wine", ALIAS_SKLEARN, "python3-sklearn", SKLEARN_DIR_DEFAULT, SKLEARN_DIR_ENV, "",
	  { { "wine_data.csv", NULL }, { NULL, NULL } }, true, 0, 0 },
	{ "breast-cancer", ALIAS_SKLEARN, "python3-sklearn", SKLEARN_DIR_DEFAULT, SKLEARN_DIR_ENV, "",
	  { { "breast_cancer.csv", NULL }, { NULL, NULL } }, true, 0, 0 },
	{ "digits", ALIAS_SKLEARN, "python3-sklearn", SKLEARN_DIR_DEFAULT, SKLEARN_DIR_ENV, "",
	  { { "digits.csv.gz", NULL }, { NULL, NULL } }, false, 64, 10 },
};

#define N_ALIASES (sizeof aliases / sizeof aliases[0])

static const alias *alias_find(const char *name)
{
	for (size_t i = 0; i < N_ALIASES; i++)
		if (strcmp(name, aliases[i].name) == 0)
			return &aliases[i];
	return NULL;
}

static void alias_list(char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < N_ALIASES && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s (Debian package %s)",
					 i ? ", " : "", aliases[i].name, aliases[i].package);
}

/* 0 when path names an existing file (want_dir: directory). */
static int check_path(const char *path, bool want_dir)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (!want_dir && S_ISDIR(st.st_mode))
		return -EISDIR;
	if (want_dir && !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return 0;
}

/* The split a reference asks for; "" is train. */
static int split_of(const emc_dataset_ref *ref, const char *what, emc_err *err)
{
	if (!ref->split[0] || strcmp(ref->split, "train") == 0)
		return SPLIT_TRAIN;
	if (strcmp(ref->split, "test") == 0)
		return SPLIT_TEST;
	return emc_err_set(err, -EINVAL, "dataset.split: unknown split '%s' of %s; expected train or test",
			   ref->split, what);
}

static int resolve_alias(emc_dataset_ref *ref, emc_err *err)
{
	const alias *a = alias_find(ref->name);
	const char *root, *want_format;
	char paths[2][EMC_PATH_MAX], list[512];
	int split, r;

	if (!a) {
		alias_list(list, sizeof list);
		return emc_err_set(err, -EINVAL, "dataset.name: unknown dataset '%s'; known: %s",
				   ref->name, list);
	}
	split = split_of(ref, a->name, err);
	if (split < 0)
		return split;
	if (!a->files[split][0])
		return emc_err_set(err, -EINVAL, "dataset.split: %s has no %s split; it is one table",
				   a->name, ref->split);
	want_format = a->kind == ALIAS_IDX ? "idx" : "csv";
	if (ref->format[0] && strcmp(ref->format, want_format) != 0)
		return emc_err_set(err, -EINVAL, "dataset.format: %s is %s data, not '%s'", a->name,
				   a->kind == ALIAS_IDX ? "IDX" : "CSV", ref->format);
	root = getenv(a->root_env);
	if (!root || !root[0])
		root = a->root;

	for (int i = 0; i < 2 && a->files[split][i]; i++) {
		int len = snprintf(paths[i], sizeof paths[i], "%s%s%s/%s", root, a->dir[0] ? "/" : "",
				   a->dir, a->files[split][i]);

		if (len < 0 || (size_t)len >= sizeof paths[i])
			return emc_err_set(err, -ENAMETOOLONG, "dataset %s: path under %s is too long",
					   a->name, root);
		r = check_path(paths[i], false);
		if (r < 0)
			return emc_err_set(err, r, "dataset %s: %s: %s; install Debian package %s",
					   a->name, paths[i], strerror(-r), a->package);
	}
	strcpy(ref->format, want_format);
	strcpy(ref->split, split == SPLIT_TRAIN ? "train" : "test");
	if (a->kind == ALIAS_IDX) {
		strcpy(ref->images, paths[0]);
		strcpy(ref->labels, paths[1]);
	} else {
		strcpy(ref->path, paths[0]);
	}
	return 0;
}

/* Make the path field `key` absolute against base_dir and check that it
 * names a file (want_dir: a directory). */
static int resolve_path(char *path, const char *key, const char *base_dir, bool want_dir,
			emc_err *err)
{
	char cwd[EMC_PATH_MAX], out[EMC_PATH_MAX];
	int len, r;

	if (!path[0])
		return emc_err_set(err, -EINVAL, "dataset.%s: no %s given", key,
				   want_dir ? "directory" : "file");
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
	r = check_path(out, want_dir);
	if (r < 0)
		return emc_err_set(err, r, "dataset.%s: %s: %s", key, out, strerror(-r));
	strcpy(path, out);
	return 0;
}

/* Formats that are one table or one draw have no test split. */
static int no_test_split(const emc_dataset_ref *ref, emc_err *err)
{
	int split = split_of(ref, ref->format, err);

	if (split == SPLIT_TEST)
		return emc_err_set(err, -EINVAL, "dataset.split: a %s dataset has no test split",
				   ref->format);
	return split < 0 ? split : 0;
}

int emc_dataset_resolve(emc_dataset_ref *ref, const char *base_dir, emc_err *err)
{
	char list[512];
	int r;

	assert(ref);
	/* An alias always (re)writes its paths, so resolving twice is harmless. */
	if (ref->name[0])
		return resolve_alias(ref, err);
	if (!ref->format[0]) {
		alias_list(list, sizeof list);
		return emc_err_set(err, -EINVAL,
				   "dataset.format: not given; known formats: " FORMATS
				   " (or give dataset.name, one of: %s)",
				   list);
	}
	if (strcmp(ref->format, "idx") == 0) {
		r = resolve_path(ref->images, "images", base_dir, false, err);
		if (r < 0)
			return r;
		return resolve_path(ref->labels, "labels", base_dir, false, err);
	}
	if (strcmp(ref->format, "cifar10") == 0 || strcmp(ref->format, "cifar100") == 0) {
		r = resolve_path(ref->path, "path", base_dir, true, err);
		if (r < 0)
			return r;
		return dataset_check_cifar(ref, err);
	}
	if (strcmp(ref->format, "csv") == 0) {
		r = no_test_split(ref, err);
		if (r < 0)
			return r;
		if (!ref->label_column[0])
			return emc_err_set(err, -EINVAL,
					   "dataset.label: not given; a csv dataset names its label column");
		return resolve_path(ref->path, "path", base_dir, false, err);
	}
	if (strcmp(ref->format, "synthetic") == 0) {
		r = no_test_split(ref, err);
		if (r < 0)
			return r;
		return dataset_check_synthetic(ref, err);
	}
	return emc_err_set(err, -EINVAL, "dataset.format: unknown format '%s'; known formats: " FORMATS,
			   ref->format);
}

/* ---- loading ------------------------------------------------------------ */

/* Decode ref into raw form: images in [0, 1], tabular standardised. */
static int decode(const emc_dataset_ref *ref, emc_dataset **ret, emc_err *err)
{
	const alias *a = ref->name[0] ? alias_find(ref->name) : NULL;

	if (a && a->kind == ALIAS_SKLEARN) {
		if (!ref->path[0])
			return emc_err_set(err, -EINVAL, "dataset %s: not resolved: no file given", a->name);
		return dataset_load_sklearn(ref->path, a->header, a->features, a->classes, ret, err);
	}
	if (!ref->format[0])
		return emc_err_set(err, -EINVAL, "dataset.format: not given; known formats: " FORMATS);
	if (strcmp(ref->format, "idx") == 0) {
		if (!ref->images[0])
			return emc_err_set(err, -EINVAL, "dataset.images: no file given");
		if (!ref->labels[0])
			return emc_err_set(err, -EINVAL, "dataset.labels: no file given");
		return load_idx(ref->images, ref->labels, ret, err);
	}
	if (strcmp(ref->format, "cifar10") == 0 || strcmp(ref->format, "cifar100") == 0)
		return dataset_load_cifar(ref, ret, err);
	if (strcmp(ref->format, "csv") == 0)
		return dataset_load_csv(ref, ret, err);
	if (strcmp(ref->format, "synthetic") == 0)
		return dataset_load_synthetic(ref, ret, err);
	return emc_err_set(err, -EINVAL, "dataset.format: unknown format '%s'; known formats: " FORMATS,
			   ref->format);
}

static bool is_images(const emc_dataset_ref *ref)
{
	const alias *a = ref->name[0] ? alias_find(ref->name) : NULL;

	if (a)
		return a->kind == ALIAS_IDX;
	return strcmp(ref->format, "idx") == 0 || strcmp(ref->format, "cifar10") == 0 ||
	       strcmp(ref->format, "cifar100") == 0;
}

/* Standardise the images of d (decoded from ref) per channel, with the
 * statistics of the training split: d's own, unless ref is the test split
 * of an alias or a CIFAR directory, whose training split is then decoded
 * for its statistics. */
static int standardize(const emc_dataset_ref *ref, emc_dataset *d, emc_err *err)
{
	double mean[MAX_CHANNELS], sd[MAX_CHANNELS];
	bool test = strcmp(ref->split, "test") == 0;
	emc_dataset_ref tr;
	emc_dataset *t = NULL;
	int r;

	assert(d->shape.channels >= 1 && d->shape.channels <= MAX_CHANNELS);
	if (!test || (!ref->name[0] && strncmp(ref->format, "cifar", 5) != 0)) {
		channel_stats(d, mean, sd);
		standardize_channels(d, mean, sd);
		return 0;
	}
	tr = *ref;
	strcpy(tr.split, "train");
	r = ref->name[0] ? emc_dataset_resolve(&tr, NULL, err) : 0;
	if (r == 0)
		r = decode(&tr, &t, err);
	if (r < 0)
		return r;
	if (t->shape.channels != d->shape.channels || t->dim != d->dim) {
		emc_dataset_destroy(&t);
		return emc_err_set(err, -EINVAL,
				   "dataset: the training split's samples (%d channels, %lld values) differ "
				   "from the test split's (%d, %lld): cannot standardise with its statistics",
				   t->shape.channels, (long long)t->dim, d->shape.channels, (long long)d->dim);
	}
	channel_stats(t, mean, sd);
	emc_dataset_destroy(&t);
	standardize_channels(d, mean, sd);
	return 0;
}

int emc_dataset_load(const emc_dataset_ref *ref, emc_dataset **ret, emc_err *err)
{
	emc_dataset *d = NULL;
	int r;

	assert(ref && ret);
	r = decode(ref, &d, err);
	if (r < 0)
		return r;
	if (ref->standardize && is_images(ref)) {
		r = standardize(ref, d, err);
		if (r < 0)
			goto fail;
	}
	r = dataset_hash(d, err);
	if (r < 0)
		goto fail;
	*ret = d;
	return 0;
fail:
	emc_dataset_destroy(&d);
	return r;
}
