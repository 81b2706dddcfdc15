/* test_dataset.c — every format, dataset names and identity, nested
 * subsets, and data variants.
 *
 * IDX files, CIFAR batches and CSV tables are built byte by byte here in
 * their real formats, plain and gzip-compressed, and every way a file can
 * be wrong is checked to be refused with a message that names the file
 * and the byte offset or line. The Debian packages' real files are loaded
 * when installed. Subset orders are checked against the quota rule on
 * every prefix of skewed label sets, under every variant.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <zlib.h>

#include <sodium.h>

#include "testutil.h"

#include "dataset.h"
#include "rng.h"
#include "subset.h"

/* ---- building IDX files ------------------------------------------------- */

typedef struct blob {
	uint8_t *p;
	size_t len;
} blob;

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static blob idx_images(uint32_t n, uint32_t rows, uint32_t cols, const uint8_t *pix)
{
	blob b = { malloc(16 + (size_t)n * rows * cols), 16 + (size_t)n * rows * cols };

	assert_non_null(b.p);
	put_be32(b.p, 0x00000803);
	put_be32(b.p + 4, n);
	put_be32(b.p + 8, rows);
	put_be32(b.p + 12, cols);
	memcpy(b.p + 16, pix, (size_t)n * rows * cols);
	return b;
}

static blob idx_labels(uint32_t n, const uint8_t *y)
{
	blob b = { malloc(8 + (size_t)n), 8 + (size_t)n };

	assert_non_null(b.p);
	put_be32(b.p, 0x00000801);
	put_be32(b.p + 4, n);
	memcpy(b.p + 8, y, n);
	return b;
}

/* Write b to dir/name, gzip-compressed when gz; returns the full path. */
static char *write_blob(const char *dir, const char *name, const blob *b, bool gz)
{
	char *path;
	gzFile f;

	if (!gz)
		return write_file(dir, name, b->p, b->len);
	path = malloc(strlen(dir) + strlen(name) + 2);
	assert_non_null(path);
	sprintf(path, "%s/%s", dir, name);
	f = gzopen(path, "wb");
	assert_non_null(f);
	if (b->len > 0)
		assert_int_equal(gzwrite(f, b->p, (unsigned)b->len), (int)b->len);
	assert_int_equal(gzclose(f), Z_OK);
	return path;
}

static emc_dataset *load_ok(const emc_dataset_ref *ref);
static void load_fails(const emc_dataset_ref *ref, int want, ...);

static void ref_set(emc_dataset_ref *ref, const char *images, const char *labels)
{
	memset(ref, 0, sizeof *ref);
	strcpy(ref->format, "idx");
	snprintf(ref->images, sizeof ref->images, "%s", images);
	snprintf(ref->labels, sizeof ref->labels, "%s", labels);
}

/* The small dataset most tests use: 6 images of 3x2 pixels. */
#define SMALL_N 6
#define SMALL_ROWS 3
#define SMALL_COLS 2
static const uint8_t small_y[SMALL_N] = { 0, 3, 1, 3, 2, 0 };

static void small_pixels(uint8_t *pix)
{
	for (int i = 0; i < SMALL_N * SMALL_ROWS * SMALL_COLS; i++)
		pix[i] = (uint8_t)(i * 7);
	pix[0] = 0;
	pix[1] = 255;
}

static void check_small(const emc_dataset *d)
{
	uint8_t pix[SMALL_N * SMALL_ROWS * SMALL_COLS];

	small_pixels(pix);
	assert_int_equal(d->n, SMALL_N);
	assert_int_equal(d->dim, SMALL_ROWS * SMALL_COLS);
	assert_int_equal(d->shape.channels, 1);
	assert_int_equal(d->shape.height, SMALL_ROWS);
	assert_int_equal(d->shape.width, SMALL_COLS);
	assert_int_equal(d->shape.classes, 4);
	assert_true(d->x[0] == 0.0f);
	assert_true(d->x[1] == 1.0f);
	for (int i = 0; i < SMALL_N * SMALL_ROWS * SMALL_COLS; i++) {
		assert_true(d->x[i] >= 0.0f && d->x[i] <= 1.0f);
		assert_true(fabsf(d->x[i] - pix[i] / 255.0f) < 1e-7f);
	}
	assert_memory_equal(d->y, small_y, SMALL_N);
}

static void load_small(bool gz_images, bool gz_labels)
{
	uint8_t pix[SMALL_N * SMALL_ROWS * SMALL_COLS];
	char *dir = tmpdir_new(), *pi, *pl;
	blob bi, bl;
	emc_dataset_ref ref;
	emc_dataset *d = NULL;
	emc_err err = { "" };

	small_pixels(pix);
	bi = idx_images(SMALL_N, SMALL_ROWS, SMALL_COLS, pix);
	bl = idx_labels(SMALL_N, small_y);
	pi = write_blob(dir, gz_images ? "images.idx.gz" : "images.idx", &bi, gz_images);
	pl = write_blob(dir, gz_labels ? "labels.idx.gz" : "labels.idx", &bl, gz_labels);
	ref_set(&ref, pi, pl);
	assert_int_equal(emc_dataset_load(&ref, &d, &err), 0);
	assert_non_null(d);
	check_small(d);
	emc_dataset_destroy(&d);
	assert_null(d);
	emc_dataset_destroy(&d); /* NULL-safe */
	emc_dataset_destroy(NULL);
	free(bi.p);
	free(bl.p);
	free(pi);
	free(pl);
	tmpdir_remove(&dir);
}

static void test_load_plain(void **state)
{
	(void)state;
	load_small(false, false);
}

static void test_load_gzip(void **state)
{
	(void)state;
	load_small(true, true);
	load_small(true, false);
	load_small(false, true);
}

static void test_load_one_class_gives_two(void **state)
{
	uint8_t pix[4] = { 1, 2, 3, 4 }, y[2] = { 0, 0 };
	char *dir = tmpdir_new(), *pi, *pl;
	blob bi = idx_images(2, 1, 2, pix), bl = idx_labels(2, y);
	emc_dataset_ref ref;
	emc_dataset *d = NULL;
	emc_err err = { "" };

	(void)state;
	pi = write_blob(dir, "i", &bi, false);
	pl = write_blob(dir, "l", &bl, false);
	ref_set(&ref, pi, pl);
	assert_int_equal(emc_dataset_load(&ref, &d, &err), 0);
	assert_int_equal(d->shape.classes, 2);
	assert_int_equal(d->n, 2);
	emc_dataset_destroy(&d);
	free(bi.p);
	free(bl.p);
	free(pi);
	free(pl);
	tmpdir_remove(&dir);
}

/* ---- corrupt files ------------------------------------------------------ */

enum corrupt_op { OP_BYTE, OP_BE32, OP_SQUARE, OP_TRUNCATE, OP_APPEND };

typedef struct corrupt_case {
	bool labels;     /* which file is damaged */
	enum corrupt_op op;
	size_t at;       /* offset, or new length for OP_TRUNCATE */
	uint32_t value;
	const char *expect[2]; /* substrings of the message besides the file name */
} corrupt_case;

static const corrupt_case corrupt_cases[] = {
	{ false, OP_BYTE, 0, 0x12, { "byte 0", "not an IDX file" } },
	{ false, OP_BYTE, 1, 0x08, { "byte 0", "magic" } },
	{ false, OP_BYTE, 2, 0x0D, { "byte 2", "float" } },
	{ false, OP_BYTE, 2, 0x0C, { "byte 2", "int" } },
	{ false, OP_BYTE, 3, 0x01, { "byte 3", "1 dimensions" } },
	{ true, OP_BYTE, 3, 0x03, { "byte 3", "3 dimensions" } },
	{ true, OP_BYTE, 2, 0x09, { "byte 2", "signed byte" } },
	{ false, OP_BE32, 4, 0, { "byte 4", "0 images" } },
	{ false, OP_BE32, 4, EMC_DATASET_MAX_SAMPLES + 1, { "byte 4", "67108865 images" } },
	{ false, OP_BE32, 8, 0, { "byte 8", "0 x 2" } },
	{ false, OP_BE32, 12, 0, { "byte 8", "3 x 0" } },
	/* 65536 * 65536 wraps to 0 in 32 bits. */
	{ false, OP_SQUARE, 0, 65536, { "byte 8", "65536 x 65536" } },
	{ false, OP_SQUARE, 0, 4097, { "byte 8", "4097 x 4097" } },
	{ false, OP_BE32, 12, EMC_DATASET_MAX_DIM, { "byte 8", "pixels" } },
	{ false, OP_TRUNCATE, 0, 0, { "truncated at byte 0 of 16", "header" } },
	{ false, OP_TRUNCATE, 3, 0, { "truncated at byte 3 of 16", "header" } },
	{ false, OP_TRUNCATE, 10, 0, { "truncated at byte 10 of 16", "header" } },
	{ true, OP_TRUNCATE, 5, 0, { "truncated at byte 5 of 8", "header" } },
	{ false, OP_TRUNCATE, 40, 0, { "truncated at byte 40 of 52", "36 bytes of pixel data" } },
	{ false, OP_TRUNCATE, 16, 0, { "truncated at byte 16 of 52", "pixel data" } },
	{ true, OP_TRUNCATE, 12, 0, { "truncated at byte 12 of 14", "6 bytes of labels" } },
	{ false, OP_APPEND, 0, 0, { "trailing data at byte 52", "52 bytes" } },
	{ true, OP_APPEND, 0, 0, { "trailing data at byte 14", "14 bytes" } },
	{ true, OP_BE32, 4, 5, { "byte 4", "5 labels" } },
	{ true, OP_BE32, 4, 7, { "byte 4", "7 labels" } },
	{ false, OP_BE32, 4, 7, { "byte 4", "6 labels" } },
};

static void apply(blob *b, const corrupt_case *c)
{
	switch (c->op) {
	case OP_BYTE:
		b->p[c->at] = (uint8_t)c->value;
		break;
	case OP_BE32:
		put_be32(b->p + c->at, c->value);
		break;
	case OP_SQUARE: /* rows = cols = value */
		put_be32(b->p + 8, c->value);
		put_be32(b->p + 12, c->value);
		break;
	case OP_TRUNCATE:
		b->len = c->at;
		break;
	case OP_APPEND:
		b->p = realloc(b->p, b->len + 1);
		assert_non_null(b->p);
		b->p[b->len++] = 0;
		break;
	}
}

static void run_corrupt(const corrupt_case *c, bool gz)
{
	uint8_t pix[SMALL_N * SMALL_ROWS * SMALL_COLS];
	char *dir = tmpdir_new(), *pi, *pl;
	blob bi, bl;
	emc_dataset_ref ref;
	emc_dataset *d = NULL;
	emc_err err = { "" };
	const char *iname = gz ? "images.idx.gz" : "images.idx";
	const char *lname = gz ? "labels.idx.gz" : "labels.idx";

	small_pixels(pix);
	bi = idx_images(SMALL_N, SMALL_ROWS, SMALL_COLS, pix);
	bl = idx_labels(SMALL_N, small_y);
	apply(c->labels ? &bl : &bi, c);
	pi = write_blob(dir, iname, &bi, gz);
	pl = write_blob(dir, lname, &bl, gz);
	ref_set(&ref, pi, pl);
	assert_int_equal(emc_dataset_load(&ref, &d, &err), -EINVAL);
	assert_null(d);
	/* The mismatch case names both files; every case names the bad one. */
	assert_contains(err.msg, c->labels || strstr(c->expect[1], "labels") ? lname : iname);
	assert_contains(err.msg, "byte");
	for (int i = 0; i < 2; i++)
		assert_contains(err.msg, c->expect[i]);
	free(bi.p);
	free(bl.p);
	free(pi);
	free(pl);
	tmpdir_remove(&dir);
}

static void test_corrupt_plain(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof corrupt_cases / sizeof corrupt_cases[0]; i++)
		run_corrupt(&corrupt_cases[i], false);
}

static void test_corrupt_gzip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof corrupt_cases / sizeof corrupt_cases[0]; i++)
		run_corrupt(&corrupt_cases[i], true);
}

static void test_mismatch_names_both_files(void **state)
{
	corrupt_case c = { true, OP_BE32, 4, 5, { "5 labels", "6 images" } };

	(void)state;
	run_corrupt(&c, false);
	c.expect[0] = "images.idx";
	run_corrupt(&c, false);
}

/* Headers that claim far more than the file holds are refused once the
 * bytes run out, without allocating what they claim. */
static void test_lying_headers(void **state)
{
	uint8_t pix[SMALL_N * SMALL_ROWS * SMALL_COLS];
	char *dir = tmpdir_new(), *pi, *pl;
	blob bi, bl;
	emc_dataset_ref ref;
	emc_dataset *d = NULL;
	emc_err err = { "" };

	(void)state;
	small_pixels(pix);
	bi = idx_images(SMALL_N, SMALL_ROWS, SMALL_COLS, pix);
	bl = idx_labels(SMALL_N, small_y);
	put_be32(bi.p + 4, EMC_DATASET_MAX_SAMPLES);
	put_be32(bl.p + 4, EMC_DATASET_MAX_SAMPLES);
	pi = write_blob(dir, "images.idx", &bi, false);
	pl = write_blob(dir, "labels.idx", &bl, true);
	ref_set(&ref, pi, pl);
	assert_int_equal(emc_dataset_load(&ref, &d, &err), -EINVAL);
	assert_contains(err.msg, "labels.idx");
	assert_contains(err.msg, "truncated at byte 14 of 67108872");
	free(pi);
	free(pl);

	/* 6 images of 2^24 pixels each: 96 MiB promised, 36 bytes present. */
	put_be32(bi.p + 4, SMALL_N);
	put_be32(bl.p + 4, SMALL_N);
	put_be32(bi.p + 8, 4096);
	put_be32(bi.p + 12, 4096);
	pi = write_blob(dir, "images.idx", &bi, true);
	pl = write_blob(dir, "labels.idx", &bl, false);
	assert_int_equal(emc_dataset_load(&ref, &d, &err), -EINVAL);
	assert_contains(err.msg, "images.idx");
	assert_contains(err.msg, "truncated at byte 52 of 100663312");
	assert_null(d);
	free(pi);
	free(pl);

	/* 2^26 images of 28 x 28, each count within its limit, but 2^35.6
	 * values in all: refused at the header, as the other formats refuse
	 * more than DATASET_MAX_VALUES, rather than read (a gzip file of a few
	 * MB can hold gigabytes of pixels, and each becomes a float). */
	put_be32(bi.p + 4, EMC_DATASET_MAX_SAMPLES);
	put_be32(bi.p + 8, 28);
	put_be32(bi.p + 12, 28);
	pi = write_blob(dir, "images.idx", &bi, false);
	pl = write_blob(dir, "labels.idx", &bl, false);
	assert_int_equal(emc_dataset_load(&ref, &d, &err), -EINVAL);
	assert_contains(err.msg, "images.idx: byte 4: 67108864 images of 28 x 28 pixels");
	assert_null(d);
	free(pi);
	free(pl);
	free(bi.p);
	free(bl.p);
	tmpdir_remove(&dir);
}

