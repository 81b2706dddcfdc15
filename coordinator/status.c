/* status.c — where every campaign stands, how far it has to go, and who
 * is working on it.
 *
 * One snapshot of the database gives the campaigns, their cells and what
 * it knows of the workers; status copies them (the store's strings live
 * only inside its callbacks) and then prints the whole picture in one
 * format. The table is for people: totals by state, per campaign a
 * progress bar and an estimate of the time left, per cell its bracket drawn
 * against the search range. CSV is one row per cell (for a spreadsheet);
 * JSON is everything, nested (for programs and dashboards).
 *
 * The time left is an estimate and says what it assumes. Each searching
 * cell's bisect walk needs some decisions more (status_probes_left: a
 * doubling first while no size has been decided not to fit, assumed to be
 * the last, then halvings to the campaign's precision); each decision costs
 * the trials per decision measured so far in the campaign (its pool's
 * min_seeds before any); each trial the measured mean wall time of a done
 * attempt; and the trials run as many at once as run now. It is a lower
 * bound in the common case (a doubling that fits, seeds that disagree and
 * need more of the pool, larger n training longer) and is shown as "~".
 *
 * Workers: from the database alone, a worker is busy while it holds a
 * running attempt and lost when its latest attempt was lost or preempted;
 * whether the others are alive only the coordinator knows. With the live
 * list of a running coordinator, alive is connected, busy is training.
 */
#include "status.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "axes.h"
#include "format.h"
#include "store_report.h"

#define BAR_WIDTH     20
#define BRACKET_WIDTH 24

typedef struct cell_copy {
	int campaign; /* index into the campaigns */
	store_status_cell c;
	char *model;
} cell_copy;

typedef struct campaign_copy {
	store_status_campaign c;
	char *name;
	status_eta eta;
	axes ax; /* the keys its cells vary */
} campaign_copy;

typedef struct worker_counts {
	int64_t known, alive, busy, lost;
	int64_t slots, slots_busy;
} worker_counts;

typedef struct picture {
	campaign_copy *camps;
	int n_camps;
	cell_copy *cells;
	int n_cells, cap_cells;
	worker_counts w;
	axes all; /* the keys the cells of every campaign shown vary (CSV) */
	const status_opts *o;
} picture;

/* ---- the estimate ------------------------------------------------------------ */

int64_t status_probes_left(int64_t lo, int64_t hi, int64_t start, int64_t n_max, double precision)
{
	int64_t probes = 0;

	if (n_max <= 0 || lo >= n_max)
		return 0;
	if (hi == 0) {
		/* the next doubling (or the first size), assumed not to fit */
		int64_t next = lo == 0 ? (start > 0 ? start : 1) : (lo > n_max / 2 ? n_max : 2 * lo);

		probes++;
		hi = next;
		if (hi <= lo)
			return probes;
	}
	for (;;) {
		double tol = precision * (double)lo;

		if ((double)(hi - lo) <= (tol < 1.0 ? 1.0 : tol))
			break;
		hi = lo + (hi - lo) / 2; /* either way the bracket halves; lo kept: tol stays small */
		probes++;
	}
	return probes;
}

static void eta_compute(picture *p, campaign_copy *cc)
{
	const store_status_campaign *c = &cc->c;
	status_eta *e = &cc->eta;
	int64_t n_max = c->search.max_n > 0 ? c->search.max_n : c->n_total;
	int min_seeds = c->search.min_seeds > 0 ? c->search.min_seeds : 3;

	memset(e, 0, sizeof *e);
	for (int i = 0; i < p->n_cells; i++) {
		const store_status_cell *cell = &p->cells[i].c;

		if (&p->camps[p->cells[i].campaign] == cc && cell->state == STORE_CELL_SEARCHING)
			e->probes_left +=
			    status_probes_left(cell->lo, cell->hi, c->search.start, n_max, c->search.precision);
	}
	e->trials_per_probe = c->probes > 0 ? (double)c->trials_done / (double)c->probes
					    : (double)(min_seeds < c->n_seeds ? min_seeds : c->n_seeds);
	/* trials queued or running are already part of the work left */
	e->trials_left = (int64_t)ceil((double)e->probes_left * e->trials_per_probe);
	if (e->trials_left < c->trials_pending + c->trials_running)
		e->trials_left = c->trials_pending + c->trials_running;
	e->trial_seconds = c->attempt_ms_mean / 1000.0;
	e->parallel = c->trials_running > 0 ? c->trials_running : 1;
	if (e->trials_left == 0)
		e->seconds = 0;
	else if (isnan(e->trial_seconds))
		e->seconds = NAN;
	else
		e->seconds = (double)e->trials_left * e->trial_seconds / (double)e->parallel;
}

