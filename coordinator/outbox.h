/* outbox.h — frames on their way to peers, some held until a commit.
 *
 * A worker may forget a result once it is acknowledged, and a control
 * client may read the database right after a reply: so ResultAcks and
 * control replies must not leave before the store's batch that made their
 * change is durable. The protocol modules hand every outgoing frame here:
 * outbox_send() sends it now, outbox_hold() keeps a copy of its bytes
 * while a batch is open and sends it when outbox_release() is told the
 * commit succeeded (or drops it when it failed).
 */
#ifndef EMC_OUTBOX_H
#define EMC_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct outbox outbox;

typedef enum outbox_channel { OUTBOX_WORKERS = 0, OUTBOX_CONTROL } outbox_channel;

/* Deliver one frame (buf, borrowed) to the peer `identity` on a channel:
 * 0, or -errno when the socket would not take it (the peer is unknown or
 * its queue is full). */
typedef int (*outbox_send_fn)(void *ctx, outbox_channel ch, const uint8_t *identity, size_t identity_len,
			       const uint8_t *buf, size_t len);

/* send_ctx is borrowed. */
int outbox_new(outbox_send_fn send, void *send_ctx, outbox **ret);
/* Drops anything still held. NULL-safe; sets *p = NULL. */
void outbox_destroy(outbox **p);

/* Send now: what the send function returned. */
int outbox_send(outbox *o, outbox_channel ch, const uint8_t *id, size_t id_len, const uint8_t *buf, size_t len);

/* Open a batch: from now on outbox_hold() keeps frames. */
void outbox_hold_begin(outbox *o);
/* Send (committed = true) or drop the held frames, in the order they were
 * held, and close the batch. */
void outbox_release(outbox *o, bool committed);

/* Send when the batch commits, or now when no batch is open. A copy is
 * kept; -ENOMEM (nothing held, nothing sent) when it cannot be. */
int outbox_hold(outbox *o, outbox_channel ch, const uint8_t *id, size_t id_len, const uint8_t *buf, size_t len);

#endif
