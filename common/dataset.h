/* dataset.h — labelled data in memory, and the nested subsets EMC trains on.
 *
 * A dataset is decoded once into float32 samples scaled to [0, 1] and byte
 * class labels. The only format so far is IDX (MNIST, Fashion-MNIST), gzip
 * or plain; the alias "fashion-mnist" names the files of Debian's
 * dataset-fashion-mnist package. Nothing is ever downloaded.
 *
 * Subsets are seeded, class-stratified and nested: emc_subset_order() gives
 * one ordering of all samples whose every prefix is (to within one sample
 * per class) stratified, and subset(n) is its first n entries, so
 * subset(n) is contained in subset(m) for n < m.
 */
#ifndef EMC_DATASET_H
#define EMC_DATASET_H

#include <stdint.h>

#include "cell.h"
#include "err.h"
#include "spec.h"

#define EMC_DATASET_MAX_SAMPLES (1 << 26) /* refuse headers claiming more */
#define EMC_DATASET_MAX_DIM (1 << 24)     /* refuse samples larger than this */
#define EMC_DATASET_MAX_CLASSES 256

typedef struct emc_dataset {
	int64_t n;             /* number of samples */
	emc_input_shape shape; /* channels, height, width of a sample; classes */
	int64_t dim;           /* channels * height * width */
	float *x;              /* (n, dim), row-major, in [0, 1] */
	uint8_t *y;            /* (n), class ids in [0, shape.classes) */
} emc_dataset;

/* Fill in the file paths of an alias (ref->name) and make relative paths
 * absolute against base_dir (may be NULL = current directory). Checks that
 * the files exist and says which package to install when an alias's files
 * are missing. */
int emc_dataset_resolve(emc_dataset_ref *ref, const char *base_dir, emc_err *err);

/* Decode the dataset `ref` names (resolved). On success *ret is owned by the
 * caller (emc_dataset_destroy). A truncated or inconsistent file fails with
 * a message naming the file and the byte offset. */
int emc_dataset_load(const emc_dataset_ref *ref, emc_dataset **ret, emc_err *err);

/* NULL-safe; sets *p = NULL. */
void emc_dataset_destroy(emc_dataset **p);

/* The nested, stratified order of all n samples with labels y for `seed`.
 * ret_order has room for n entries and receives a permutation of [0, n). */
int emc_subset_order(const uint8_t *y, int64_t n, int classes, uint64_t seed, int32_t *ret_order);

/* Labels of a variant: EMC_LABELS_TRUE copies y; EMC_LABELS_RANDOM gives
 * each sample index a label drawn from [0, classes) that depends only on
 * (seed, index), so it is the same in every subset. ret_y has room for n. */
int emc_labels_variant(const uint8_t *y, int64_t n, int classes, emc_labels variant, uint64_t seed,
		       uint8_t *ret_y);

#endif