/* ---- the bracket bar ---------------------------------------------------------- */

static int bar_pos(int64_t n, int64_t n_max, int width)
{
	double f;

	if (n <= 1 || n_max <= 1)
		return 0;
	f = log((double)n) / log((double)n_max);
	f = f < 0 ? 0 : f > 1 ? 1 : f;
	return (int)lround(f * (width - 1));
}

void status_bracket_bar(int64_t lo, int64_t hi, int64_t n_max, bool decided, int width, char *buf)
{
	int a = bar_pos(lo, n_max, width), b = hi > 0 ? bar_pos(hi, n_max, width) : width - 1;

	memset(buf, '-', (size_t)width);
	for (int i = a; i <= b && i < width; i++)
		buf[i] = '=';
	if (decided)
		buf[a] = '|';
	buf[width] = '\0';
}

/* ---- the picture ---------------------------------------------------------------- */

static int on_campaign(void *ctx, const store_status_campaign *c)
{
	picture *p = ctx;
	campaign_copy *camps = realloc(p->camps, (size_t)(p->n_camps + 1) * sizeof *camps);

	if (!camps)
		return -ENOMEM;
	p->camps = camps;
	memset(&camps[p->n_camps], 0, sizeof *camps);
	camps[p->n_camps].c = *c;
	axes_init(&camps[p->n_camps].ax);
	if (!(camps[p->n_camps].name = strdup(c->name)))
		return -ENOMEM;
	camps[p->n_camps].c.name = camps[p->n_camps].name;
	p->n_camps++;
	return 0;
}

static int on_cell(void *ctx, const store_status_cell *c)
{
	picture *p = ctx;
	cell_copy *x;

	if (p->n_cells == p->cap_cells) {
		int cap = p->cap_cells ? 2 * p->cap_cells : 64;
		cell_copy *cells = realloc(p->cells, (size_t)cap * sizeof *cells);

		if (!cells)
			return -ENOMEM;
		p->cells = cells;
		p->cap_cells = cap;
	}
	x = &p->cells[p->n_cells];
	x->campaign = p->n_camps - 1;
	x->c = *c;
	x->c.activation = x->c.optimizer = x->c.labels = NULL;
	x->model = strdup(c->model ? c->model : "-");
	x->c.model = x->model;
	if (!x->model)
		return -ENOMEM;
	p->n_cells++;
	axes_add(&p->camps[x->campaign].ax, &c->cfg);
	axes_add(&p->all, &c->cfg);
	return 0;
}

static bool live_has(const status_opts *o, int64_t id)
{
	for (size_t i = 0; i < o->n_live; i++)
		if ((int64_t)o->live[i].id == id)
			return true;
	return false;
}

static int on_worker(void *ctx, const store_workers_row *w)
{
	picture *p = ctx;
	bool lost =
	    w->has_attempts && (w->last_attempt == STORE_ATTEMPT_LOST || w->last_attempt == STORE_ATTEMPT_PREEMPTED);

	p->w.known++;
	if (p->o->have_live) {
		if (!live_has(p->o, w->id) && lost)
			p->w.lost++;
		return 0;
	}
	if (w->running > 0) {
		p->w.busy++;
		p->w.slots_busy += w->running;
	} else if (lost) {
		p->w.lost++;
	}
	return 0;
}

static void live_counts(picture *p)
{
	const status_opts *o = p->o;

	for (size_t i = 0; o->have_live && i < o->n_live; i++) {
		p->w.alive++;
		p->w.busy += o->live[i].busy > 0;
		p->w.slots += o->live[i].slots;
		p->w.slots_busy += o->live[i].busy;
	}
}