/* Damage to the gzip container itself: a cut stream and a bad checksum. */
static void test_corrupt_gzip_container(void **state)
{
	uint8_t pix[SMALL_N * SMALL_ROWS * SMALL_COLS];
	char *dir = tmpdir_new(), *pi, *pl;
	blob bi, bl;
	emc_dataset_ref ref;
	emc_dataset *d = NULL;
	emc_err err = { "" };
	struct stat st;
	FILE *f;
	uint8_t *gzbytes;

	(void)state;
	small_pixels(pix);
	bi = idx_images(SMALL_N, SMALL_ROWS, SMALL_COLS, pix);
	bl = idx_labels(SMALL_N, small_y);
	pi = write_blob(dir, "images.idx.gz", &bi, true);
	pl = write_blob(dir, "labels.idx.gz", &bl, true);
	assert_int_equal(stat(pi, &st), 0);
	gzbytes = malloc((size_t)st.st_size);
	f = fopen(pi, "rb");
	assert_non_null(f);
	assert_int_equal(fread(gzbytes, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	fclose(f);
	ref_set(&ref, pi, pl);

	/* The CRC-32 of the data sits 8 bytes from the end. */
	gzbytes[st.st_size - 8] ^= 0xff;
	free(write_file(dir, "images.idx.gz", gzbytes, (size_t)st.st_size));
	assert_int_equal(emc_dataset_load(&ref, &d, &err), -EINVAL);
	assert_contains(err.msg, "images.idx.gz: corrupt gzip data after byte");
	/* The file is named once, not again inside zlib's own message. */
	assert_null(strstr(strstr(err.msg, "images.idx.gz") + 1, "images.idx.gz"));
	assert_null(d);

	/* Cut inside the compressed stream: whatever was decoded is short. */
	gzbytes[st.st_size - 8] ^= 0xff;
	free(write_file(dir, "images.idx.gz", gzbytes, (size_t)st.st_size - 12));
	emc_err_clear(&err);
	assert_int_equal(emc_dataset_load(&ref, &d, &err), -EINVAL);
	assert_contains(err.msg, "images.idx.gz");
	assert_contains(err.msg, "truncated at byte");
	assert_null(d);

	free(gzbytes);
	free(bi.p);
	free(bl.p);
	free(pi);
	free(pl);
	tmpdir_remove(&dir);
}

static void test_load_missing_and_bad_ref(void **state)
{
	char *dir = tmpdir_new(), path[600];
	emc_dataset_ref ref;
	emc_dataset *d = NULL;
	emc_err err = { "" };

	(void)state;
	snprintf(path, sizeof path, "%s/nothing-here.idx", dir);
	ref_set(&ref, path, path);
	assert_int_equal(emc_dataset_load(&ref, &d, &err), -ENOENT);
	assert_contains(err.msg, "nothing-here.idx");
	assert_null(d);

	strcpy(ref.format, "parquet");
	assert_int_equal(emc_dataset_load(&ref, &d, &err), -EINVAL);
	assert_contains(err.msg, "dataset.format");
	assert_contains(err.msg, "parquet");
	strcpy(ref.format, "csv");
	assert_int_equal(emc_dataset_load(&ref, &d, &err), -EINVAL);
	assert_contains(err.msg, "dataset.path");
	ref.format[0] = '\0';
	assert_int_equal(emc_dataset_load(&ref, &d, &err), -EINVAL);
	assert_contains(err.msg, "dataset.format");
	assert_null(d);
	tmpdir_remove(&dir);
}

/* ---- resolving names ---------------------------------------------------- */

static void test_resolve_paths(void **state)
{
	char *dir = tmpdir_new(), *pi, *pl, cwd[EMC_PATH_MAX];
	uint8_t byte = 0;
	emc_dataset_ref ref;
	emc_err err = { "" };

	(void)state;
	pi = write_file(dir, "img.idx", &byte, 1);
	pl = write_file(dir, "lab.idx", &byte, 1);

	ref_set(&ref, "img.idx", "lab.idx");
	assert_int_equal(emc_dataset_resolve(&ref, dir, &err), 0);
	assert_string_equal(ref.images, pi);
	assert_string_equal(ref.labels, pl);
	/* Resolving again changes nothing. */
	assert_int_equal(emc_dataset_resolve(&ref, "/elsewhere", &err), 0);
	assert_string_equal(ref.images, pi);

	/* NULL base: the current directory. */
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(dir), 0);
	ref_set(&ref, "img.idx", "lab.idx");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_true(ref.images[0] == '/');
	assert_non_null(strstr(ref.images, "/img.idx"));
	assert_non_null(strstr(ref.labels, "/lab.idx"));

	ref_set(&ref, "img.idx", "missing-labels.idx");
	assert_int_equal(emc_dataset_resolve(&ref, dir, &err), -ENOENT);
	assert_contains(err.msg, "dataset.labels");
	assert_contains(err.msg, "missing-labels.idx");
	assert_string_equal(ref.labels, "missing-labels.idx");

	ref_set(&ref, dir, "lab.idx");
	assert_int_equal(emc_dataset_resolve(&ref, dir, &err), -EISDIR);
	assert_contains(err.msg, "dataset.images");

	ref_set(&ref, "img.idx", "");
	assert_int_equal(emc_dataset_resolve(&ref, dir, &err), -EINVAL);
	assert_contains(err.msg, "dataset.labels");

	ref_set(&ref, "img.idx", "lab.idx");
	ref.format[0] = '\0';
	assert_int_equal(emc_dataset_resolve(&ref, dir, &err), -EINVAL);
	assert_contains(err.msg, "dataset.format");
	strcpy(ref.format, "cifar");
	assert_int_equal(emc_dataset_resolve(&ref, dir, &err), -EINVAL);
	assert_contains(err.msg, "dataset.format");
	assert_contains(err.msg, "cifar");

	free(pi);
	free(pl);
	tmpdir_remove(&dir);
}

static void test_resolve_alias(void **state)
{
	uint8_t pix[SMALL_N * SMALL_ROWS * SMALL_COLS];
	char *dir = tmpdir_new(), sub[600], *p[4], away[700];
	blob bi, bl;
	emc_dataset_ref ref;
	emc_dataset *d = NULL;
	emc_err err = { "" };

	(void)state;
	assert_int_equal(setenv("EMC_DATASETS_DIR", dir, 1), 0);

	/* The package is not there: say which file and which package. */
	memset(&ref, 0, sizeof ref);
	strcpy(ref.name, "fashion-mnist");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -ENOENT);
	assert_contains(err.msg, "train-images-idx3-ubyte.gz");
	assert_contains(err.msg, "install Debian package dataset-fashion-mnist");
	strcpy(ref.split, "test");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -ENOENT);
	assert_contains(err.msg, "t10k-images-idx3-ubyte.gz");
	assert_contains(err.msg, "dataset-fashion-mnist");

	/* A stand-in for the package: the alias finds it and it loads. */
	small_pixels(pix);
	bi = idx_images(SMALL_N, SMALL_ROWS, SMALL_COLS, pix);
	bl = idx_labels(SMALL_N, small_y);
	snprintf(sub, sizeof sub, "%s/fashion-mnist", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	p[0] = write_blob(sub, "train-images-idx3-ubyte.gz", &bi, true);
	p[1] = write_blob(sub, "train-labels-idx1-ubyte.gz", &bl, true);
	p[2] = write_blob(sub, "t10k-images-idx3-ubyte.gz", &bi, true);
	p[3] = write_blob(sub, "t10k-labels-idx1-ubyte.gz", &bl, true);
	memset(&ref, 0, sizeof ref);
	strcpy(ref.name, "fashion-mnist");
	assert_int_equal(emc_dataset_resolve(&ref, "/ignored", &err), 0);
	assert_string_equal(ref.format, "idx");
	assert_string_equal(ref.split, "train");
	assert_string_equal(ref.images, p[0]);
	assert_string_equal(ref.labels, p[1]);
	assert_int_equal(emc_dataset_load(&ref, &d, &err), 0);
	check_small(d);
	emc_dataset_destroy(&d);
	strcpy(ref.split, "test");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), 0);
	assert_string_equal(ref.images, p[2]);
	assert_string_equal(ref.labels, p[3]);

	/* Standardised, the test split uses the training split's statistics:
	 * here the same images, so the same numbers. The training files are
	 * found again through the alias; without them the test split fails. */
	{
		emc_dataset *tr, *te;

		ref.standardize = true;
		te = load_ok(&ref);
		strcpy(ref.split, "train");
		tr = load_ok(&ref);
		assert_memory_equal(te->x, tr->x, (size_t)(tr->n * tr->dim) * sizeof *tr->x);
		assert_true(tr->x[0] < 0.0f);
		emc_dataset_destroy(&te);
		emc_dataset_destroy(&tr);
		strcpy(ref.split, "test");
		snprintf(away, sizeof away, "%s.away", p[0]);
		assert_int_equal(rename(p[0], away), 0);
		load_fails(&ref, -ENOENT, "train-images-idx3-ubyte.gz", "dataset-fashion-mnist", NULL);
		assert_int_equal(rename(away, p[0]), 0);
		ref.standardize = false;
	}

	strcpy(ref.split, "validation");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -EINVAL);
	assert_contains(err.msg, "dataset.split");
	assert_contains(err.msg, "validation");

	memset(&ref, 0, sizeof ref);
	strcpy(ref.name, "fashion-mnist");
	strcpy(ref.format, "csv");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -EINVAL);
	assert_contains(err.msg, "dataset.format");

	/* An unknown alias lists the known ones and their packages. */
	memset(&ref, 0, sizeof ref);
	strcpy(ref.name, "no-such-alias");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -EINVAL);
	assert_contains(err.msg, "no-such-alias");
	assert_contains(err.msg, "fashion-mnist");
	assert_contains(err.msg, "dataset-fashion-mnist");

	assert_int_equal(unsetenv("EMC_DATASETS_DIR"), 0);
	for (int i = 0; i < 4; i++)
		free(p[i]);
	free(bi.p);
	free(bl.p);
	tmpdir_remove(&dir);
}

