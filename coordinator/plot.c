/* plot.c — the study's figures, drawn with Cairo: EMC against parameter
 * count, and each cell's fit probability along n.
 *
 * Why Cairo: it is a maintained C library with SVG and PNG backends and
 * real text rendering (fontconfig fonts, kerning), so one drawing routine
 * writes both formats, no external converter is needed, and we do not
 * hand-write a renderer or an SVG serializer. The SVG backend writes every
 * fill and stroke as a <path> with its colour in the style attribute and
 * text as glyph outlines, which is what makes the figure checkable:
 *
 *   Every marker of the EMC figure is exactly one filled path, filled with
 *   its group's palette colour, and nothing else there is filled with a
 *   palette colour (error bars and legend swatches are strokes, text and
 *   legend symbols are dark grey). So counting the paths filled with a
 *   colour counts that series' points; `emcctl plot` prints each group's
 *   label, colour and point count for a test to compare. Cairo's SVG has
 *   no element ids, and this needs none: it survives any change of Cairo's
 *   grouping or of the drawing order.
 *
 * The EMC figure: log–log axes with decade ticks, one series per summary
 * group, a point per decided cell at (params, EMC) with its interval as an
 * error bar; a filled circle for a converged EMC, a ring for one a budget
 * stop decided (unconverged), an up-triangle for a lower bound (the whole
 * range fit); the y = x line (EMC = params) dashed for reference.
 * Undecided cells are not drawn, and a note on the figure says how many.
 *
 * The fits figure is one multi-panel file, not a file per cell: a campaign
 * of dozens of cells is read by scanning panels side by side on one page,
 * and a cell number alone would not name a file uniquely across
 * campaigns. Each panel shows p̂(n) = fits/outcomes at every probed n (log
 * x axis) with its 95 % Wilson score interval (it stays inside [0, 1] and
 * is honest at 0/3 and 3/3, where the normal interval collapses), the
 * quantile q as a horizontal line, the decided bracket [lo, hi) shaded and
 * the EMC marked.
 *
 * Data comes from the summary (the same groups and numbers as `emcctl
 * summary`), the results (the bracket) and the trials (the outcomes), read
 * in one snapshot. Workload: a few hundred cells and some thousands of
 * trials per figure; nothing here is on a hot path.
 */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cairo-svg.h>
#include <cairo.h>
#include <fontconfig/fontconfig.h>

#include "store_report.h"

#define EMC_W	     720.0
#define EMC_H	     480.0
#define PANEL_W	     300.0
#define PANEL_H	     220.0
#define PANEL_COLS   3
#define FITS_MAX     240   /* panels drawn; a note names the rest */
#define PNG_SCALE    2.0   /* PNG pixels per SVG point, when it fits */
#define PNG_MAX_SIDE 30000 /* Cairo's image surfaces stop at 32767 */
#define WILSON_Z     1.959964
#define MARKER_R     4.5

/* ---- data ------------------------------------------------------------------ */

typedef struct build {
	plot_data *d;
	int last; /* the cell the previous trial row belonged to */
} build;

static plot_cell *cell_find(plot_data *d, const char *campaign, int cell, int hint)
{
	if (hint >= 0 && hint < d->n_cells && d->cells[hint].cell->cell == cell &&
	    strcmp(d->cells[hint].cell->campaign, campaign) == 0)
		return &d->cells[hint];
	for (int i = 0; i < d->n_cells; i++)
		if (d->cells[i].cell->cell == cell && strcmp(d->cells[i].cell->campaign, campaign) == 0)
			return &d->cells[i];
	return NULL;
}

static int on_result(void *ctx, const store_results_row *r)
{
	build *b = ctx;
	plot_cell *c = cell_find(b->d, r->campaign, r->cell, -1);

	if (c) {
		c->lo = r->lo;
		c->hi = r->hi;
	}
	return 0;
}

static int on_trial(void *ctx, const store_trials_row *r)
{
	build *b = ctx;
	plot_cell *c = cell_find(b->d, r->campaign, r->cell, b->last);
	plot_probe *p;

	if (!c)
		return 0;
	b->last = (int)(c - b->d->cells);
	c->quantile = r->search.quantile > 0 ? r->search.quantile : 0.5;
	if (r->state != STORE_TRIAL_FIT && r->state != STORE_TRIAL_NO_FIT)
		return 0;
	p = c->n_probes ? &c->probes[c->n_probes - 1] : NULL;
	if (!p || p->n != r->n) { /* rows come by cell, then n */
		p = realloc(c->probes, (size_t)(c->n_probes + 1) * sizeof *p);
		if (!p)
			return -ENOMEM;
		c->probes = p;
		p = &c->probes[c->n_probes++];
		*p = (plot_probe){.n = r->n};
	}
	p->outcomes++;
	p->fits += r->state == STORE_TRIAL_FIT;
	return 0;
}

