/* fuzz_dataset.c — a libFuzzer target for the dataset readers: IDX,
 * CIFAR-10 and CIFAR-100 binary batches, CSV tables (general and the
 * scikit-learn layouts) and the canonical encoding workers cache.
 *
 * One target for all of them, the first byte choosing the format, rather
 * than one per format: the formats share the code after decoding
 * (standardisation, the hash, the encoding), the fuzzing time the test
 * command can spend is fixed, and in one process libFuzzer spends it
 * where coverage still grows instead of in equal slices; one corpus also
 * lets a mutation carry a finding from one format to another (a CSV cell
 * inside an IDX payload costs nothing). A crash still names its format:
 * it is the input's first byte.
 *
 * The readers take paths, so each input is written to files in a private
 * temporary directory (rewritten for every input) and loaded exactly as
 * a campaign would load it: emc_dataset_resolve(), then
 * emc_dataset_load(), with the limits the loaders really enforce. The
 * scikit-learn layouts are loaded through their aliases (iris: a header
 * row; digits: 64 features, 10 classes) with the path set directly, since
 * resolving an alias points at the system's files.
 *
 * An input is
 *
 *     mode (1 byte) | payload
 *
 *     mode bits 0-2  format: 0 idx, 1 cifar10, 2 cifar100, 3 csv,
 *                    4 iris layout, 5 digits layout, 6 encoding, 7 idx
 *          bit  3    standardize
 *          bits 4-5  cifar: bit 4 the test split; bit 5 cifar100: the
 *                    coarse labels, cifar10: `label: fine` (refused).
 *                    csv: the categorical columns, "", "c", "c,d" or
 *                    "label" (the label column itself: refused)
 *          bit  6    gzip every file before writing it
 *          bit  7    unused
 *
 * For idx and cifar the payload is cut into files, each a frame
 * `length (2 bytes, little endian) | bytes`; a length past the end takes
 * what is left, and files the input does not reach are not created. In
 * order: idx images, labels; cifar10 test_batch.bin, data_batch_1.bin ...
 * data_batch_5.bin; cifar100 train.bin, test.bin. For csv, the layouts
 * and the encoding, the payload is the file. The label column of csv is
 * "label".
 *
 * Checked after every input (a failure aborts, which libFuzzer reports):
 * a refusal is a negative errno with a NUL-terminated message and no
 * dataset; a dataset that loads has 1 to EMC_DATASET_MAX_SAMPLES samples
 * of dim = channels x height x width values (at most DATASET_MAX_VALUES
 * in all), the shape its format promises, 2 to 256 classes with every
 * label below the class count, only finite values (in [0, 1] for images
 * not standardised), and an encoding that decodes back to the same
 * dataset under the same hash. A decoded encoding must re-encode to the
 * bytes it came from (up to the sign of zeros, which the encoding drops).
 * The sanitizers catch the rest; libFuzzer's -rss_limit_mb catches a
 * lying header that makes a reader allocate what the file does not hold.
 *
 * Without -DEMC_FUZZ_LIBFUZZER this file has its own main()
 * (fuzz_replay.h), which replays the corpus in fuzz-corpus-dataset/, and
 * with --write-seeds DIR writes that corpus.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "dataset.h"
#include "dataset_priv.h" /* DATASET_MAX_VALUES */

enum { F_IDX, F_CIFAR10, F_CIFAR100, F_CSV, F_IRIS, F_DIGITS, F_ENCODING, F_IDX2 };

#define MODE_FORMAT_MASK 0x07u
#define MODE_STANDARDIZE 0x08u
#define MODE_OPT_SHIFT	 4
#define MODE_OPT_MASK	 0x03u
#define MODE_GZIP	 0x40u

#define FRAME_HEADER_BYTES 2
#define CIFAR_FILES_MAX	   6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The private directory, its cifar/ subdirectory, and every file an input
 * can create (removed before the next input). */
