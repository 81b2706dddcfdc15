/* dataset.c — naming datasets, dispatching on their format, and what every
 * format shares.
 *
 * A dataset reference (emc_dataset_ref) names data either by an alias —
 * the files of a Debian package — or by a format and its files.
 * emc_dataset_resolve() turns either into absolute paths and checks that
 * they exist, so a campaign with a missing file is refused before any
 * trial runs; emc_dataset_load() decodes, preprocesses and names the data.
 * The readers live one format to a file — idx.c, cifar.c, csvdata.c,
 * synth.c — and meet this file only through dataset_priv.h; the canonical
 * encoding and the hash that names a dataset live in dataset_codec.c.
 *
 * Preprocessing is part of what a dataset *is*: images arrive in [0, 1]
 * and, when the reference asks, are standardised per channel with the
 * statistics of the whole training split (so a sample's values never
 * depend on the subset it is in, and a test split is standardised with
 * the training statistics, as it would be in deployment). Tabular
 * features are standardised by their loader. Only then is the content
 * hashed, so the name covers the numbers a network actually sees.
 */
#include "dataset.h"

#include <assert.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset_priv.h"

#define DATASETS_DIR_DEFAULT "/usr/share/datasets"
#define DATASETS_DIR_ENV "EMC_DATASETS_DIR"
#define SKLEARN_DIR_DEFAULT "/usr/lib/python3/dist-packages/sklearn/datasets/data"
#define SKLEARN_DIR_ENV "EMC_SKLEARN_DATA_DIR"

#define FORMATS "idx, cifar10, cifar100, csv, synthetic"
/* Images have at most this many channels (IDX 1, CIFAR 3). */
#define MAX_CHANNELS 4

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
 * values) divided by scale, two passes in double. A constant column
 * reports sd 0 exactly: comparing min and max, not the variance, which
 * rounding can leave a hair above zero (and dividing by that would blow
 * the column up). */
static void column_stats(const double *v, int64_t count, int64_t stride, double scale, double *ret_mean,
			 double *ret_sd, double *ret_lo, double *ret_hi)
{
	double sum = 0, ss = 0, lo = v[0], hi = v[0], mean;

	for (int64_t i = 0; i < count; i++) {
		double x = v[i * stride];

		sum += x / scale;
		lo = x < lo ? x : lo;
		hi = x > hi ? x : hi;
	}
	mean = sum / (double)count;
	for (int64_t i = 0; i < count; i++)
		ss += (v[i * stride] / scale - mean) * (v[i * stride] / scale - mean);
	*ret_mean = mean;
	*ret_sd = lo == hi ? 0.0 : sqrt(ss / (double)count);
	*ret_lo = lo;
	*ret_hi = hi;
}

/* A column is computed as it stands (scale 1, so its values and its
 * dataset's hash stay what they always were) unless its sum or squares
 * leave double's range — numbers near 1e308 or 1e-200, which a CSV file
 * may hold — and would make it NaN or all 0: then it is computed over its
 * values divided by the largest magnitude among them, all in [-1, 1]. */
void dataset_standardize_columns(double *v, int64_t n, int64_t d)
{
	for (int64_t j = 0; j < d; j++) {
		double mean, sd, lo, hi, scale = 1.0;

		column_stats(v + j, n, d, scale, &mean, &sd, &lo, &hi);
		if (lo != hi && !(isfinite(mean) && isfinite(sd) && sd * sd >= DBL_MIN)) {
			scale = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);
			column_stats(v + j, n, d, scale, &mean, &sd, &lo, &hi);
		}
		for (int64_t i = 0; i < n; i++)
			v[i * d + j] = sd > 0 ? (v[i * d + j] / scale - mean) / sd : 0.0;
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
		return dataset_load_idx(ref->images, ref->labels, ret, err);
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
