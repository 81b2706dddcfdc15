/* axes.h — the spec keys a set of cells varies, and a cell's whole
 * configuration, as every view shows them.
 *
 * A campaign's grid crosses a few axes (lr, batch, a budget key, a data
 * variant); its rows are told apart only by those. A view notes every cell
 * it will print (axes_add), then shows one column per varying key, named
 * by its spec key ("optimizer.lr"), in grid order (axes_columns).
 */
#ifndef EMC_AXES_H
#define EMC_AXES_H

#include <stdbool.h>
#include <stdio.h>

#include "cell.h"

typedef struct axes {
	int cells;					/* noted so far */
	emc_cell_value ref[EMC_CELL_MAX_FIELDS];	/* by row of the cell field table: the value of */
	bool has_ref[EMC_CELL_MAX_FIELDS];		/* the first noted cell that reads the key */
	bool vary[EMC_CELL_MAX_FIELDS];			/* two cells that read it differ */
	const emc_cell_field *col[EMC_CELL_MAX_FIELDS]; /* the columns, after axes_columns */
	int n_cols;
} axes;

void axes_init(axes *a);
/* Note one cell of the set. */
void axes_add(axes *a, const emc_cell_cfg *c);
/* Choose the columns: every varying key, except those the view shows in
 * its own columns (`shown`, report column names such as "activation",
 * NULL-terminated; "model" stands for the architecture keys the model
 * column spells). */
void axes_columns(axes *a, const char *const *shown);

/* A key's value in a cell, spelled as a spec writes it ("0.01", "full",
 * "[64,64]"); NULL when the cell does not read the key. */
const char *axes_value(const emc_cell_field *f, const emc_cell_cfg *c, char *buf, size_t len);

/* The cell's whole configuration as one JSON object, nested by spec key
 * ({"model":{"family":"mlp","widths":[8]},"optimizer":{"name":"sgd",...}}):
 * every key the cell reads, numbers as numbers. */
void axes_json_config(const emc_cell_cfg *c, FILE *out);

/* Is this the field of the spec key or of the report column `name`? */
bool axes_field_named(const emc_cell_field *f, const char *name);

#endif
