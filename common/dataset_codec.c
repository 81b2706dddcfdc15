/* dataset_codec.c — the canonical encoding of a decoded dataset, and its name.
 *
 * A dataset's identity is its content, not its file: BLAKE2b-256 over one
 * fixed byte stream — a tag, n (int64), channels, height, width, classes
 * (int32 each), every float32 sample value, then every label byte, all
 * little-endian. The same stream is what the coordinator sends to workers
 * and what they keep in their cache, so a receiver checks a transfer by
 * hashing what arrived, and two files that decode alike are one dataset
 * whatever their names. -0.0 is written as +0.0 so that equal numbers
 * hash alike; a new encoding must get a new tag, since every stored hash
 * names bytes of this one.
 *
 * dataset_hash() names a freshly loaded dataset without building the
 * stream: it feeds BLAKE2b the same bytes in chunks of HASH_CHUNK_VALUES,
 * so hashing costs no memory proportional to the data. Decoding trusts
 * nothing: the hash (when one is expected) is checked first, then the tag,
 * then every size against the EMC_DATASET_MAX_* limits before anything is
 * allocated, then that the length is exactly what the sizes imply, that
 * every value is finite (no reader makes anything else), and finally that
 * every label is below the class count.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "dataset_priv.h"

/* The encoding starts with this tag; a new encoding gets a new tag. */
#define HASH_TAG "emc-dataset-v1"
#define HASH_CHUNK_VALUES 4096
/* All ones in a float32's exponent: an infinity or NaN. */
#define FLOAT_EXPONENT_BITS 0x7f800000u

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The canonical encoding of a decoded dataset, which is both what its hash
 * is computed over and what is sent to workers: the tag, n (int64),
 * channels, height, width, classes (int32 each), every float32 of x, then
 * every label byte, all little-endian. -0.0 is written as +0.0 so that the
 * same numbers hash alike. */
#define ENCODING_HEAD (sizeof HASH_TAG - 1 + 8 + 4 * 4)

static void encode_head(const emc_dataset *d, uint8_t head[ENCODING_HEAD])
{
	size_t at = sizeof HASH_TAG - 1;

	memcpy(head, HASH_TAG, at);
	put_le(head + at, (uint64_t)d->n, 8);
	put_le(head + at + 8, (uint32_t)d->shape.channels, 4);
	put_le(head + at + 12, (uint32_t)d->shape.height, 4);
	put_le(head + at + 16, (uint32_t)d->shape.width, 4);
	put_le(head + at + 20, (uint32_t)d->shape.classes, 4);
}

static void encode_floats(const float *x, int64_t m, uint8_t *out)
{
	for (int64_t j = 0; j < m; j++) {
		float f = x[j] == 0.0f ? 0.0f : x[j];
		uint32_t bits;

		memcpy(&bits, &f, sizeof bits);
		put_le(out + 4 * j, bits, 4);
	}
}

int dataset_hash(emc_dataset *d, emc_err *err)
{
	crypto_generichash_state st;
	uint8_t head[ENCODING_HEAD], buf[HASH_CHUNK_VALUES * 4];
	int64_t total = d->n * d->dim;

	if (sodium_init() < 0)
		return emc_err_set(err, -EIO, "dataset: cannot initialise libsodium for hashing");
	encode_head(d, head);
	crypto_generichash_init(&st, NULL, 0, sizeof d->hash);
	crypto_generichash_update(&st, head, sizeof head);
	for (int64_t i = 0; i < total; i += HASH_CHUNK_VALUES) {
		int64_t m = total - i < HASH_CHUNK_VALUES ? total - i : HASH_CHUNK_VALUES;

		encode_floats(d->x + i, m, buf);
		crypto_generichash_update(&st, buf, (unsigned long long)(4 * m));
	}
	crypto_generichash_update(&st, d->y, (unsigned long long)d->n);
	crypto_generichash_final(&st, d->hash, sizeof d->hash);
	return 0;
}

/* The encoding is exactly the byte stream dataset_hash() feeds BLAKE2b, so
 * a receiver checks a transfer by hashing what arrived. */
