/* spec.h — a campaign spec (YAML) parsed and expanded into its cells.
 *
 * A spec names a dataset, a model, an optimizer, seeds, search settings and
 * a budget. Wherever a scalar is expected, a YAML sequence instead makes
 * that key an axis; the campaign's grid is the cross product of all axes
 * and each point of it is a cell (see docs/spec.md for every key). A cell
 * is a procedure; `seeds` is not an axis but the ordered pool of replicate
 * seeds every cell is measured over.
 *
 * Parsing is all-or-nothing: an unknown key, a wrong type, an impossible
 * value or a duplicated key fails with a message naming the file, the line
 * and the key path (e.g. "spec.yaml:4: optimizer.lr: expected a number >
 * 0, got 'fast'"), and nothing is returned. Relative dataset paths are
 * resolved against the spec file's directory.
 */
#ifndef EMC_SPEC_H
#define EMC_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cell.h"
#include "dataset.h" /* emc_dataset_ref, and the name and path limits */
#include "err.h"

#define EMC_SPEC_MAX_BYTES (1 << 20) /* larger spec files are refused */
#define EMC_SPEC_MAX_CELLS 100000    /* larger grids are refused */

#define EMC_SPEC_MAX_SEEDS 256 /* replicate seeds in a pool (MEASURE_SEEDS_MAX) */
#define EMC_SPEC_DEFAULT_SEEDS 3 /* a spec without `seeds` gets the pool [0, 1, 2] */
#define EMC_SPEC_MAX_GRID_POINTS 1000 /* search.grid_points (MEASURE_GRID_MAX) */
#define EMC_SPEC_MAX_SPEC_DEPTH 4     /* search.spec_depth (MEASURE_DEPTH_MAX) */
#define EMC_SPEC_BLAS_CORE_MAX 31     /* engine.blas_core: bytes of a kernel name a worker's Hello can carry */
#define EMC_SPEC_MAX_BLAS_THREADS 256 /* engine.blas_threads: a worker's --blas-threads at most */

/* How a cell's EMC is measured over its replicate seeds (docs/method.md). */
typedef enum emc_search_method {
	EMC_SEARCH_BISECT = 0, /* replicated sequential bisection (default) */
	EMC_SEARCH_PER_SEED,   /* one bisection per seed; median of the per-seed EMCs */
	EMC_SEARCH_GRID,       /* the authors' protocol: every seed at every size of a log grid */
	EMC_SEARCH_METHOD_COUNT
} emc_search_method;

typedef struct emc_search_cfg {
	int64_t start;    /* first n tried (default 16) */
	double precision; /* stop when hi - lo <= max(1, precision * lo) (default 0.01) */
	int64_t max_n;    /* largest n tried; 0 = the dataset's size */
	emc_search_method method;
	double quantile;     /* q: EMC_q is the largest n with p(n) >= q (default 0.5) */
	int min_seeds;       /* seeds read before a sure decision (default 3; the parser caps it by the pool) */
	double confidence;   /* of the interval [emc_low, emc_high] (default 0.95) */
	int grid_points;     /* grid: sizes of the log grid (default 20) */
	int spec_depth;      /* bisect: decisions speculation looks ahead (default 2) */
	double indifference; /* bisect: half-width of the sequential test's zone around q (default 0.2) */
} emc_search_cfg;

/* The `engine` section: which workers may run the campaign's trials. A
 * trial's outcome is deterministic given the OpenBLAS kernel and its
 * thread count, and OpenBLAS cannot change its kernel inside a running
 * process, so a pinned campaign is dispatched only to workers that
 * announced this kernel and thread count; the others run other campaigns'
 * trials. All zero (the default): any worker. */
typedef struct emc_engine_cfg {
	char blas_core[EMC_SPEC_BLAS_CORE_MAX + 1]; /* the kernel's name, e.g. "Haswell"; "" = any */
	int blas_threads;                           /* BLAS threads per slot; 0 = any */
} emc_engine_cfg;

/* Whether a worker that announced blas_core (NULL or "": unknown) and
 * blas_threads may run a trial of a campaign pinned to e. Kernel names
 * compare without regard to case, as OPENBLAS_CORETYPE reads them; a
 * worker whose kernel is unknown matches no kernel pin. */
bool emc_engine_accepts(const emc_engine_cfg *e, const char *blas_core, int blas_threads);

/* Whether e pins anything. */
bool emc_engine_pinned(const emc_engine_cfg *e);

/* The pin as a spec spells it ("blas_core Haswell, blas_threads 1"; "any
 * worker" for none), cut to size; returns the length it wanted. */
int emc_engine_text(const emc_engine_cfg *e, char *buf, size_t size);

typedef struct emc_campaign_spec {
	char name[EMC_NAME_MAX];
	emc_dataset_ref dataset;
	emc_search_cfg search;
	emc_engine_cfg engine;
	/* The ordered pool of replicate seeds every cell is measured over:
	 * `seeds: [0, 1, 2]`, or `seeds: 5` for [0, 1, 2, 3, 4]. A trial is
	 * (cell, n, seed index); its cell configuration's `seed` is
	 * seeds[index]. */
	int n_seeds;
	uint64_t seeds[EMC_SPEC_MAX_SEEDS];
	int n_cells;
	emc_cell_cfg *cells; /* (n_cells), in a stable grid order; cells[i].seed = seeds[0] */
} emc_campaign_spec;

/* The search defaults of docs/spec.md: start 16, precision 0.01, max_n 0,
 * bisect, quantile 0.5, min_seeds 3, confidence 0.95, grid_points 20,
 * spec_depth 2, indifference 0.2. */
void emc_search_cfg_defaults(emc_search_cfg *s);

/* "bisect", "per-seed", "grid"; NULL for a bad value. */
const char *emc_search_method_name(emc_search_method m);
/* 0 on success, -EINVAL for an unknown name. */
int emc_search_method_parse(const char *s, emc_search_method *ret);

/* Parse the spec in `path`. On success *ret is a new spec the caller frees
 * with emc_spec_destroy(). On failure returns -EINVAL (or -errno for I/O)
 * and fills err; *ret is untouched. */
int emc_spec_parse_file(const char *path, emc_campaign_spec **ret, emc_err *err);

/* Parse spec text held in memory. `origin` names it in error messages (a
 * file name); `base_dir` resolves relative dataset paths. */
int emc_spec_parse_string(const char *text, size_t len, const char *origin, const char *base_dir,
			  emc_campaign_spec **ret, emc_err *err);

/* NULL-safe; sets *p = NULL. */
void emc_spec_destroy(emc_campaign_spec **p);

/* Whether two parsed specs describe the same campaign: 0 when they do, 1
 * when they differ, and then (if ret_key) the first key that differs with
 * both values, e.g. "optimizer.lr (0.1, now 0.01)" or "cell 2: model.widths
 * (...)". The text does not matter, only what it parses to: comments, key
 * order and YAML layout are not differences. */
int emc_spec_diff(const emc_campaign_spec *a, const emc_campaign_spec *b, char *ret_key, size_t size);

#endif
