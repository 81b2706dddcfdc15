/* axes.c — which spec keys a set of cells varies, and their values.
 *
 * Everything here reads the cell field table (cell.h), the one list of a
 * cell's parameters, so a parameter added there shows up in every view
 * without a line here. A key varies when two cells that read it hold
 * different values (a zeroed emc_cell_value compares bytewise): momentum
 * does not vary between an sgd and an adam cell, which does not read it,
 * and is shown there as absent, not as its default.
 */
#include "axes.h"

#include <inttypes.h>
#include <string.h>

#include "format.h"

void axes_init(axes *a)
{
	memset(a, 0, sizeof *a);
}

void axes_add(axes *a, const emc_cell_cfg *c)
{
	int n;
	const emc_cell_field *fields = emc_cell_fields(&n);

	a->cells++;
	for (int i = 0; i < n; i++) {
		emc_cell_value v;

		if (a->vary[i] || !emc_cell_field_reads(&fields[i], c))
			continue;
		memset(&v, 0, sizeof v);
		emc_cell_field_get(&fields[i], c, &v);
		if (!a->has_ref[i]) {
			a->ref[i] = v;
			a->has_ref[i] = true;
		} else if (memcmp(&v, &a->ref[i], sizeof v) != 0) {
			a->vary[i] = true;
		}
	}
}

/* Spelled by the model column (emc_model_describe): the family and its
 * shape, not the activation. */
static bool in_model_column(const emc_cell_field *f)
{
	return strncmp(f->key, "model.", 6) == 0 && strcmp(f->key, "model.activation") != 0;
}

void axes_columns(axes *a, const char *const *shown)
{
	int n;
	const emc_cell_field *fields = emc_cell_fields(&n);

	a->n_cols = 0;
	for (int i = 0; i < n; i++) {
		bool skip = !a->vary[i];

		for (const char *const *s = shown; !skip && s && *s; s++)
			skip =
			    strcmp(*s, "model") == 0 ? in_model_column(&fields[i]) : strcmp(*s, fields[i].column) == 0;
		if (!skip)
			a->col[a->n_cols++] = &fields[i];
	}
}

const char *axes_value(const emc_cell_field *f, const emc_cell_cfg *c, char *buf, size_t len)
{
	if (!emc_cell_field_reads(f, c))
		return NULL;
	return emc_cell_field_format(f, c, buf, len);
}

bool axes_field_named(const emc_cell_field *f, const char *name)
{
	return strcmp(f->key, name) == 0 || strcmp(f->column, name) == 0;
}

static void json_value(const emc_cell_field *f, const emc_cell_cfg *c, FILE *out)
{
	emc_cell_value v;
	char buf[256];

	memset(&v, 0, sizeof v);
	emc_cell_field_get(f, c, &v);
	switch (f->type) {
	case EMC_CELL_INT:
	case EMC_CELL_INT64:
		if (v.i == 0 && f->zero_word)
			json_str(f->zero_word, out);
		else
			fprintf(out, "%" PRId64, v.i);
		break;
	case EMC_CELL_UINT64:
		fprintf(out, "%" PRIu64, v.u);
		break;
	case EMC_CELL_SEED:
		if (v.i)
			fprintf(out, "%" PRIu64, v.u);
		else
			json_str(f->zero_word, out);
		break;
	case EMC_CELL_DOUBLE:
		json_real(v.d, out);
		break;
	case EMC_CELL_BOOL:
		fputs(v.i ? "true" : "false", out);
		break;
	case EMC_CELL_LIST:
		fputc('[', out);
		for (int i = 0; i < v.n && i < EMC_MAX_LAYERS; i++)
			fprintf(out, "%s%d", i ? "," : "", v.items[i]);
		fputc(']', out);
		break;
	case EMC_CELL_ENUM:
	case EMC_CELL_LABELS:
		json_str(emc_cell_field_format(f, c, buf, sizeof buf), out);
		break;
	}
}

void axes_json_config(const emc_cell_cfg *c, FILE *out)
{
	int n;
	const emc_cell_field *fields = emc_cell_fields(&n);
	char section[32] = "";
	bool first_section = true, first_key = true;

	/* The table keeps each section's keys together (model, optimizer,
	 * variant, budget), so a change of prefix closes one object. */
	for (int i = 0; i < n; i++) {
		const emc_cell_field *f = &fields[i];
		const char *dot = strchr(f->key, '.');
		size_t plen = dot ? (size_t)(dot - f->key) : 0;

		if (!dot || plen >= sizeof section || !emc_cell_field_reads(f, c))
			continue;
		if (strlen(section) != plen || strncmp(section, f->key, plen) != 0) {
			if (section[0])
				fputc('}', out);
			memcpy(section, f->key, plen);
			section[plen] = '\0';
			json_key(section, first_section, out);
			first_section = false;
			first_key = true;
		}
		json_key(dot + 1, first_key, out);
		first_key = false;
		json_value(f, c, out);
	}
	fputs(first_section ? "{}" : "}}", out);
}
