/* csvdata.c — tabular datasets from CSV files.
 *
 * Two layouts. A general CSV table (format csv) has a header row naming
 * its columns; one of them, named by the reference, holds the labels, the
 * ones it lists as categorical are one-hot encoded, and every other one
 * must be numeric. The tables scikit-learn ships (the iris, wine,
 * breast-cancer and digits aliases) have no names: their first row is
 * "n_samples,n_features,class names...", or absent (digits), and the last
 * column is the integer label. Both are read by libcsv (RFC 4180 quoting,
 * strict mode), never by hand, and through zlib's gzread, so a table may
 * be gzip-compressed (digits is) or plain.
 *
 * Errors name the file, the line and the column. libcsv reports fields
 * and records, not lines, so the input is fed to it one physical line at
 * a time: when a callback runs, the line being fed is the one where that
 * field or record ended. Lines count '\n' bytes, including those inside
 * quoted fields, from 1.
 *
 * Class ids and categories must not depend on the order rows happen to be
 * in: the distinct strings of a label or categorical column are sorted —
 * numerically when every one of them is a number, else bytewise — and a
 * string's id is its rank. Features (one-hot columns included) are then
 * standardised per column over all rows (mean 0, standard deviation 1, a
 * constant column becomes 0), in double precision, and stored as float32.
 *
 * Memory follows the file, never a claim in it: rows, distinct strings
 * and fields grow as they arrive, under the limits below, and a field is
 * refused once it outgrows CSV_MAX_FIELD_BYTES.
 */
#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <csv.h>

#include "dataset_priv.h"

#define CSV_CHUNK_BYTES (64 * 1024)
#define CSV_MAX_FIELD_BYTES (1 << 20)
#define CSV_MAX_COLUMNS 65536
#define CSV_MAX_CATEGORIES 4096 /* distinct values of one categorical column */
#define CELL_SHOWN 40           /* bytes of a bad cell quoted in a message */

/* ---- reading records ---------------------------------------------------- */

typedef struct reader reader;
/* Called once per record with its fields; returns 0 or a -errno (and has
 * set rd->err), which stops the reading. */
typedef int (*row_fn)(reader *rd, void *ctx);

struct reader {
	const char *path;
	emc_err *err;
	int rc;          /* first error; once set, callbacks do nothing */
	int64_t line;    /* 1-based physical line being fed */
	int64_t row_line; /* line where the current record's first field ended */
	char *buf;       /* fields of the current record, each NUL-terminated */
	size_t len, cap;
	size_t *off;     /* (nf) start of each field in buf */
	int nf, off_cap;
	row_fn on_row;
	void *ctx;
	locale_t c_locale; /* numbers are read in the C locale, whatever the program's */
};

static const char *field(const reader *rd, int i)
{
	return rd->buf + rd->off[i];
}

static void on_field(void *s, size_t len, void *data)
{
	reader *rd = data;

	if (rd->rc < 0)
		return;
	if (rd->nf == 0)
		rd->row_line = rd->line;
	if (rd->nf == CSV_MAX_COLUMNS) {
		rd->rc = emc_err_set(rd->err, -EINVAL, "%s: line %lld: more than %d fields", rd->path,
				     (long long)rd->line, CSV_MAX_COLUMNS);
		return;
	}
	if (len && memchr(s, '\0', len)) {
		rd->rc = emc_err_set(rd->err, -EINVAL, "%s: line %lld, column %d: a NUL byte in a field",
				     rd->path, (long long)rd->line, rd->nf + 1);
		return;
	}
	if (rd->nf == rd->off_cap) {
		int ncap = rd->off_cap ? 2 * rd->off_cap : 64;
		size_t *p = realloc(rd->off, (size_t)ncap * sizeof *p);

		if (!p)
			goto nomem;
		rd->off = p;
		rd->off_cap = ncap;
	}
	if (rd->len + len + 1 > rd->cap) {
		size_t ncap = rd->cap ? rd->cap : 1024;
		char *p;

		while (ncap < rd->len + len + 1)
			ncap *= 2;
		p = realloc(rd->buf, ncap);
		if (!p)
			goto nomem;
		rd->buf = p;
		rd->cap = ncap;
	}
	if (len)
		memcpy(rd->buf + rd->len, s, len);
	rd->buf[rd->len + len] = '\0';
	rd->off[rd->nf++] = rd->len;
	rd->len += len + 1;
	return;
nomem:
	rd->rc = emc_err_set(rd->err, -ENOMEM, "%s: line %lld: out of memory", rd->path,
			     (long long)rd->line);
}

