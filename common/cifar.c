/* cifar.c — decoding the binary batches of CIFAR-10 and CIFAR-100.
 *
 * Both datasets ship as files of fixed-size records with no header: a
 * CIFAR-10 record is one label byte and 3072 pixel bytes, a CIFAR-100
 * record a coarse label byte, a fine label byte and the same 3072 pixels.
 * The pixels are 3 planes of 32x32 (red, green, blue), row-major within a
 * plane: exactly the (channels, height, width) order emc keeps samples
 * in, so a record's pixels go straight through a x / 255 table.
 *
 * With no header, the size of a file is its only promise. So every file is
 * measured before anything is read: a size that is not a whole number of
 * records means a cut or padded file, refused with the byte offset of the
 * incomplete record, and the float array is sized from what the files
 * really hold. Every label byte is range-checked (both of CIFAR-100's,
 * whichever one the reference uses) and a bad one is reported with its
 * file and byte offset; a file that shrinks while being read is reported
 * as truncated rather than trusted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset_priv.h"

#define CIFAR_PIXELS 3072 /* 3 x 32 x 32 */
#define CIFAR_MAX_FILES 5
/* Records read per fread. */
#define READ_RECORDS 512

typedef struct layout {
	const char *name;  /* "CIFAR-10", "CIFAR-100" */
	int label_bytes;   /* bytes before the pixels: 1 or 2 */
	int label_at;      /* which of them is the label used */
	int classes;
	int n_files;
	const char *files[CIFAR_MAX_FILES];
} layout;

/* The layout and the files of ref's format, split and label choice. */
static int layout_of(const emc_dataset_ref *ref, layout *ret, emc_err *err)
{
	static const layout c10_train = { "CIFAR-10", 1, 0, 10, 5,
					  { "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
					    "data_batch_4.bin", "data_batch_5.bin" } };
	static const layout c10_test = { "CIFAR-10", 1, 0, 10, 1, { "test_batch.bin" } };
	static const layout c100_train = { "CIFAR-100", 2, 1, 100, 1, { "train.bin" } };
	static const layout c100_test = { "CIFAR-100", 2, 1, 100, 1, { "test.bin" } };
	bool test;

	if (!ref->split[0] || strcmp(ref->split, "train") == 0)
		test = false;
	else if (strcmp(ref->split, "test") == 0)
		test = true;
	else
		return emc_err_set(err, -EINVAL, "dataset.split: unknown split '%s' of %s; expected train or test",
				   ref->split, ref->format);
	if (strcmp(ref->format, "cifar10") == 0) {
		if (ref->cifar_label[0])
			return emc_err_set(err, -EINVAL,
					   "dataset.label: '%s' is only for cifar100 (fine or coarse)",
					   ref->cifar_label);
		*ret = test ? c10_test : c10_train;
		return 0;
	}
	*ret = test ? c100_test : c100_train;
	if (strcmp(ref->cifar_label, "coarse") == 0) {
		ret->label_at = 0;
		ret->classes = 20;
	} else if (ref->cifar_label[0] && strcmp(ref->cifar_label, "fine") != 0) {
		return emc_err_set(err, -EINVAL, "dataset.label: '%s'; expected fine or coarse (cifar100)",
				   ref->cifar_label);
	}
	return 0;
}

static int file_path(const emc_dataset_ref *ref, const char *file, char *out, emc_err *err)
{
	int len = snprintf(out, EMC_PATH_MAX, "%s/%s", ref->path, file);

	if (len < 0 || len >= EMC_PATH_MAX)
		return emc_err_set(err, -ENAMETOOLONG, "dataset.path: %s/%s: path too long", ref->path,
				   file);
	return 0;
}

static void file_list(const layout *l, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < l->n_files && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", l->files[i]);
}

