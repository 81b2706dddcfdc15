/* format.h — aligned tables, CSV and JSON as every emcctl view prints them. */
#ifndef EMC_FORMAT_H
#define EMC_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- an aligned text table ---------------------------------------------- */

typedef struct table {
	int cols;
	const char *align; /* per column: 'l' or 'r'; borrowed, at least cols long */
	char **cell;	   /* rows × cols, owned */
	size_t rows, cap;
} table;

void table_init(table *t, int cols, const char *align);
void table_deinit(table *t);
/* Append one row of t->cols strings (copied; NULL prints empty). */
int table_add(table *t, const char *const *values);
/* Print every row, each column padded to its widest cell. */
int table_print(const table *t, const char *indent, FILE *out);

/* ---- CSV ------------------------------------------------------------------ */

void csv_field(const char *v, FILE *out);
void csv_row_n(const char *const *v, int cols, FILE *out);

/* ---- JSON ------------------------------------------------------------------- */

/* A string (NULL: null) and a REAL (NAN: null) as json_object() writes them. */
void json_str(const char *v, FILE *out);
void json_real(double v, FILE *out);
/* The separator before a key, '{' for an object's first and ',' for the
 * others, then the key. */
void json_key(const char *key, bool first, FILE *out);
void json_key_str(const char *key, const char *v, FILE *out);
void json_key_int(const char *key, bool has, int64_t v, FILE *out);
void json_key_real(const char *key, double v, FILE *out);
void json_key_bool(const char *key, bool v, FILE *out);
/* Rows of a JSON array: "[", then each row on its own line, indented. */
void json_row_begin(int *n, FILE *out);
void json_array_end(int n, FILE *out);

#endif
