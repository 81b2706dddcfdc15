/* mkidx.c — write a small labelled image dataset in IDX format.
 *
 *   mkidx --out DIR --n N [--classes K] [--rows R] [--cols C] [--seed S]
 *         [--gzip] [--noise F]
 *
 * Writes DIR/images.idx and DIR/labels.idx (with .gz appended and gzip
 * compression under --gzip), real IDX files that the loader reads like any
 * other. Each class has a fixed random prototype image drawn from the
 * seed; a sample is prototype * (1 - F) + F * uniform noise, scaled to
 * 0..255. Labels are balanced (i mod K) and then shuffled. The data is
 * learnable but not trivial: with noise, wider models fit more of it, which
 * is what the integration tests of the EMC search need. The same arguments
 * always give the same bytes.
 *
 * Prints nothing on success; bad arguments exit 2 with a message, I/O
 * failures exit 1.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "dataset.h"
#include "rng.h"

#define EXIT_USAGE 2
/* Rows of pixels written per gzwrite/fwrite call. */
#define WRITE_BATCH_SAMPLES 1024

/* Stream ids of the generator: prototypes, labels, noise. */
enum { STREAM_PROTOTYPES = 1, STREAM_LABELS, STREAM_NOISE };

typedef struct opts {
	const char *out;
	long long n, classes, rows, cols;
	unsigned long long seed;
	bool gzip;
	double noise;
} opts;

static void usage(FILE *f)
{
	fprintf(f, "usage: mkidx --out DIR --n N [--classes K=10] [--rows R=8] [--cols C=8]\n"
		   "             [--seed S=1] [--gzip] [--noise F=0.3]\n");
}

static int bad_arg(const char *opt, const char *want, const char *got)
{
	fprintf(stderr, "mkidx: --%s: expected %s, got '%s'\n", opt, want, got);
	return -EINVAL;
}

static int parse_int(const char *opt, const char *s, long long lo, long long hi, long long *ret)
{
	char *end, want[96];
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	snprintf(want, sizeof want, "an integer from %lld to %lld", lo, hi);
	if (errno || end == s || *end || v < lo || v > hi)
		return bad_arg(opt, want, s);
	*ret = v;
	return 0;
}

static int parse_opts(int argc, char **argv, opts *o)
{
	static const struct option longopts[] = {
		{ "out", required_argument, NULL, 'o' },  { "n", required_argument, NULL, 'n' },
		{ "classes", required_argument, NULL, 'k' }, { "rows", required_argument, NULL, 'r' },
		{ "cols", required_argument, NULL, 'c' }, { "seed", required_argument, NULL, 's' },
		{ "gzip", no_argument, NULL, 'z' },       { "noise", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },       { NULL, 0, NULL, 0 },
	};
	long long seed;
	char *end;
	int c, r = 0;

	*o = (opts){ .n = -1, .classes = 10, .rows = 8, .cols = 8, .seed = 1, .noise = 0.3 };
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o->out = optarg;
			break;
		case 'n':
			r = parse_int("n", optarg, 1, EMC_DATASET_MAX_SAMPLES, &o->n);
			break;
		case 'k':
			r = parse_int("classes", optarg, 2, EMC_DATASET_MAX_CLASSES, &o->classes);
			break;
		case 'r':
			r = parse_int("rows", optarg, 1, EMC_DATASET_MAX_DIM, &o->rows);
			break;
		case 'c':
			r = parse_int("cols", optarg, 1, EMC_DATASET_MAX_DIM, &o->cols);
			break;
		case 's':
			r = parse_int("seed", optarg, 0, INT64_MAX, &seed);
			o->seed = (unsigned long long)seed;
			break;
		case 'z':
			o->gzip = true;
			break;
		case 'f':
			errno = 0;
			o->noise = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o->noise >= 0.0 && o->noise <= 1.0))
				r = bad_arg("noise", "a number from 0 to 1", optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "mkidx: unknown option or missing value: '%s'\n",
				argv[optind - 1]);
			usage(stderr);
			return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (optind < argc) {
		fprintf(stderr, "mkidx: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->out || !o->out[0]) {
		fprintf(stderr, "mkidx: --out DIR is required\n");
		return -EINVAL;
	}
	if (o->n < 0) {
		fprintf(stderr, "mkidx: --n N is required\n");
		return -EINVAL;
	}
	if (o->rows * o->cols > EMC_DATASET_MAX_DIM) {
		fprintf(stderr, "mkidx: --rows %lld --cols %lld: more than %d pixels per image\n",
			o->rows, o->cols, EMC_DATASET_MAX_DIM);
		return -EINVAL;
	}
	return 0;
}

/* One output file: gzip-compressed or plain through the same calls ("T"
 * makes zlib write without compression). */
typedef struct out_file {
	gzFile gz;
	char path[4096];
} out_file;