static void test_real_fashion_mnist(void **state)
{
	struct stat st;
	emc_dataset_ref ref;
	emc_dataset *d = NULL;
	emc_err err = { "" };
	int64_t count[10] = { 0 };
	double sum = 0;

	(void)state;
	if (stat("/usr/share/datasets/fashion-mnist", &st) != 0)
		skip();
	unsetenv("EMC_DATASETS_DIR");
	memset(&ref, 0, sizeof ref);
	strcpy(ref.name, "fashion-mnist");
	if (emc_dataset_resolve(&ref, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	if (emc_dataset_load(&ref, &d, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(d->n, 60000);
	assert_int_equal(d->shape.channels, 1);
	assert_int_equal(d->shape.height, 28);
	assert_int_equal(d->shape.width, 28);
	assert_int_equal(d->dim, 784);
	assert_int_equal(d->shape.classes, 10);
	for (int64_t i = 0; i < d->n; i++)
		count[d->y[i]]++;
	for (int k = 0; k < 10; k++)
		assert_int_equal(count[k], 6000);
	for (int64_t i = 0; i < d->n * d->dim; i += 97)
		sum += d->x[i];
	/* Fashion-MNIST's mean pixel is about 0.286. */
	sum /= (double)((d->n * d->dim + 96) / 97);
	assert_true(sum > 0.25 && sum < 0.32);
	emc_dataset_destroy(&d);
}

/* ---- mkidx, the test-data writer ---------------------------------------- */

static const char *test_argv0;

/* mkidx sits next to this test binary in the build tree. */
static void test_mkidx_roundtrip(void **state)
{
	char *dir, *slash, mkidx[512], cmd[1200], ipath[512], lpath[512];
	emc_dataset_ref ref;
	emc_dataset *d = NULL, *dz = NULL;
	emc_err err = { "" };
	int64_t count[4] = { 0 }, correct = 0;
	double mean[4][30] = { { 0 } };

	(void)state;
	snprintf(mkidx, sizeof mkidx, "%s", test_argv0);
	slash = strrchr(mkidx, '/');
	if (slash)
		strcpy(slash + 1, "mkidx");
	else
		strcpy(mkidx, "./mkidx");
	if (access(mkidx, X_OK) != 0)
		skip();
	dir = tmpdir_new();
	snprintf(cmd, sizeof cmd, "'%s' --out '%s/p' --n 400 --classes 4 --rows 5 --cols 6 --seed 3",
		 mkidx, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof cmd,
		 "'%s' --out '%s/z' --n 400 --classes 4 --rows 5 --cols 6 --seed 3 --gzip", mkidx, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof cmd, "'%s' --out '%s/bad' --n 0 2>/dev/null", mkidx, dir);
	assert_int_equal(WEXITSTATUS(system(cmd)), 2);

	snprintf(ipath, sizeof ipath, "%s/p/images.idx", dir);
	snprintf(lpath, sizeof lpath, "%s/p/labels.idx", dir);
	ref_set(&ref, ipath, lpath);
	if (emc_dataset_load(&ref, &d, &err) < 0)
		fail_msg("%s", err.msg);
	snprintf(ipath, sizeof ipath, "%s/z/images.idx.gz", dir);
	snprintf(lpath, sizeof lpath, "%s/z/labels.idx.gz", dir);
	ref_set(&ref, ipath, lpath);
	if (emc_dataset_load(&ref, &dz, &err) < 0)
		fail_msg("%s", err.msg);

	assert_int_equal(d->n, 400);
	assert_int_equal(d->shape.height, 5);
	assert_int_equal(d->shape.width, 6);
	assert_int_equal(d->shape.classes, 4);
	assert_memory_equal(d->x, dz->x, 400 * 30 * sizeof *d->x);
	assert_memory_equal(d->y, dz->y, 400);
	for (int i = 0; i < 400; i++) {
		count[d->y[i]]++;
		for (int j = 0; j < 30; j++)
			mean[d->y[i]][j] += d->x[i * 30 + j] / 100.0;
	}
	for (int k = 0; k < 4; k++)
		assert_int_equal(count[k], 100);
	/* Learnable: the nearest class mean recovers nearly every label. */
	for (int i = 0; i < 400; i++) {
		int best = 0;
		double best_d = INFINITY;

		for (int k = 0; k < 4; k++) {
			double dist = 0;

			for (int j = 0; j < 30; j++)
				dist += (d->x[i * 30 + j] - mean[k][j]) * (d->x[i * 30 + j] - mean[k][j]);
			if (dist < best_d) {
				best_d = dist;
				best = k;
			}
		}
		correct += best == d->y[i];
	}
	assert_true(correct > 380);
	emc_dataset_destroy(&d);
	emc_dataset_destroy(&dz);
	tmpdir_remove(&dir);
}

/* ---- subsets ------------------------------------------------------------ */

/* order is a permutation of [0, n) and every prefix of length m holds
 * floor or ceil of m * count_k / n samples of every class k. */
static void check_order(const uint8_t *y, int64_t n, int classes, const int32_t *order)
{
	int64_t count[EMC_DATASET_MAX_CLASSES] = { 0 }, have[EMC_DATASET_MAX_CLASSES] = { 0 };
	uint8_t *seen = calloc((size_t)n + 1, 1);

	assert_non_null(seen);
	for (int64_t i = 0; i < n; i++)
		count[y[i]]++;
	for (int64_t m = 1; m <= n; m++) {
		int32_t s = order[m - 1];

		assert_true(s >= 0 && s < n);
		assert_int_equal(seen[s], 0);
		seen[s] = 1;
		have[y[s]]++;
		for (int k = 0; k < classes; k++) {
			int64_t lo = m * count[k] / n, hi = (m * count[k] + n - 1) / n;

			if (have[k] < lo || have[k] > hi)
				fail_msg("n %lld prefix %lld class %d: %lld samples, quota [%lld, %lld]",
					 (long long)n, (long long)m, k, (long long)have[k], (long long)lo,
					 (long long)hi);
		}
	}
	free(seen);
}

static void test_subset_skewed(void **state)
{
	/* Powers of ten and a singleton: the hard case for rounding rules. */
	static const int sizes[] = { 700, 200, 60, 30, 9, 1 };
	uint8_t y[1000];
	int32_t order[1000];
	int64_t n = 0;
	emc_rng rng;

	(void)state;
	for (int k = 0; k < 6; k++)
		for (int i = 0; i < sizes[k]; i++)
			y[n++] = (uint8_t)k;
	emc_rng_seed(&rng, 3, 0);
	/* Labels in a scrambled sample order, and one unused class. */
	for (int64_t i = n - 1; i > 0; i--) {
		int64_t j = (int64_t)emc_rng_below(&rng, (uint64_t)i + 1);
		uint8_t t = y[i];

		y[i] = y[j];
		y[j] = t;
	}
	for (uint64_t seed = 0; seed < 4; seed++) {
		assert_int_equal(emc_subset_order(y, n, 7, seed, order), 0);
		check_order(y, n, 7, order);
	}
}

static void test_subset_random_configs(void **state)
{
	enum { MAXN = 1500 };
	uint8_t y[MAXN];
	int32_t order[MAXN];
	emc_rng rng;

	(void)state;
	emc_rng_seed(&rng, 11, 0);
	for (int t = 0; t < 40; t++) {
		int64_t n = 1 + (int64_t)emc_rng_below(&rng, MAXN);
		int classes = 1 + (int)emc_rng_below(&rng, t < 30 ? 12 : 200);
		double decay = 0.3 + 0.7 * emc_rng_uniform(&rng);

		/* Geometric class sizes: a few big classes and a long tail. */
		for (int64_t i = 0; i < n; i++) {
			int k = 0;

			while (k + 1 < classes && emc_rng_uniform(&rng) > decay)
				k++;
			y[i] = (uint8_t)k;
		}
		assert_int_equal(emc_subset_order(y, n, classes, (uint64_t)t, order), 0);
		check_order(y, n, classes, order);
	}
}

static void test_subset_deterministic_and_seeded(void **state)
{
	enum { N = 60000, K = 10 };
	uint8_t *y = malloc(N);
	int32_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
	int64_t same = 0, last = -1;
	bool sorted = true;

	(void)state;
	for (int i = 0; i < N; i++)
		y[i] = (uint8_t)(i % K);
	assert_int_equal(emc_subset_order(y, N, K, 42, a), 0);
	check_order(y, N, K, a);
	assert_int_equal(emc_subset_order(y, N, K, 42, b), 0);
	assert_memory_equal(a, b, N * sizeof *a);

	/* Balanced classes: every block of K holds one of each class. */
	for (int blk = 0; blk < 100; blk++) {
		int mask = 0;

		for (int i = 0; i < K; i++)
			mask |= 1 << y[a[blk * K + i]];
		assert_int_equal(mask, (1 << K) - 1);
	}
	/* Within a class, the order is shuffled, not the index order. */
	for (int i = 0; i < 200; i++) {
		if (y[a[i]] != 0)
			continue;
		if (a[i] < last)
			sorted = false;
		last = a[i];
	}
	assert_false(sorted);

	assert_int_equal(emc_subset_order(y, N, K, 43, b), 0);
	check_order(y, N, K, b);
	for (int i = 0; i < N; i++)
		same += a[i] == b[i];
	assert_true(same < N / 100);
	free(y);
	free(a);
	free(b);
}

static void test_subset_errors(void **state)
{
	uint8_t y[4] = { 0, 1, 2, 1 };
	int32_t order[4] = { -1, -1, -1, -1 };

	(void)state;
	assert_int_equal(emc_subset_order(y, 4, 2, 1, order), -EINVAL);
	assert_int_equal(emc_subset_order(y, 4, 0, 1, order), -EINVAL);
	assert_int_equal(emc_subset_order(y, -1, 3, 1, order), -EINVAL);
	assert_int_equal(emc_subset_order(y, 0, 3, 1, order), 0);
	assert_int_equal(order[0], -1);
	assert_int_equal(emc_subset_order(y, 4, 3, 1, order), 0);
	check_order(y, 4, 3, order);
}

/* ---- label variants ----------------------------------------------------- */

static void test_labels_true(void **state)
{
	uint8_t y[5] = { 4, 0, 2, 2, 1 }, out[5] = { 0 };

	(void)state;
	assert_int_equal(emc_labels_variant(y, 5, 5, EMC_LABELS_TRUE, 9, out), 0);
	assert_memory_equal(out, y, 5);
	assert_int_equal(emc_labels_variant(y, 5, 0, EMC_LABELS_TRUE, 9, out), -EINVAL);
	assert_int_equal(emc_labels_variant(y, 5, 5, EMC_LABELS_COUNT, 9, out), -EINVAL);
}

static void test_labels_random(void **state)
{
	enum { N = 50000, K = 10 };
	uint8_t *y = malloc(N), *a = malloc(N), *b = malloc(N), small[100];
	int64_t count[K] = { 0 }, agree_true = 0, agree_seed = 0;
	double chi2 = 0;

	(void)state;
	for (int i = 0; i < N; i++)
		y[i] = (uint8_t)(i % K);
	assert_int_equal(emc_labels_variant(y, N, K, EMC_LABELS_RANDOM, 5, a), 0);
	assert_int_equal(emc_labels_variant(y, N, K, EMC_LABELS_RANDOM, 5, b), 0);
	assert_memory_equal(a, b, N);
	/* A sample's label depends on its index only, not on n. */
	assert_int_equal(emc_labels_variant(y, 100, K, EMC_LABELS_RANDOM, 5, small), 0);
	assert_memory_equal(small, a, 100);

	for (int i = 0; i < N; i++) {
		assert_true(a[i] < K);
		count[a[i]]++;
		agree_true += a[i] == y[i];
	}
	for (int k = 0; k < K; k++) {
		double d = (double)count[k] - N / K;

		chi2 += d * d / (N / K);
	}
	/* 9 degrees of freedom: P(chi2 > 40) is about 1e-5. */
	assert_true(chi2 < 40.0);
	assert_true(agree_true > N / K - 500 && agree_true < N / K + 500);

	assert_int_equal(emc_labels_variant(y, N, K, EMC_LABELS_RANDOM, 6, b), 0);
	for (int i = 0; i < N; i++)
		agree_seed += a[i] == b[i];
	assert_true(agree_seed > N / K - 500 && agree_seed < N / K + 500);

	/* Few classes: still in range and all of them used. */
	assert_int_equal(emc_labels_variant(y, 100, 3, EMC_LABELS_RANDOM, 5, small), 0);
	memset(count, 0, sizeof count);
	for (int i = 0; i < 100; i++) {
		assert_true(small[i] < 3);
		count[small[i]]++;
	}
	assert_true(count[0] > 0 && count[1] > 0 && count[2] > 0);
	free(y);
	free(a);
	free(b);
}

/* ---- helpers for the other formats -------------------------------------- */

static char *write_text(const char *dir, const char *name, const char *text)
{
	return write_file(dir, name, text, strlen(text));
}

static char *write_gz(const char *dir, const char *name, const void *data, size_t len)
{
	blob b = { (uint8_t *)data, len };

	return write_blob(dir, name, &b, true);
}

static emc_dataset *load_ok(const emc_dataset_ref *ref)
{
	emc_dataset *d = NULL;
	emc_err err = { "" };

	if (emc_dataset_load(ref, &d, &err) < 0)
		fail_msg("load failed: %s", err.msg);
	assert_non_null(d);
	return d;
}

/* Loading ref fails with `want` and a message holding every string given
 * (a NULL-terminated list). */
static void load_fails(const emc_dataset_ref *ref, int want, ...)
{
	emc_dataset *d = NULL;
	emc_err err = { "" };
	const char *s;
	va_list ap;
	int r = emc_dataset_load(ref, &d, &err);

	if (r != want)
		fail_msg("load returned %d, expected %d; message: %s", r, want, err.msg);
	assert_null(d);
	va_start(ap, want);
	while ((s = va_arg(ap, const char *)))
		assert_contains(err.msg, s);
	va_end(ap);
}

/* Mean and population standard deviation of column j of d. */
static void column_moments(const emc_dataset *d, int64_t j, double *mean, double *sd)
{
	double s = 0, ss = 0;

	for (int64_t i = 0; i < d->n; i++)
		s += d->x[i * d->dim + j];
	*mean = s / (double)d->n;
	for (int64_t i = 0; i < d->n; i++)
		ss += (d->x[i * d->dim + j] - *mean) * (d->x[i * d->dim + j] - *mean);
	*sd = sqrt(ss / (double)d->n);
}

static void hex_of(const emc_dataset *d, char out[65])
{
	emc_dataset_hash_hex(d, out);
	assert_int_equal(strlen(out), 64);
	assert_int_equal(strspn(out, "0123456789abcdef"), 64);
}

/* ---- identity ----------------------------------------------------------- */

/* The documented encoding, built independently of the library. */
static void expected_hash(const emc_dataset *d, uint8_t out[32])
{
	size_t len = 14 + 8 + 16 + (size_t)(d->n * d->dim) * 4 + (size_t)d->n, at = 0;
	uint8_t *buf = malloc(len);
	uint32_t head[4] = { (uint32_t)d->shape.channels, (uint32_t)d->shape.height,
			     (uint32_t)d->shape.width, (uint32_t)d->shape.classes };

	assert_non_null(buf);
	memcpy(buf, "emc-dataset-v1", 14);
	at = 14;
	for (int b = 0; b < 8; b++)
		buf[at++] = (uint8_t)((uint64_t)d->n >> (8 * b));
	for (int k = 0; k < 4; k++)
		for (int b = 0; b < 4; b++)
			buf[at++] = (uint8_t)(head[k] >> (8 * b));
	for (int64_t i = 0; i < d->n * d->dim; i++) {
		float f = d->x[i] == 0.0f ? 0.0f : d->x[i];
		uint32_t u;

		memcpy(&u, &f, 4);
		for (int b = 0; b < 4; b++)
			buf[at++] = (uint8_t)(u >> (8 * b));
	}
	memcpy(buf + at, d->y, (size_t)d->n);
	at += (size_t)d->n;
	assert_int_equal(at, len);
	assert_int_equal(crypto_generichash(out, 32, buf, len, NULL, 0), 0);
	free(buf);
}

/* The transfer encoding is the hashed byte stream: it decodes to the same
 * samples and hash, and any changed byte is refused. */
static void test_encode_decode(void **state)
{
	uint8_t pix[SMALL_N * SMALL_ROWS * SMALL_COLS];
	char *dir = tmpdir_new(), *pi, *pl;
	blob bi, bl;
	emc_dataset_ref ref;
	emc_dataset *a, *b = NULL;
	uint8_t *buf;
	size_t len;
	emc_err err;

	(void)state;
	small_pixels(pix);
	bi = idx_images(SMALL_N, SMALL_ROWS, SMALL_COLS, pix);
	bl = idx_labels(SMALL_N, small_y);
	pi = write_blob(dir, "images.idx", &bi, false);
	pl = write_blob(dir, "labels.idx", &bl, false);
	ref_set(&ref, pi, pl);
	a = load_ok(&ref);
	assert_int_equal(emc_dataset_encode(a, &buf, &len, &err), 0);
	assert_int_equal(emc_dataset_decode(buf, len, a->hash, "copy", &b, &err), 0);
	assert_int_equal(b->n, a->n);
	assert_int_equal(b->dim, a->dim);
	assert_memory_equal(&b->shape, &a->shape, sizeof a->shape);
	assert_memory_equal(b->x, a->x, (size_t)(a->n * a->dim) * sizeof *a->x);
	assert_memory_equal(b->y, a->y, (size_t)a->n);
	assert_memory_equal(b->hash, a->hash, 32);
	emc_dataset_destroy(&b);
	buf[len / 2] ^= 0x40;
	assert_int_equal(emc_dataset_decode(buf, len, a->hash, "copy", &b, &err), -EBADMSG);
	assert_contains(err.msg, "copy: content hash mismatch");
	assert_null(b);
	/* Without an expected hash, structure is still checked. */
	assert_int_equal(emc_dataset_decode(buf, len - 1, NULL, "copy", &b, &err), -EINVAL);
	free(buf);
	emc_dataset_destroy(&a);
	free(bi.p);
	free(bl.p);
	free(pi);
	free(pl);
	tmpdir_remove(&dir);
}

/* An encoding whose channels x height x width overflows 64 bits (2^21 x
 * 2^21 x 2^22 = 2^64, 0 once wrapped) is refused as impossible, not
 * accepted as a dataset of zero-value samples with a giant shape (found
 * by fuzz_dataset: the product was formed before any side was bounded). */
static void test_decode_sizes_overflow(void **state)
{
	static const uint32_t sides[][3] = {
		{ 1u << 21, 1u << 21, 1u << 22 }, /* wraps to 0 */
		{ 0xffffffffu, 0xffffffffu, 1 },  /* past INT64_MAX */
		{ 1, 1u << 12, (1u << 12) + 1 },  /* one past EMC_DATASET_MAX_DIM */
	};
	uint8_t buf[14 + 8 + 16 + 1] = "emc-dataset-v1";
	emc_dataset *d = NULL;
	emc_err err = { "" };

	(void)state;
	for (size_t t = 0; t < sizeof sides / sizeof sides[0]; t++) {
		uint32_t head[4] = { sides[t][0], sides[t][1], sides[t][2], 2 };

		memset(buf + 14, 0, sizeof buf - 14);
		buf[14] = 1; /* n = 1 */
		for (int i = 0; i < 4; i++)
			for (int b = 0; b < 4; b++)
				buf[22 + 4 * i + b] = (uint8_t)(head[i] >> (8 * b));
		assert_int_equal(emc_dataset_decode(buf, sizeof buf, NULL, "enc", &d, &err), -EINVAL);
		assert_contains(err.msg, "enc: impossible sizes");
		assert_null(d);
	}
}

/* An encoding holding NaN or an infinity is refused: no reader produces
 * one (pixels are x / 255, table cells must be finite numbers), so such
 * bytes are corrupt or forged, and a worker would train on them (found by
 * fuzz_dataset: NaN bits 0xfffffff9 in a value were accepted). */
static void test_decode_non_finite(void **state)
{
	static const uint32_t bad[] = { 0xfffffff9u, 0x7fc00000u, 0x7f800000u, 0xff800000u };
	float x[4] = { 0.0f, 0.5f, 1.0f, -2.0f };
	uint8_t y[2] = { 1, 0 };
	emc_dataset d = { .n = 2, .shape = { 1, 1, 2, 2 }, .dim = 2, .x = x, .y = y }, *back = NULL;
	emc_err err = { "" };
	uint8_t *buf;
	size_t len;

	(void)state;
	assert_int_equal(emc_dataset_encode(&d, &buf, &len, &err), 0);
	assert_int_equal(emc_dataset_decode(buf, len, NULL, "enc", &back, &err), 0);
	emc_dataset_destroy(&back);
	for (size_t t = 0; t < sizeof bad / sizeof bad[0]; t++) {
		uint8_t *v = buf + len - 2 - 4 * 3; /* the second of four values */
		uint8_t keep[4];

		memcpy(keep, v, 4);
		for (int b = 0; b < 4; b++)
			v[b] = (uint8_t)(bad[t] >> (8 * b));
		assert_int_equal(emc_dataset_decode(buf, len, NULL, "enc", &back, &err), -EINVAL);
		assert_contains(err.msg, "enc: value 1 (byte 42) is not a finite number");
		assert_null(back);
		memcpy(v, keep, 4);
	}
	free(buf);
}

static void test_hash(void **state)
{
	uint8_t pix[SMALL_N * SMALL_ROWS * SMALL_COLS], want[32];
	char *dir = tmpdir_new(), *pi, *pl, *pz, h1[65], h2[65];
	blob bi, bl;
	emc_dataset_ref ref;
	emc_dataset *a, *b;

	(void)state;
	small_pixels(pix);
	bi = idx_images(SMALL_N, SMALL_ROWS, SMALL_COLS, pix);
	bl = idx_labels(SMALL_N, small_y);
	pi = write_blob(dir, "images.idx", &bi, false);
	pl = write_blob(dir, "labels.idx", &bl, false);
	pz = write_blob(dir, "images.idx.gz", &bi, true);
	ref_set(&ref, pi, pl);
	a = load_ok(&ref);
	b = load_ok(&ref);
	expected_hash(a, want);
	assert_memory_equal(a->hash, want, 32);
	assert_memory_equal(a->hash, b->hash, 32);
	hex_of(a, h1);
	for (int i = 0; i < 32; i++) {
		char two[3];

		snprintf(two, sizeof two, "%02x", a->hash[i]);
		assert_memory_equal(h1 + 2 * i, two, 2);
	}
	emc_dataset_destroy(&b);

	/* The content, not the file, is the identity: gzip changes nothing. */
	ref_set(&ref, pz, pl);
	b = load_ok(&ref);
	assert_memory_equal(a->hash, b->hash, 32);
	emc_dataset_destroy(&b);

	/* One pixel byte, then one label byte, make another dataset. */
	bi.p[16 + 17] ^= 1;
	free(write_blob(dir, "images.idx", &bi, false));
	ref_set(&ref, pi, pl);
	b = load_ok(&ref);
	hex_of(b, h2);
	assert_string_not_equal(h1, h2);
	emc_dataset_destroy(&b);
	bi.p[16 + 17] ^= 1;
	free(write_blob(dir, "images.idx", &bi, false));
	bl.p[8 + 2] = 0;
	free(write_blob(dir, "labels.idx", &bl, false));
	b = load_ok(&ref);
	assert_memory_not_equal(a->hash, b->hash, 32);
	expected_hash(b, want);
	assert_memory_equal(b->hash, want, 32);
	emc_dataset_destroy(&b);

	/* Standardising makes other numbers, so another dataset. */
	bl.p[8 + 2] = small_y[2];
	free(write_blob(dir, "labels.idx", &bl, false));
	ref.standardize = true;
	b = load_ok(&ref);
	assert_memory_not_equal(a->hash, b->hash, 32);
	emc_dataset_destroy(&b);

	emc_dataset_destroy(&a);
	free(bi.p);
	free(bl.p);
	free(pi);
	free(pl);
	free(pz);
	tmpdir_remove(&dir);
}

static void test_idx_standardize(void **state)
{
	uint8_t pix[SMALL_N * SMALL_ROWS * SMALL_COLS];
	char *dir = tmpdir_new(), *pi, *pl;
	blob bi, bl;
	emc_dataset_ref ref;
	emc_dataset *d;
	double s = 0, ss = 0;

	(void)state;
	small_pixels(pix);
	bi = idx_images(SMALL_N, SMALL_ROWS, SMALL_COLS, pix);
	bl = idx_labels(SMALL_N, small_y);
	pi = write_blob(dir, "images.idx", &bi, false);
	pl = write_blob(dir, "labels.idx", &bl, false);
	ref_set(&ref, pi, pl);
	ref.standardize = true;
	d = load_ok(&ref);
	/* One channel: one mean and one deviation over every pixel. */
	for (int64_t i = 0; i < d->n * d->dim; i++)
		s += d->x[i];
	s /= (double)(d->n * d->dim);
	for (int64_t i = 0; i < d->n * d->dim; i++)
		ss += (d->x[i] - s) * (d->x[i] - s);
	assert_true(fabs(s) < 1e-6);
	assert_true(fabs(sqrt(ss / (double)(d->n * d->dim)) - 1.0) < 1e-5);
	/* Standardising is affine and increasing: the order of pixels stays. */
	for (int i = 1; i < SMALL_N * SMALL_ROWS * SMALL_COLS; i++)
		assert_true((pix[i] < pix[i - 1]) == (d->x[i] < d->x[i - 1]));
	emc_dataset_destroy(&d);
	free(bi.p);
	free(bl.p);
	free(pi);
	free(pl);
	tmpdir_remove(&dir);
}

/* ---- CIFAR -------------------------------------------------------------- */

#define CIFAR_PIX 3072

static uint8_t cifar_pixel(int base, int r, int j)
{
	return (uint8_t)(base + r * 7 + j * 13);
}

/* A batch of `records` records: label bytes from labels (label_bytes per
 * record), pixels from cifar_pixel(base, r, j). extra bytes are appended. */
static char *write_cifar(const char *dir, const char *name, int label_bytes, int records,
			 const uint8_t *labels, int base, size_t extra)
{
	size_t rec = (size_t)label_bytes + CIFAR_PIX, len = rec * (size_t)records + extra;
	uint8_t *buf = calloc(len ? len : 1, 1);
	char *path;

	assert_non_null(buf);
	for (int r = 0; r < records; r++) {
		memcpy(buf + r * rec, labels + r * label_bytes, (size_t)label_bytes);
		for (int j = 0; j < CIFAR_PIX; j++)
			buf[r * rec + (size_t)label_bytes + (size_t)j] = cifar_pixel(base, r, j);
	}
	path = write_file(dir, name, buf, len);
	free(buf);
	return path;
}

static const int c10_records[5] = { 2, 1, 3, 1, 2 };

static void c10_labels(int file, uint8_t *out)
{
	for (int r = 0; r < 3; r++)
		out[r] = (uint8_t)((file * 3 + r) % 10);
}

/* The five training batches and a test batch of 4 records. */
static void write_cifar10(const char *dir)
{
	uint8_t lab[4];
	char name[32];

	for (int f = 0; f < 5; f++) {
		c10_labels(f, lab);
		snprintf(name, sizeof name, "data_batch_%d.bin", f + 1);
		free(write_cifar(dir, name, 1, c10_records[f], lab, f * 40, 0));
	}
	lab[0] = 9, lab[1] = 0, lab[2] = 5, lab[3] = 5;
	free(write_cifar(dir, "test_batch.bin", 1, 4, lab, 200, 0));
}

static void cifar_ref(emc_dataset_ref *ref, const char *format, const char *path)
{
	memset(ref, 0, sizeof *ref);
	strcpy(ref->format, format);
	snprintf(ref->path, sizeof ref->path, "%s", path);
}

static void test_cifar10(void **state)
{
	char *dir = tmpdir_new(), h1[65], h2[65];
	emc_dataset_ref ref;
	emc_dataset *d, *d2;
	emc_err err = { "" };
	int64_t s = 0;

	(void)state;
	write_cifar10(dir);
	/* A relative directory is resolved against the base directory. */
	cifar_ref(&ref, "cifar10", ".");
	assert_int_equal(emc_dataset_resolve(&ref, dir, &err), 0);
	assert_true(ref.path[0] == '/');
	d = load_ok(&ref);
	assert_int_equal(d->n, 9);
	assert_int_equal(d->dim, CIFAR_PIX);
	assert_int_equal(d->shape.channels, 3);
	assert_int_equal(d->shape.height, 32);
	assert_int_equal(d->shape.width, 32);
	assert_int_equal(d->shape.classes, 10);
	/* Files in order 1..5, records in file order, pixels as stored. */
	for (int f = 0; f < 5; f++) {
		uint8_t lab[3];

		c10_labels(f, lab);
		for (int r = 0; r < c10_records[f]; r++, s++) {
			assert_int_equal(d->y[s], lab[r]);
			for (int j = 0; j < CIFAR_PIX; j += 97)
				assert_true(d->x[s * CIFAR_PIX + j] == cifar_pixel(f * 40, r, j) / 255.0f);
		}
	}
	d2 = load_ok(&ref);
	assert_memory_equal(d->hash, d2->hash, 32);
	emc_dataset_destroy(&d2);

	strcpy(ref.split, "test");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), 0);
	d2 = load_ok(&ref);
	assert_int_equal(d2->n, 4);
	assert_int_equal(d2->y[0], 9);
	assert_int_equal(d2->y[2], 5);
	assert_true(d2->x[CIFAR_PIX + 5] == cifar_pixel(200, 1, 5) / 255.0f);
	hex_of(d, h1);
	hex_of(d2, h2);
	assert_string_not_equal(h1, h2);
	emc_dataset_destroy(&d2);
	emc_dataset_destroy(&d);

	strcpy(ref.split, "valid");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -EINVAL);
	assert_contains(err.msg, "dataset.split");
	ref.split[0] = '\0';
	strcpy(ref.cifar_label, "fine");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -EINVAL);
	assert_contains(err.msg, "dataset.label: ");
	load_fails(&ref, -EINVAL, "dataset.label: ", "cifar100", NULL);
	tmpdir_remove(&dir);
}

