/* rng.c — xoshiro256** (Blackman & Vigna), seeded through splitmix64.
 *
 * Small, fast and of good statistical quality; its state is four words so
 * a trial can carry several independent streams at no cost.
 */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void emc_rng_seed(emc_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);

	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

uint64_t emc_rng_next(emc_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t emc_rng_below(emc_rng *r, uint64_t bound)
{
	/* Rejection on the top of the range removes the modulo bias. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
	uint64_t x;

	do
		x = emc_rng_next(r);
	while (x >= limit);
	return x % bound;
}

double emc_rng_uniform(emc_rng *r)
{
	return (double)(emc_rng_next(r) >> 11) * 0x1.0p-53;
}

double emc_rng_normal(emc_rng *r)
{
	double u1, u2;

	do
		u1 = emc_rng_uniform(r);
	while (u1 <= 0.0);
	u2 = emc_rng_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void emc_rng_shuffle_i32(emc_rng *r, int32_t *a, int64_t n)
{
	for (int64_t i = n - 1; i > 0; i--) {
		int64_t j = (int64_t)emc_rng_below(r, (uint64_t)i + 1);
		int32_t t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}