static char dir[64];
static const char *const file_names[] = {
    "images",		     "labels",		      "table.csv",	     "cifar/test_batch.bin",
    "cifar/data_batch_1.bin", "cifar/data_batch_2.bin", "cifar/data_batch_3.bin", "cifar/data_batch_4.bin",
    "cifar/data_batch_5.bin", "cifar/train.bin",	      "cifar/test.bin",
};
#define N_FILE_NAMES (sizeof file_names / sizeof file_names[0])

static const char *const cifar10_files[] = {"cifar/test_batch.bin",   "cifar/data_batch_1.bin",
					    "cifar/data_batch_2.bin", "cifar/data_batch_3.bin",
					    "cifar/data_batch_4.bin", "cifar/data_batch_5.bin"};
static const char *const cifar100_files[] = {"cifar/train.bin", "cifar/test.bin"};
static const char *const idx_files[] = {"images", "labels"};
static const char *const categoricals[] = {"", "c", "c,d", "label"};

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_dataset: %s: %s\n", what, why ? why : "");
	abort();
}

static void check(bool ok, const char *what)
{
	if (!ok)
		die("invariant broken", what);
}

static void cleanup(void)
{
	char p[128];

	for (size_t i = 0; i < N_FILE_NAMES; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, file_names[i]);
		unlink(p);
	}
	snprintf(p, sizeof p, "%s/cifar", dir);
	rmdir(p);
	rmdir(dir);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char p[128];

	if (dir[0])
		return;
	snprintf(dir, sizeof dir, "%s/emc-fuzz-XXXXXX", tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(dir))
		die("mkdtemp", strerror(errno));
	snprintf(p, sizeof p, "%s/cifar", dir);
	if (mkdir(p, 0700) < 0)
		die("mkdir", strerror(errno));
	atexit(cleanup);
}

/* Write len bytes to the file `name` of the private directory, through
 * gzip when asked. */
static void put_file(const char *name, const uint8_t *buf, size_t len, bool gz)
{
	char p[128];

	snprintf(p, sizeof p, "%s/%s", dir, name);
	if (gz) {
		gzFile g = gzopen(p, "wb1");

		if (!g || (len && gzwrite(g, buf, (unsigned)len) != (int)len) || gzclose(g) != Z_OK)
			die(p, "cannot write gzip");
		return;
	}
	FILE *f = fopen(p, "wb");

	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		die(p, strerror(errno));
}

/* Cut the payload into frames, one per file of names[0..n). */
static void put_frames(const uint8_t *p, size_t len, const char *const *names, int n, bool gz)
{
	for (int i = 0; i < n && len >= FRAME_HEADER_BYTES; i++) {
		size_t flen = (size_t)p[0] | (size_t)p[1] << 8;

		p += FRAME_HEADER_BYTES;
		len -= FRAME_HEADER_BYTES;
		if (flen > len)
			flen = len;
		put_file(names[i], p, flen, gz);
		p += flen;
		len -= flen;
	}
}

/* ---- what a loaded dataset must be -------------------------------------- */

/* Tabular features are standardised per column (docs/data.md): mean 0 and
 * standard deviation 1, or all 0 for a constant column. */
static void check_columns(const emc_dataset *d)
{
	for (int64_t j = 0; j < d->dim; j++) {
		double sum = 0, ss = 0, mean;
		bool zero = true;

		for (int64_t i = 0; i < d->n; i++) {
			sum += d->x[i * d->dim + j];
			zero = zero && d->x[i * d->dim + j] == 0.0f;
		}
		if (zero)
			continue;
		mean = sum / (double)d->n;
		for (int64_t i = 0; i < d->n; i++)
			ss += (d->x[i * d->dim + j] - mean) * (d->x[i * d->dim + j] - mean);
		check(fabs(mean) < 1e-3 && fabs(sqrt(ss / (double)d->n) - 1.0) < 1e-3,
		      "a tabular column that is not standardised");
	}
}

