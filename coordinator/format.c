/* format.c — the three shapes emcctl prints: aligned text tables, CSV and
 * JSON.
 *
 * Tables are padded to their widest cell, numbers right-aligned. CSV
 * fields are quoted as RFC 4180 says (a field holding a comma, quote, CR or
 * LF is enclosed in quotes, quotes doubled), lines end in LF. JSON is
 * written as SQLite's json_object() writes it: no spaces, strings escaped
 * as it escapes them, REALs in its "%!0.15g", booleans as true/false; an
 * array of rows puts each row on its own line. Every view (report.c,
 * summary.c, status.c) prints through these, so its output has one shape.
 */
#include "format.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store_report.h"

/* ---- an aligned text table ---------------------------------------------- */

void table_init(table *t, int cols, const char *align)
{
	memset(t, 0, sizeof *t);
	t->cols = cols;
	t->align = align;
}

void table_deinit(table *t)
{
	for (size_t i = 0; i < t->rows * (size_t)t->cols; i++)
		free(t->cell[i]);
	free(t->cell);
	memset(t, 0, sizeof *t);
}

/* Append one row of t->cols strings (copied). */
int table_add(table *t, const char *const *values)
{
	if (t->rows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		char **cell = realloc(t->cell, cap * (size_t)t->cols * sizeof *cell);

		if (!cell)
			return -ENOMEM;
		t->cell = cell;
		t->cap = cap;
	}
	for (int j = 0; j < t->cols; j++) {
		char *v = strdup(values[j] ? values[j] : "");

		if (!v) {
			for (int k = 0; k < j; k++)
				free(t->cell[t->rows * (size_t)t->cols + (size_t)k]);
			return -ENOMEM;
		}
		t->cell[t->rows * (size_t)t->cols + (size_t)j] = v;
	}
	t->rows++;
	return 0;
}

int table_print(const table *t, const char *indent, FILE *out)
{
	int *width = calloc((size_t)(t->cols > 0 ? t->cols : 1), sizeof *width);

	if (!width)
		return -ENOMEM;
	for (size_t i = 0; i < t->rows; i++)
		for (int j = 0; j < t->cols; j++) {
			int len = (int)strlen(t->cell[i * (size_t)t->cols + (size_t)j]);

			if (len > width[j])
				width[j] = len;
		}
	for (size_t i = 0; i < t->rows; i++) {
		fputs(indent, out);
		for (int j = 0; j < t->cols; j++) {
			const char *v = t->cell[i * (size_t)t->cols + (size_t)j];
			bool last = j == t->cols - 1;

			if (t->align[j] == 'r')
				fprintf(out, "%*s", width[j], v);
			else
				fprintf(out, "%-*s", last ? 0 : width[j], v);
			fputs(last ? "\n" : "  ", out);
		}
	}
	free(width);
	return 0;
}

/* ---- CSV and JSON -------------------------------------------------------- */

void csv_field(const char *v, FILE *out)
{
	if (!strpbrk(v, ",\"\r\n")) {
		fputs(v, out);
		return;
	}
	fputc('"', out);
	for (; *v; v++) {
		if (*v == '"')
			fputc('"', out);
		fputc(*v, out);
	}
	fputc('"', out);
}

void csv_row_n(const char *const *v, int cols, FILE *out)
{
	for (int j = 0; j < cols; j++) {
		if (j)
			fputc(',', out);
		csv_field(v[j], out);
	}
	fputc('\n', out);
}

/* A JSON string, escaped as SQLite's json_object() escapes it: quote and
 * backslash, the short escapes it knows, \u00XX for the other control
 * characters; every other byte as it is. */
void json_str(const char *v, FILE *out)
{
	static const char special[32] = {[8] = 'b', [9] = 't', [10] = 'n', [12] = 'f', [13] = 'r'};

	if (!v) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 && special[*p])
			fprintf(out, "\\%c", special[*p]);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

/* A REAL as json_object() writes it; NAN (no value) is null. */
void json_real(double v, FILE *out)
{
	char buf[64];

	if (isnan(v)) {
		fputs("null", out);
		return;
	}
	store_format_double(buf, sizeof buf, "%!0.15g", v);
	fputs(buf, out);
}

/* The separator before a key: '{' for the first, ',' for the others. */
void json_key(const char *key, bool first, FILE *out)
{
	fputc(first ? '{' : ',', out);
	fprintf(out, "\"%s\":", key);
}

void json_key_str(const char *key, const char *v, FILE *out)
{
	json_key(key, false, out);
	json_str(v, out);
}

void json_key_int(const char *key, bool has, int64_t v, FILE *out)
{
	json_key(key, false, out);
	if (has)
		fprintf(out, "%" PRId64, v);
	else
		fputs("null", out);
}

void json_key_real(const char *key, double v, FILE *out)
{
	json_key(key, false, out);
	json_real(v, out);
}

void json_key_bool(const char *key, bool v, FILE *out)
{
	json_key(key, false, out);
	fputs(v ? "true" : "false", out);
}

/* Rows of a JSON array: "[", then each row on its own line, indented. */
void json_row_begin(int *n, FILE *out)
{
	fputs(*n ? ",\n  " : "\n  ", out);
	(*n)++;
}

void json_array_end(int n, FILE *out)
{
	fputs(n ? "\n]\n" : "]\n", out);
}
