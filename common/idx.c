/* idx.c — the IDX format of MNIST and Fashion-MNIST, read and checked.
 *
 * An IDX file is a big-endian header (two zero bytes, a data-type byte, a
 * dimension count, then one 32-bit size per dimension) followed by the raw
 * values. We accept only what EMC needs: images of unsigned bytes with
 * three dimensions (n, rows, cols) and labels of unsigned bytes with one
 * (n). Every field of a header is checked before it is trusted, and a file
 * must hold exactly the bytes its header promises: a short file, trailing
 * bytes, and images and labels that disagree on n are all errors that name
 * the file and the byte offset in the decompressed stream. zlib's gzread
 * reads gzip and plain files alike, so there is one path for both.
 *
 * A header can claim up to EMC_DATASET_MAX_SAMPLES samples of
 * EMC_DATASET_MAX_DIM pixels (DATASET_MAX_VALUES in all), far more than any
 * real file holds, so the raw bytes are read into a buffer that grows as
 * data actually arrives: a lying header costs what the file really contains, never what it claims.
 * Only once every byte is present is the float array allocated, touched
 * once and filled through a 256-entry table (x / 255). The result is raw
 * in the sense of dataset_priv.h: standardisation and the hash are
 * dataset.c's business.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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

int dataset_load_idx(const char *images, const char *labels, emc_dataset **ret, emc_err *err)
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
	/* Each count may be within its limit and their product not: a few MB
	 * of gzip can hold gigabytes of pixels, and each becomes a float. */
	if (n > DATASET_MAX_VALUES / dim) {
		r = emc_err_set(err, -EINVAL, "%s: byte 4: %lld images of %u x %u pixels; at most %lld values in all",
				images, (long long)n, idims[1], idims[2], (long long)DATASET_MAX_VALUES);
		goto fail;
	}

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