static void test_cifar100(void **state)
{
	char *dir = tmpdir_new();
	uint8_t lab[2 * 5];
	emc_dataset_ref ref;
	emc_dataset *d;
	emc_err err = { "" };

	(void)state;
	for (int r = 0; r < 5; r++) {
		lab[2 * r] = (uint8_t)(r * 4 + 3);       /* coarse */
		lab[2 * r + 1] = (uint8_t)(r * 21 + 10); /* fine */
	}
	free(write_cifar(dir, "train.bin", 2, 5, lab, 1, 0));
	free(write_cifar(dir, "test.bin", 2, 2, lab, 2, 0));
	cifar_ref(&ref, "cifar100", dir);
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), 0);
	d = load_ok(&ref);
	assert_int_equal(d->n, 5);
	assert_int_equal(d->shape.classes, 100);
	assert_int_equal(d->shape.channels, 3);
	for (int r = 0; r < 5; r++) {
		assert_int_equal(d->y[r], r * 21 + 10);
		assert_true(d->x[r * CIFAR_PIX + 3071] == cifar_pixel(1, r, 3071) / 255.0f);
		assert_true(d->x[r * CIFAR_PIX] == cifar_pixel(1, r, 0) / 255.0f);
	}
	emc_dataset_destroy(&d);

	strcpy(ref.cifar_label, "coarse");
	d = load_ok(&ref);
	assert_int_equal(d->shape.classes, 20);
	for (int r = 0; r < 5; r++)
		assert_int_equal(d->y[r], r * 4 + 3);
	emc_dataset_destroy(&d);

	strcpy(ref.split, "test");
	d = load_ok(&ref);
	assert_int_equal(d->n, 2);
	emc_dataset_destroy(&d);

	strcpy(ref.cifar_label, "medium");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -EINVAL);
	assert_contains(err.msg, "dataset.label: ");
	assert_contains(err.msg, "medium");
	tmpdir_remove(&dir);
}

