/* dataset.h — where labelled data comes from, and the data in memory.
 *
 * Owns emc_dataset_ref (what a spec or a wire message says about data),
 * emc_dataset (the data decoded) and the canonical encoding that names a
 * dataset and carries it to workers. Subsets and data variants are
 * subset.h's; the readers of each format share dataset_priv.h.
 *
 * A dataset is decoded once into float32 samples and byte class labels.
 * Formats: IDX (MNIST, Fashion-MNIST; gzip or plain), CIFAR-10 and
 * CIFAR-100 binary batches, CSV with a header row (gzip or plain), and
 * seeded synthetic data. Aliases name the files of Debian packages:
 * "fashion-mnist" (dataset-fashion-mnist), "iris", "wine", "breast-cancer"
 * and "digits" (python3-sklearn). Nothing is ever downloaded. Images are
 * scaled to [0, 1] (and optionally standardised per channel); tabular
 * features are standardised per column. docs/data.md has every rule.
 *
 * A loaded dataset is named by a BLAKE2b-256 hash of its decoded content,
 * so two files that decode to the same samples and labels are the same
 * dataset, and a one-byte change makes another one.
 */
#ifndef EMC_DATASET_H
#define EMC_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cell.h"
#include "err.h"

#define EMC_NAME_MAX 128
#define EMC_PATH_MAX 1024

#define EMC_DATASET_MAX_SAMPLES (1 << 26) /* refuse headers claiming more */
#define EMC_DATASET_MAX_DIM (1 << 24)     /* refuse samples larger than this */
#define EMC_DATASET_MAX_CLASSES 256

/* Where a campaign's data comes from. Either `name` is a known alias
 * ("fashion-mnist") or `format` and the paths are given. After
 * emc_dataset_resolve() the paths are absolute and filled in either case. */
typedef struct emc_dataset_ref {
	char name[EMC_NAME_MAX];   /* alias, or "" */
	char format[16];           /* "idx", "cifar10", "cifar100", "csv" or "synthetic" */
	char split[16];            /* "train" (default) or "test" */
	char images[EMC_PATH_MAX]; /* idx: images file (gzip or plain) */
	char labels[EMC_PATH_MAX]; /* idx: labels file (gzip or plain) */
	char path[EMC_PATH_MAX];   /* csv: the file; cifar10/cifar100: the directory of the batches */
	char label_column[EMC_NAME_MAX]; /* csv: name of the label column */
	char categorical[512];     /* csv: comma-separated names of columns to one-hot encode */
	char cifar_label[8];       /* cifar100: "fine" (default) or "coarse" */
	bool standardize;          /* images: standardize per channel (tabular is always standardized) */
	/* synthetic: n samples of dim features, classes classes, from seed */
	int64_t synth_n;
	int synth_dim, synth_classes;
	uint64_t synth_seed;
	char synth_teacher[16];    /* "uniform" (labels uniform at random) or "linear" (a random linear teacher) */
} emc_dataset_ref;

typedef struct emc_dataset {
	int64_t n;             /* number of samples */
	emc_input_shape shape; /* channels, height, width of a sample; classes */
	int64_t dim;           /* channels * height * width */
	float *x;              /* (n, dim), row-major (scale per format: docs/data.md) */
	uint8_t *y;            /* (n), class ids in [0, shape.classes) */
	uint8_t hash[32];      /* BLAKE2b-256 of the decoded content (docs/data.md) */
} emc_dataset;

/* Fill in the file paths of an alias (ref->name) and make relative paths
 * absolute against base_dir (may be NULL = current directory). Checks that
 * the files exist and says which package to install when an alias's files
 * are missing; checks a format's own settings too (csv: label_column;
 * cifar100: cifar_label; synthetic: sizes and teacher), so that a bad
 * dataset is refused before any trial runs. */
int emc_dataset_resolve(emc_dataset_ref *ref, const char *base_dir, emc_err *err);

/* Decode the dataset `ref` names (resolved), preprocess it (scaling,
 * standardisation) and hash it into ->hash. On success *ret is owned by
 * the caller (emc_dataset_destroy). A truncated or inconsistent file fails
 * with a message naming the file and the byte offset (binary formats) or
 * the line and column (CSV). */
int emc_dataset_load(const emc_dataset_ref *ref, emc_dataset **ret, emc_err *err);

/* NULL-safe; sets *p = NULL. */
void emc_dataset_destroy(emc_dataset **p);

/* ds->hash as 64 lowercase hex digits and a NUL. */
void emc_dataset_hash_hex(const emc_dataset *ds, char out[65]);
/* Any 32-byte hash as 64 lowercase hex digits. */
void emc_hash_hex(const uint8_t hash[32], char out[65]);

/* The canonical encoding of a decoded dataset — the very bytes its hash is
 * computed over — for transfer to workers and for their cache. *ret_buf is
 * the caller's to free. */
int emc_dataset_encode(const emc_dataset *ds, uint8_t **ret_buf, size_t *ret_len, emc_err *err);

/* Decode an encoding; when expect_hash is non-NULL, refuse (-EBADMSG) bytes
 * whose BLAKE2b-256 differs. `origin` names the source in messages. */
int emc_dataset_decode(const uint8_t *buf, size_t len, const uint8_t expect_hash[32], const char *origin,
		       emc_dataset **ret, emc_err *err);

#endif