static void check_dataset(const emc_dataset *d, int format, bool standardized)
{
	const emc_input_shape *s = &d->shape;

	check(d->n >= 1 && d->n <= EMC_DATASET_MAX_SAMPLES, "sample count out of range");
	check(s->channels >= 1 && s->height >= 1 && s->width >= 1, "a shape with a zero side");
	check(d->dim == (int64_t)s->channels * s->height * s->width, "dim is not channels x height x width");
	check(d->dim >= 1 && d->dim <= EMC_DATASET_MAX_DIM && d->n <= DATASET_MAX_VALUES / d->dim,
	      "more values than the loaders accept");
	check(s->classes >= 2 && s->classes <= EMC_DATASET_MAX_CLASSES, "class count out of range");
	check(d->x && d->y, "a dataset without its arrays");
	switch (format) {
	case F_IDX:
	case F_IDX2:
		check(s->channels == 1, "IDX images with more than one channel");
		break;
	case F_CIFAR10:
	case F_CIFAR100:
		check(s->channels == 3 && s->height == 32 && s->width == 32, "CIFAR images not 3 x 32 x 32");
		check(s->classes == 10 || s->classes == 20 || s->classes == 100, "CIFAR class count");
		break;
	case F_CSV:
	case F_IRIS:
	case F_DIGITS:
		check(s->channels == 1 && s->height == 1, "a table whose rows are not flat");
		break;
	default:
		break;
	}
	for (int64_t i = 0; i < d->n; i++)
		check(d->y[i] < s->classes, "a label not below the class count");
	for (int64_t i = 0; i < d->n * d->dim; i++) {
		check(isfinite(d->x[i]), "a value that is not finite");
		if (format <= F_CIFAR100 || format == F_IDX2)
			check(standardized || (d->x[i] >= 0.0f && d->x[i] <= 1.0f), "a pixel outside [0, 1]");
	}
	if (format == F_CSV || format == F_IRIS || format == F_DIGITS)
		check_columns(d);
}

/* The encoding decodes back to the same dataset, under the same hash. */
static void check_encoding(const emc_dataset *d)
{
	emc_dataset *back = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	emc_err err;

	check(emc_dataset_encode(d, &buf, &len, &err) == 0, "a loaded dataset does not encode");
	check(emc_dataset_decode(buf, len, d->hash, "encoding", &back, &err) == 0,
	      "an encoding does not decode under its own hash");
	check(back->n == d->n && back->dim == d->dim && memcmp(&back->shape, &d->shape, sizeof d->shape) == 0,
	      "the decoded encoding has another shape");
	check(memcmp(back->y, d->y, (size_t)d->n) == 0, "the decoded encoding has other labels");
	for (int64_t i = 0; i < d->n * d->dim; i++)
		check(back->x[i] == d->x[i], "the decoded encoding has other values");
	emc_dataset_destroy(&back);
	free(buf);
}

/* A decoded encoding is canonical: encoding it again gives the input, but
 * for -0.0, which the encoding writes as +0.0. */
static void check_canonical(const emc_dataset *d, const uint8_t *in, size_t in_len)
{
	size_t len = 0, head;
	uint8_t *buf = NULL;
	emc_err err;

	check(emc_dataset_encode(d, &buf, &len, &err) == 0, "a decoded dataset does not encode");
	check(len == in_len, "a decoded encoding re-encodes to another length");
	head = len - (size_t)d->n - (size_t)(d->n * d->dim) * 4;
	check(memcmp(buf, in, head) == 0, "a decoded encoding re-encodes to another header");
	for (size_t at = head; at < len - (size_t)d->n; at += 4)
		check(memcmp(buf + at, in + at, 4) == 0 ||
			      (memcmp(in + at, "\0\0\0\x80", 4) == 0 && memcmp(buf + at, "\0\0\0\0", 4) == 0),
		      "a decoded encoding re-encodes to other values");
	check(memcmp(buf + len - d->n, in + len - d->n, (size_t)d->n) == 0,
	      "a decoded encoding re-encodes to other labels");
	free(buf);
}