static int out_open(out_file *f, const char *dir, const char *name, bool gzip)
{
	snprintf(f->path, sizeof f->path, "%s/%s%s", dir, name, gzip ? ".gz" : "");
	f->gz = gzopen(f->path, gzip ? "wb6" : "wbT");
	if (!f->gz) {
		fprintf(stderr, "mkidx: %s: cannot create: %s\n", f->path,
			strerror(errno ? errno : ENOMEM));
		return -EIO;
	}
	return 0;
}

static int out_write(out_file *f, const void *buf, size_t len)
{
	if (len > 0 && gzwrite(f->gz, buf, (unsigned)len) != (int)len) {
		int zerr;
		const char *msg = gzerror(f->gz, &zerr);

		fprintf(stderr, "mkidx: %s: write failed: %s\n", f->path,
			zerr == Z_ERRNO ? strerror(errno) : msg);
		return -EIO;
	}
	return 0;
}

static int out_close(out_file *f)
{
	int r;

	if (!f->gz)
		return 0;
	r = gzclose(f->gz);
	f->gz = NULL;
	if (r != Z_OK) {
		fprintf(stderr, "mkidx: %s: close failed\n", f->path);
		return -EIO;
	}
	return 0;
}

static void header(uint8_t *h, int type_dims, const uint32_t *dims, int ndims)
{
	h[0] = h[1] = 0;
	h[2] = 0x08;
	h[3] = (uint8_t)type_dims;
	for (int i = 0; i < ndims; i++) {
		h[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
		h[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
		h[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
		h[7 + 4 * i] = (uint8_t)dims[i];
	}
}

static int write_dataset(const opts *o)
{
	int64_t n = o->n, dim = o->rows * o->cols, batch;
	out_file fi = { 0 }, fl = { 0 };
	float *proto = NULL;
	int32_t *labels = NULL;
	uint8_t *buf = NULL, h[16];
	uint32_t dims[3] = { (uint32_t)n, (uint32_t)o->rows, (uint32_t)o->cols };
	emc_rng rng;
	int r = -ENOMEM;

	batch = n < WRITE_BATCH_SAMPLES ? n : WRITE_BATCH_SAMPLES;
	proto = malloc((size_t)(o->classes * dim) * sizeof *proto);
	labels = malloc((size_t)n * sizeof *labels);
	buf = malloc((size_t)(batch * dim > n ? batch * dim : n));
	if (!proto || !labels || !buf) {
		fprintf(stderr, "mkidx: out of memory\n");
		goto fail;
	}

	emc_rng_seed(&rng, o->seed, STREAM_PROTOTYPES);
	for (int64_t i = 0; i < o->classes * dim; i++)
		proto[i] = (float)emc_rng_uniform(&rng);
	emc_rng_seed(&rng, o->seed, STREAM_LABELS);
	for (int64_t i = 0; i < n; i++)
		labels[i] = (int32_t)(i % o->classes);
	emc_rng_shuffle_i32(&rng, labels, n);

	if (mkdir(o->out, 0777) < 0 && errno != EEXIST) {
		fprintf(stderr, "mkidx: %s: cannot create directory: %s\n", o->out, strerror(errno));
		r = -EIO;
		goto fail;
	}
	r = out_open(&fl, o->out, "labels.idx", o->gzip);
	if (r < 0)
		goto fail;
	header(h, 1, dims, 1);
	for (int64_t i = 0; i < n; i++)
		buf[i] = (uint8_t)labels[i];
	r = out_write(&fl, h, 8);
	if (r == 0)
		r = out_write(&fl, buf, (size_t)n);
	if (r == 0)
		r = out_close(&fl);
	if (r < 0)
		goto fail;

	r = out_open(&fi, o->out, "images.idx", o->gzip);
	if (r < 0)
		goto fail;
	header(h, 3, dims, 3);
	r = out_write(&fi, h, 16);
	if (r < 0)
		goto fail;
	emc_rng_seed(&rng, o->seed, STREAM_NOISE);
	for (int64_t i0 = 0; i0 < n; i0 += batch) {
		int64_t m = n - i0 < batch ? n - i0 : batch;

		for (int64_t i = 0; i < m; i++) {
			const float *p = proto + labels[i0 + i] * dim;

			for (int64_t j = 0; j < dim; j++) {
				double v = p[j] * (1.0 - o->noise) + o->noise * emc_rng_uniform(&rng);

				buf[i * dim + j] = (uint8_t)lround(v * 255.0);
			}
		}
		r = out_write(&fi, buf, (size_t)(m * dim));
		if (r < 0)
			goto fail;
	}
	r = out_close(&fi);
fail:
	out_close(&fi);
	out_close(&fl);
	free(proto);
	free(labels);
	free(buf);
	return r;
}

int main(int argc, char **argv)
{
	opts o;

	if (parse_opts(argc, argv, &o) < 0)
		return EXIT_USAGE;
	return write_dataset(&o) < 0 ? 1 : 0;
}