static void picture_deinit(picture *p)
{
	for (int i = 0; i < p->n_camps; i++)
		free(p->camps[i].name);
	for (int i = 0; i < p->n_cells; i++)
		free(p->cells[i].model);
	free(p->camps);
	free(p->cells);
}

static int picture_read(store *s, const char *campaign, picture *p, emc_err *err)
{
	static const char *const shown[] = {"model", NULL};
	int r = store_report_snapshot_begin(s, err);

	if (r < 0)
		return r;
	axes_init(&p->all);
	r = store_report_status(s, campaign, on_campaign, on_cell, p, err);
	if (r >= 0)
		r = store_report_workers(s, on_worker, p, err);
	store_report_snapshot_end(s);
	if (r < 0)
		return r == -ENOMEM ? emc_err_set(err, r, "status: out of memory") : r;
	if (campaign && p->n_camps == 0)
		return emc_err_set(err, -ENOENT, "report: no campaign named '%s'", campaign);
	live_counts(p);
	axes_columns(&p->all, shown);
	for (int i = 0; i < p->n_camps; i++) {
		eta_compute(p, &p->camps[i]);
		axes_columns(&p->camps[i].ax, shown);
	}
	return 0;
}

/* ---- the table -------------------------------------------------------------------- */

static void duration_text(double s, char *buf, size_t len)
{
	if (isnan(s))
		snprintf(buf, len, "unknown (no trial done yet)");
	else if (s < 60)
		snprintf(buf, len, "%.0f s", ceil(s));
	else if (s < 3600)
		snprintf(buf, len, "%.0f min %02.0f s", floor(s / 60), fmod(floor(s), 60));
	else if (s < 86400 * 2)
		snprintf(buf, len, "%.0f h %02.0f min", floor(s / 3600), fmod(floor(s / 60), 60));
	else
		snprintf(buf, len, "%.1f days", s / 86400);
}

static void print_totals(const picture *p, FILE *out)
{
	int64_t t[6] = {0}, cells[STORE_CELL_STATE_COUNT] = {0};

	for (int i = 0; i < p->n_camps; i++) {
		const store_status_campaign *c = &p->camps[i].c;

		t[0] += c->trials_pending;
		t[1] += c->trials_running;
		t[2] += c->trials_fit;
		t[3] += c->trials_no_fit;
		t[4] += c->trials_failed;
		t[5] += c->trials_cancelled;
	}
	for (int i = 0; i < p->n_cells; i++)
		if ((unsigned)p->cells[i].c.state < STORE_CELL_STATE_COUNT)
			cells[p->cells[i].c.state]++;
	fprintf(out,
		"trials: %" PRId64 " queued, %" PRId64 " running, %" PRId64 " fit, %" PRId64 " no_fit, %" PRId64
		" failed, %" PRId64 " cancelled\n",
		t[0], t[1], t[2], t[3], t[4], t[5]);
	fputs("cells:", out);
	for (int i = 0; i < STORE_CELL_STATE_COUNT; i++)
		fprintf(out, "%s %" PRId64 " %s", i ? "," : "", cells[i], store_cell_state_name((store_cell_state)i));
	fputc('\n', out);
	if (p->o->have_live)
		fprintf(out,
			"workers: %" PRId64 " alive, %" PRId64 " busy (%" PRId64 "/%" PRId64 " slots), %" PRId64
			" lost (at %s)\n",
			p->w.alive, p->w.busy, p->w.slots_busy, p->w.slots, p->w.lost, p->o->endpoint);
	else
		fprintf(out,
			"workers: %" PRId64 " known, %" PRId64 " busy (%" PRId64 " attempts running), %" PRId64
			" lost (from the database; --coordinator ENDPOINT for the live list)\n",
			p->w.known, p->w.busy, p->w.slots_busy, p->w.lost);
}

