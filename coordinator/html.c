/* html.c — the HTML report: a study on one page, in one file.
 *
 * A report is mailed, attached to a paper's review or opened years later
 * from an archive, so it needs nothing beside it: the CSS is inline and
 * the figures are data: URIs of the SVG that `emcctl plot` writes (base64
 * by libsodium). Data URIs rather than inline <svg>: Cairo names its glyph
 * symbols glyph0-1, glyph0-2, ... in every file, so two inline figures in
 * one document would share ids and the second would be drawn with the
 * first one's glyphs; an <img> keeps each figure a document of its own.
 *
 * Every number comes from the same snapshot of the database (the report
 * nests the summary, the trials and the provenance queries inside one),
 * and the table prints them as `emcctl summary` does, so the page and the
 * terminal always agree. Text from the database (the spec, names, hosts)
 * is escaped; nothing in it can become markup.
 *
 * Ids a reader (or a test) can find: summary, figure-emc, fits, flags,
 * compute, spec, provenance. A cell's row carries its numbers in cells
 * with a class per column (params, emc, trials, sample_grads, ...).
 */
#include "html.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "plot.h"
#include "store_provenance.h"
#include "store_report.h"
#include "summary.h"

static void esc(const char *s, FILE *out)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		default:
			fputc(*s, out);
		}
	}
}

static const char css[] =
    "body{font-family:'DejaVu Sans',sans-serif;margin:2em auto;max-width:1000px;color:#222;line-height:1.4}"
    "h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}"
    "table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:.2em .5em}"
    "td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}tr.group "
    "td{background:#f2f2f2;font-weight:bold}"
    "pre{background:#f7f7f7;border:1px solid #ddd;padding:.8em;overflow:auto}"
    "#provenance th{text-align:left}#provenance td{word-break:break-all}img{max-width:100%;border:1px solid "
    "#eee}dt{font-weight:bold}.swatch{display:inline-block;width:1em;"
    "height:.7em;margin-right:.4em}";

/* ---- figures ------------------------------------------------------------------- */

static int mem_write(void *ctx, const unsigned char *data, size_t len)
{
	return fwrite(data, 1, len, ctx) == len ? 0 : -ENOMEM;
}

static int figure(const plot_data *d, plot_figure fig, const char *id, const char *alt, FILE *out, emc_err *err)
{
	char *buf = NULL, *b64;
	size_t len = 0, b64_len;
	FILE *mem = open_memstream(&buf, &len);
	int r;

	if (!mem)
		return emc_err_set(err, -ENOMEM, "report: out of memory");
	r = plot_render(d, fig, PLOT_SVG, mem_write, mem, err);
	if (fclose(mem) != 0 && r >= 0)
		r = emc_err_set(err, -ENOMEM, "report: out of memory");
	if (r < 0) {
		free(buf);
		return r;
	}
	b64_len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
	b64 = malloc(b64_len);
	if (!b64) {
		free(buf);
		return emc_err_set(err, -ENOMEM, "report: out of memory");
	}
	sodium_bin2base64(b64, b64_len, (const unsigned char *)buf, len, sodium_base64_VARIANT_ORIGINAL);
	fprintf(out, "<img id=\"%s\" alt=\"", id);
	esc(alt, out);
	fprintf(out, "\" src=\"data:image/svg+xml;base64,%s\">\n", b64);
	free(b64);
	free(buf);
	return 0;
}

/* ---- the summary table ------------------------------------------------------------- */

static void td_num(const char *cls, const char *v, FILE *out)
{
	fprintf(out, "<td class=\"num %s\">", cls);
	esc(v, out);
	fputs("</td>", out);
}

static void td_int(const char *cls, bool has, int64_t v, FILE *out)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%" PRId64, v);
	td_num(cls, has ? buf : "-", out);
}

/* One cell's row, its numbers spelled as `emcctl summary` prints them. */
static void cell_row(const summary_cell *c, FILE *out)
{
	double per = summary_emc_per_param(c);
	char buf[64];

	fprintf(out, "<tr class=\"cell\"><td class=\"campaign\">");
	esc(c->campaign, out);
	fprintf(out, "</td><td class=\"num cell\">%d</td><td class=\"model\">", c->cell);
	esc(c->model, out);
	fputs("</td>", out);
	td_int("params", c->has_params, c->params, out);
	snprintf(buf, sizeof buf, "%s%" PRId64 "%s", c->full ? "&gt;=" : "", c->emc, c->unconverged ? "*" : "");
	fprintf(out, "<td class=\"num emc\">%s</td>", c->decided ? buf : "-");
	if (c->decided && c->has_interval)
		fprintf(out, "<td class=\"num interval\">[%" PRId64 ", %s%" PRId64 "]</td>", c->emc_low,
			c->full ? "&gt;=" : "", c->emc_high);
	else
		fputs("<td class=\"num interval\">-</td>", out);
	store_format_double(buf, sizeof buf, "%.4g", per);
	td_num("emc_per_param", isnan(per) ? "-" : buf, out);
	td_int("hi_budget", true, c->hi_budget, out);
	td_int("trials", true, c->trials, out);
	td_int("sample_grads", true, c->sample_grads, out);
	snprintf(buf, sizeof buf, "%.2f", c->train_seconds);
	td_num("train_seconds", buf, out);
	fprintf(out, "<td class=\"state\">%s</td></tr>\n", store_cell_state_name(c->state));
}