static void check_refused(int r, const emc_dataset *d, const emc_err *err)
{
	check(r < 0, "a refusal that is not a negative errno");
	check(d == NULL, "*ret written on a refusal");
	check(memchr(err->msg, '\0', sizeof err->msg) != NULL, "an error message that is not NUL-terminated");
	check(err->msg[0] != '\0', "a refusal without a message");
}

/* ---- one input ------------------------------------------------------------ */

/* The reference an input's mode asks for; the files are written. */
static void ref_of(uint8_t mode, const uint8_t *p, size_t len, emc_dataset_ref *ref)
{
	int format = mode & MODE_FORMAT_MASK, opt = (mode >> MODE_OPT_SHIFT) & MODE_OPT_MASK;
	bool gz = mode & MODE_GZIP;

	memset(ref, 0, sizeof *ref);
	ref->standardize = mode & MODE_STANDARDIZE;
	strcpy(ref->split, "train");
	switch (format) {
	case F_IDX:
	case F_IDX2:
		strcpy(ref->format, "idx");
		strcpy(ref->images, "images");
		strcpy(ref->labels, "labels");
		put_frames(p, len, idx_files, 2, gz);
		break;
	case F_CIFAR10:
	case F_CIFAR100:
		strcpy(ref->format, format == F_CIFAR10 ? "cifar10" : "cifar100");
		strcpy(ref->path, "cifar");
		if (opt & 1)
			strcpy(ref->split, "test");
		if (opt & 2)
			strcpy(ref->cifar_label, format == F_CIFAR10 ? "fine" : "coarse");
		if (format == F_CIFAR10)
			put_frames(p, len, cifar10_files, CIFAR_FILES_MAX, gz);
		else
			put_frames(p, len, cifar100_files, 2, gz);
		break;
	case F_CSV:
		strcpy(ref->format, "csv");
		strcpy(ref->path, "table.csv");
		strcpy(ref->label_column, "label");
		strcpy(ref->categorical, categoricals[opt]);
		put_file("table.csv", p, len, gz);
		break;
	default: /* the scikit-learn layouts, by alias, resolved here */
		strcpy(ref->name, format == F_IRIS ? "iris" : "digits");
		strcpy(ref->format, "csv");
		snprintf(ref->path, sizeof ref->path, "%s/table.csv", dir);
		put_file("table.csv", p, len, gz);
		break;
	}
}

static void run_encoding(const uint8_t *p, size_t len)
{
	emc_dataset *d = NULL;
	emc_err err;
	int r;

	memset(err.msg, 0x5a, sizeof err.msg);
	r = emc_dataset_decode(p, len, NULL, "fuzz", &d, &err);
	if (r < 0) {
		check_refused(r, d, &err);
		return;
	}
	check(d != NULL, "success without a dataset");
	check_dataset(d, F_ENCODING, true);
	check_canonical(d, p, len);
	emc_dataset_destroy(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	emc_dataset_ref ref;
	emc_dataset *d = NULL;
	emc_err err;
	int format, r = 0;

	if (size < 1)
		return 0;
	format = data[0] & MODE_FORMAT_MASK;
	if (format == F_ENCODING) {
		run_encoding(data + 1, size - 1);
		return 0;
	}
	setup();
	for (size_t i = 0; i < N_FILE_NAMES; i++) {
		char p[128];

		snprintf(p, sizeof p, "%s/%s", dir, file_names[i]);
		unlink(p);
	}
	ref_of(data[0], data + 1, size - 1, &ref);
	memset(err.msg, 0x5a, sizeof err.msg);
	if (format != F_IRIS && format != F_DIGITS)
		r = emc_dataset_resolve(&ref, dir, &err);
	if (r == 0)
		r = emc_dataset_load(&ref, &d, &err);
	if (r < 0) {
		check_refused(r, d, &err);
		return 0;
	}
	check(d != NULL, "success without a dataset");
	check_dataset(d, format, ref.standardize);
	check_encoding(d);
	emc_dataset_destroy(&d);
	return 0;
}

#ifndef EMC_FUZZ_LIBFUZZER
#include "fuzz_replay.h"

/* ---- the seed corpus (fuzz-corpus-dataset/README.md lists it) ----------- */

typedef struct seed {
	uint8_t buf[24 * 1024];
	size_t len;
} seed;

static void seed_bytes(seed *s, const void *p, size_t len)
{
	if (s->len + len > sizeof s->buf)
		die("seed", "too large");
	memcpy(s->buf + s->len, p, len);
	s->len += len;
}

static void seed_byte(seed *s, uint8_t b)
{
	seed_bytes(s, &b, 1);
}

static void seed_be32(seed *s, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	seed_bytes(s, b, 4);
}

static void seed_frame(seed *s, const seed *file)
{
	seed_byte(s, (uint8_t)file->len);
	seed_byte(s, (uint8_t)(file->len >> 8));
	seed_bytes(s, file->buf, file->len);
}

static void seed_text(seed *s, const char *text)
{
	seed_bytes(s, text, strlen(text));
}

static int seed_write(const char *out, const char *name, const seed *s)
{
	char p[1024];
	FILE *f;

	snprintf(p, sizeof p, "%s/%s", out, name);
	f = fopen(p, "wb");
	if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f) != 0) {
		fprintf(stderr, "fuzz_dataset: %s: %s\n", p, strerror(errno));
		return -1;
	}
	return 0;
}