static void print_campaign_head(const campaign_copy *cc, FILE *out)
{
	const store_status_campaign *c = &cc->c;
	char bar[BAR_WIDTH + 1], eta[64], pin[96];
	int filled = c->cells > 0 ? (int)(c->cells_decided * BAR_WIDTH / c->cells) : 0;

	fprintf(out,
		"campaign %s: %s, cells %" PRId64 "/%" PRId64 " done, trials %" PRId64 " done, %" PRId64
		" running, %" PRId64 " queued\n",
		c->name, store_campaign_state_name(c->state), c->cells_decided, c->cells, c->trials_done,
		c->trials_running, c->trials_pending);
	memset(bar, '#', (size_t)filled);
	memset(bar + filled, '-', (size_t)(BAR_WIDTH - filled));
	bar[BAR_WIDTH] = '\0';
	fprintf(out, "  progress [%s] %3.0f%% of cells; compute %" PRId64 " sample-gradients, %.1f s training\n", bar,
		c->cells > 0 ? 100.0 * (double)c->cells_decided / (double)c->cells : 100.0, c->sample_grads,
		c->train_seconds);
	if (c->state == STORE_CAMPAIGN_RUNNING || c->state == STORE_CAMPAIGN_PAUSED) {
		const status_eta *e = &cc->eta;

		duration_text(e->seconds, eta, sizeof eta);
		fprintf(out,
			"  eta      ~%s: about %" PRId64 " trials left (%" PRId64 " decisions at %.1f trials each)",
			eta, e->trials_left, e->probes_left, e->trials_per_probe);
		if (!isnan(e->trial_seconds))
			fprintf(out, ", %.2f s per trial, %" PRId64 " at once", e->trial_seconds, e->parallel);
		fprintf(out, "%s\n", c->state == STORE_CAMPAIGN_PAUSED ? " (paused)" : "");
	}
	if (emc_engine_pinned(&c->engine)) {
		emc_engine_text(&c->engine, pin, sizeof pin);
		fprintf(out, "  pinned to %s: only workers that announce it run its trials\n", pin);
	}
}

enum { C_CELL, C_MODEL, C_STATE, C_BRACKET, C_RANGE, C_DONE, C_RUNNING, C_QUEUED, C_COLS };

static int print_cells(const picture *p, int camp, FILE *out)
{
	const campaign_copy *cc = &p->camps[camp];
	const axes *ax = &cc->ax;
	int64_t n_max = cc->c.search.max_n > 0 ? cc->c.search.max_n : cc->c.n_total;
	int cols = C_COLS + ax->n_cols, r;
	char align[C_COLS + EMC_CELL_MAX_FIELDS + 1], range_head[48];
	const char *row[C_COLS + EMC_CELL_MAX_FIELDS];
	table t;

	snprintf(range_head, sizeof range_head, "1..%" PRId64 " (log)", n_max);
	memcpy(align, "rl", 2);
	memset(align + 2, 'l', (size_t)ax->n_cols);
	memcpy(align + 2 + ax->n_cols, "lllrrr", 7);
	table_init(&t, cols, align);
	row[0] = "cell";
	row[1] = "model";
	for (int j = 0; j < ax->n_cols; j++)
		row[2 + j] = ax->col[j]->key;
	memcpy(row + 2 + ax->n_cols, (const char *[]){"state", "bracket", range_head, "done", "running", "queued"},
	       6 * sizeof *row);
	r = table_add(&t, row);
	for (int i = 0; r == 0 && i < p->n_cells; i++) {
		const store_status_cell *c = &p->cells[i].c;
		char idx[16], bracket[64], bar[BRACKET_WIDTH + 1], done[24], running[24], queued[24];
		char vals[EMC_CELL_MAX_FIELDS][96];

		if (p->cells[i].campaign != camp)
			continue;
		snprintf(idx, sizeof idx, "%d", c->index);
		if (c->hi == 0)
			snprintf(bracket, sizeof bracket, "[%" PRId64 ", ?)", c->lo);
		else
			snprintf(bracket, sizeof bracket, "[%" PRId64 ", %" PRId64 ")", c->lo, c->hi);
		status_bracket_bar(c->lo, c->hi, n_max, c->state == STORE_CELL_DONE, BRACKET_WIDTH, bar);
		snprintf(done, sizeof done, "%" PRId64, c->trials_done);
		snprintf(running, sizeof running, "%" PRId64, c->trials_running);
		snprintf(queued, sizeof queued, "%" PRId64, c->trials_pending);
		row[0] = idx;
		row[1] = c->model;
		for (int j = 0; j < ax->n_cols; j++) {
			const char *v = axes_value(ax->col[j], &c->cfg, vals[j], sizeof vals[j]);

			row[2 + j] = v ? v : "-";
		}
		memcpy(row + 2 + ax->n_cols,
		       (const char *[]){store_cell_state_name(c->state), bracket, bar, done, running, queued},
		       6 * sizeof *row);
		r = table_add(&t, row);
	}
	if (r == 0 && t.rows > 1)
		r = table_print(&t, "  ", out);
	table_deinit(&t);
	return r;
}

