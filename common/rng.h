/* rng.h — seeded pseudo-random numbers (xoshiro256**, seeded by splitmix64).
 *
 * Everything random in emc — initial weights, mini-batch order, subsets,
 * random labels — draws from one of these, seeded from the cell's seed and
 * a stream id, so a trial is reproducible. Never rand().
 */
#ifndef EMC_RNG_H
#define EMC_RNG_H

#include <stdint.h>

typedef struct emc_rng {
	uint64_t s[4];
} emc_rng;

/* Seed from (seed, stream): different streams of one seed are independent. */
void emc_rng_seed(emc_rng *r, uint64_t seed, uint64_t stream);
uint64_t emc_rng_next(emc_rng *r);
/* Uniform in [0, bound) without modulo bias; bound > 0. */
uint64_t emc_rng_below(emc_rng *r, uint64_t bound);
/* Uniform float in [0, 1). */
double emc_rng_uniform(emc_rng *r);
/* Standard normal (Box–Muller). */
double emc_rng_normal(emc_rng *r);
/* Fisher–Yates shuffle of a[0..n). */
void emc_rng_shuffle_i32(emc_rng *r, int32_t *a, int64_t n);

#endif