static void test_cifar_corrupt(void **state)
{
	char *dir = tmpdir_new(), *p, file[600];
	uint8_t lab[6] = { 1, 2, 3, 4, 5, 6 };
	emc_dataset_ref ref;
	emc_err err = { "" };

	(void)state;
	write_cifar10(dir);
	cifar_ref(&ref, "cifar10", dir);

	/* A cut record: the offset is where the incomplete record starts. */
	free(write_cifar(dir, "data_batch_3.bin", 1, 2, lab, 0, 5));
	load_fails(&ref, -EINVAL, "data_batch_3.bin", "byte 6146", "3073-byte", "6151 bytes", NULL);
	free(write_cifar(dir, "data_batch_3.bin", 1, 2, lab, 0, 3072));
	load_fails(&ref, -EINVAL, "data_batch_3.bin", "byte 6146", "cut short", NULL);
	free(write_cifar(dir, "data_batch_3.bin", 1, 2, lab, 0, 0));
	{
		emc_dataset *d = load_ok(&ref);

		assert_int_equal(d->n, 8); /* batch 3 now holds 2 records */
		emc_dataset_destroy(&d);
	}

	/* A label out of range, at its byte offset. */
	lab[1] = 10;
	free(write_cifar(dir, "data_batch_2.bin", 1, 2, lab, 0, 0));
	load_fails(&ref, -EINVAL, "data_batch_2.bin", "byte 3073", "label 10", "0 to 9", NULL);
	lab[1] = 2;
	free(write_cifar(dir, "data_batch_2.bin", 1, 2, lab, 0, 0));

	/* An empty batch. */
	free(write_file(dir, "data_batch_5.bin", "", 0));
	load_fails(&ref, -EINVAL, "data_batch_5.bin", "empty", NULL);

	/* A missing batch: resolve names it, and so does load. */
	snprintf(file, sizeof file, "%s/data_batch_4.bin", dir);
	assert_int_equal(unlink(file), 0);
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -ENOENT);
	assert_contains(err.msg, "data_batch_4.bin");
	assert_contains(err.msg, "dataset.path");
	load_fails(&ref, -ENOENT, "data_batch_4.bin", NULL);

	/* The path must be a directory. */
	p = write_text(dir, "not-a-dir", "x");
	cifar_ref(&ref, "cifar10", p);
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -ENOTDIR);
	assert_contains(err.msg, "dataset.path");
	free(p);
	cifar_ref(&ref, "cifar10", "");
	load_fails(&ref, -EINVAL, "dataset.path", NULL);

	/* CIFAR-100: fine labels below 100, coarse below 20, both checked. */
	for (int r = 0; r < 3; r++)
		lab[2 * r] = 19, lab[2 * r + 1] = 99;
	lab[2 * 2 + 1] = 100;
	free(write_cifar(dir, "train.bin", 2, 3, lab, 0, 0));
	cifar_ref(&ref, "cifar100", dir);
	load_fails(&ref, -EINVAL, "train.bin", "byte 6149", "fine label 100", "0 to 99", NULL);
	lab[2 * 2 + 1] = 99;
	lab[0] = 20;
	free(write_cifar(dir, "train.bin", 2, 3, lab, 0, 0));
	strcpy(ref.cifar_label, "fine"); /* the coarse byte is checked anyway */
	load_fails(&ref, -EINVAL, "train.bin", "byte 0", "coarse label 20", "0 to 19", NULL);
	lab[0] = 0;
	free(write_cifar(dir, "train.bin", 2, 3, lab, 0, 3073));
	load_fails(&ref, -EINVAL, "train.bin", "byte 9222", "3074-byte", NULL);
	tmpdir_remove(&dir);
}

static void test_cifar_standardize(void **state)
{
	char *dir = tmpdir_new();
	uint8_t lab[3] = { 0, 1, 2 };
	emc_dataset_ref ref;
	emc_dataset *tr, *te;

	(void)state;
	write_cifar10(dir);
	/* The test batch is a copy of the first training batch. */
	c10_labels(0, lab);
	free(write_cifar(dir, "test_batch.bin", 1, 2, lab, 0, 0));
	cifar_ref(&ref, "cifar10", dir);
	ref.standardize = true;
	tr = load_ok(&ref);
	for (int c = 0; c < 3; c++) {
		double s = 0, ss = 0, m;
		int64_t cnt = tr->n * 1024;

		for (int64_t i = 0; i < tr->n; i++)
			for (int j = 0; j < 1024; j++)
				s += tr->x[i * CIFAR_PIX + c * 1024 + j];
		m = s / (double)cnt;
		for (int64_t i = 0; i < tr->n; i++)
			for (int j = 0; j < 1024; j++) {
				double v = tr->x[i * CIFAR_PIX + c * 1024 + j] - m;

				ss += v * v;
			}
		assert_true(fabs(m) < 1e-5);
		assert_true(fabs(sqrt(ss / (double)cnt) - 1.0) < 1e-4);
	}
	/* The test split uses the training statistics: its copy of the first
	 * batch standardises to exactly the training split's numbers. */
	strcpy(ref.split, "test");
	te = load_ok(&ref);
	assert_int_equal(te->n, 2);
	assert_memory_equal(te->x, tr->x, 2 * CIFAR_PIX * sizeof *te->x);
	emc_dataset_destroy(&te);
	emc_dataset_destroy(&tr);
	tmpdir_remove(&dir);
}

/* ---- CSV ---------------------------------------------------------------- */

static void csv_ref(emc_dataset_ref *ref, const char *path, const char *label, const char *cat)
{
	memset(ref, 0, sizeof *ref);
	strcpy(ref->format, "csv");
	snprintf(ref->path, sizeof ref->path, "%s", path);
	snprintf(ref->label_column, sizeof ref->label_column, "%s", label);
	snprintf(ref->categorical, sizeof ref->categorical, "%s", cat);
}

static const char csv_table[] = "\"x 1\",color,x2,label,k\r\n"
				"1,red,0.5,9,7\r\n"
				"2,\"blue\",1.5,10,7\r\n"
				"3,\"gr\"\"een\",2.5,9,7\r\n"
				"\r\n" /* blank lines are skipped */
				"4, red ,3.5,2,7"; /* no final newline; spaces trimmed */

static void test_csv(void **state)
{
	char *dir = tmpdir_new(), *p, *pz, h1[65], h2[65];
	emc_dataset_ref ref;
	emc_dataset *d, *dz;
	emc_err err = { "" };
	static const uint8_t want_y[4] = { 1, 2, 1, 0 }; /* 2 < 9 < 10 numerically */
	/* one-hot of blue, gr"een, red (bytewise) for the rows */
	static const int color[4] = { 2, 0, 1, 2 };
	double mean, sd;

	(void)state;
	p = write_text(dir, "t.csv", csv_table);
	pz = write_gz(dir, "t.csv.gz", csv_table, strlen(csv_table));
	csv_ref(&ref, "t.csv", "label", "color");
	assert_int_equal(emc_dataset_resolve(&ref, dir, &err), 0);
	assert_string_equal(ref.path, p);
	d = load_ok(&ref);
	assert_int_equal(d->n, 4);
	assert_int_equal(d->dim, 6); /* x 1, three colours, x2, k */
	assert_int_equal(d->shape.channels, 1);
	assert_int_equal(d->shape.height, 1);
	assert_int_equal(d->shape.width, 6);
	assert_int_equal(d->shape.classes, 3);
	assert_memory_equal(d->y, want_y, 4);
	/* Every column standardised; the constant one is all zero. */
	for (int j = 0; j < 5; j++) {
		column_moments(d, j, &mean, &sd);
		assert_true(fabs(mean) < 1e-6);
		assert_true(fabs(sd - 1.0) < 1e-5);
	}
	for (int i = 0; i < 4; i++)
		assert_true(d->x[i * 6 + 5] == 0.0f);
	/* x 1 = 1, 2, 3, 4: mean 2.5, sd sqrt(1.25). */
	assert_true(fabsf(d->x[0] - (float)(-1.5 / sqrt(1.25))) < 1e-6f);
	/* The one-hot columns: the row's colour is the larger value. */
	for (int i = 0; i < 4; i++)
		for (int c = 0; c < 3; c++)
			for (int c2 = 0; c2 < 3; c2++)
				if (c == color[i] && c2 != color[i])
					assert_true(d->x[i * 6 + 1 + c] > 0 && d->x[i * 6 + 1 + c2] < 0);

	/* gzip: the same dataset. */
	csv_ref(&ref, pz, "label", "color");
	dz = load_ok(&ref);
	assert_memory_equal(d->hash, dz->hash, 32);
	emc_dataset_destroy(&dz);

	/* Spaces after the commas of the list are allowed. */
	csv_ref(&ref, p, "label", " color ");
	dz = load_ok(&ref);
	assert_memory_equal(d->hash, dz->hash, 32);
	emc_dataset_destroy(&dz);

	/* A one-byte change is another dataset. */
	free(write_text(dir, "t.csv", "\"x 1\",color,x2,label,k\n1,red,0.5,9,7\n2,blue,1.5,10,7\n"
					  "3,\"gr\"\"een\",2.5,9,7\n4,red,3.6,2,7\n"));
	csv_ref(&ref, p, "label", "color");
	dz = load_ok(&ref);
	hex_of(d, h1);
	hex_of(dz, h2);
	assert_string_not_equal(h1, h2);
	emc_dataset_destroy(&dz);
	emc_dataset_destroy(&d);

	/* String labels sort bytewise; a table of one label still has two classes. */
	free(write_text(dir, "s.csv", "a,animal\n1,dog\n2,cat\n3,ant\n4,cat\n"));
	free(p);
	p = NULL;
	csv_ref(&ref, "s.csv", "animal", "");
	assert_int_equal(emc_dataset_resolve(&ref, dir, &err), 0);
	d = load_ok(&ref);
	assert_int_equal(d->shape.classes, 3);
	assert_int_equal(d->y[0], 2);
	assert_int_equal(d->y[1], 1);
	assert_int_equal(d->y[2], 0);
	assert_int_equal(d->y[3], 1);
	emc_dataset_destroy(&d);
	free(write_text(dir, "s.csv", "a,animal\n1,10\n2,9\n3,x\n"));
	d = load_ok(&ref);
	/* Not all numbers: bytewise, "10" < "9" < "x". */
	assert_int_equal(d->y[0], 0);
	assert_int_equal(d->y[1], 1);
	assert_int_equal(d->y[2], 2);
	emc_dataset_destroy(&d);
	free(write_text(dir, "s.csv", "a,animal\n1,cat\n2,cat\n"));
	d = load_ok(&ref);
	assert_int_equal(d->shape.classes, 2);
	assert_int_equal(d->y[0], 0);
	emc_dataset_destroy(&d);
	free(pz);
	tmpdir_remove(&dir);
}

typedef struct csv_case {
	const char *text;
	const char *label, *categorical;
	const char *expect[3];
} csv_case;

static const csv_case csv_cases[] = {
	{ "a,label\n1,0\n2\n3,1\n", "label", "", { "line 3", "1 field,", "2 columns" } },
	{ "a,label\n1,0\n2,1,5\n", "label", "", { "line 3", "3 fields", "2 columns" } },
	{ "a,b,label\n1,2,0\n3,x y,1\n", "label", "", { "line 3, column 2 ('b')", "'x y'", "not a finite number" } },
	{ "a,label\nnan,0\n", "label", "", { "line 2, column 1 ('a')", "'nan'", NULL } },
	{ "a,label\n1e999,0\n", "label", "", { "line 2, column 1", "1e999", NULL } },
	{ "a,b,label\n1,,0\n", "label", "", { "line 2, column 2 ('b')", "''", NULL } },
	{ "a,label\n1,0\n", "target", "", { "dataset.label: ", "line 1", "'target'" } },
	{ "", "label", "", { "line 1", "empty file", NULL } },
	{ "\n\r\n\n", "label", "", { "line 1", "empty file", NULL } },
	{ "a,label\n", "label", "", { "no data rows", NULL, NULL } },
	{ "a,label\n1,0\n2,\"x\"y\n", "label", "", { "line 3, column 2", "malformed CSV", NULL } },
	{ "a,label\n1,0\n2,x\"y\"\n", "label", "", { "line 3, column 2", "malformed CSV", NULL } },
	{ "a,label\n1,0\n2,\"1\n3,0\n", "label", "", { "line 4", "not closed", NULL } },
	{ "a,a,label\n1,2,0\n", "label", "", { "line 1", "columns 1 and 2", "'a'" } },
	{ "a,,label\n1,2,0\n", "label", "", { "line 1, column 2", "empty column name", NULL } },
	{ "a,label\n1,\n", "label", "", { "line 2, column 2 ('label')", "empty label", NULL } },
	{ "a,label\n1,0\n", "label", "zzz", { "dataset.categorical", "'zzz'", "'a', 'label'" } },
	{ "a,label\n1,0\n", "label", "label", { "dataset.categorical", "label column", NULL } },
	{ "a,label\n1,0\n", "label", "a,a", { "dataset.categorical", "twice", NULL } },
	{ "a,label\n1,0\n", "label", "a,", { "dataset.categorical", "empty column name", NULL } },
	{ "label\n0\n1\n", "label", "", { "line 1", "no feature columns", NULL } },
	/* A quoted field over two lines: later lines are still counted. */
	{ "a,c,label\n1,\"two\nlines\",0\n2,x,1\n3y,y,z\n", "label", "c", { "line 5, column 1 ('a')", "'3y'", NULL } },
	{ "a,c,label\n1,\"two\nlines\",0\n", "label", "", { "line 3, column 2 ('c')", "'two?lines'", NULL } },
	{ "a,c,label\n1,\"two\nlines\",0\n2,x,1\n3,y\n", "label", "c", { "line 5", "2 fields", NULL } },
};

