/* outbox.c — frames to peers, and the ones held back until a commit.
 *
 * Held frames are kept as their packed bytes in one FIFO, so releasing
 * them is only sending: no message is built twice. A batch lasts one turn
 * of the coordinator's loop, so the FIFO holds at most one turn's acks and
 * replies (a few hundred frames of a few bytes each); every held frame is
 * its own allocation, which at that size costs nothing worth pooling.
 *
 * Order: frames are released in the order they were held; frames sent
 * now overtake held ones. Only ResultAcks (worker channel) and control
 * replies (control channel) are held, so each channel keeps its order.
 */
#include "outbox.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct held {
	struct held *next;
	outbox_channel ch;
	size_t id_len, len;
	uint8_t *id, *buf; /* both point into the same allocation, after the struct */
} held;

struct outbox {
	outbox_send_fn send;
	void *send_ctx;
	bool holding;
	held *head, **tail;
};

int outbox_new(outbox_send_fn send, void *send_ctx, outbox **ret)
{
	outbox *o = calloc(1, sizeof *o);

	if (!o)
		return -ENOMEM;
	o->send = send;
	o->send_ctx = send_ctx;
	o->tail = &o->head;
	*ret = o;
	return 0;
}

void outbox_destroy(outbox **p)
{
	if (!*p)
		return;
	outbox_release(*p, false);
	free(*p);
	*p = NULL;
}

int outbox_send(outbox *o, outbox_channel ch, const uint8_t *id, size_t id_len, const uint8_t *buf, size_t len)
{
	return o->send(o->send_ctx, ch, id, id_len, buf, len);
}

void outbox_hold_begin(outbox *o)
{
	o->holding = true;
}

void outbox_release(outbox *o, bool committed)
{
	o->holding = false;
	while (o->head) {
		held *h = o->head;

		o->head = h->next;
		if (committed)
			(void)o->send(o->send_ctx, h->ch, h->id, h->id_len, h->buf, h->len);
		free(h);
	}
	o->tail = &o->head;
}

int outbox_hold(outbox *o, outbox_channel ch, const uint8_t *id, size_t id_len, const uint8_t *buf, size_t len)
{
	held *h;

	if (!o->holding) {
		outbox_send(o, ch, id, id_len, buf, len); /* a lost ack or reply is asked again */
		return 0;
	}
	h = malloc(sizeof *h + id_len + len);
	if (!h)
		return -ENOMEM;
	h->next = NULL;
	h->ch = ch;
	h->id = (uint8_t *)(h + 1);
	h->id_len = id_len;
	h->buf = h->id + id_len;
	h->len = len;
	memcpy(h->id, id, id_len);
	if (len)
		memcpy(h->buf, buf, len);
	*o->tail = h;
	o->tail = &h->next;
	return 0;
}