static int cells_from_summary(plot_data *d)
{
	int n = 0, k = 0;

	for (int g = 0; g < d->sm->n_groups; g++)
		n += d->sm->groups[g].n_cells;
	d->cells = calloc(n ? (size_t)n : 1, sizeof *d->cells);
	if (!d->cells)
		return -ENOMEM;
	for (int g = 0; g < d->sm->n_groups; g++)
		for (int i = 0; i < d->sm->groups[g].n_cells; i++)
			d->cells[k++] = (plot_cell){.cell = &d->sm->groups[g].cells[i], .group = g, .quantile = 0.5};
	d->n_cells = n;
	return 0;
}

/* The trials of every campaign the summary holds, each campaign once. */
static int read_trials(store *s, plot_data *d, build *b, emc_err *err)
{
	for (int i = 0; i < d->n_cells; i++) {
		const char *name = d->cells[i].cell->campaign;
		bool seen = false;
		int r;

		for (int j = 0; j < i && !seen; j++)
			seen = strcmp(d->cells[j].cell->campaign, name) == 0;
		if (seen)
			continue;
		r = store_report_trials(s, name, -1, on_trial, b, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int plot_data_build(store *s, const char *campaign, const char *by, plot_data **ret, emc_err *err)
{
	plot_data *d = calloc(1, sizeof *d);
	build b = {.d = d, .last = -1};
	int r;

	if (!d)
		return emc_err_set(err, -ENOMEM, "plot: out of memory");
	r = store_report_snapshot_begin(s, err);
	if (r < 0) {
		free(d);
		return r;
	}
	r = summary_build(s, campaign, by, &d->sm, err);
	if (r >= 0)
		r = cells_from_summary(d) < 0 ? emc_err_set(err, -ENOMEM, "plot: out of memory") : 0;
	if (r >= 0)
		r = store_report_results(s, campaign, on_result, &b, err);
	if (r >= 0)
		r = read_trials(s, d, &b, err);
	store_report_snapshot_end(s);
	if (r < 0) {
		if (r == -ENOMEM)
			emc_err_set(err, r, "plot: out of memory");
		plot_data_destroy(&d);
		return r;
	}
	*ret = d;
	return 0;
}

void plot_data_destroy(plot_data **p)
{
	plot_data *d = p ? *p : NULL;

	if (!d)
		return;
	for (int i = 0; i < d->n_cells; i++)
		free(d->cells[i].probes);
	free(d->cells);
	summary_destroy(&d->sm);
	free(d);
	*p = NULL;
}

bool plot_cell_drawn(const summary_cell *c)
{
	return c->decided && c->has_params && c->params > 0 && c->emc > 0;
}

int plot_group_points(const plot_data *d, int g)
{
	int n = 0;

	if (g < 0 || g >= d->sm->n_groups)
		return 0;
	for (int i = 0; i < d->sm->groups[g].n_cells; i++)
		n += plot_cell_drawn(&d->sm->groups[g].cells[i]);
	return n;
}

/* ---- colours ------------------------------------------------------------------ */

typedef struct rgb {
	unsigned char r, g, b;
} rgb;

/* Tableau 10 without its grey (grey is the figure's ink); past it, hues a
 * golden angle apart. 8-bit values, so that the colour in the SVG (as
 * percentages) maps back to exactly one "#rrggbb". */
static const rgb palette[] = {{0x1f, 0x77, 0xb4}, {0xff, 0x7f, 0x0e}, {0x2c, 0xa0, 0x2c},
			      {0xd6, 0x27, 0x28}, {0x94, 0x67, 0xbd}, {0x8c, 0x56, 0x4b},
			      {0xe3, 0x77, 0xc2}, {0xbc, 0xbd, 0x22}, {0x17, 0xbe, 0xcf}};
#define N_PALETTE ((int)(sizeof palette / sizeof palette[0]))

static const rgb ink = {0x33, 0x33, 0x33};

static rgb group_rgb(int g)
{
	double h, f, v = 0.78, s = 0.7, p, q, t;
	double c[3];
	int i;

	if (g >= 0 && g < N_PALETTE)
		return palette[g];
	h = fmod((double)g * 0.6180339887, 1.0) * 6.0;
	i = (int)h;
	f = h - i;
	p = v * (1 - s);
	q = v * (1 - s * f);
	t = v * (1 - s * (1 - f));
	switch (i % 6) {
	case 0:
		c[0] = v, c[1] = t, c[2] = p;
		break;
	case 1:
		c[0] = q, c[1] = v, c[2] = p;
		break;
	case 2:
		c[0] = p, c[1] = v, c[2] = t;
		break;
	case 3:
		c[0] = p, c[1] = q, c[2] = v;
		break;
	case 4:
		c[0] = t, c[1] = p, c[2] = v;
		break;
	default:
		c[0] = v, c[1] = p, c[2] = q;
		break;
	}
	/* Odd 8-bit values keep clear of the ink and of white; two groups share a
	 * colour only past a hundred or so, where no legend is read anyway. */
	return (rgb){(unsigned char)((int)(c[0] * 254) | 1), (unsigned char)((int)(c[1] * 254) | 1),
		     (unsigned char)((int)(c[2] * 254) | 1)};
}

void plot_group_color(int g, char *buf, size_t len)
{
	rgb c = group_rgb(g);

	snprintf(buf, len, "#%02x%02x%02x", c.r, c.g, c.b);
}

static void set_rgb(cairo_t *cr, rgb c, double alpha)
{
	cairo_set_source_rgba(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0, alpha);
}

/* ---- axes ----------------------------------------------------------------------- */

/* A plot area on the page and the data range it shows; log10 of the data
 * on a log axis. */
typedef struct frame {
	double x, y, w, h;
	double x0, x1, y0, y1;
	bool xlog, ylog;
} frame;

static double fx(const frame *f, double v)
{
	double t = f->xlog ? log10(v) : v;

	return f->x + (t - f->x0) / (f->x1 - f->x0) * f->w;
}

static double fy(const frame *f, double v)
{
	double t = f->ylog ? log10(v) : v;

	return f->y + f->h - (t - f->y0) / (f->y1 - f->y0) * f->h;
}

static void text_at(cairo_t *cr, const char *s, double x, double y, double ax, double ay, double size)
{
	cairo_text_extents_t e;

	cairo_set_font_size(cr, size);
	cairo_text_extents(cr, s, &e);
	cairo_move_to(cr, x - ax * e.x_advance, y + ay * e.height);
	cairo_show_text(cr, s);
}

/* "1", "10", "100", "1000", then 10 with a raised exponent. */
static void decade_label(cairo_t *cr, int k, double x, double y, double ax, double ay)
{
	char base[16], exp[8];
	cairo_text_extents_t eb, ee;
	double w;

	if (k >= 0 && k <= 3) {
		snprintf(base, sizeof base, "%.0f", pow(10, k));
		text_at(cr, base, x, y, ax, ay, 10);
		return;
	}
	snprintf(exp, sizeof exp, "%d", k);
	cairo_set_font_size(cr, 10);
	cairo_text_extents(cr, "10", &eb);
	cairo_set_font_size(cr, 7);
	cairo_text_extents(cr, exp, &ee);
	w = eb.x_advance + ee.x_advance;
	text_at(cr, "10", x - ax * w, y, 0, ay, 10);
	text_at(cr, exp, x - ax * w + eb.x_advance, y + ay * eb.height - 5, 0, 0, 7);
}

static void tick(cairo_t *cr, const frame *f, bool xaxis, double t, double len)
{
	double p =
	    xaxis ? f->x + (t - f->x0) / (f->x1 - f->x0) * f->w : f->y + f->h - (t - f->y0) / (f->y1 - f->y0) * f->h;

	if (xaxis) {
		cairo_move_to(cr, p, f->y + f->h);
		cairo_line_to(cr, p, f->y + f->h + len);
	} else {
		cairo_move_to(cr, f->x, p);
		cairo_line_to(cr, f->x - len, p);
	}
}

/* Decade ticks, labelled, with 2..9 unlabelled between them. */
static void log_axis(cairo_t *cr, const frame *f, bool xaxis)
{
	double a = xaxis ? f->x0 : f->y0, b = xaxis ? f->x1 : f->y1;

	for (int k = (int)floor(a); k <= (int)ceil(b); k++) {
		for (int m = 1; m < 10; m++) {
			double t = k + log10(m);

			if (t < a - 1e-9 || t > b + 1e-9)
				continue;
			tick(cr, f, xaxis, t, m == 1 ? 6 : 3);
		}
	}
	cairo_stroke(cr);
	for (int k = (int)ceil(a - 1e-9); k <= (int)floor(b + 1e-9); k++) {
		if (xaxis)
			decade_label(cr, k, fx(f, pow(10, k)), f->y + f->h + 9, 0.5, 1.0);
		else
			decade_label(cr, k, f->x - 9, fy(f, pow(10, k)), 1.0, 0.5);
	}
}

static void linear_yaxis(cairo_t *cr, const frame *f, const double *ticks, int n)
{
	char buf[16];

	for (int i = 0; i < n; i++)
		tick(cr, f, false, ticks[i], 5);
	cairo_stroke(cr);
	for (int i = 0; i < n; i++) {
		snprintf(buf, sizeof buf, "%g", ticks[i]);
		text_at(cr, buf, f->x - 8, fy(f, ticks[i]), 1.0, 0.5, 9);
	}
}

static void frame_box(cairo_t *cr, const frame *f)
{
	set_rgb(cr, ink, 1);
	cairo_set_line_width(cr, 1);
	cairo_rectangle(cr, f->x, f->y, f->w, f->h);
	cairo_stroke(cr);
}

/* A log range covering [lo, hi], widened to whole decades. */
static void log_range(double lo, double hi, double *ret0, double *ret1)
{
	double a = floor(log10(lo)), b = ceil(log10(hi));

	if (b <= a)
		b = a + 1;
	*ret0 = a;
	*ret1 = b;
}

/* ---- the EMC figure ---------------------------------------------------------------- */

typedef enum marker { MARK_FIT, MARK_UNCONVERGED, MARK_LOWER_BOUND } marker;

/* One filled path per marker: the count of a colour's fills is the count
 * of its points (see the top of this file). */
static void marker_fill(cairo_t *cr, marker m, double x, double y, double r)
{
	cairo_new_path(cr);
	switch (m) {
	case MARK_FIT:
		cairo_arc(cr, x, y, r, 0, 2 * M_PI);
		break;
	case MARK_UNCONVERGED: /* a ring: one path, the hole by the even-odd rule */
		cairo_set_fill_rule(cr, CAIRO_FILL_RULE_EVEN_ODD);
		cairo_arc(cr, x, y, r, 0, 2 * M_PI);
		cairo_close_path(cr);
		cairo_new_sub_path(cr);
		cairo_arc(cr, x, y, r * 0.5, 0, 2 * M_PI);
		break;
	case MARK_LOWER_BOUND: /* an up-arrow head: "at least this" */
		cairo_move_to(cr, x, y - 1.4 * r);
		cairo_line_to(cr, x + r, y + 0.8 * r);
		cairo_line_to(cr, x - r, y + 0.8 * r);
		break;
	}
	cairo_close_path(cr);
	cairo_fill(cr);
	cairo_set_fill_rule(cr, CAIRO_FILL_RULE_WINDING);
}

static marker cell_marker(const summary_cell *c)
{
	return c->full ? MARK_LOWER_BOUND : c->unconverged ? MARK_UNCONVERGED : MARK_FIT;
}

/* The ranges: every drawn point, its interval, and the y = x line over the
 * x range (so that the reference is always in view). */
static bool emc_ranges(const plot_data *d, frame *f)
{
	double xmin = INFINITY, xmax = 0, ymin = INFINITY, ymax = 0;

	for (int i = 0; i < d->n_cells; i++) {
		const summary_cell *c = d->cells[i].cell;
		double lo, hi;

		if (!plot_cell_drawn(c))
			continue;
		lo = c->has_interval && c->emc_low > 0 ? (double)c->emc_low : (double)c->emc;
		hi = c->has_interval && c->emc_high > c->emc ? (double)c->emc_high : (double)c->emc;
		xmin = fmin(xmin, (double)c->params);
		xmax = fmax(xmax, (double)c->params);
		ymin = fmin(ymin, lo);
		ymax = fmax(ymax, hi * (c->full ? 2 : 1)); /* room for the arrow */
	}
	if (xmax <= 0)
		return false;
	log_range(xmin, xmax, &f->x0, &f->x1);
	log_range(fmin(ymin, xmin), fmax(ymax, pow(10, f->x1)), &f->y0, &f->y1);
	return true;
}

/* Groups of the same architectures share their x: each series is moved a
 * few points sideways so that its bars do not hide the others'. */
static double dodge(const plot_data *d, int g)
{
	return d->sm->n_groups > 1 ? (g - (d->sm->n_groups - 1) / 2.0) * fmin(6.0, 24.0 / d->sm->n_groups) : 0;
}

static void error_bar(cairo_t *cr, const frame *f, const summary_cell *c, double dx)
{
	double x = fx(f, (double)c->params) + dx, lo, hi;

	if (!c->has_interval || c->emc_high <= 0)
		return;
	lo = fy(f, c->emc_low > 0 ? (double)c->emc_low : pow(10, f->y0));
	hi = fy(f, (double)c->emc_high);
	cairo_move_to(cr, x, lo);
	cairo_line_to(cr, x, hi);
	cairo_move_to(cr, x - 3, lo);
	cairo_line_to(cr, x + 3, lo);
	cairo_move_to(cr, x - 3, hi);
	cairo_line_to(cr, x + 3, hi);
	cairo_stroke(cr);
}

static void emc_series(cairo_t *cr, const plot_data *d, const frame *f)
{
	cairo_save(cr);
	cairo_rectangle(cr, f->x, f->y, f->w, f->h);
	cairo_clip(cr);
	cairo_set_line_width(cr, 1.2);
	for (int i = 0; i < d->n_cells; i++) { /* bars first: markers stay on top */
		if (!plot_cell_drawn(d->cells[i].cell))
			continue;
		set_rgb(cr, group_rgb(d->cells[i].group), 0.8);
		error_bar(cr, f, d->cells[i].cell, dodge(d, d->cells[i].group));
	}
	cairo_restore(cr);
	for (int i = 0; i < d->n_cells; i++) {
		const summary_cell *c = d->cells[i].cell;

		if (!plot_cell_drawn(c))
			continue;
		set_rgb(cr, group_rgb(d->cells[i].group), 1);
		marker_fill(cr, cell_marker(c), fx(f, (double)c->params) + dodge(d, d->cells[i].group),
			    fy(f, (double)c->emc), MARKER_R);
	}
}

static void identity_line(cairo_t *cr, const frame *f)
{
	double a = fmax(f->x0, f->y0), b = fmin(f->x1, f->y1);
	static const double dash[] = {6, 4};

	if (b <= a)
		return;
	cairo_save(cr);
	set_rgb(cr, ink, 0.8);
	cairo_set_dash(cr, dash, 2, 0);
	cairo_set_line_width(cr, 1);
	cairo_move_to(cr, fx(f, pow(10, a)), fy(f, pow(10, a)));
	cairo_line_to(cr, fx(f, pow(10, b)), fy(f, pow(10, b)));
	cairo_stroke(cr);
	cairo_restore(cr);
	set_rgb(cr, ink, 1);
	text_at(cr, "EMC = params", fx(f, pow(10, b)) - 6, fy(f, pow(10, b)) + 6, 1.0, 1.0, 9);
}

/* The legend: a stroked swatch and the label per group, then the marker
 * kinds in ink. */
static void emc_legend(cairo_t *cr, const plot_data *d, const frame *f)
{
	static const char *const kinds[] = {"converged", "unconverged (a budget stop decided it)",
					    "lower bound (the whole range fit)"};
	double x = f->x + 12, y = f->y + 14;
	char label[256];

	for (int g = 0; g < d->sm->n_groups; g++, y += 14) {
		summary_group_label(d->sm, &d->sm->groups[g], label, sizeof label);
		set_rgb(cr, group_rgb(g), 1);
		cairo_set_line_width(cr, 3);
		cairo_move_to(cr, x, y);
		cairo_line_to(cr, x + 16, y);
		cairo_stroke(cr);
		set_rgb(cr, ink, 1);
		text_at(cr, label, x + 22, y, 0, 0.5, 9);
	}
	for (int k = 0; k < 3; k++, y += 14) {
		set_rgb(cr, ink, 1);
		marker_fill(cr, (marker)k, x + 8, y, 3.5);
		text_at(cr, kinds[k], x + 22, y, 0, 0.5, 9);
	}
}

static void emc_note(cairo_t *cr, const plot_data *d)
{
	int undecided = 0, zero = 0;
	char note[160];

	for (int i = 0; i < d->n_cells; i++) {
		const summary_cell *c = d->cells[i].cell;

		undecided += !c->decided;
		zero += c->decided && !plot_cell_drawn(c);
	}
	if (!undecided && !zero)
		return;
	snprintf(note, sizeof note, "not drawn: %d undecided cell%s%s", undecided, undecided == 1 ? "" : "s",
		 zero ? ", and cells with no EMC or parameter count" : "");
	set_rgb(cr, ink, 1);
	text_at(cr, note, 12, EMC_H - 10, 0, 0, 9);
}

static void draw_emc(cairo_t *cr, const plot_data *d)
{
	frame f = {.x = 80, .y = 40, .w = EMC_W - 110, .h = EMC_H - 110, .xlog = true, .ylog = true};

	set_rgb(cr, ink, 1);
	text_at(cr, "Effective model complexity against parameter count", EMC_W / 2, 22, 0.5, 0, 13);
	frame_box(cr, &f);
	if (!emc_ranges(d, &f)) {
		text_at(cr, "no decided cell yet", f.x + f.w / 2, f.y + f.h / 2, 0.5, 0.5, 12);
		emc_note(cr, d);
		return;
	}
	log_axis(cr, &f, true);
	log_axis(cr, &f, false);
	text_at(cr, "parameters", f.x + f.w / 2, f.y + f.h + 34, 0.5, 0, 11);
	cairo_save(cr);
	cairo_translate(cr, 22, f.y + f.h / 2);
	cairo_rotate(cr, -M_PI / 2);
	text_at(cr, "EMC (samples fit)", 0, 0, 0.5, 0, 11);
	cairo_restore(cr);
	identity_line(cr, &f);
	emc_series(cr, d, &f);
	emc_legend(cr, d, &f);
	emc_note(cr, d);
}

/* ---- the fits figure ------------------------------------------------------------------ */

/* The Wilson score interval of k successes in n at z. */
static void wilson(int k, int n, double *ret_lo, double *ret_hi)
{
	double p = (double)k / n, z2 = WILSON_Z * WILSON_Z, den = 1 + z2 / n;
	double mid = (p + z2 / (2.0 * n)) / den;
	double half = WILSON_Z * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / den;

	*ret_lo = fmax(0, mid - half);
	*ret_hi = fmin(1, mid + half);
}

static void panel_x_range(const plot_cell *c, frame *f)
{
	double lo = INFINITY, hi = 0;

	for (int i = 0; i < c->n_probes; i++) {
		lo = fmin(lo, (double)c->probes[i].n);
		hi = fmax(hi, (double)c->probes[i].n);
	}
	if (c->hi > 0)
		hi = fmax(hi, (double)c->hi);
	if (c->lo > 0)
		lo = fmin(lo, (double)c->lo);
	f->x0 = log10(lo) - 0.15;
	f->x1 = log10(hi) + 0.15;
}

/* The bracket [lo, hi) shaded, the EMC marked, q drawn. */
static void panel_guides(cairo_t *cr, const plot_cell *c, const frame *f)
{
	static const double dash[] = {4, 3};
	cairo_text_extents_t e;
	char buf[64];
	double x;

	if (c->lo > 0 && c->hi > c->lo) {
		cairo_set_source_rgba(cr, 0.55, 0.55, 0.55, 0.25);
		cairo_rectangle(cr, fx(f, (double)c->lo), f->y, fx(f, (double)c->hi) - fx(f, (double)c->lo), f->h);
		cairo_fill(cr);
	}
	cairo_save(cr);
	set_rgb(cr, ink, 0.8);
	cairo_set_line_width(cr, 1);
	cairo_set_dash(cr, dash, 2, 0);
	cairo_move_to(cr, f->x, fy(f, c->quantile));
	cairo_line_to(cr, f->x + f->w, fy(f, c->quantile));
	cairo_stroke(cr);
	cairo_restore(cr);
	snprintf(buf, sizeof buf, "q = %g", c->quantile);
	set_rgb(cr, ink, 1);
	text_at(cr, buf, f->x + 4, fy(f, c->quantile) - 3, 0, 0, 8);
	if (!c->cell->decided || c->lo <= 0)
		return;
	x = fx(f, (double)c->lo);
	cairo_set_line_width(cr, 1.5);
	cairo_move_to(cr, x, f->y);
	cairo_line_to(cr, x, f->y + f->h);
	cairo_stroke(cr);
	snprintf(buf, sizeof buf, "EMC %s%lld", c->cell->full ? ">= " : "", (long long)c->lo);
	cairo_set_font_size(cr, 8);
	cairo_text_extents(cr, buf, &e);
	if (x + 3 + e.x_advance > f->x + f->w) /* no room right of the line: its left */
		text_at(cr, buf, x - 3, fy(f, 0.15), 1.0, 0, 8);
	else
		text_at(cr, buf, x + 3, fy(f, 0.15), 0, 0, 8);
}

static void panel_points(cairo_t *cr, const plot_cell *c, const frame *f)
{
	set_rgb(cr, group_rgb(c->group), 1);
	cairo_set_line_width(cr, 1);
	for (int i = 0; i < c->n_probes; i++) {
		const plot_probe *p = &c->probes[i];
		double x = fx(f, (double)p->n), lo, hi;

		wilson(p->fits, p->outcomes, &lo, &hi);
		cairo_move_to(cr, x, fy(f, lo));
		cairo_line_to(cr, x, fy(f, hi));
		cairo_stroke(cr);
		cairo_arc(cr, x, fy(f, (double)p->fits / p->outcomes), 3, 0, 2 * M_PI);
		cairo_fill(cr);
	}
}

static void draw_panel(cairo_t *cr, const plot_cell *c, double ox, double oy)
{
	static const double yticks[] = {0, 0.25, 0.5, 0.75, 1};
	frame f = {.x = ox + 44,
		   .y = oy + 30,
		   .w = PANEL_W - 60,
		   .h = PANEL_H - 70,
		   .y0 = -0.06,
		   .y1 = 1.06,
		   .xlog = true}; /* room for the markers at 0 and 1 */
	char title[160];

	snprintf(title, sizeof title, "%s/%d  %s", c->cell->campaign, c->cell->cell, c->cell->model);
	set_rgb(cr, ink, 1);
	text_at(cr, title, ox + PANEL_W / 2, oy + 16, 0.5, 0, 10);
	frame_box(cr, &f);
	linear_yaxis(cr, &f, yticks, 5);
	if (c->n_probes == 0) {
		text_at(cr, "no outcomes yet", f.x + f.w / 2, f.y + f.h / 2, 0.5, 0.5, 9);
		return;
	}
	panel_x_range(c, &f);
	log_axis(cr, &f, true);
	text_at(cr, "n", f.x + f.w / 2, f.y + f.h + 30, 0.5, 0, 9);
	text_at(cr, "p\xcc\x82(n)", ox + 6, f.y - 6, 0, 0, 9);
	cairo_save(cr);
	cairo_rectangle(cr, f.x, f.y, f.w, f.h);
	cairo_clip(cr);
	panel_guides(cr, c, &f);
	panel_points(cr, c, &f);
	cairo_restore(cr);
}

static int fits_panels(const plot_data *d)
{
	return d->n_cells < FITS_MAX ? d->n_cells : FITS_MAX;
}

static void fits_size(const plot_data *d, double *ret_w, double *ret_h)
{
	int n = fits_panels(d), cols = n < PANEL_COLS ? (n ? n : 1) : PANEL_COLS;

	*ret_w = cols * PANEL_W;
	*ret_h = 50 + ((n + cols - 1) / cols + (n == 0)) * PANEL_H;
}

static void draw_fits(cairo_t *cr, const plot_data *d)
{
	int n = fits_panels(d);
	double w, h;
	char note[96];

	fits_size(d, &w, &h);
	set_rgb(cr, ink, 1);
	text_at(cr, "Fit probability p\xcc\x82(n) = fits/outcomes with 95 % Wilson intervals; shaded: [lo, hi)", w / 2,
		22, 0.5, 0, 11);
	for (int i = 0; i < n; i++)
		draw_panel(cr, &d->cells[i], (i % PANEL_COLS) * PANEL_W, 40 + (i / PANEL_COLS) * PANEL_H);
	if (n < d->n_cells) {
		snprintf(note, sizeof note, "the first %d of %d cells", n, d->n_cells);
		text_at(cr, note, 12, h - 8, 0, 0, 9);
	}
	if (d->n_cells == 0)
		text_at(cr, "no cells", w / 2, h / 2, 0.5, 0.5, 12);
}

/* ---- surfaces --------------------------------------------------------------------------- */

typedef struct sink {
	plot_write_fn fn;
	void *ctx;
	int r;
} sink;

static cairo_status_t sink_write(void *closure, const unsigned char *data, unsigned int len)
{
	sink *k = closure;

	if (k->r >= 0)
		k->r = k->fn(k->ctx, data, len);
	return k->r < 0 ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

static void figure_size(const plot_data *d, plot_figure fig, double *w, double *h)
{
	if (fig == PLOT_FIGURE_EMC) {
		*w = EMC_W;
		*h = EMC_H;
	} else {
		fits_size(d, w, h);
	}
}

static void draw(cairo_t *cr, const plot_data *d, plot_figure fig, double w, double h)
{
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_rectangle(cr, 0, 0, w, h);
	cairo_fill(cr);
	cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
	if (fig == PLOT_FIGURE_EMC)
		draw_emc(cr, d);
	else
		draw_fits(cr, d);
}

int plot_render(const plot_data *d, plot_figure fig, unsigned format, plot_write_fn fn, void *ctx, emc_err *err)
{
	sink k = {.fn = fn, .ctx = ctx};
	double w, h, scale = 1;
	cairo_surface_t *sf;
	cairo_status_t st;
	cairo_t *cr;

	figure_size(d, fig, &w, &h);
	if (format == PLOT_SVG) {
		sf = cairo_svg_surface_create_for_stream(sink_write, &k, w, h);
	} else {
		scale = h * PNG_SCALE <= PNG_MAX_SIDE ? PNG_SCALE : 1;
		sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)ceil(w * scale), (int)ceil(h * scale));
	}
	cr = cairo_create(sf);
	cairo_scale(cr, scale, scale);
	draw(cr, d, fig, w, h);
	st = cairo_status(cr);
	cairo_destroy(cr);
	if (st == CAIRO_STATUS_SUCCESS && format == PLOT_PNG)
		st = cairo_surface_write_to_png_stream(sf, sink_write, &k);
	cairo_surface_finish(sf);
	if (st == CAIRO_STATUS_SUCCESS)
		st = cairo_surface_status(sf);
	cairo_surface_destroy(sf);
	if (k.r < 0)
		return emc_err_set(err, k.r, "plot: writing the figure: %s", strerror(-k.r));
	if (st != CAIRO_STATUS_SUCCESS)
		return emc_err_set(err, -EIO, "plot: cairo: %s", cairo_status_to_string(st));
	return 0;
}

/* ---- files ------------------------------------------------------------------------------- */

static int file_write(void *ctx, const unsigned char *data, size_t len)
{
	return fwrite(data, 1, len, ctx) == len ? 0 : -EIO;
}

static int write_file(const plot_data *d, plot_figure fig, unsigned format, const char *path, FILE *listing,
		      emc_err *err)
{
	FILE *f = fopen(path, "wb");
	int r;

	if (!f)
		return emc_err_set(err, -errno, "plot: %s: %s", path, strerror(errno));
	r = plot_render(d, fig, format, file_write, f, err);
	if (fclose(f) != 0 && r >= 0)
		r = emc_err_set(err, -EIO, "plot: %s: %s", path, strerror(errno));
	if (r < 0) {
		remove(path);
		return r;
	}
	if (listing)
		fprintf(listing, "wrote %s\n", path);
	return 0;
}

int plot_write_files(const plot_data *d, const char *prefix, unsigned formats, FILE *listing, emc_err *err)
{
	static const char *const names[] = {"emc", "fits"};
	char path[4096], color[8], label[512];
	int r;

	for (int g = 0; listing && g < d->sm->n_groups; g++) {
		summary_group_label(d->sm, &d->sm->groups[g], label, sizeof label);
		plot_group_color(g, color, sizeof color);
		fprintf(listing, "series\t%d\t%s\t%d\t%s\n", g, color, plot_group_points(d, g), label);
	}
	for (int fig = 0; fig < 2; fig++) {
		for (unsigned fmt = PLOT_SVG; fmt <= PLOT_PNG; fmt <<= 1) {
			if (!(formats & fmt))
				continue;
			if (snprintf(path, sizeof path, "%s-%s.%s", prefix, names[fig],
				     fmt == PLOT_SVG ? "svg" : "png") >= (int)sizeof path)
				return emc_err_set(err, -ENAMETOOLONG, "plot: --out is too long");
			r = write_file(d, (plot_figure)fig, fmt, path, listing, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

void plot_shutdown(void)
{
	cairo_debug_reset_static_data();
	FcFini();
}