/* An IDX images file of n images of rows x cols (claimed), holding `have`
 * pixel bytes, and a labels file of m labels (claimed) holding `lhave`. */
static void idx_images(seed *s, uint32_t n, uint32_t rows, uint32_t cols, size_t have)
{
	s->len = 0;
	seed_bytes(s, "\0\0\x08\x03", 4);
	seed_be32(s, n);
	seed_be32(s, rows);
	seed_be32(s, cols);
	for (size_t i = 0; i < have; i++)
		seed_byte(s, (uint8_t)(i * 37));
}

static void idx_labels(seed *s, uint32_t m, size_t have)
{
	s->len = 0;
	seed_bytes(s, "\0\0\x08\x01", 4);
	seed_be32(s, m);
	for (size_t i = 0; i < have; i++)
		seed_byte(s, (uint8_t)(i % 3));
}

static int seeds_idx(const char *out)
{
	static seed s, im, lb;
	int r = 0;

	idx_images(&im, 3, 2, 2, 12);
	idx_labels(&lb, 3, 3);
	s.len = 0;
	seed_byte(&s, F_IDX);
	seed_frame(&s, &im);
	seed_frame(&s, &lb);
	r |= seed_write(out, "idx", &s);
	s.buf[0] = F_IDX | MODE_GZIP | MODE_STANDARDIZE;
	r |= seed_write(out, "idx-gzip-standardize", &s);

	idx_images(&im, 3, 2, 2, 10); /* two pixels short */
	s.len = 0;
	seed_byte(&s, F_IDX);
	seed_frame(&s, &im);
	seed_frame(&s, &lb);
	r |= seed_write(out, "idx-truncated", &s);

	idx_images(&im, 3, 2, 2, 12);
	idx_labels(&lb, 3, 4); /* one byte more than promised */
	s.len = 0;
	seed_byte(&s, F_IDX);
	seed_frame(&s, &im);
	seed_frame(&s, &lb);
	r |= seed_write(out, "idx-trailing", &s);

	idx_labels(&lb, 2, 2); /* fewer labels than images */
	s.len = 0;
	seed_byte(&s, F_IDX);
	seed_frame(&s, &im);
	seed_frame(&s, &lb);
	r |= seed_write(out, "idx-mismatch", &s);

	idx_images(&im, 1u << 20, 28, 28, 16); /* a header that lies */
	idx_labels(&lb, 1u << 20, 16);
	s.len = 0;
	seed_byte(&s, F_IDX);
	seed_frame(&s, &im);
	seed_frame(&s, &lb);
	r |= seed_write(out, "idx-lying-header", &s);

	idx_images(&im, 1u << 26, 28, 28, 16); /* more values than accepted */
	s.len = 0;
	seed_byte(&s, F_IDX);
	seed_frame(&s, &im);
	seed_frame(&s, &lb);
	r |= seed_write(out, "idx-too-many-values", &s);

	idx_images(&im, 3, 2, 2, 12);
	im.buf[2] = 0x09; /* signed bytes */
	idx_labels(&lb, 3, 3);
	s.len = 0;
	seed_byte(&s, F_IDX2);
	seed_frame(&s, &im);
	seed_frame(&s, &lb);
	r |= seed_write(out, "idx-signed", &s);
	return r;
}