static void summary_table(const summary *sm, FILE *out)
{
	static const char *const head[] = {"campaign", "cell",	       "model",		"params",
					   "emc",      "interval",     "emc/params",	"budget_stops",
					   "trials",   "sample_grads", "train_seconds", "state"};
	char label[1024], color[8];

	fputs("<h2>Summary</h2>\n<table id=\"summary\">\n<thead><tr>", out);
	for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
		fprintf(out, "<th>%s</th>", head[i]);
	fputs("</tr></thead>\n<tbody>\n", out);
	for (int g = 0; g < sm->n_groups; g++) {
		const summary_group *gr = &sm->groups[g];

		summary_group_label(sm, gr, label, sizeof label);
		plot_group_color(g, color, sizeof color);
		fprintf(out,
			"<tr class=\"group\"><td colspan=\"12\"><span class=\"swatch\" style=\"background:%s\">"
			"</span>",
			color);
		esc(label, out);
		fprintf(out, ": %d cells, %d decided, %d unconverged</td></tr>\n", gr->n_cells, gr->decided,
			gr->unconverged);
		for (int i = 0; i < gr->n_cells; i++)
			cell_row(&gr->cells[i], out);
	}
	fputs("</tbody></table>\n", out);
}

static const char flags_html[] =
    "<h2>Convergence flags</h2>\n<dl id=\"flags\">\n"
    "<dt>EMC</dt><dd>EMC<sub>q</sub>: the largest n whose fit probability p(n) is at least q, read from "
    "the outcomes of the cell's replicate seeds; <b>interval</b> is its confidence interval.</dd>\n"
    "<dt>* (unconverged)</dt><dd>a deciding no-fit at hi stopped on its budget, not on a small gradient "
    "or a loss plateau: a larger budget may fit more, so the EMC is a budget's answer. "
    "<b>budget_stops</b> counts those no-fits; the figure draws such a cell as a ring.</dd>\n"
    "<dt>&gt;= (lower bound)</dt><dd>the whole allowed range fit: the EMC is at least this; the figure "
    "draws an up-triangle.</dd>\n"
    "<dt>undecided</dt><dd>a cell still searching (or failed) has no EMC yet and is not drawn.</dd>\n"
    "</dl>\n";

static void compute_table(const summary *sm, FILE *out)
{
	int64_t trials = 0, grads = 0;
	double seconds = 0;
	char label[1024];

	fputs("<h2>Compute</h2>\n<table id=\"compute\">\n<thead><tr><th>group</th><th>cells</th><th>trials</th>"
	      "<th>sample_grads</th><th>train_seconds</th></tr></thead>\n<tbody>\n",
	      out);
	for (int g = 0; g < sm->n_groups; g++) {
		const summary_group *gr = &sm->groups[g];

		summary_group_label(sm, gr, label, sizeof label);
		fputs("<tr><td>", out);
		esc(label, out);
		fprintf(out,
			"</td><td class=\"num\">%d</td><td class=\"num\">%" PRId64 "</td><td class=\"num\">%" PRId64
			"</td><td class=\"num\">%.2f</td></tr>\n",
			gr->n_cells, gr->trials, gr->sample_grads, gr->train_seconds);
		trials += gr->trials;
		grads += gr->sample_grads;
		seconds += gr->train_seconds;
	}
	fprintf(out,
		"<tr><td><b>all</b></td><td></td><td class=\"num\">%" PRId64 "</td><td class=\"num\">%" PRId64
		"</td><td class=\"num\">%.2f</td></tr>\n</tbody></table>\n",
		trials, grads, seconds);
	fputs("<p>sample_grads: per-sample gradient evaluations, the compute measure that does not depend "
	      "on the machine; train_seconds: wall time spent training.</p>\n",
	      out);
}

/* ---- spec and provenance ------------------------------------------------------------- */

typedef struct prov_out {
	FILE *out;
	bool spec; /* this pass writes the specs, else the provenance rows */
} prov_out;

static void time_cell(const char *what, bool has, int64_t ms, FILE *out)
{
	char buf[64];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!has || !gmtime_r(&t, &tm) || !strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, sizeof buf, "-");
	fprintf(out, "<tr><th>%s</th><td>%s</td></tr>\n", what, buf);
}

