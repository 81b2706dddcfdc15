/* wire.h — the one module that frames, checks, packs and unpacks messages.
 *
 * Every message is one emc.Envelope in one frame. wire_decode() refuses a
 * frame that is too large, does not unpack, carries another protocol
 * version or has no body; handlers keep no pointers into a decoded message
 * after wire_free(). Conversions between the C configuration structs and
 * their protobuf forms live here too, with range checks on everything that
 * came from the network.
 */
#ifndef EMC_WIRE_H
#define EMC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "cell.h"
#include "dataset.h" /* emc_dataset_ref */
#include "emc.pb-c.h"
#include "err.h"

#define EMC_PROTOCOL_VERSION 1
#define EMC_MAX_MESSAGE_BYTES (4 << 20) /* ZMQ_MAXMSGSIZE on every socket */

/* Pack env (its version is set here) into a new buffer the caller frees. */
int wire_encode(Emc__Envelope *env, uint8_t **ret_buf, size_t *ret_len, emc_err *err);

/* Unpack and check a frame. On success *ret is owned by the caller
 * (wire_free). On failure -EBADMSG / -EPROTO / -EMSGSIZE and err says why. */
int wire_decode(const uint8_t *buf, size_t len, Emc__Envelope **ret, emc_err *err);

/* NULL-safe; sets *p = NULL. */
void wire_free(Emc__Envelope **p);

/* C config <-> protobuf. cell_to_pb fills pb and any sub-messages in
 * `storage`, which must outlive pb; nothing is allocated. */
typedef struct wire_cell_storage {
	Emc__CellConfig cell;
	Emc__ModelConfig model;
	Emc__OptimConfig optim;
	Emc__BudgetConfig budget;
	uint32_t widths[EMC_MAX_LAYERS];
} wire_cell_storage;

Emc__CellConfig *wire_cell_to_pb(const emc_cell_cfg *c, wire_cell_storage *storage);
/* Checks every value's range; -EINVAL and err on nonsense. */
int wire_cell_from_pb(const Emc__CellConfig *pb, emc_cell_cfg *ret, emc_err *err);

/* A cell configuration as a standalone blob (stored in the database). */
int wire_cell_pack(const emc_cell_cfg *c, uint8_t **ret_buf, size_t *ret_len, emc_err *err);
int wire_cell_unpack(const uint8_t *buf, size_t len, emc_cell_cfg *ret, emc_err *err);

/* Dataset references. dataset_to_pb points into ref, which must outlive pb. */
void wire_dataset_to_pb(const emc_dataset_ref *ref, Emc__DatasetRef *pb);
int wire_dataset_from_pb(const Emc__DatasetRef *pb, emc_dataset_ref *ret, emc_err *err);

#endif