/* A CIFAR record: label bytes, then 3072 pixels. */
static void cifar_record(seed *s, const uint8_t *labels, int n_labels, uint8_t salt)
{
	seed_bytes(s, labels, (size_t)n_labels);
	for (int i = 0; i < 3072; i++)
		seed_byte(s, (uint8_t)(i * 7 + salt));
}

static int seeds_cifar(const char *out)
{
	static seed s, f, empty;
	static const uint8_t l10[] = {3}, bad10[] = {10}, l100[] = {19, 99}, l100b[] = {0, 5};
	int r = 0;

	/* cifar10, test split: test_batch.bin of two records. */
	f.len = 0;
	cifar_record(&f, l10, 1, 0);
	cifar_record(&f, l10, 1, 1);
	s.len = 0;
	seed_byte(&s, F_CIFAR10 | 1u << MODE_OPT_SHIFT);
	seed_frame(&s, &f);
	r |= seed_write(out, "cifar10-test", &s);

	/* cifar10, train split: an empty test batch, five batches of one. */
	s.len = 0;
	seed_byte(&s, F_CIFAR10);
	seed_frame(&s, &empty);
	for (int i = 0; i < 5; i++) {
		f.len = 0;
		cifar_record(&f, l10, 1, (uint8_t)i);
		seed_frame(&s, &f);
	}
	r |= seed_write(out, "cifar10-train", &s);
	/* the test split standardised: statistics from the training batches */
	s.len = 0;
	seed_byte(&s, F_CIFAR10 | MODE_STANDARDIZE | 1u << MODE_OPT_SHIFT);
	for (int i = 0; i < 6; i++) {
		f.len = 0;
		cifar_record(&f, l10, 1, (uint8_t)(i + 9));
		seed_frame(&s, &f);
	}
	r |= seed_write(out, "cifar10-test-standardize", &s);

	f.len = 0;
	cifar_record(&f, bad10, 1, 0);
	s.len = 0;
	seed_byte(&s, F_CIFAR10 | 1u << MODE_OPT_SHIFT);
	seed_frame(&s, &f);
	r |= seed_write(out, "cifar10-bad-label", &s);

	f.len = 0;
	cifar_record(&f, l10, 1, 0);
	f.len--; /* a record cut short */
	s.len = 0;
	seed_byte(&s, F_CIFAR10 | 1u << MODE_OPT_SHIFT);
	seed_frame(&s, &f);
	r |= seed_write(out, "cifar10-cut", &s);

	f.len = 0;
	cifar_record(&f, l100, 2, 0);
	cifar_record(&f, l100b, 2, 5);
	s.len = 0;
	seed_byte(&s, F_CIFAR100);
	seed_frame(&s, &f);
	r |= seed_write(out, "cifar100-fine", &s);

	/* coarse labels, the test split standardised with train's statistics */
	s.len = 0;
	seed_byte(&s, F_CIFAR100 | MODE_STANDARDIZE | 3u << MODE_OPT_SHIFT);
	f.len = 0;
	cifar_record(&f, l100, 2, 1);
	seed_frame(&s, &f);
	f.len = 0;
	cifar_record(&f, l100b, 2, 2);
	seed_frame(&s, &f);
	r |= seed_write(out, "cifar100-coarse-test-standardize", &s);
	return r;
}