static int status_table(const picture *p, FILE *out)
{
	int r = 0;

	if (p->n_camps == 0) {
		fputs("no campaigns\n", out);
		return 0;
	}
	print_totals(p, out);
	for (int i = 0; r == 0 && i < p->n_camps; i++) {
		fputc('\n', out);
		print_campaign_head(&p->camps[i], out);
		r = print_cells(p, i, out);
	}
	return r;
}

/* ---- CSV: one row per cell ------------------------------------------------------------ */

enum { V_CAMPAIGN, V_CELL, V_MODEL, V_STATE, V_LO, V_HI, V_FULL, V_DONE, V_RUNNING, V_QUEUED, V_COLS };

/* A column for each key the cells shown vary, after the model. */
static int status_csv(const picture *p, FILE *out)
{
	static const char *const head[V_COLS] = {"campaign", "cell", "model",	    "state",	      "lo",
						 "hi",	     "full", "trials_done", "trials_running", "trials_queued"};
	const axes *ax = &p->all;
	const char *row[V_COLS + EMC_CELL_MAX_FIELDS];
	int cols = V_COLS + ax->n_cols;

	memcpy(row, head, 3 * sizeof *row);
	for (int j = 0; j < ax->n_cols; j++)
		row[3 + j] = ax->col[j]->key;
	memcpy(row + 3 + ax->n_cols, head + 3, (V_COLS - 3) * sizeof *row);
	csv_row_n(row, cols, out);
	for (int i = 0; i < p->n_cells; i++) {
		const store_status_cell *c = &p->cells[i].c;
		char idx[16], lo[24], hi[24], done[24], running[24], queued[24];
		char vals[EMC_CELL_MAX_FIELDS][96];

		snprintf(idx, sizeof idx, "%d", c->index);
		snprintf(lo, sizeof lo, "%" PRId64, c->lo);
		snprintf(hi, sizeof hi, "%" PRId64, c->hi);
		snprintf(done, sizeof done, "%" PRId64, c->trials_done);
		snprintf(running, sizeof running, "%" PRId64, c->trials_running);
		snprintf(queued, sizeof queued, "%" PRId64, c->trials_pending);
		row[0] = p->camps[p->cells[i].campaign].name;
		row[1] = idx;
		row[2] = c->model;
		for (int j = 0; j < ax->n_cols; j++) {
			const char *v = axes_value(ax->col[j], &c->cfg, vals[j], sizeof vals[j]);

			row[3 + j] = v ? v : "";
		}
		memcpy(row + 3 + ax->n_cols,
		       (const char *[]){store_cell_state_name(c->state), lo, c->hi ? hi : "", c->full ? "1" : "0", done,
					running, queued},
		       (V_COLS - 3) * sizeof *row);
		csv_row_n(row, cols, out);
	}
	return 0;
}

/* ---- JSON: everything ------------------------------------------------------------------- */