/* One row of a campaign's provenance: what, then its value. */
static void prov_row(const char *what, const char *v, FILE *out)
{
	fprintf(out, "<tr><th>%s</th><td>", what);
	esc(v ? v : "-", out);
	fputs("</td></tr>\n", out);
}

static int on_provenance(void *ctx, const store_provenance_row *r)
{
	prov_out *p = ctx;

	if (p->spec) {
		fputs("<h3>", p->out);
		esc(r->name, p->out);
		fputs("</h3>\n<pre class=\"spec\">", p->out);
		esc(r->spec_text, p->out);
		fputs("</pre>\n", p->out);
		return 0;
	}
	fputs("<tbody><tr class=\"campaign\"><th colspan=\"2\">", p->out);
	esc(r->name, p->out);
	fputs("</th></tr>\n", p->out);
	prov_row("dataset", r->dataset, p->out);
	prov_row("dataset hash", r->dataset_hash, p->out);
	prov_row("spec hash", r->spec_hash, p->out);
	time_cell("created", r->has_created, r->created_ms, p->out);
	time_cell("finished", r->has_finished, r->finished_ms, p->out);
	prov_row("emc versions", r->emc_versions, p->out);
	prov_row("hosts", r->hosts, p->out);
	prov_row("BLAS kernel x threads", r->blas, p->out);
	fprintf(p->out, "<tr><th>outcomes recorded (fit or no fit)</th><td>%" PRId64 "</td></tr>\n</tbody>\n",
		r->trials_recorded);
	return 0;
}

static int spec_and_provenance(store *s, const char *campaign, FILE *out, emc_err *err)
{
	prov_out p = {.out = out, .spec = false};
	int r;

	fputs("<h2>Provenance</h2>\n<table id=\"provenance\">\n", out);
	r = store_report_provenance(s, campaign, on_provenance, &p, err);
	if (r < 0)
		return r;
	fprintf(out,
		"</table>\n<p>Report written by emcctl %s. The emc versions, hosts and BLAS rows list what "
		"the campaign's trials recorded.</p>\n",
		EMC_VERSION);
	fputs("<h2>Spec</h2>\n<section id=\"spec\">\n", out);
	p.spec = true;
	r = store_report_provenance(s, campaign, on_provenance, &p, err);
	fputs("</section>\n", out);
	return r < 0 ? r : 0;
}

/* ---- the page ---------------------------------------------------------------------------- */

static void page_head(const char *campaign, FILE *out)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>emc report", out);
	if (campaign) {
		fputs(": ", out);
		esc(campaign, out);
	}
	fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>Effective model complexity", css);
	if (campaign) {
		fputs(": ", out);
		esc(campaign, out);
	}
	fputs("</h1>\n", out);
}

static int page_figures(const plot_data *d, FILE *out, emc_err *err)
{
	int r;

	fputs("<h2>EMC against parameters</h2>\n<figure>\n", out);
	r = figure(d, PLOT_FIGURE_EMC, "figure-emc", "EMC against parameter count, one series per group", out, err);
	if (r < 0)
		return r;
	fputs("<figcaption>Log–log axes; a point per decided cell with its interval as an error bar; the dashed "
	      "line is EMC = params. A filled circle is a converged EMC, a ring an unconverged one, an "
	      "up-triangle a lower bound. Undecided cells are not drawn.</figcaption>\n</figure>\n",
	      out);
	fputs("<h2>Fit curves</h2>\n<section id=\"fits\">\n<figure>\n", out);
	r = figure(d, PLOT_FIGURE_FITS, "figure-fits", "per cell: fit probability along n", out, err);
	if (r < 0)
		return r;
	fputs("<figcaption>Per cell: p&#770;(n) = fits/outcomes of its seeds at every probed n, with 95 % Wilson "
	      "score intervals; the dashed line is the quantile q; the shaded band is the decided bracket "
	      "[lo, hi); the solid line marks the EMC.</figcaption>\n</figure>\n</section>\n",
	      out);
	return 0;
}

int html_report_write(store *s, const char *campaign, const char *by, FILE *out, emc_err *err)
{
	plot_data *d = NULL;
	int r;

	r = store_report_snapshot_begin(s, err);
	if (r < 0)
		return r;
	r = plot_data_build(s, campaign, by, &d, err);
	if (r < 0)
		goto out;
	page_head(campaign, out);
	summary_table(d->sm, out);
	r = page_figures(d, out, err);
	if (r < 0)
		goto out;
	fputs(flags_html, out);
	compute_table(d->sm, out);
	r = spec_and_provenance(s, campaign, out, err);
	if (r >= 0)
		fputs("</body>\n</html>\n", out);
out:
	plot_data_destroy(&d);
	store_report_snapshot_end(s);
	return r;
}
