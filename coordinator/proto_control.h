/* proto_control.h — the control channel: what emcctl asks (Submit, and
 * Control verbs: pause, resume, cancel, workers) into the model, and its
 * replies out, each held in the outbox until the batch that made its
 * change commits, so that a client reading the database right after the
 * reply sees the change.
 */
#ifndef EMC_PROTO_CONTROL_H
#define EMC_PROTO_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "outbox.h"
#include "scheduler.h"

/* A frame from the control client `id`. Never fails: bad input is
 * answered with an Error. Dispatches afterwards (a submit or a resume may
 * have made work). s and o are borrowed. */
void pc_message(sched *s, outbox *o, const uint8_t *id, size_t id_len, const uint8_t *buf, size_t len);

#endif
