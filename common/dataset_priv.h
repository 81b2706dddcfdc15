/* dataset_priv.h — what the dataset loaders share among themselves.
 *
 * Not an interface for anyone else: dataset.c dispatches on the format and
 * names the result; idx.c, cifar.c, csvdata.c and synth.c decode one
 * format each into an emc_dataset through these helpers, and
 * dataset_codec.c computes the name. A loader returns images in [0, 1]
 * (standardisation and the hash are applied by dataset.c) and tabular
 * features already standardised per column.
 */
#ifndef EMC_DATASET_PRIV_H
#define EMC_DATASET_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "dataset.h"

/* Refuse datasets of more float values than this (4 GiB of float32). */
#define DATASET_MAX_VALUES ((int64_t)1 << 30)

/* A new dataset of n samples of dim values: x and y allocated (not
 * cleared), shape left to the caller. `what` names the source in the
 * out-of-memory message. */
int dataset_new(int64_t n, int64_t dim, const char *what, emc_dataset **ret, emc_err *err);

/* Standardise the columns of the (n, d) row-major matrix v in place: mean
 * 0 and (population) standard deviation 1 per column; a constant column
 * becomes all 0. */
void dataset_standardize_columns(double *v, int64_t n, int64_t d);

/* IDX images (n, rows, cols) and labels (n) of unsigned bytes, gzip or
 * plain (idx.c). */
int dataset_load_idx(const char *images, const char *labels, emc_dataset **ret, emc_err *err);

/* Check a CIFAR ref's split and cifar_label, and that every batch file of
 * its split exists in ref->path. */
int dataset_check_cifar(const emc_dataset_ref *ref, emc_err *err);
int dataset_load_cifar(const emc_dataset_ref *ref, emc_dataset **ret, emc_err *err);
int dataset_load_csv(const emc_dataset_ref *ref, emc_dataset **ret, emc_err *err);
/* A file of the layout scikit-learn ships: with header = true, a first row
 * "n_samples,n_features,class names..."; with header = false (digits),
 * rows of `features` values and a label below `classes`. */
int dataset_load_sklearn(const char *path, bool header, int features, int classes, emc_dataset **ret,
			 emc_err *err);
int dataset_load_synthetic(const emc_dataset_ref *ref, emc_dataset **ret, emc_err *err);
/* Check a synthetic ref's sizes and teacher without generating anything. */
int dataset_check_synthetic(const emc_dataset_ref *ref, emc_err *err);

/* Fill d->hash: BLAKE2b-256 of d's canonical encoding, computed without
 * building it (dataset_codec.c). */
int dataset_hash(emc_dataset *d, emc_err *err);

#endif
