/* liveview.h — a view that redraws itself in place on a terminal.
 *
 * `emcctl status --watch` and `emcctl run` show the whole status again
 * every few seconds. On a terminal each view replaces the last one (the
 * cursor goes back up over the lines it printed, counting the lines the
 * terminal wrapped, and clears to the end of the screen), so the
 * scrollback above stays; anywhere else each view is appended as plain
 * lines after a blank one, so a log or a pipe reads in order.
 */
#ifndef EMC_LIVEVIEW_H
#define EMC_LIVEVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct liveview {
	FILE *out;
	bool tty;
	int rows; /* terminal rows the last view took */
	int shown;
} liveview;

void liveview_init(liveview *v, FILE *out);
/* Show one whole view (text of len bytes, lines ending in '\n'). */
void liveview_show(liveview *v, const char *text, size_t len);

#endif