static void on_record(int c, void *data)
{
	reader *rd = data;

	(void)c;
	if (rd->rc < 0 || rd->nf == 0)
		return;
	rd->rc = rd->on_row(rd, rd->ctx);
	rd->nf = 0;
	rd->len = 0;
}

/* Read path (gzip or plain) and call on_row for every record. */
static int read_csv(const char *path, row_fn on_row, void *ctx, emc_err *err)
{
	struct csv_parser p;
	reader rd = { .path = path, .err = err, .line = 1, .on_row = on_row, .ctx = ctx };
	uint8_t *chunk = NULL;
	int64_t offset = 0;
	bool parser = false, first = true, ended_nl = false;
	gzFile gz = NULL;
	int r = 0, e;

	rd.c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	chunk = malloc(CSV_CHUNK_BYTES);
	if (!rd.c_locale || !chunk) {
		r = emc_err_set(err, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	errno = 0;
	gz = gzopen(path, "rb");
	if (!gz) {
		e = errno ? errno : ENOMEM;
		r = emc_err_set(err, -e, "%s: cannot open: %s", path, strerror(e));
		goto out;
	}
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) {
		r = emc_err_set(err, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	parser = true;
	for (;;) {
		int got = gzread(gz, chunk, CSV_CHUNK_BYTES);
		const uint8_t *at = chunk, *end;

		if (got < 0) {
			int zerr;
			const char *msg = gzerror(gz, &zerr);

			if (zerr == Z_ERRNO) {
				e = errno ? errno : EIO;
				r = emc_err_set(err, -e, "%s: read error after byte %lld: %s", path,
						(long long)offset, strerror(e));
			} else {
				/* zlib prefixes its message with the path; we name it once. */
				if (!msg)
					msg = "unknown error";
				else if (strncmp(msg, path, strlen(path)) == 0 &&
					 strncmp(msg + strlen(path), ": ", 2) == 0)
					msg += strlen(path) + 2;
				r = emc_err_set(err, -EINVAL,
						"%s: corrupt gzip data after byte %lld (line %lld): %s", path,
						(long long)offset, (long long)rd.line, msg);
			}
			goto out;
		}
		if (got == 0)
			break;
		offset += got;
		end = chunk + got;
		/* A UTF-8 byte-order mark is not part of the first column's name. */
		if (first && got >= 3 && memcmp(at, "\xEF\xBB\xBF", 3) == 0)
			at += 3;
		first = false;
		while (at < end) {
			const uint8_t *nl = memchr(at, '\n', (size_t)(end - at));
			size_t seg = nl ? (size_t)(nl - at) + 1 : (size_t)(end - at);

			if (csv_parse(&p, at, seg, on_field, on_record, &rd) < seg && rd.rc == 0)
				rd.rc = emc_err_set(err, -EINVAL,
						    "%s: line %lld, column %d: malformed CSV (%s): a quote "
						    "inside an unquoted field, or text after a closing quote",
						    path, (long long)rd.line, rd.nf + 1,
						    csv_strerror(csv_error(&p)));
			if (rd.rc == 0 && csv_get_buffer_size(&p) > CSV_MAX_FIELD_BYTES)
				rd.rc = emc_err_set(err, -EINVAL,
						    "%s: line %lld, column %d: a field longer than %d bytes",
						    path, (long long)rd.line, rd.nf + 1, CSV_MAX_FIELD_BYTES);
			if (rd.rc < 0) {
				r = rd.rc;
				goto out;
			}
			ended_nl = nl != NULL;
			if (nl)
				rd.line++;
			at += seg;
		}
	}
	/* The last line, if the file ends in a newline, is the one before. */
	if (ended_nl)
		rd.line--;
	if (csv_fini(&p, on_field, on_record, &rd) != 0 && rd.rc == 0)
		rd.rc = emc_err_set(err, -EINVAL, "%s: line %lld: a quoted field is not closed at the end "
				    "of the file", path, (long long)rd.line);
	r = rd.rc;
out:
	if (parser)
		csv_free(&p);
	if (gz)
		gzclose(gz);
	if (rd.c_locale)
		freelocale(rd.c_locale);
	free(chunk);
	free(rd.buf);
	free(rd.off);
	return r;
}

/* ---- cells -------------------------------------------------------------- */

/* s for a message: at most CELL_SHOWN bytes, control characters (a
 * newline inside quotes) shown as '?'. */
static const char *shown(const char *s, char buf[CELL_SHOWN + 4])
{
	size_t len = strlen(s), i;

	for (i = 0; i < len && i < CELL_SHOWN; i++)
		buf[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
	strcpy(buf + i, len > CELL_SHOWN ? "..." : "");
	return buf;
}

/* A finite number, the whole cell (libcsv has trimmed spaces and tabs). */
static bool parse_number(const char *s, locale_t loc, double *ret)
{
	char *end;
	double v;

	if (!s[0] || isspace((unsigned char)s[0]))
		return false;
	v = strtod_l(s, &end, loc);
	if (end == s || *end || !isfinite(v))
		return false;
	*ret = v;
	return true;
}

/* A decimal integer in [lo, hi], the whole cell. */
static bool parse_int(const char *s, long long lo, long long hi, long long *ret)
{
	char *end;
	long long v;

	if (!isdigit((unsigned char)s[0]) && !(s[0] == '-' && isdigit((unsigned char)s[1])))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*ret = v;
	return true;
}

/* ---- distinct strings of a column --------------------------------------- */

/* Interned strings in order of first appearance, found by an open-address
 * hash table of ids (id + 1; 0 is an empty slot). */
typedef struct strtab {
	char **s;
	int n, cap;
	int32_t *slot;
	size_t nslot; /* a power of two, at least twice n */
} strtab;

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
	return h;
}

static int strtab_grow(strtab *t)
{
	size_t nslot = t->nslot ? 2 * t->nslot : 64;
	int32_t *slot = calloc(nslot, sizeof *slot);

	if (!slot)
		return -ENOMEM;
	for (int i = 0; i < t->n; i++) {
		size_t h = (size_t)fnv1a(t->s[i]) & (nslot - 1);

		while (slot[h])
			h = (h + 1) & (nslot - 1);
		slot[h] = i + 1;
	}
	free(t->slot);
	t->slot = slot;
	t->nslot = nslot;
	return 0;
}

/* The id of s, adding it if new. -ENOMEM. */
static int strtab_intern(strtab *t, const char *s, int32_t *ret_id)
{
	size_t h;

	if ((size_t)t->n * 2 >= t->nslot && strtab_grow(t) < 0)
		return -ENOMEM;
	h = (size_t)fnv1a(s) & (t->nslot - 1);
	while (t->slot[h]) {
		if (strcmp(t->s[t->slot[h] - 1], s) == 0) {
			*ret_id = t->slot[h] - 1;
			return 0;
		}
		h = (h + 1) & (t->nslot - 1);
	}
	if (t->n == t->cap) {
		int ncap = t->cap ? 2 * t->cap : 16;
		char **p = realloc(t->s, (size_t)ncap * sizeof *p);

		if (!p)
			return -ENOMEM;
		t->s = p;
		t->cap = ncap;
	}
	t->s[t->n] = strdup(s);
	if (!t->s[t->n])
		return -ENOMEM;
	t->slot[h] = t->n + 1;
	*ret_id = t->n++;
	return 0;
}

static void strtab_free(strtab *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->slot);
	memset(t, 0, sizeof *t);
}

typedef struct ranked {
	const char *s;
	double v;
	bool numeric;
	int id;
} ranked;

static int ranked_cmp(const void *pa, const void *pb)
{
	const ranked *a = pa, *b = pb;

	if (a->numeric && a->v != b->v)
		return a->v < b->v ? -1 : 1;
	return strcmp(a->s, b->s);
}

/* ret_rank[id] = the rank of string id in the sorted order: numeric when
 * every string is a number, else bytewise. */
static int strtab_ranks(const strtab *t, locale_t loc, int32_t **ret_rank)
{
	ranked *r = malloc((size_t)(t->n ? t->n : 1) * sizeof *r);
	int32_t *rank = malloc((size_t)(t->n ? t->n : 1) * sizeof *rank);
	bool numeric = true;

	if (!r || !rank) {
		free(r);
		free(rank);
		return -ENOMEM;
	}
	for (int i = 0; i < t->n; i++) {
		r[i] = (ranked){ .s = t->s[i], .id = i };
		numeric = numeric && parse_number(t->s[i], loc, &r[i].v);
	}
	for (int i = 0; i < t->n; i++)
		r[i].numeric = numeric;
	qsort(r, (size_t)t->n, sizeof *r, ranked_cmp);
	for (int i = 0; i < t->n; i++)
		rank[r[i].id] = i;
	free(r);
	*ret_rank = rank;
	return 0;
}

/* ---- general tables: a header row of names ------------------------------ */

enum col_kind { COL_NUMERIC, COL_CATEGORICAL, COL_LABEL };

typedef struct table {
	const emc_dataset_ref *ref;
	bool have_header;
	int ncols;
	char **names;       /* (ncols) */
	enum col_kind *kind; /* (ncols) */
	int *slot;          /* (ncols) index among the numeric, or the string columns */
	int n_num, n_str;   /* string columns: categorical ones, then the label last */
	strtab *tabs;       /* (n_str) */
	double *num;        /* (rows, n_num) */
	int32_t *str;       /* (rows, n_str) */
	int64_t rows, cap;
} table;

static void table_free(table *t)
{
	for (int i = 0; i < t->ncols; i++)
		free(t->names[i]);
	for (int i = 0; i < t->n_str; i++)
		strtab_free(&t->tabs[i]);
	free(t->names);
	free(t->kind);
	free(t->slot);
	free(t->tabs);
	free(t->num);
	free(t->str);
}

static void column_list(const table *t, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < t->ncols && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s'%s'", i ? ", " : "", t->names[i]);
}

static int find_column(const table *t, const char *name)
{
	for (int i = 0; i < t->ncols; i++)
		if (strcmp(t->names[i], name) == 0)
			return i;
	return -1;
}

/* Mark the columns named in ref->categorical (comma-separated). */
static int mark_categorical(reader *rd, table *t)
{
	const char *list = t->ref->categorical, *p = list;
	char name[sizeof t->ref->categorical], cols[256];

	while (*p) {
		const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
		const char *next = comma ? comma + 1 : end;
		int c;

		/* Trim the spaces a hand-written list puts after its commas. */
		while (p < end && isspace((unsigned char)*p))
			p++;
		while (end > p && isspace((unsigned char)end[-1]))
			end--;
		memcpy(name, p, (size_t)(end - p));
		name[end - p] = '\0';
		if (!name[0])
			return emc_err_set(rd->err, -EINVAL,
					   "dataset.categorical: '%s': an empty column name (for %s)", list,
					   rd->path);
		c = find_column(t, name);
		if (c < 0) {
			column_list(t, cols, sizeof cols);
			return emc_err_set(rd->err, -EINVAL,
					   "dataset.categorical: %s: line 1: no column named '%s'; the "
					   "columns are %s",
					   rd->path, name, cols);
		}
		if (t->kind[c] == COL_LABEL)
			return emc_err_set(rd->err, -EINVAL,
					   "dataset.categorical: %s: line 1: '%s' is the label column, not a "
					   "feature",
					   rd->path, name);
		if (t->kind[c] == COL_CATEGORICAL)
			return emc_err_set(rd->err, -EINVAL, "dataset.categorical: '%s' is listed twice (for %s)",
					   name, rd->path);
		t->kind[c] = COL_CATEGORICAL;
		p = next;
		if (comma && !*p)
			return emc_err_set(rd->err, -EINVAL,
					   "dataset.categorical: '%s': an empty column name (for %s)", list,
					   rd->path);
	}
	return 0;
}

static int table_header(reader *rd, table *t)
{
	strtab seen = { 0 };
	char cols[256];
	int label, r = 0;

	t->ncols = rd->nf;
	t->names = calloc((size_t)t->ncols, sizeof *t->names);
	t->kind = calloc((size_t)t->ncols, sizeof *t->kind);
	t->slot = calloc((size_t)t->ncols, sizeof *t->slot);
	if (!t->names || !t->kind || !t->slot)
		goto nomem;
	for (int i = 0; i < t->ncols; i++) {
		int32_t id;

		if (!field(rd, i)[0]) {
			r = emc_err_set(rd->err, -EINVAL,
					"%s: line %lld, column %d: an empty column name; the first row must "
					"name every column",
					rd->path, (long long)rd->row_line, i + 1);
			goto out;
		}
		int before = seen.n;

		if (strtab_intern(&seen, field(rd, i), &id) < 0)
			goto nomem;
		if (seen.n == before) {
			r = emc_err_set(rd->err, -EINVAL,
					"%s: line %lld: columns %d and %d are both named '%s'", rd->path,
					(long long)rd->row_line, id + 1, i + 1, field(rd, i));
			goto out;
		}
		t->names[i] = strdup(field(rd, i));
		if (!t->names[i])
			goto nomem;
	}
	label = find_column(t, t->ref->label_column);
	if (label < 0) {
		column_list(t, cols, sizeof cols);
		r = emc_err_set(rd->err, -EINVAL,
				"dataset.label: %s: line %lld: no column named '%s'; the columns are %s",
				rd->path, (long long)rd->row_line, t->ref->label_column, cols);
		goto out;
	}
	if (t->ncols < 2) {
		r = emc_err_set(rd->err, -EINVAL,
				"%s: line %lld: only the label column '%s': no feature columns", rd->path,
				(long long)rd->row_line, t->names[label]);
		goto out;
	}
	t->kind[label] = COL_LABEL;
	r = mark_categorical(rd, t);
	if (r < 0)
		goto out;
	for (int i = 0; i < t->ncols; i++)
		if (t->kind[i] == COL_NUMERIC)
			t->slot[i] = t->n_num++;
		else if (t->kind[i] == COL_CATEGORICAL)
			t->slot[i] = t->n_str++;
	t->slot[label] = t->n_str++;
	t->tabs = calloc((size_t)t->n_str, sizeof *t->tabs);
	if (!t->tabs)
		goto nomem;
	t->have_header = true;
	goto out;
nomem:
	r = emc_err_set(rd->err, -ENOMEM, "%s: out of memory for the header", rd->path);
out:
	strtab_free(&seen);
	return r;
}

static int table_row(reader *rd, void *ctx)
{
	table *t = ctx;
	char buf[CELL_SHOWN + 4];
	double *num;
	int32_t *str;

	if (!t->have_header)
		return table_header(rd, t);
	if (rd->nf != t->ncols)
		return emc_err_set(rd->err, -EINVAL, "%s: line %lld: %d field%s, but the header (line 1) "
				   "has %d columns",
				   rd->path, (long long)rd->line, rd->nf, rd->nf == 1 ? "" : "s", t->ncols);
	if (t->rows == EMC_DATASET_MAX_SAMPLES ||
	    (t->n_num && t->rows + 1 > DATASET_MAX_VALUES / t->n_num))
		return emc_err_set(rd->err, -EINVAL, "%s: line %lld: more rows than emc accepts (%d)",
				   rd->path, (long long)rd->line, EMC_DATASET_MAX_SAMPLES);
	if (t->rows == t->cap) {
		int64_t ncap = t->cap ? 2 * t->cap : 256;
		double *pn = realloc(t->num, (size_t)(ncap * (t->n_num ? t->n_num : 1)) * sizeof *pn);
		int32_t *ps;

		if (pn)
			t->num = pn;
		ps = pn ? realloc(t->str, (size_t)(ncap * t->n_str) * sizeof *ps) : NULL;
		if (!ps)
			return emc_err_set(rd->err, -ENOMEM, "%s: line %lld: out of memory", rd->path,
					   (long long)rd->line);
		t->str = ps;
		t->cap = ncap;
	}
	num = t->num + t->rows * t->n_num;
	str = t->str + t->rows * t->n_str;
	for (int i = 0; i < t->ncols; i++) {
		const char *s = field(rd, i);
		strtab *tab;

		if (t->kind[i] == COL_NUMERIC) {
			if (!parse_number(s, rd->c_locale, &num[t->slot[i]]))
				return emc_err_set(rd->err, -EINVAL,
						   "%s: line %lld, column %d ('%s'): '%s' is not a finite number "
						   "(list the column in dataset.categorical if it is one)",
						   rd->path, (long long)rd->line, i + 1, t->names[i],
						   shown(s, buf));
			continue;
		}
		if (t->kind[i] == COL_LABEL && !s[0])
			return emc_err_set(rd->err, -EINVAL, "%s: line %lld, column %d ('%s'): an empty label",
					   rd->path, (long long)rd->line, i + 1, t->names[i]);
		tab = &t->tabs[t->slot[i]];
		if (strtab_intern(tab, s, &str[t->slot[i]]) < 0)
			return emc_err_set(rd->err, -ENOMEM, "%s: line %lld: out of memory", rd->path,
					   (long long)rd->line);
		if (t->kind[i] == COL_LABEL && tab->n > EMC_DATASET_MAX_CLASSES)
			return emc_err_set(rd->err, -EINVAL,
					   "%s: line %lld, column %d ('%s'): more than %d distinct labels",
					   rd->path, (long long)rd->line, i + 1, t->names[i],
					   EMC_DATASET_MAX_CLASSES);
		if (t->kind[i] == COL_CATEGORICAL && tab->n > CSV_MAX_CATEGORIES)
			return emc_err_set(rd->err, -EINVAL,
					   "%s: line %lld, column %d ('%s'): more than %d distinct values "
					   "in a categorical column",
					   rd->path, (long long)rd->line, i + 1, t->names[i], CSV_MAX_CATEGORIES);
	}
	t->rows++;
	return 0;
}

/* The feature matrix (rows, d) in column order, one-hot columns in place. */
static int table_build(const char *path, table *t, locale_t loc, emc_dataset **ret, emc_err *err)
{
	int32_t **rank = calloc((size_t)t->n_str, sizeof *rank);
	int64_t d = 0, n = t->rows;
	int label_slot = t->n_str - 1, classes;
	emc_dataset *ds = NULL;
	double *v = NULL;
	int r = 0;

	if (!rank)
		goto nomem;
	for (int i = 0; i < t->n_str; i++)
		if (strtab_ranks(&t->tabs[i], loc, &rank[i]) < 0)
			goto nomem;
	for (int i = 0; i < t->ncols; i++)
		if (t->kind[i] == COL_NUMERIC)
			d++;
		else if (t->kind[i] == COL_CATEGORICAL)
			d += t->tabs[t->slot[i]].n;
	if (d > EMC_DATASET_MAX_DIM || n > DATASET_MAX_VALUES / d) {
		r = emc_err_set(err, -EINVAL, "%s: %lld rows of %lld features (after one-hot encoding) "
				"is more than emc accepts",
				path, (long long)n, (long long)d);
		goto out;
	}
	v = malloc((size_t)(n * d) * sizeof *v);
	if (!v)
		goto nomem;
	for (int64_t row = 0; row < n; row++) {
		double *out = v + row * d;

		for (int i = 0; i < t->ncols; i++) {
			if (t->kind[i] == COL_NUMERIC) {
				*out++ = t->num[row * t->n_num + t->slot[i]];
			} else if (t->kind[i] == COL_CATEGORICAL) {
				int k = t->tabs[t->slot[i]].n;

				for (int c = 0; c < k; c++)
					out[c] = 0.0;
				out[rank[t->slot[i]][t->str[row * t->n_str + t->slot[i]]]] = 1.0;
				out += k;
			}
		}
	}
	dataset_standardize_columns(v, n, d);
	r = dataset_new(n, d, path, &ds, err);
	if (r < 0)
		goto out;
	for (int64_t i = 0; i < n * d; i++)
		ds->x[i] = (float)v[i];
	for (int64_t row = 0; row < n; row++)
		ds->y[row] = (uint8_t)rank[label_slot][t->str[row * t->n_str + label_slot]];
	classes = t->tabs[label_slot].n;
	/* As for images: one class still gets a two-way output. */
	ds->shape = (emc_input_shape){ 1, 1, (int)d, classes < 2 ? 2 : classes };
	*ret = ds;
	goto out;
nomem:
	r = emc_err_set(err, -ENOMEM, "%s: out of memory", path);
out:
	for (int i = 0; rank && i < t->n_str; i++)
		free(rank[i]);
	free(rank);
	free(v);
	return r;
}

int dataset_load_csv(const emc_dataset_ref *ref, emc_dataset **ret, emc_err *err)
{
	table t = { .ref = ref };
	locale_t loc = (locale_t)0;
	int r;

	if (!ref->path[0])
		return emc_err_set(err, -EINVAL, "dataset.path: no file given");
	if (!ref->label_column[0])
		return emc_err_set(err, -EINVAL, "dataset.label: not given; a csv dataset names its label column");
	r = read_csv(ref->path, table_row, &t, err);
	if (r < 0)
		goto out;
	if (!t.have_header) {
		r = emc_err_set(err, -EINVAL, "%s: line 1: empty file: expected a header row naming the "
				"columns", ref->path);
		goto out;
	}
	if (t.rows == 0) {
		r = emc_err_set(err, -EINVAL, "%s: no data rows after the header (line 1)", ref->path);
		goto out;
	}
	loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!loc) {
		r = emc_err_set(err, -ENOMEM, "%s: out of memory", ref->path);
		goto out;
	}
	r = table_build(ref->path, &t, loc, ret, err);
out:
	if (loc)
		freelocale(loc);
	table_free(&t);
	return r;
}

/* ---- scikit-learn's tables ---------------------------------------------- */

typedef struct sktable {
	bool header, have_header;
	int features, classes;
	int64_t promised; /* rows the header promises */
	double *v;        /* (rows, features) */
	uint8_t *y;
	int64_t rows, cap;
} sktable;

static int sk_header(reader *rd, sktable *t)
{
	long long n, d;
	char buf[CELL_SHOWN + 4];

	if (rd->nf < 3)
		return emc_err_set(rd->err, -EINVAL,
				   "%s: line %lld: %d fields; expected scikit-learn's header "
				   "n_samples,n_features,class names...",
				   rd->path, (long long)rd->row_line, rd->nf);
	if (!parse_int(field(rd, 0), 1, EMC_DATASET_MAX_SAMPLES, &n))
		return emc_err_set(rd->err, -EINVAL,
				   "%s: line %lld, column 1: n_samples '%s' is not an integer in 1 to %d",
				   rd->path, (long long)rd->row_line, shown(field(rd, 0), buf),
				   EMC_DATASET_MAX_SAMPLES);
	if (!parse_int(field(rd, 1), 1, CSV_MAX_COLUMNS - 1, &d))
		return emc_err_set(rd->err, -EINVAL,
				   "%s: line %lld, column 2: n_features '%s' is not an integer in 1 to %d",
				   rd->path, (long long)rd->row_line, shown(field(rd, 1), buf),
				   CSV_MAX_COLUMNS - 1);
	if (rd->nf - 2 > EMC_DATASET_MAX_CLASSES)
		return emc_err_set(rd->err, -EINVAL, "%s: line %lld: %d class names; at most %d",
				   rd->path, (long long)rd->row_line, rd->nf - 2, EMC_DATASET_MAX_CLASSES);
	t->promised = n;
	t->features = (int)d;
	t->classes = rd->nf - 2;
	t->have_header = true;
	return 0;
}

static int sk_row(reader *rd, void *ctx)
{
	sktable *t = ctx;
	char buf[CELL_SHOWN + 4];
	long long label;
	double *v;

	if (t->header && !t->have_header)
		return sk_header(rd, t);
	if (rd->nf != t->features + 1)
		return emc_err_set(rd->err, -EINVAL, "%s: line %lld: %d field%s; expected %d features and "
				   "a label",
				   rd->path, (long long)rd->line, rd->nf, rd->nf == 1 ? "" : "s", t->features);
	if (t->header && t->rows == t->promised)
		return emc_err_set(rd->err, -EINVAL,
				   "%s: line %lld: more rows than the %lld samples the header (line 1) "
				   "promises",
				   rd->path, (long long)rd->line, (long long)t->promised);
	if (t->rows == EMC_DATASET_MAX_SAMPLES || t->rows + 1 > DATASET_MAX_VALUES / t->features)
		return emc_err_set(rd->err, -EINVAL, "%s: line %lld: more rows than emc accepts",
				   rd->path, (long long)rd->line);
	if (t->rows == t->cap) {
		int64_t ncap = t->cap ? 2 * t->cap : 256;
		double *pv = realloc(t->v, (size_t)(ncap * t->features) * sizeof *pv);
		uint8_t *py;

		if (pv)
			t->v = pv;
		py = pv ? realloc(t->y, (size_t)ncap) : NULL;
		if (!py)
			return emc_err_set(rd->err, -ENOMEM, "%s: line %lld: out of memory", rd->path,
					   (long long)rd->line);
		t->y = py;
		t->cap = ncap;
	}
	v = t->v + t->rows * t->features;
	for (int i = 0; i < t->features; i++)
		if (!parse_number(field(rd, i), rd->c_locale, &v[i]))
			return emc_err_set(rd->err, -EINVAL,
					   "%s: line %lld, column %d: '%s' is not a finite number", rd->path,
					   (long long)rd->line, i + 1, shown(field(rd, i), buf));
	if (!parse_int(field(rd, t->features), 0, t->classes - 1, &label))
		return emc_err_set(rd->err, -EINVAL,
				   "%s: line %lld, column %d: label '%s' is not an integer in 0 to %d",
				   rd->path, (long long)rd->line, t->features + 1,
				   shown(field(rd, t->features), buf), t->classes - 1);
	t->y[t->rows++] = (uint8_t)label;
	return 0;
}

int dataset_load_sklearn(const char *path, bool header, int features, int classes, emc_dataset **ret,
			 emc_err *err)
{
	sktable t = { .header = header, .features = features, .classes = classes };
	emc_dataset *d = NULL;
	int r;

	r = read_csv(path, sk_row, &t, err);
	if (r < 0)
		goto out;
	if (t.rows == 0) {
		r = emc_err_set(err, -EINVAL, "%s: line %d: no samples%s", path, header && t.have_header ? 2 : 1,
				header && !t.have_header ? " (an empty file)" : "");
		goto out;
	}
	if (header && t.rows != t.promised) {
		r = emc_err_set(err, -EINVAL, "%s: %lld rows, but the header (line 1) promises %lld samples",
				path, (long long)t.rows, (long long)t.promised);
		goto out;
	}
	dataset_standardize_columns(t.v, t.rows, t.features);
	r = dataset_new(t.rows, t.features, path, &d, err);
	if (r < 0)
		goto out;
	for (int64_t i = 0; i < t.rows * t.features; i++)
		d->x[i] = (float)t.v[i];
	memcpy(d->y, t.y, (size_t)t.rows);
	d->shape = (emc_input_shape){ 1, 1, t.features, t.classes < 2 ? 2 : t.classes };
	*ret = d;
out:
	free(t.v);
	free(t.y);
	return r;
}