static void json_campaign(const picture *p, int camp, FILE *out)
{
	const campaign_copy *cc = &p->camps[camp];
	const store_status_campaign *c = &cc->c;
	int n = 0;

	json_key("name", true, out);
	json_str(c->name, out);
	json_key_str("state", store_campaign_state_name(c->state), out);
	json_key_int("cells", true, c->cells, out);
	json_key_int("cells_done", true, c->cells_decided, out);
	json_key("trials", false, out);
	json_key("queued", true, out);
	fprintf(out, "%" PRId64, c->trials_pending);
	json_key_int("running", true, c->trials_running, out);
	json_key_int("fit", true, c->trials_fit, out);
	json_key_int("no_fit", true, c->trials_no_fit, out);
	json_key_int("failed", true, c->trials_failed, out);
	json_key_int("cancelled", true, c->trials_cancelled, out);
	fputc('}', out);
	json_key_int("attempts_lost", true, c->attempts_lost, out);
	json_key_int("sample_grads", true, c->sample_grads, out);
	json_key_real("train_seconds", c->train_seconds, out);
	json_key("search", false, out);
	json_key("start", true, out);
	fprintf(out, "%" PRId64, c->search.start);
	json_key_int("max_n", true, c->search.max_n > 0 ? c->search.max_n : c->n_total, out);
	json_key_real("precision", c->search.precision, out);
	fputc('}', out);
	json_key("eta", false, out);
	json_key("probes_left", true, out);
	fprintf(out, "%" PRId64, cc->eta.probes_left);
	json_key_real("trials_per_probe", cc->eta.trials_per_probe, out);
	json_key_int("trials_left", true, cc->eta.trials_left, out);
	json_key_real("trial_seconds", cc->eta.trial_seconds, out);
	json_key_int("parallel", true, cc->eta.parallel, out);
	json_key_real("seconds", cc->eta.seconds, out);
	fputc('}', out);
	json_key_int("created_ms", c->created_ms > 0, c->created_ms, out);
	json_key_int("finished_ms", c->finished_ms > 0, c->finished_ms, out);
	json_key("cell_list", false, out);
	fputc('[', out);
	for (int i = 0; i < p->n_cells; i++) {
		const store_status_cell *x = &p->cells[i].c;

		if (p->cells[i].campaign != camp)
			continue;
		if (n++)
			fputc(',', out);
		json_key("cell", true, out);
		fprintf(out, "%d", x->index);
		json_key_str("model", x->model, out);
		json_key_int("params", x->has_params, x->params, out);
		json_key_str("state", store_cell_state_name(x->state), out);
		json_key_int("lo", true, x->lo, out);
		json_key_int("hi", x->hi != 0, x->hi, out);
		json_key_bool("full", x->full, out);
		json_key_int("trials_done", true, x->trials_done, out);
		json_key_int("trials_running", true, x->trials_running, out);
		json_key_int("trials_queued", true, x->trials_pending, out);
		json_key("config", false, out);
		axes_json_config(&x->cfg, out);
		fputc('}', out);
	}
	fputs("]}", out);
}

static int status_json(const picture *p, FILE *out)
{
	const status_opts *o = p->o;
	int n = 0;

	json_key("now_ms", true, out);
	fprintf(out, "%" PRId64, o->now_ms);
	json_key("workers", false, out);
	json_key("source", true, out);
	json_str(o->have_live ? "coordinator" : "database", out);
	json_key_int("known", true, p->w.known, out);
	json_key_int("alive", o->have_live, p->w.alive, out);
	json_key_int("busy", true, p->w.busy, out);
	json_key_int("lost", true, p->w.lost, out);
	json_key_int("slots", o->have_live, p->w.slots, out);
	json_key_int("slots_busy", true, p->w.slots_busy, out);
	fputc('}', out);
	json_key("campaigns", false, out);
	fputc('[', out);
	for (int i = 0; i < p->n_camps; i++) {
		json_row_begin(&n, out);
		json_campaign(p, i, out);
	}
	fputs(n ? "\n]}\n" : "]}\n", out);
	return 0;
}

int report_status(store *s, const char *campaign, const status_opts *o, FILE *out, emc_err *err)
{
	picture p = {.o = o};
	int r = picture_read(s, campaign, &p, err);

	if (r == 0) {
		if (o->fmt == REPORT_CSV)
			r = status_csv(&p, out);
		else if (o->fmt == REPORT_JSON)
			r = status_json(&p, out);
		else
			r = status_table(&p, out);
		if (r == -ENOMEM)
			r = emc_err_set(err, r, "status: out of memory");
	}
	if (r == 0 && o->ret_active) {
		*o->ret_active = 0;
		for (int i = 0; i < p.n_camps; i++)
			*o->ret_active +=
			    p.camps[i].c.state == STORE_CAMPAIGN_RUNNING || p.camps[i].c.state == STORE_CAMPAIGN_PAUSED;
	}
	picture_deinit(&p);
	return r;
}