static void test_csv_corrupt(void **state)
{
	char *dir = tmpdir_new(), *p;
	emc_dataset_ref ref;

	(void)state;
	for (size_t i = 0; i < sizeof csv_cases / sizeof csv_cases[0]; i++) {
		const csv_case *c = &csv_cases[i];

		p = write_text(dir, "bad.csv", c->text);
		csv_ref(&ref, p, c->label, c->categorical);
		load_fails(&ref, -EINVAL, "bad.csv", c->expect[0], c->expect[1] ? c->expect[1] : "",
			   c->expect[2] ? c->expect[2] : "", NULL);
		free(p);
	}
	tmpdir_remove(&dir);
}

static void test_csv_limits_and_refs(void **state)
{
	char *dir = tmpdir_new(), *p, *text = malloc(300 * 16), *at;
	emc_dataset_ref ref;
	emc_err err = { "" };

	(void)state;
	/* More than 256 distinct labels. */
	assert_non_null(text);
	at = text + sprintf(text, "a,label\n");
	for (int i = 0; i < 300; i++)
		at += sprintf(at, "%d,L%d\n", i, i);
	p = write_text(dir, "many.csv", text);
	csv_ref(&ref, p, "label", "");
	load_fails(&ref, -EINVAL, "many.csv", "line 258", "more than 256 distinct labels", NULL);

	/* A field that never ends is refused, not buffered without bound. */
	free(text);
	text = malloc((1 << 20) + 1024);
	assert_non_null(text);
	strcpy(text, "a,label\n1,\"");
	memset(text + strlen(text), 'x', (1 << 20) + 512);
	text[11 + (1 << 20) + 512] = '\0';
	free(write_text(dir, "long.csv", text));
	csv_ref(&ref, "long.csv", "label", "");
	assert_int_equal(emc_dataset_resolve(&ref, dir, &err), 0);
	load_fails(&ref, -EINVAL, "long.csv", "line 2, column 2", "longer than", NULL);

	/* References: no label column, no file, a missing file, a test split. */
	csv_ref(&ref, p, "", "");
	assert_int_equal(emc_dataset_resolve(&ref, dir, &err), -EINVAL);
	assert_contains(err.msg, "dataset.label: ");
	load_fails(&ref, -EINVAL, "dataset.label: ", NULL);
	csv_ref(&ref, "", "label", "");
	assert_int_equal(emc_dataset_resolve(&ref, dir, &err), -EINVAL);
	assert_contains(err.msg, "dataset.path");
	csv_ref(&ref, "nothing.csv", "label", "");
	assert_int_equal(emc_dataset_resolve(&ref, dir, &err), -ENOENT);
	assert_contains(err.msg, "nothing.csv");
	csv_ref(&ref, p, "label", "");
	strcpy(ref.split, "test");
	assert_int_equal(emc_dataset_resolve(&ref, dir, &err), -EINVAL);
	assert_contains(err.msg, "dataset.split");
	csv_ref(&ref, "/nonexistent-dir/x.csv", "label", "");
	load_fails(&ref, -ENOENT, "x.csv", "cannot open", NULL);
	free(p);
	free(text);
	tmpdir_remove(&dir);
}

/* ---- scikit-learn's tables ---------------------------------------------- */

static void alias_ref(emc_dataset_ref *ref, const char *name)
{
	memset(ref, 0, sizeof *ref);
	snprintf(ref->name, sizeof ref->name, "%s", name);
}

/* Columns of extreme but finite numbers are standardised like any other:
 * mean 0 and standard deviation 1, finite. Summing 1e308 twice, squaring
 * 1e200 or 1e-200 leaves double's range, which made the first column NaN,
 * the second and third all 0. Ordinary columns keep their exact values
 * (and so their datasets' hashes). */
static void test_csv_extreme_values(void **state)
{
	static const char *const tables[] = {
		"a,label\n1e308,x\n1.5e308,y\n-1e308,x\n",
		"a,label\n1e200,x\n-1e200,y\n3e199,x\n",
		"a,label\n1e-200,x\n2e-200,y\n4e-200,x\n",
		"a,label\n1.7976931348623157e308,x\n-1.7976931348623157e308,y\n",
	};
	char *dir = tmpdir_new(), *p;
	emc_dataset_ref ref;
	emc_dataset *d;
	double mean, sd;

	(void)state;
	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
		p = write_text(dir, "t.csv", tables[t]);
		csv_ref(&ref, p, "label", "");
		d = load_ok(&ref);
		for (int64_t i = 0; i < d->n; i++)
			if (!isfinite(d->x[i]))
				fail_msg("table %zu: value %lld is %f", t, (long long)i, (double)d->x[i]);
		column_moments(d, 0, &mean, &sd);
		if (fabs(mean) > 1e-6 || fabs(sd - 1.0) > 1e-5)
			fail_msg("table %zu: mean %g, sd %g", t, mean, sd);
		emc_dataset_destroy(&d);
		free(p);
	}
	tmpdir_remove(&dir);
}

static void test_sklearn_fake(void **state)
{
	char *dir = tmpdir_new(), digits[4 * 200], *at;
	emc_dataset_ref ref;
	emc_dataset *d;
	emc_err err = { "" };
	static const char *const names[4] = { "iris", "wine", "breast-cancer", "digits" };
	static const char *const files[4] = { "iris.csv", "wine_data.csv", "breast_cancer.csv",
					      "digits.csv.gz" };

	(void)state;
	assert_int_equal(setenv("EMC_SKLEARN_DATA_DIR", dir, 1), 0);
	for (int i = 0; i < 4; i++) {
		alias_ref(&ref, names[i]);
		assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -ENOENT);
		assert_contains(err.msg, files[i]);
		assert_contains(err.msg, "install Debian package python3-sklearn");
	}

	free(write_text(dir, "iris.csv", "3,2,a,b\n1,2,0\n3,4,1\n5,7,1\n"));
	alias_ref(&ref, "iris");
	assert_int_equal(emc_dataset_resolve(&ref, "/ignored", &err), 0);
	assert_string_equal(ref.format, "csv");
	assert_string_equal(ref.split, "train");
	assert_non_null(strstr(ref.path, "/iris.csv"));
	d = load_ok(&ref);
	assert_int_equal(d->n, 3);
	assert_int_equal(d->dim, 2);
	assert_int_equal(d->shape.classes, 2);
	assert_int_equal(d->y[0], 0);
	assert_int_equal(d->y[2], 1);
	/* column 0 = 1, 3, 5: standardised to -sqrt(1.5), 0, sqrt(1.5) */
	assert_true(fabsf(d->x[0] + (float)sqrt(1.5)) < 1e-6f);
	assert_true(d->x[2] == 0.0f);
	emc_dataset_destroy(&d);

	strcpy(ref.split, "test");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -EINVAL);
	assert_contains(err.msg, "no test split");
	alias_ref(&ref, "iris");
	strcpy(ref.format, "idx");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -EINVAL);
	assert_contains(err.msg, "dataset.format");

	/* Corrupt tables. */
	alias_ref(&ref, "iris");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), 0);
	free(write_text(dir, "iris.csv", "3,2,a,b\n1,2,0\n3,4,1\n"));
	load_fails(&ref, -EINVAL, "iris.csv", "2 rows", "promises 3", NULL);
	free(write_text(dir, "iris.csv", "1,2,a,b\n1,2,0\n3,4,1\n"));
	load_fails(&ref, -EINVAL, "iris.csv", "line 3", "more rows than the 1", NULL);
	free(write_text(dir, "iris.csv", "2,2,a,b\n1,2,0\n3,4,2\n"));
	load_fails(&ref, -EINVAL, "iris.csv", "line 3, column 3", "label '2'", "0 to 1", NULL);
	free(write_text(dir, "iris.csv", "2,2,a,b\n1,2,0\n3,1\n"));
	load_fails(&ref, -EINVAL, "iris.csv", "line 3", "2 fields", NULL);
	free(write_text(dir, "iris.csv", "2,2,a,b\n1,2,0\n3,z,1\n"));
	load_fails(&ref, -EINVAL, "iris.csv", "line 3, column 2", "'z'", NULL);
	free(write_text(dir, "iris.csv", "sepal,2,a,b\n1,2,0\n"));
	load_fails(&ref, -EINVAL, "iris.csv", "line 1, column 1", "n_samples", NULL);
	free(write_text(dir, "iris.csv", "2,2\n"));
	load_fails(&ref, -EINVAL, "iris.csv", "line 1", "header", NULL);
	free(write_text(dir, "iris.csv", ""));
	load_fails(&ref, -EINVAL, "iris.csv", "line 1", "no samples", NULL);

	/* digits: gzip, no header, 64 features and a label below 10. */
	at = digits;
	for (int r = 0; r < 3; r++) {
		for (int j = 0; j < 64; j++)
			at += sprintf(at, "%d,", (r * 5 + j) % 17);
		at += sprintf(at, "%d\n", r + 7);
	}
	free(write_gz(dir, "digits.csv.gz", digits, strlen(digits)));
	alias_ref(&ref, "digits");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), 0);
	d = load_ok(&ref);
	assert_int_equal(d->n, 3);
	assert_int_equal(d->dim, 64);
	assert_int_equal(d->shape.width, 64);
	assert_int_equal(d->shape.classes, 10);
	assert_int_equal(d->y[2], 9);
	emc_dataset_destroy(&d);
	strcpy(at - 2, "10\n"); /* the last label becomes 10 */
	free(write_gz(dir, "digits.csv.gz", digits, strlen(digits)));
	load_fails(&ref, -EINVAL, "digits.csv.gz", "line 3, column 65", "label '10'", "0 to 9", NULL);
	free(write_text(dir, "digits.csv.gz", "not gzip, and too short\n"));
	load_fails(&ref, -EINVAL, "digits.csv.gz", "line 1", "2 fields", "64 features", NULL);

	assert_int_equal(unsetenv("EMC_SKLEARN_DATA_DIR"), 0);
	tmpdir_remove(&dir);
}

static void test_sklearn_real(void **state)
{
	static const struct {
		const char *name;
		int64_t n, d;
		int classes;
		int64_t first_count; /* samples of class 0 */
	} want[] = {
		{ "iris", 150, 4, 3, 50 },
		{ "wine", 178, 13, 3, 59 },
		{ "breast-cancer", 569, 30, 2, 212 },
		{ "digits", 1797, 64, 10, 178 },
	};
	struct stat st;

	(void)state;
	unsetenv("EMC_SKLEARN_DATA_DIR");
	if (stat("/usr/lib/python3/dist-packages/sklearn/datasets/data/iris.csv", &st) != 0)
		skip();
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		emc_dataset_ref ref;
		emc_dataset *d, *d2;
		emc_err err = { "" };
		int64_t count0 = 0;
		double mean, sd;

		alias_ref(&ref, want[i].name);
		if (emc_dataset_resolve(&ref, NULL, &err) < 0)
			fail_msg("%s", err.msg);
		d = load_ok(&ref);
		assert_int_equal(d->n, want[i].n);
		assert_int_equal(d->dim, want[i].d);
		assert_int_equal(d->shape.channels, 1);
		assert_int_equal(d->shape.height, 1);
		assert_int_equal(d->shape.width, want[i].d);
		assert_int_equal(d->shape.classes, want[i].classes);
		for (int64_t k = 0; k < d->n; k++)
			count0 += d->y[k] == 0;
		assert_int_equal(count0, want[i].first_count);
		for (int64_t j = 0; j < d->dim; j++) {
			column_moments(d, j, &mean, &sd);
			assert_true(fabs(mean) < 1e-5);
			/* digits has blank pixels: constant columns are 0 */
			assert_true(fabs(sd - 1.0) < 1e-4 || sd == 0.0);
		}
		d2 = load_ok(&ref);
		assert_memory_equal(d->hash, d2->hash, 32);
		emc_dataset_destroy(&d2);
		emc_dataset_destroy(&d);
	}
}

/* ---- synthetic ---------------------------------------------------------- */

static void synth_ref(emc_dataset_ref *ref, int64_t n, int dim, int classes, uint64_t seed,
		      const char *teacher)
{
	memset(ref, 0, sizeof *ref);
	strcpy(ref->format, "synthetic");
	ref->synth_n = n;
	ref->synth_dim = dim;
	ref->synth_classes = classes;
	ref->synth_seed = seed;
	snprintf(ref->synth_teacher, sizeof ref->synth_teacher, "%s", teacher);
}

/* Training accuracy of a multiclass perceptron after `epochs` passes. */
static double perceptron(const emc_dataset *d, int epochs)
{
	int k = d->shape.classes;
	int64_t dim = d->dim, correct = 0;
	double *w = calloc((size_t)(k * (dim + 1)), sizeof *w);

	assert_non_null(w);
	for (int e = 0; e <= epochs; e++) {
		correct = 0;
		for (int64_t i = 0; i < d->n; i++) {
			const float *x = d->x + i * dim;
			int best = 0;
			double bs = -INFINITY;

			for (int c = 0; c < k; c++) {
				double s = w[c * (dim + 1) + dim];

				for (int64_t j = 0; j < dim; j++)
					s += w[c * (dim + 1) + j] * x[j];
				if (s > bs)
					bs = s, best = c;
			}
			if (best == d->y[i]) {
				correct++;
				continue;
			}
			if (e == epochs)
				continue;
			for (int64_t j = 0; j < dim; j++) {
				w[d->y[i] * (dim + 1) + j] += x[j];
				w[best * (dim + 1) + j] -= x[j];
			}
			w[d->y[i] * (dim + 1) + dim] += 1;
			w[best * (dim + 1) + dim] -= 1;
		}
		if (correct == d->n)
			break;
	}
	free(w);
	return (double)correct / (double)d->n;
}