static int seeds_tables(const char *out)
{
	static const struct {
		const char *name;
		uint8_t mode;
		const char *text;
	} tables[] = {
	    {"csv", F_CSV | 1u << MODE_OPT_SHIFT, "a,c,label\n1.5,red,x\n2,blue,y\n-3e2,red,x\n0.25,green,10\n"},
	    {"csv-quoted-bom-gzip", F_CSV | MODE_GZIP,
	     "\xEF\xBB\xBF\"a b\",label,k\n\"1\",\"x\ny\",7\n2,\"q\"\"z\",7\n  3 ,x,7\n"},
	    {"csv-categoricals", F_CSV | 2u << MODE_OPT_SHIFT, "c,d,label,e\nu,1,a,0.5\nv,2,b,0.5\nu,3,a,1e-3\n"},
	    {"csv-label-categorical", F_CSV | 3u << MODE_OPT_SHIFT, "label,a\n1,2\n"},
	    {"csv-malformed", F_CSV, "a,label\n1,\"x\"y\n2,z\n"},
	    {"csv-unclosed-quote", F_CSV, "a,label\n1,\"x\n"},
	    {"csv-ragged", F_CSV, "a,b,label\n1,2,x\n3,y\n"},
	    {"csv-no-label", F_CSV, "a,b\n1,2\n"},
	    {"csv-not-a-number", F_CSV, "a,label\n1,x\nnan,y\n0x1p3,x\n"},
	    {"iris", F_IRIS, "3,2,a,b\n1,2,0\n3,4,1\n5,7,1\n"},
	    {"iris-bad-count", F_IRIS, "4,2,a,b\n1,2,0\n3,4,2\n"},
	    {"digits-short-row", F_DIGITS, "1,2,3\n"},
	};
	static seed s;
	char row[512];
	int r = 0;

	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		s.len = 0;
		seed_byte(&s, tables[i].mode);
		seed_text(&s, tables[i].text);
		r |= seed_write(out, tables[i].name, &s);
	}
	/* digits: two rows of 64 values and a label */
	s.len = 0;
	seed_byte(&s, F_DIGITS | MODE_GZIP);
	for (int k = 0; k < 2; k++) {
		size_t at = 0;

		for (int j = 0; j < 64; j++)
			at += (size_t)snprintf(row + at, sizeof row - at, "%d.0,", (j * (k + 3)) % 17);
		snprintf(row + at, sizeof row - at, "%d\n", k * 7);
		seed_text(&s, row);
	}
	r |= seed_write(out, "digits", &s);
	return r;
}

static int seeds_encoding(const char *out)
{
	static const float x[4] = {0.0f, 0.5f, 1.0f, -2.0f};
	static const uint8_t y[2] = {1, 0};
	emc_dataset d = {.n = 2, .shape = {1, 1, 2, 2}, .dim = 2, .x = (float *)x, .y = (uint8_t *)y};
	static seed s;
	uint8_t *buf = NULL;
	size_t len = 0;
	emc_err err;
	int r = 0;

	if (emc_dataset_encode(&d, &buf, &len, &err) < 0) {
		fprintf(stderr, "fuzz_dataset: %s\n", err.msg);
		return -1;
	}
	s.len = 0;
	seed_byte(&s, F_ENCODING);
	seed_bytes(&s, buf, len);
	r |= seed_write(out, "encoding", &s);
	s.len -= 3;
	r |= seed_write(out, "encoding-truncated", &s);
	free(buf);
	return r;
}

static int write_seeds(const char *out)
{
	static const seed empty = {.len = 1};

	if (mkdir(out, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "fuzz_dataset: %s: %s\n", out, strerror(errno));
		return -1;
	}
	return seeds_idx(out) | seeds_cifar(out) | seeds_tables(out) | seeds_encoding(out) |
	       seed_write(out, "empty-idx", &empty);
}

int main(int argc, char **argv)
{
	return fuzz_replay_main(argc, argv, "fuzz_dataset", write_seeds);
}
#endif