int emc_dataset_encode(const emc_dataset *ds, uint8_t **ret_buf, size_t *ret_len, emc_err *err)
{
	size_t len = ENCODING_HEAD + (size_t)ds->n * (size_t)ds->dim * 4 + (size_t)ds->n;
	uint8_t *buf = malloc(len);

	if (!buf)
		return emc_err_set(err, -ENOMEM, "dataset: out of memory encoding %zu bytes", len);
	encode_head(ds, buf);
	encode_floats(ds->x, ds->n * ds->dim, buf + ENCODING_HEAD);
	memcpy(buf + ENCODING_HEAD + (size_t)ds->n * (size_t)ds->dim * 4, ds->y, (size_t)ds->n);
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

int emc_dataset_decode(const uint8_t *buf, size_t len, const uint8_t expect_hash[32], const char *origin,
		       emc_dataset **ret, emc_err *err)
{
	size_t head = ENCODING_HEAD;
	uint8_t hash[32];
	emc_dataset *d;
	uint64_t n;
	int64_t c, h, w, k, dim;

	if (sodium_init() < 0)
		return emc_err_set(err, -EIO, "dataset: cannot initialise libsodium for hashing");
	crypto_generichash(hash, sizeof hash, buf, len, NULL, 0);
	if (expect_hash && sodium_memcmp(hash, expect_hash, sizeof hash) != 0)
		return emc_err_set(err, -EBADMSG, "%s: content hash mismatch (%zu bytes): corrupt or wrong data",
				   origin, len);
	if (len < head || memcmp(buf, HASH_TAG, sizeof HASH_TAG - 1) != 0)
		return emc_err_set(err, -EINVAL, "%s: not an emc dataset encoding (bad header at byte 0)", origin);
	n = get_le(buf + sizeof HASH_TAG - 1, 8);
	c = (int64_t)get_le(buf + sizeof HASH_TAG - 1 + 8, 4);
	h = (int64_t)get_le(buf + sizeof HASH_TAG - 1 + 12, 4);
	w = (int64_t)get_le(buf + sizeof HASH_TAG - 1 + 16, 4);
	k = (int64_t)get_le(buf + sizeof HASH_TAG - 1 + 20, 4);
	/* Each side is bounded before it is multiplied: three 32-bit sides
	 * overflow 64 bits, and a product that wrapped could pass the check. */
	if (n < 1 || n > EMC_DATASET_MAX_SAMPLES || c < 1 || h < 1 || w < 1 || c > EMC_DATASET_MAX_DIM ||
	    h > EMC_DATASET_MAX_DIM / c || w > EMC_DATASET_MAX_DIM / (c * h) || k < 2 || k > EMC_DATASET_MAX_CLASSES)
		return emc_err_set(err, -EINVAL, "%s: impossible sizes in the header (byte %zu)", origin,
				   sizeof HASH_TAG - 1);
	dim = c * h * w;
	if (len != head + (size_t)n * (size_t)dim * 4 + (size_t)n)
		return emc_err_set(err, -EINVAL, "%s: %zu bytes, expected %zu for %llu samples of %lld values",
				   origin, len, head + (size_t)n * (size_t)dim * 4 + (size_t)n, (unsigned long long)n,
				   (long long)dim);
	d = calloc(1, sizeof *d);
	if (!d)
		return emc_err_set(err, -ENOMEM, "dataset: out of memory");
	d->n = (int64_t)n;
	d->dim = dim;
	d->shape = (emc_input_shape){ .channels = (int)c, .height = (int)h, .width = (int)w, .classes = (int)k };
	d->x = malloc((size_t)n * (size_t)dim * sizeof *d->x);
	d->y = malloc((size_t)n);
	if (!d->x || !d->y) {
		emc_dataset_destroy(&d);
		return emc_err_set(err, -ENOMEM, "dataset: out of memory for %llu samples", (unsigned long long)n);
	}
	for (int64_t i = 0; i < (int64_t)n * dim; i++) {
		uint32_t bits = (uint32_t)get_le(buf + head + 4 * (size_t)i, 4);

		/* No reader makes NaN or an infinity: such bytes are corrupt. */
		if ((bits & FLOAT_EXPONENT_BITS) == FLOAT_EXPONENT_BITS) {
			emc_dataset_destroy(&d);
			return emc_err_set(err, -EINVAL, "%s: value %lld (byte %zu) is not a finite number", origin,
					   (long long)i, head + 4 * (size_t)i);
		}
		memcpy(&d->x[i], &bits, sizeof bits);
	}
	memcpy(d->y, buf + head + (size_t)n * (size_t)dim * 4, (size_t)n);
	for (uint64_t i = 0; i < n; i++)
		if (d->y[i] >= k) {
			emc_dataset_destroy(&d);
			return emc_err_set(err, -EINVAL, "%s: label %u >= %lld classes at byte %zu", origin,
					   buf[head + (size_t)n * (size_t)dim * 4 + i], (long long)k,
					   head + (size_t)n * (size_t)dim * 4 + (size_t)i);
		}
	memcpy(d->hash, hash, sizeof hash);
	*ret = d;
	return 0;
}

void emc_hash_hex(const uint8_t hash[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = hex[hash[i] >> 4];
		out[2 * i + 1] = hex[hash[i] & 15];
	}
	out[64] = '\0';
}

void emc_dataset_hash_hex(const emc_dataset *ds, char out[65])
{
	emc_hash_hex(ds->hash, out);
}