static void test_synthetic(void **state)
{
	emc_dataset_ref ref;
	emc_dataset *a, *b, *small;
	emc_err err = { "" };
	int64_t count[4] = { 0 };
	double mean, sd;

	(void)state;
	synth_ref(&ref, 400, 6, 4, 17, "uniform");
	assert_int_equal(emc_dataset_resolve(&ref, "/ignored", &err), 0);
	a = load_ok(&ref);
	b = load_ok(&ref);
	assert_int_equal(a->n, 400);
	assert_int_equal(a->dim, 6);
	assert_int_equal(a->shape.channels, 1);
	assert_int_equal(a->shape.height, 1);
	assert_int_equal(a->shape.width, 6);
	assert_int_equal(a->shape.classes, 4);
	assert_memory_equal(a->x, b->x, 400 * 6 * sizeof *a->x);
	assert_memory_equal(a->hash, b->hash, 32);
	for (int64_t i = 0; i < a->n; i++)
		count[a->y[i]]++;
	for (int k = 0; k < 4; k++)
		assert_true(count[k] > 60 && count[k] < 140);
	column_moments(a, 3, &mean, &sd);
	assert_true(fabs(mean) < 0.2 && fabs(sd - 1.0) < 0.15);
	/* Uniform labels are no function of x: a linear model cannot fit them. */
	assert_true(perceptron(a, 100) < 0.8);
	emc_dataset_destroy(&b);

	/* Per-sample generators: a smaller draw is a prefix. */
	ref.synth_n = 50;
	small = load_ok(&ref);
	assert_memory_equal(small->x, a->x, 50 * 6 * sizeof *a->x);
	assert_memory_equal(small->y, a->y, 50);
	assert_memory_not_equal(small->hash, a->hash, 32);
	emc_dataset_destroy(&small);

	ref.synth_n = 400;
	ref.synth_seed = 18;
	b = load_ok(&ref);
	assert_memory_not_equal(a->x, b->x, 400 * 6 * sizeof *a->x);
	emc_dataset_destroy(&b);

	/* A linear teacher: the same inputs, labels a linear model fits. */
	synth_ref(&ref, 400, 6, 4, 17, "linear");
	b = load_ok(&ref);
	assert_memory_equal(a->x, b->x, 400 * 6 * sizeof *a->x);
	assert_memory_not_equal(a->y, b->y, 400);
	memset(count, 0, sizeof count);
	for (int64_t i = 0; i < b->n; i++)
		count[b->y[i]]++;
	for (int k = 0; k < 4; k++)
		assert_true(count[k] > 0);
	assert_true(perceptron(b, 2000) > 0.97);
	emc_dataset_destroy(&b);
	emc_dataset_destroy(&a);

	/* An empty teacher is uniform. */
	synth_ref(&ref, 30, 2, 3, 5, "");
	a = load_ok(&ref);
	synth_ref(&ref, 30, 2, 3, 5, "uniform");
	b = load_ok(&ref);
	assert_memory_equal(a->hash, b->hash, 32);
	emc_dataset_destroy(&a);
	emc_dataset_destroy(&b);

	synth_ref(&ref, 0, 2, 3, 5, "");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -EINVAL);
	assert_contains(err.msg, "dataset.n: ");
	load_fails(&ref, -EINVAL, "dataset.n: ", NULL);
	synth_ref(&ref, 10, 0, 3, 5, "");
	load_fails(&ref, -EINVAL, "dataset.dim: ", NULL);
	synth_ref(&ref, 10, 2, 1, 5, "");
	load_fails(&ref, -EINVAL, "dataset.classes: ", NULL);
	synth_ref(&ref, 10, 2, 257, 5, "");
	load_fails(&ref, -EINVAL, "dataset.classes: ", NULL);
	synth_ref(&ref, 1 << 20, 1 << 12, 2, 5, "");
	load_fails(&ref, -EINVAL, "dataset.n: ", "more than", NULL);
	synth_ref(&ref, 10, 2, 3, 5, "cubic");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -EINVAL);
	assert_contains(err.msg, "dataset.labels: ");
	assert_contains(err.msg, "cubic");
	synth_ref(&ref, 10, 2, 3, 5, "");
	strcpy(ref.split, "test");
	assert_int_equal(emc_dataset_resolve(&ref, NULL, &err), -EINVAL);
	assert_contains(err.msg, "dataset.split");
}

/* ---- data variants ------------------------------------------------------ */

enum { VN = 600, VDIM = 12, VC = 10 };

/* An in-memory dataset whose values identify their sample: sample i holds
 * i * VDIM + j at j, so the smallest value of a row, permuted or not,
 * tells its index. Classes are skewed and one class holds one sample. */
static emc_dataset *variant_dataset(void)
{
	emc_dataset *d = calloc(1, sizeof *d);
	emc_rng rng;

	assert_non_null(d);
	d->n = VN;
	d->dim = VDIM;
	d->shape = (emc_input_shape){ 1, 3, 4, VC };
	d->x = malloc(VN * VDIM * sizeof *d->x);
	d->y = malloc(VN);
	assert_non_null(d->x);
	assert_non_null(d->y);
	emc_rng_seed(&rng, 99, 1);
	for (int i = 0; i < VN; i++) {
		int k = 0;

		while (k + 1 < VC - 1 && emc_rng_uniform(&rng) > 0.35)
			k++;
		d->y[i] = (uint8_t)k;
		for (int j = 0; j < VDIM; j++)
			d->x[i * VDIM + j] = (float)(i * VDIM + j);
	}
	d->y[VN / 2] = VC - 1;
	return d;
}

static int64_t row_index(const float *row)
{
	float lo = row[0];

	for (int j = 1; j < VDIM; j++)
		lo = row[j] < lo ? row[j] : lo;
	return (int64_t)lo / VDIM;
}

/* Materialize subset(n) and check success. */
static void materialize(const emc_dataset *d, const emc_variant *v, uint64_t seed, int64_t n,
			float *x, uint8_t *y)
{
	emc_err err = { "" };

	if (emc_subset_materialize(d, v, seed, n, x, y, &err) < 0)
		fail_msg("materialize: %s", err.msg);
}

/* The label of every sample index under v, from subset(n) for seed: -1
 * for indices not in the subset. Needs identity inputs to find indices. */
static void labels_by_index(const emc_dataset *d, emc_variant v, uint64_t seed, int64_t n, int *out)
{
	float *x = malloc((size_t)n * VDIM * sizeof *x);
	uint8_t *y = malloc((size_t)n);

	assert_non_null(x);
	assert_non_null(y);
	v.inputs = EMC_INPUTS_TRUE;
	materialize(d, &v, seed, n, x, y);
	for (int i = 0; i < VN; i++)
		out[i] = -1;
	for (int64_t i = 0; i < n; i++)
		out[row_index(x + i * VDIM)] = y[i];
	free(x);
	free(y);
}

static void test_variant_classes(void **state)
{
	emc_dataset *d = variant_dataset();
	emc_variant v = { 0 };
	emc_err err = { "" };
	emc_cell_cfg cell;
	int by[VN];

	(void)state;
	assert_int_equal(emc_variant_classes(d, &v, &err), VC);
	v.classes = 5;
	assert_int_equal(emc_variant_classes(d, &v, &err), 5);
	v.classes = 2;
	assert_int_equal(emc_variant_classes(d, &v, &err), 2);
	v.classes = 10;
	assert_int_equal(emc_variant_classes(d, &v, &err), 10);
	for (int bad = -1; bad <= 11; bad++) {
		if (bad == 0 || bad == 2 || bad == 5 || bad == 10)
			continue;
		v.classes = bad;
		assert_int_equal(emc_variant_classes(d, &v, &err), -EINVAL);
		assert_contains(err.msg, "variant.classes");
		assert_contains(err.msg, "10 classes");
	}
	v.classes = 0;
	v.labels = EMC_LABELS_NOISY;
	v.label_noise = 1.5;
	assert_int_equal(emc_variant_classes(d, &v, &err), -EINVAL);
	assert_contains(err.msg, "variant.label_noise");
	v.label_noise = NAN;
	assert_int_equal(emc_variant_classes(d, &v, &err), -EINVAL);
	v.label_noise = 0.5;
	v.inputs = EMC_INPUTS_COUNT;
	assert_int_equal(emc_variant_classes(d, &v, &err), -EINVAL);
	assert_contains(err.msg, "variant.inputs");
	v.inputs = EMC_INPUTS_TRUE;
	v.labels = EMC_LABELS_COUNT;
	assert_int_equal(emc_variant_classes(d, &v, &err), -EINVAL);
	assert_contains(err.msg, "variant.labels");

	/* Merging maps exactly: new = old / (C / K). */
	v = (emc_variant){ .classes = 5 };
	labels_by_index(d, v, 3, VN, by);
	for (int i = 0; i < VN; i++)
		assert_int_equal(by[i], d->y[i] / 2);
	v.classes = 2;
	labels_by_index(d, v, 3, VN, by);
	for (int i = 0; i < VN; i++)
		assert_int_equal(by[i], d->y[i] / 5);

	/* A cell's fields are its variant. */
	emc_cell_cfg_defaults(&cell);
	cell.labels = EMC_LABELS_NOISY;
	cell.label_noise = 0.25;
	cell.inputs = EMC_INPUTS_GAUSSIAN;
	cell.classes = 5;
	cell.seed = 41;
	v = emc_variant_of_cell(&cell);
	assert_int_equal(v.labels, EMC_LABELS_NOISY);
	assert_true(v.label_noise == 0.25);
	assert_int_equal(v.inputs, EMC_INPUTS_GAUSSIAN);
	assert_int_equal(v.classes, 5);
	/* the data seed is the replicate's unless the spec fixed one */
	assert_int_equal(v.data_seed, 41);
	cell.data_seed = 7;
	assert_int_equal(emc_variant_of_cell(&cell).data_seed, 41);
	cell.data_seed_fixed = true;
	assert_int_equal(emc_variant_of_cell(&cell).data_seed, 7);
	cell.data_seed = 0;
	assert_int_equal(emc_variant_of_cell(&cell).data_seed, 0);
	emc_dataset_destroy(&d);
}

/* With the true variant, materialize is the old two-step path. */
static void test_variant_true_is_plain_subset(void **state)
{
	emc_dataset *d = variant_dataset();
	emc_variant v = { .data_seed = 77 };
	int32_t order[VN];
	uint8_t lab[VN], y[VN];
	float *x = malloc(VN * VDIM * sizeof *x);
	emc_err err = { "" };

	(void)state;
	assert_non_null(x);
	assert_int_equal(emc_labels_variant(d->y, VN, VC, EMC_LABELS_TRUE, v.data_seed, lab), 0);
	assert_int_equal(emc_subset_order(lab, VN, VC, 21, order), 0);
	materialize(d, &v, 21, 250, x, y);
	for (int i = 0; i < 250; i++) {
		assert_int_equal(y[i], d->y[order[i]]);
		assert_memory_equal(x + i * VDIM, d->x + order[i] * VDIM, VDIM * sizeof *x);
	}
	/* Random labels with the variant's data seed: the same labels too. */
	v.labels = EMC_LABELS_RANDOM;
	assert_int_equal(emc_labels_variant(d->y, VN, VC, EMC_LABELS_RANDOM, v.data_seed, lab), 0);
	assert_int_equal(emc_subset_order(lab, VN, VC, 21, order), 0);
	materialize(d, &v, 21, 250, x, y);
	for (int i = 0; i < 250; i++) {
		assert_int_equal(y[i], lab[order[i]]);
		assert_memory_equal(x + i * VDIM, d->x + order[i] * VDIM, VDIM * sizeof *x);
	}

	assert_int_equal(emc_subset_materialize(d, &v, 21, 0, x, y, &err), -EINVAL);
	assert_contains(err.msg, "n = 0");
	assert_int_equal(emc_subset_materialize(d, &v, 21, VN + 1, x, y, &err), -EINVAL);
	assert_contains(err.msg, "600 samples");
	free(x);
	emc_dataset_destroy(&d);
}

static void test_variant_random_labels(void **state)
{
	emc_dataset *d = variant_dataset();
	emc_variant v = { .labels = EMC_LABELS_RANDOM };
	int full[VN], part[VN], count[VC] = { 0 }, agree = 0;

	(void)state;
	labels_by_index(d, v, 1, VN, full);
	/* The same label per index at every size and every subset seed. */
	for (uint64_t seed = 1; seed <= 3; seed++)
		for (int64_t n = 1; n <= VN; n += 149) {
			labels_by_index(d, v, seed, n, part);
			for (int i = 0; i < VN; i++)
				if (part[i] >= 0)
					assert_int_equal(part[i], full[i]);
		}
	for (int i = 0; i < VN; i++) {
		assert_true(full[i] >= 0 && full[i] < VC);
		count[full[i]]++;
		agree += full[i] == d->y[i];
	}
	/* Uniform over the dataset's own ten classes, unlike the skewed truth. */
	for (int k = 0; k < VC; k++)
		assert_true(count[k] > 25 && count[k] < 100);
	assert_true(agree < VN / 5);

	/* After merging: in the merged label space. */
	v.classes = 2;
	labels_by_index(d, v, 1, VN, full);
	memset(count, 0, sizeof count);
	for (int i = 0; i < VN; i++)
		count[full[i]]++;
	assert_int_equal(count[0] + count[1], VN);
	assert_true(count[0] > 240 && count[1] > 240);
	emc_dataset_destroy(&d);
}