int dataset_check_cifar(const emc_dataset_ref *ref, emc_err *err)
{
	char path[EMC_PATH_MAX], list[256];
	struct stat st;
	layout l;
	int r;

	r = layout_of(ref, &l, err);
	if (r < 0)
		return r;
	for (int i = 0; i < l.n_files; i++) {
		r = file_path(ref, l.files[i], path, err);
		if (r < 0)
			return r;
		int e = stat(path, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;

		if (e) {

			file_list(&l, list, sizeof list);
			return emc_err_set(err, -e, "dataset.path: %s: %s (the %s split of %s is %s)", path,
					   strerror(e), ref->split[0] ? ref->split : "train", l.name, list);
		}
	}
	return 0;
}

/* Open path and measure it: the number of whole records it holds. */
static int measure(const char *path, const layout *l, FILE **ret_f, int64_t *ret_records, emc_err *err)
{
	int64_t rec = l->label_bytes + CIFAR_PIXELS;
	struct stat st;
	FILE *f = fopen(path, "rb");
	int e;

	if (!f) {
		e = errno;
		return emc_err_set(err, -e, "%s: cannot open: %s", path, strerror(e));
	}
	if (fstat(fileno(f), &st) < 0) {
		e = errno;
		fclose(f);
		return emc_err_set(err, -e, "%s: cannot stat: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		fclose(f);
		return emc_err_set(err, -EINVAL, "%s: not a regular file", path);
	}
	if (st.st_size == 0) {
		fclose(f);
		return emc_err_set(err, -EINVAL, "%s: empty: expected %lld-byte %s records", path,
				   (long long)rec, l->name);
	}
	if (st.st_size % rec != 0) {
		fclose(f);
		return emc_err_set(err, -EINVAL,
				   "%s: byte %lld: the last record is cut short: %lld bytes is not a whole "
				   "number of %lld-byte %s records",
				   path, (long long)(st.st_size - st.st_size % rec), (long long)st.st_size,
				   (long long)rec, l->name);
	}
	*ret_f = f;
	*ret_records = st.st_size / rec;
	return 0;
}

/* Decode the records of f (records of them) into d from sample `first`. */
static int read_records(FILE *f, const char *path, const layout *l, int64_t records, emc_dataset *d,
			int64_t first, const float *lut, emc_err *err)
{
	static const int max_label[2][2] = { { 10, 0 }, { 20, 100 } }; /* [label_bytes-1][byte] */
	int64_t rec = l->label_bytes + CIFAR_PIXELS;
	uint8_t *buf = malloc((size_t)(READ_RECORDS * rec));
	int64_t done = 0;
	int r = 0;

	if (!buf)
		return emc_err_set(err, -ENOMEM, "%s: out of memory", path);
	while (done < records) {
		int64_t want = records - done < READ_RECORDS ? records - done : READ_RECORDS;
		size_t got = fread(buf, (size_t)rec, (size_t)want, f);

		if ((int64_t)got < want) {
			int64_t at = (done + (int64_t)got) * rec;

			if (ferror(f))
				r = emc_err_set(err, -EIO, "%s: read error after byte %lld", path, (long long)at);
			else
				r = emc_err_set(err, -EINVAL, "%s: truncated at byte %lld of %lld while reading",
						path, (long long)at, (long long)(records * rec));
			goto out;
		}
		for (int64_t i = 0; i < want; i++) {
			const uint8_t *p = buf + i * rec;
			float *x = d->x + (first + done + i) * CIFAR_PIXELS;

			for (int b = 0; b < l->label_bytes; b++) {
				int lim = max_label[l->label_bytes - 1][b];

				if (p[b] >= lim) {
					r = emc_err_set(err, -EINVAL,
							"%s: byte %lld: %s%slabel %d of record %lld is out of "
							"range 0 to %d",
							path, (long long)((done + i) * rec + b), l->name,
							l->label_bytes == 1 ? " " : (b == 0 ? " coarse " : " fine "),
							p[b], (long long)(done + i), lim - 1);
					goto out;
				}
			}
			d->y[first + done + i] = p[l->label_at];
			for (int j = 0; j < CIFAR_PIXELS; j++)
				x[j] = lut[p[l->label_bytes + j]];
		}
		done += want;
	}
out:
	free(buf);
	return r;
}

int dataset_load_cifar(const emc_dataset_ref *ref, emc_dataset **ret, emc_err *err)
{
	char paths[CIFAR_MAX_FILES][EMC_PATH_MAX];
	FILE *f[CIFAR_MAX_FILES] = { NULL };
	int64_t records[CIFAR_MAX_FILES], n = 0;
	emc_dataset *d = NULL;
	float lut[256];
	layout l;
	int r;

	if (!ref->path[0])
		return emc_err_set(err, -EINVAL, "dataset.path: no directory given");
	r = layout_of(ref, &l, err);
	if (r < 0)
		return r;
	for (int i = 0; i < l.n_files; i++) {
		r = file_path(ref, l.files[i], paths[i], err);
		if (r < 0)
			goto out;
		r = measure(paths[i], &l, &f[i], &records[i], err);
		if (r < 0)
			goto out;
		n += records[i];
	}
	if (n > DATASET_MAX_VALUES / CIFAR_PIXELS) {
		r = emc_err_set(err, -EINVAL, "dataset.path: %s: %lld records; at most %lld", ref->path,
				(long long)n, (long long)(DATASET_MAX_VALUES / CIFAR_PIXELS));
		goto out;
	}
	r = dataset_new(n, CIFAR_PIXELS, ref->path, &d, err);
	if (r < 0)
		goto out;
	for (int v = 0; v < 256; v++)
		lut[v] = (float)v / 255.0f;
	n = 0;
	for (int i = 0; i < l.n_files; i++) {
		r = read_records(f[i], paths[i], &l, records[i], d, n, lut, err);
		if (r < 0)
			goto out;
		n += records[i];
	}
	d->shape = (emc_input_shape){ .channels = 3, .height = 32, .width = 32, .classes = l.classes };
	*ret = d;
	d = NULL;
out:
	for (int i = 0; i < l.n_files; i++)
		if (f[i])
			fclose(f[i]);
	emc_dataset_destroy(&d);
	return r;
}
