/* plot.h — the figures of a campaign: EMC against parameter count, and
 * each cell's fit probability along n, drawn with Cairo as SVG or PNG.
 *
 * A figure is drawn from plot data (plot_data_build): the summary's groups
 * (summary.h; one group is one series) and, per cell, its decided bracket
 * and the outcomes at every probed n. The same data draws both figures in
 * both formats, so the SVG a test parses is what the PNG and the HTML
 * report show.
 */
#ifndef EMC_PLOT_H
#define EMC_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "store.h"
#include "summary.h"

#define PLOT_SVG 1u
#define PLOT_PNG 2u

/* The outcomes of one cell at one n: fits of the fits + no-fits recorded
 * there (failed and cancelled trials say nothing about p(n)). */
typedef struct plot_probe {
	int64_t n;
	int fits, outcomes;
} plot_probe;

/* One cell of the summary with what its fit curve needs. */
typedef struct plot_cell {
	const summary_cell *cell; /* borrowed from the data's summary */
	int group;		  /* its group's index, hence its colour */
	int64_t lo, hi;		  /* the bracket; hi = 0: no size decided not to fit */
	double quantile;	  /* q of its campaign's measurement */
	plot_probe *probes;	  /* by increasing n */
	int n_probes;
} plot_cell;

typedef struct plot_data {
	summary *sm;
	plot_cell *cells; /* in summary order: group by group, each by params */
	int n_cells;
} plot_data;

typedef enum plot_figure { PLOT_FIGURE_EMC, PLOT_FIGURE_FITS } plot_figure;

/* Read what the figures of `campaign` (NULL: all) grouped by `by` (as
 * summary_build) need, in one snapshot. Errors as summary_build's. */
int plot_data_build(store *s, const char *campaign, const char *by, plot_data **ret, emc_err *err);
void plot_data_destroy(plot_data **p);

/* Group g's colour as "#rrggbb" (buf of at least 8): every marker of the
 * group's series is filled with it and nothing else in the EMC figure is. */
void plot_group_color(int g, char *buf, size_t len);
/* A cell the EMC figure draws: decided, with a positive EMC and
 * parameter count (log axes). */
bool plot_cell_drawn(const summary_cell *c);
/* How many points group g draws. */
int plot_group_points(const plot_data *d, int g);

/* Where a figure's bytes go: 0 to go on, -errno to stop. */
typedef int (*plot_write_fn)(void *ctx, const unsigned char *data, size_t len);

/* One figure as SVG or PNG (format: PLOT_SVG or PLOT_PNG) to fn.
 * -EIO and err when Cairo fails, or fn's error. */
int plot_render(const plot_data *d, plot_figure fig, unsigned format, plot_write_fn fn, void *ctx, emc_err *err);

/* PREFIX-emc.svg/.png and PREFIX-fits.svg/.png for the formats asked
 * (PLOT_SVG | PLOT_PNG). To `listing` (NULL: nothing printed): first a
 * line per group, "series\tINDEX\t#rrggbb\tPOINTS\tLABEL", then
 * "wrote PATH" per file. A file that fails is removed. */
int plot_write_files(const plot_data *d, const char *prefix, unsigned formats, FILE *listing, emc_err *err);

/* Free what Cairo and fontconfig keep for the process (font caches), so
 * that a leak checker sees only real leaks. Call once, at exit, after the
 * last figure; nothing of plot may be used afterwards. */
void plot_shutdown(void);

#endif
