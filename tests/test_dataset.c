/* test_dataset.c — IDX decoding, dataset names, nested subsets, label variants.
 *
 * IDX files are built byte by byte here, written plain and gzip-compressed,
 * and every way a header or payload can lie is checked to be refused with a
 * message that names the file and the byte offset. Subset orders are
 * checked against the quota rule on every prefix of skewed label sets.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <zlib.h>

#include "testutil.h"

#include "dataset.h"
#include "rng.h"

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

	strcpy(ref.format, "csv");
	assert_int_equal(emc_dataset_load(&ref, &d, &err), -EINVAL);
	assert_contains(err.msg, "dataset.format");
	assert_contains(err.msg, "csv");
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
	char *dir = tmpdir_new(), sub[600], *p[4];
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
	};

	(void)argc;
	test_argv0 = argv[0];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