static void test_variant_noisy_labels(void **state)
{
	emc_dataset *d = variant_dataset();
	emc_variant v = { .labels = EMC_LABELS_NOISY, .label_noise = 0.3 };
	emc_variant vr = { .labels = EMC_LABELS_RANDOM };
	int noisy[VN], rnd[VN], part[VN], lo[VN], hi[VN];
	int changed = 0, replaced = 0, in_part = 0, changed_part = 0;

	(void)state;
	labels_by_index(d, v, 4, VN, noisy);
	labels_by_index(d, vr, 4, VN, rnd);
	for (int i = 0; i < VN; i++) {
		/* A label is either its own or the index's random label. */
		assert_true(noisy[i] == d->y[i] || noisy[i] == rnd[i]);
		changed += noisy[i] != d->y[i];
		replaced += noisy[i] != d->y[i] || rnd[i] == d->y[i];
	}
	/* About P * (1 - 1/K) * N change: 0.27 * 600 = 162, sd about 11. */
	assert_true(changed > 162 - 50 && changed < 162 + 50);
	assert_true(replaced >= changed);

	/* The same indices, with the same labels, at every n and seed. */
	labels_by_index(d, v, 9, 200, part);
	for (int i = 0; i < VN; i++)
		if (part[i] >= 0) {
			assert_int_equal(part[i], noisy[i]);
			in_part++;
			changed_part += part[i] != d->y[i];
		}
	assert_int_equal(in_part, 200);
	/* ... and about P * (1 - 1/K) * n of subset(n) change. */
	assert_true(changed_part > 54 - 30 && changed_part < 54 + 30);

	/* Nested in p: what is noisy at 0.2 is noisy at 0.5. */
	v.label_noise = 0.2;
	labels_by_index(d, v, 4, VN, lo);
	v.label_noise = 0.5;
	labels_by_index(d, v, 4, VN, hi);
	for (int i = 0; i < VN; i++)
		if (lo[i] != d->y[i])
			assert_int_equal(hi[i], lo[i]);
	/* noisy:0 is the truth, noisy:1 is random. */
	v.label_noise = 0.0;
	labels_by_index(d, v, 4, VN, lo);
	v.label_noise = 1.0;
	labels_by_index(d, v, 4, VN, hi);
	for (int i = 0; i < VN; i++) {
		assert_int_equal(lo[i], d->y[i]);
		assert_int_equal(hi[i], rnd[i]);
	}
	emc_dataset_destroy(&d);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

static void test_variant_permuted(void **state)
{
	emc_dataset *d = variant_dataset();
	emc_variant v = { .inputs = EMC_INPUTS_PERMUTED };
	float *x = malloc(VN * VDIM * sizeof *x), *x2 = malloc(VN * VDIM * sizeof *x);
	float *by_index = malloc(VN * VDIM * sizeof *x), sorted[VDIM];
	uint8_t y[VN], y2[VN];
	int moved = 0, same_perm = 0;

	(void)state;
	assert_non_null(x);
	assert_non_null(x2);
	assert_non_null(by_index);
	materialize(d, &v, 5, VN, x, y);
	for (int i = 0; i < VN; i++) {
		int64_t k = row_index(x + i * VDIM);

		/* Each sample keeps its multiset of values... */
		memcpy(sorted, x + i * VDIM, sizeof sorted);
		qsort(sorted, VDIM, sizeof *sorted, cmp_float);
		assert_memory_equal(sorted, d->x + k * VDIM, sizeof sorted);
		assert_int_equal(y[i], d->y[k]);
		/* ... in an order of its own. */
		moved += memcmp(x + i * VDIM, d->x + k * VDIM, sizeof sorted) != 0;
		memcpy(by_index + k * VDIM, x + i * VDIM, sizeof sorted);
	}
	assert_true(moved > VN - 5);
	/* Fixed per index: another seed and size give the same rows. */
	materialize(d, &v, 6, 77, x2, y2);
	for (int i = 0; i < 77; i++) {
		int64_t k = row_index(x2 + i * VDIM);

		assert_memory_equal(x2 + i * VDIM, by_index + k * VDIM, sizeof sorted);
	}
	/* Different samples get different permutations. */
	for (int i = 1; i < VN; i++) {
		int same = 1;

		for (int j = 0; j < VDIM; j++)
			same &= (int64_t)(by_index[i * VDIM + j] - (float)(i * VDIM)) ==
				(int64_t)(by_index[(i - 1) * VDIM + j] - (float)((i - 1) * VDIM));
		same_perm += same;
	}
	assert_true(same_perm < 5);
	free(x);
	free(x2);
	free(by_index);
	emc_dataset_destroy(&d);
}

static void test_variant_gaussian(void **state)
{
	emc_dataset *d = variant_dataset();
	emc_variant vt = { 0 }, vg = { .inputs = EMC_INPUTS_GAUSSIAN };
	float *xt = malloc(VN * VDIM * sizeof *xt), *xg = malloc(VN * VDIM * sizeof *xg);
	float *by_index = malloc(VN * VDIM * sizeof *xg);
	uint8_t yt[VN], yg[VN];
	double s = 0, ss = 0;

	(void)state;
	assert_non_null(xt);
	assert_non_null(xg);
	assert_non_null(by_index);
	/* The order does not depend on the inputs: the true variant names the
	 * index of every row. */
	materialize(d, &vt, 8, VN, xt, yt);
	materialize(d, &vg, 8, VN, xg, yg);
	assert_memory_equal(yt, yg, VN);
	for (int i = 0; i < VN; i++)
		memcpy(by_index + row_index(xt + i * VDIM) * VDIM, xg + i * VDIM, VDIM * sizeof *xg);
	for (int i = 0; i < VN * VDIM; i++) {
		s += xg[i];
		ss += (double)xg[i] * xg[i];
	}
	s /= VN * VDIM;
	assert_true(fabs(s) < 0.08);
	assert_true(fabs(ss / (VN * VDIM) - s * s - 1.0) < 0.1);
	assert_memory_not_equal(by_index, by_index + VDIM, VDIM * sizeof *xg);
	/* Fixed per index, whatever the seed and the size. */
	for (uint64_t seed = 9; seed < 11; seed++) {
		materialize(d, &vt, seed, 123, xt, yt);
		materialize(d, &vg, seed, 123, xg, yg);
		for (int i = 0; i < 123; i++)
			assert_memory_equal(xg + i * VDIM, by_index + row_index(xt + i * VDIM) * VDIM,
					    VDIM * sizeof *xg);
	}
	free(xt);
	free(xg);
	free(by_index);
	emc_dataset_destroy(&d);
}

/* The indices where a and b (labels by index, -1 = absent) differ. */
static int differ(const int *a, const int *b)
{
	int k = 0;

	for (int i = 0; i < VN; i++)
		k += a[i] != b[i];
	return k;
}

/* A trial's data variant is drawn from its replicate seed: two seeds give
 * two labellings and two sets of random inputs; a data seed the spec
 * fixes gives one labelling whatever the replicate seed, while the subset
 * still follows the replicate. */
static void test_variant_data_seed(void **state)
{
	emc_dataset *d = variant_dataset();
	emc_cell_cfg cell;
	emc_variant v;
	int a[VN], b[VN];
	float *xa = malloc(VN * VDIM * sizeof *xa), *xb = malloc(VN * VDIM * sizeof *xb);
	uint8_t ya[VN], yb[VN];
	int32_t oa[VN], ob[VN];

	(void)state;
	assert_non_null(xa);
	assert_non_null(xb);
	emc_cell_cfg_defaults(&cell);
	cell.labels = EMC_LABELS_RANDOM;

	/* Two replicate seeds: labels independent per index (agree ~ 1/10). */
	cell.seed = 1;
	labels_by_index(d, emc_variant_of_cell(&cell), cell.seed, VN, a);
	cell.seed = 2;
	labels_by_index(d, emc_variant_of_cell(&cell), cell.seed, VN, b);
	assert_true(differ(a, b) > VN * 3 / 4);

	/* A fixed data seed: one labelling for both replicates ... */
	cell.data_seed_fixed = true;
	cell.data_seed = 7;
	cell.seed = 1;
	labels_by_index(d, emc_variant_of_cell(&cell), cell.seed, VN, a);
	cell.seed = 2;
	labels_by_index(d, emc_variant_of_cell(&cell), cell.seed, VN, b);
	assert_int_equal(differ(a, b), 0);
	/* ... and it is the labelling replicate seed 7 would draw */
	cell.data_seed_fixed = false;
	cell.seed = 7;
	labels_by_index(d, emc_variant_of_cell(&cell), 1, VN, b);
	assert_int_equal(differ(a, b), 0);
	/* ... while the subset still follows the replicate seed */
	cell.data_seed_fixed = true;
	for (uint64_t s = 1; s <= 2; s++) {
		cell.seed = s;
		v = emc_variant_of_cell(&cell);
		v.inputs = EMC_INPUTS_TRUE;
		materialize(d, &v, cell.seed, VN, s == 1 ? xa : xb, s == 1 ? ya : yb);
	}
	for (int i = 0; i < VN; i++) {
		oa[i] = (int32_t)row_index(xa + i * VDIM);
		ob[i] = (int32_t)row_index(xb + i * VDIM);
	}
	assert_memory_not_equal(oa, ob, sizeof oa);

	/* Noisy indices, permutations and Gaussian inputs are redrawn too. */
	v = (emc_variant){ .labels = EMC_LABELS_NOISY, .label_noise = 0.5, .data_seed = 1 };
	labels_by_index(d, v, 3, VN, a);
	v.data_seed = 2;
	labels_by_index(d, v, 3, VN, b);
	assert_true(differ(a, b) > VN / 4);
	for (int in = EMC_INPUTS_PERMUTED; in <= EMC_INPUTS_GAUSSIAN; in++) {
		int same = 0;

		v = (emc_variant){ .inputs = (emc_inputs)in, .data_seed = 1 };
		materialize(d, &v, 3, VN, xa, ya);
		v.data_seed = 2;
		materialize(d, &v, 3, VN, xb, yb);
		assert_memory_equal(ya, yb, VN); /* the order is the subset seed's */
		for (int i = 0; i < VN; i++)
			same += memcmp(xa + i * VDIM, xb + i * VDIM, VDIM * sizeof *xa) == 0;
		assert_true(same < 5);
	}
	free(xa);
	free(xb);
	emc_dataset_destroy(&d);
}

/* Every prefix of the label sequence y (of n) is stratified to quota. */
static void check_prefix_quota(const uint8_t *y, int64_t n, int classes)
{
	int64_t count[EMC_DATASET_MAX_CLASSES] = { 0 }, have[EMC_DATASET_MAX_CLASSES] = { 0 };

	for (int64_t i = 0; i < n; i++)
		count[y[i]]++;
	for (int64_t m = 1; m <= n; m++) {
		have[y[m - 1]]++;
		for (int k = 0; k < classes; k++) {
			int64_t lo = m * count[k] / n, hi = (m * count[k] + n - 1) / n;

			if (have[k] < lo || have[k] > hi)
				fail_msg("prefix %lld class %d: %lld samples, quota [%lld, %lld]",
					 (long long)m, k, (long long)have[k], (long long)lo, (long long)hi);
		}
	}
}

static void test_variant_nested_stratified(void **state)
{
	static const int64_t sizes[] = { 1, 2, 9, 100, 299, 599 };
	emc_dataset *d = variant_dataset();
	float *full = malloc(VN * VDIM * sizeof *full), *x = malloc(VN * VDIM * sizeof *x);
	uint8_t yfull[VN], y[VN];

	(void)state;
	assert_non_null(full);
	assert_non_null(x);
	/* data seed 31 is the replicate's own (a trial's default); 7 a fixed one */
	for (int ds = 0; ds < 2; ds++)
		for (int l = 0; l < EMC_LABELS_COUNT; l++)
			for (int in = 0; in < EMC_INPUTS_COUNT; in++)
				for (int c = 0; c < 3; c++) {
					emc_variant v = { .labels = (emc_labels)l,
							  .label_noise = 0.4,
							  .inputs = (emc_inputs)in,
							  .classes = c == 0 ? 0 : c == 1 ? 5 : 2,
							  .data_seed = ds ? 7 : 31 };
					int k = v.classes ? v.classes : VC;

					materialize(d, &v, 31, VN, full, yfull);
					check_prefix_quota(yfull, VN, k);
					for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
						materialize(d, &v, 31, sizes[s], x, y);
						assert_memory_equal(y, yfull, (size_t)sizes[s]);
						assert_memory_equal(x, full, (size_t)sizes[s] * VDIM * sizeof *x);
					}
				}
	free(full);
	free(x);
	emc_dataset_destroy(&d);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_plain),
		cmocka_unit_test(test_load_gzip),
		cmocka_unit_test(test_load_one_class_gives_two),
		cmocka_unit_test(test_corrupt_plain),
		cmocka_unit_test(test_corrupt_gzip),
		cmocka_unit_test(test_mismatch_names_both_files),
		cmocka_unit_test(test_lying_headers),
		cmocka_unit_test(test_corrupt_gzip_container),
		cmocka_unit_test(test_load_missing_and_bad_ref),
		cmocka_unit_test(test_resolve_paths),
		cmocka_unit_test(test_resolve_alias),
		cmocka_unit_test(test_real_fashion_mnist),
		cmocka_unit_test(test_mkidx_roundtrip),
		cmocka_unit_test(test_subset_skewed),
		cmocka_unit_test(test_subset_random_configs),
		cmocka_unit_test(test_subset_deterministic_and_seeded),
		cmocka_unit_test(test_subset_errors),
		cmocka_unit_test(test_labels_true),
		cmocka_unit_test(test_labels_random),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_encode_decode),
		cmocka_unit_test(test_decode_sizes_overflow),
		cmocka_unit_test(test_decode_non_finite),
		cmocka_unit_test(test_idx_standardize),
		cmocka_unit_test(test_cifar10),
		cmocka_unit_test(test_cifar100),
		cmocka_unit_test(test_cifar_corrupt),
		cmocka_unit_test(test_cifar_standardize),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_csv_corrupt),
		cmocka_unit_test(test_csv_limits_and_refs),
		cmocka_unit_test(test_csv_extreme_values),
		cmocka_unit_test(test_sklearn_fake),
		cmocka_unit_test(test_sklearn_real),
		cmocka_unit_test(test_synthetic),
		cmocka_unit_test(test_variant_classes),
		cmocka_unit_test(test_variant_true_is_plain_subset),
		cmocka_unit_test(test_variant_random_labels),
		cmocka_unit_test(test_variant_noisy_labels),
		cmocka_unit_test(test_variant_permuted),
		cmocka_unit_test(test_variant_gaussian),
		cmocka_unit_test(test_variant_data_seed),
		cmocka_unit_test(test_variant_nested_stratified),
	};

	(void)argc;
	test_argv0 = argv[0];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
