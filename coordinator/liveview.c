/* liveview.c — redraw a multi-line view in place, or append it.
 *
 * Only two escape sequences are used, both ECMA-48 and understood by
 * every terminal emulator and by tmux: CSI n A (cursor up n rows) and
 * CSI J (erase to the end of the screen). The number of rows a view took
 * counts a line longer than the terminal's width as the rows it wraps to
 * (the width is read at each redraw, so a resized window is handled), and
 * a view taller than the window is cut to the window's height, so moving
 * up never goes past the view's first line.
 */
#include "liveview.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

void liveview_init(liveview *v, FILE *out)
{
	memset(v, 0, sizeof *v);
	v->out = out;
	v->tty = isatty(fileno(out)) == 1;
}

static void window(FILE *out, int *ret_cols, int *ret_rows)
{
	struct winsize ws;

	*ret_cols = 80;
	*ret_rows = 24;
	if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
		*ret_cols = ws.ws_col;
		*ret_rows = ws.ws_row;
	}
}

/* Rows of display a line of len bytes takes (UTF-8 continuation bytes
 * take no column). */
static int line_rows(const char *s, size_t len, int cols)
{
	size_t w = 0;

	for (size_t i = 0; i < len; i++)
		w += ((unsigned char)s[i] & 0xC0) != 0x80;
	return w == 0 ? 1 : (int)((w + (size_t)cols - 1) / (size_t)cols);
}

void liveview_show(liveview *v, const char *text, size_t len)
{
	int cols, rows, used = 0;
	size_t start = 0;

	if (!v->tty) {
		if (v->shown++)
			fputc('\n', v->out);
		fwrite(text, 1, len, v->out);
		fflush(v->out);
		return;
	}
	window(v->out, &cols, &rows);
	if (v->rows > 0)
		fprintf(v->out, "\033[%dA", v->rows);
	fputs("\r\033[J", v->out);
	/* leave the last row for the cursor */
	while (start < len && used < rows - 1) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - text) : len;
		int r = line_rows(text + start, end - start, cols);

		if (used + r > rows - 1)
			break;
		fwrite(text + start, 1, end - start, v->out);
		fputc('\n', v->out);
		used += r;
		start = end + 1;
	}
	v->rows = used;
	v->shown++;
	fflush(v->out);
}
