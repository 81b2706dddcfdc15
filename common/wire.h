/* wire.h — the one module that frames, checks, packs and unpacks messages.
 *
 * Every message is one emc.Envelope in one frame; this header shows it as
 * a tagged C struct, wire_msg, and nothing of protobuf: callers fill a
 * wire_msg and get bytes (wire_pack), or give bytes and get a wire_msg
 * (wire_unpack). wire_unpack() refuses a frame that is too large, does not
 * unpack, carries another protocol version or has no body, and checks
 * every value that ends up in a fixed buffer or a configuration.
 *
 * Ownership. Bounded fields are fixed arrays with the caps below. The few
 * fields that are large and variable (spec text and paths of a Submit, the
 * worker list of a ControlReply, the bytes of a DataChunk) are pointers:
 * on wire_pack they are borrowed from the caller for the call; on
 * wire_unpack they are owned copies that wire_msg_deinit() frees. A decoded
 * wire_msg holds no pointer into the frame it came from.
 *
 * Cuts and clamps, as the protocol's handlers have always applied them: a
 * host name, a text or a bye reason longer than its array is cut (a
 * Hello's emc_version and blas_core are refused instead: they name what
 * produced a result, and a cut could name something else); a Hello
 * keeps the number of running attempts its worker claimed (the model
 * refuses more than WIRE_SLOTS_MAX) but reads at most WIRE_SLOTS_MAX; a
 * Heartbeat's list is cut to WIRE_SLOTS_MAX; a Result's outcome or stop
 * reason outside its enum becomes NONE (the model refuses an outcome of
 * NONE). An Assign whose cell or dataset is unusable still unpacks — its ids
 * are needed to answer it FAILED — with assign.rc < 0 and assign.err.
 */
#ifndef EMC_WIRE_H
#define EMC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cell.h"
#include "dataset.h" /* emc_dataset_ref */
#include "err.h"
#include "result.h"

#define EMC_PROTOCOL_VERSION  2
#define EMC_MAX_MESSAGE_BYTES (4 << 20) /* ZMQ_MAXMSGSIZE on every socket */

#define WIRE_SLOTS_MAX	  1024		     /* attempts read from a Hello or a Heartbeat */
#define WIRE_HOST_MAX	  128		     /* bytes of a host name kept */
#define WIRE_CAPS_MAX	  16		     /* capabilities of a Hello kept */
#define WIRE_CAP_MAX	  32		     /* bytes of one capability kept */
#define WIRE_TEXT_MAX	  (EMC_ERR_MAX + 64) /* bytes of an error or reply message kept */
#define WIRE_REASON_MAX	  128		     /* bytes of a Bye's reason kept */
#define WIRE_VERB_MAX	  48		     /* bytes of a Control verb kept (unknown ones are quoted) */
#define WIRE_CAMPAIGN_MAX 256		     /* a Control's campaign name: longer is refused, never cut */
#define WIRE_HASH_BYTES	  32		     /* a dataset's BLAKE2b-256 */
#define WIRE_PROV_MAX	  31		     /* a Hello's emc_version or blas_core: longer is refused, never cut */

typedef enum wire_kind {
	WIRE_NONE = 0, /* no body: only wire_pack_version() packs it, to test peers */
	WIRE_HELLO,
	WIRE_WELCOME,
	WIRE_READY,
	WIRE_ASSIGN,
	WIRE_HEARTBEAT,
	WIRE_RESULT,
	WIRE_RESULT_ACK,
	WIRE_CANCEL,
	WIRE_BYE,
	WIRE_ERROR,
	WIRE_SUBMIT,
	WIRE_SUBMIT_REPLY,
	WIRE_CONTROL,
	WIRE_CONTROL_REPLY,
	WIRE_DATA_REQUEST,
	WIRE_DATA_CHUNK,
	WIRE_CHECKPOINT,
	WIRE_KIND_COUNT
} wire_kind;

/* "hello", "result", …; "?" for a value outside the enum. */
const char *wire_kind_name(wire_kind k);

/* worker -> coordinator: first message on a connection. */
typedef struct wire_hello {
	uint32_t protocol;
	char host[WIRE_HOST_MAX + 1];
	uint32_t pid, slots, blas_threads;
	/* Provenance of its results: printable ASCII, at most WIRE_PROV_MAX
	 * bytes (a cut name could name another build or kernel). */
	char emc_version[WIRE_PROV_MAX + 1];
	char blas_core[WIRE_PROV_MAX + 1];
	uint64_t memory_bytes; /* memory its trials may use; 0 = unknown */
	size_t n_capabilities; /* at most WIRE_CAPS_MAX */
	char capabilities[WIRE_CAPS_MAX][WIRE_CAP_MAX + 1];
	size_t n_running; /* as claimed: may exceed WIRE_SLOTS_MAX, running[] holds the first ones */
	uint64_t running[WIRE_SLOTS_MAX];
} wire_hello;

typedef struct wire_welcome {
	uint64_t worker_id;
	uint32_t heartbeat_ms, lease_ms;
} wire_welcome;

typedef struct wire_ready {
	uint32_t credit;
} wire_ready;

typedef struct wire_assign {
	uint64_t attempt_id, trial_id;
	int64_t n; /* uint64 on the wire: a value above INT64_MAX arrives negative, and is refused */
	emc_cell_cfg cell;
	emc_dataset_ref dataset; /* zeroed, then filled: comparable byte for byte */
	bool has_hash;		 /* the dataset's content is named */
	uint8_t hash[WIRE_HASH_BYTES];
	const uint8_t *resume; /* a checkpoint to go on from: borrowed on pack, owned on unpack (NULL when none) */
	size_t resume_len;
	/* Unpack only: < 0 when the cell or dataset is missing or out of
	 * range (err says why); then only the ids are meaningful. */
	int rc;
	emc_err err;
} wire_assign;

typedef struct wire_progress {
	uint64_t attempt_id;
	int64_t epoch, step;
	double loss, accuracy, seconds;
} wire_progress;

typedef struct wire_heartbeat {
	size_t n_attempts; /* at most WIRE_SLOTS_MAX */
	wire_progress attempts[WIRE_SLOTS_MAX];
	size_t n_unacked; /* at most WIRE_SLOTS_MAX: results not yet acknowledged */
	uint64_t unacked[WIRE_SLOTS_MAX];
} wire_heartbeat;

/* One conversion: the body is the trial's result as the engine made it
 * and the store records it. r.error is sent up to its first NUL or its
 * end, and arrives terminated. */
typedef struct wire_result {
	uint64_t attempt_id, trial_id;
	emc_trial_result r;
} wire_result;

typedef struct wire_result_ack {
	uint64_t attempt_id;
	bool recorded;
} wire_result_ack;

typedef struct wire_cancel {
	uint64_t attempt_id;
} wire_cancel;

typedef struct wire_bye {
	char reason[WIRE_REASON_MAX + 1];
} wire_bye;

typedef struct wire_error {
	char message[WIRE_TEXT_MAX];
} wire_error;

/* Pointers: borrowed on pack (NULL packs as empty), owned on unpack
 * (never NULL; freed by wire_msg_deinit). */
typedef struct wire_submit {
	const char *spec_text;
	size_t spec_len;      /* bytes of spec_text packed; on unpack strlen(spec_text) */
	const char *origin;   /* the spec file's name, for error messages */
	const char *base_dir; /* resolves relative dataset paths */
} wire_submit;

typedef struct wire_submit_reply {
	bool ok, resumed;
	uint64_t campaign_id;
	char message[WIRE_TEXT_MAX];
} wire_submit_reply;

typedef struct wire_control {
	char verb[WIRE_VERB_MAX + 1];
	char campaign[WIRE_CAMPAIGN_MAX];
} wire_control;

typedef struct wire_worker_info {
	uint64_t id;
	char host[WIRE_HOST_MAX + 32];
	uint32_t slots, busy;
	int64_t last_heartbeat_ms_ago;
	uint64_t trials_done;
	char blas_core[WIRE_PROV_MAX + 1]; /* cut on unpack: it is only shown */
} wire_worker_info;

typedef struct wire_control_reply {
	bool ok;
	char message[WIRE_TEXT_MAX];
	size_t n_workers;
	wire_worker_info *workers; /* borrowed on pack, owned on unpack (NULL when none) */
} wire_control_reply;

typedef struct wire_data_request {
	bool has_hash; /* the request named 32 bytes (else no dataset matches) */
	uint8_t hash[WIRE_HASH_BYTES];
	uint64_t offset;
	uint32_t length;
} wire_data_request;

typedef struct wire_data_chunk {
	bool has_hash; /* the chunk named 32 bytes */
	uint8_t hash[WIRE_HASH_BYTES];
	uint64_t offset, total;
	const uint8_t *data; /* borrowed on pack, owned on unpack (NULL when len is 0) */
	size_t len;
	char error[WIRE_TEXT_MAX]; /* "" unless the coordinator cannot serve it */
} wire_data_chunk;

typedef struct wire_checkpoint {
	uint64_t attempt_id, trial_id;
	int64_t epoch, step;
	const uint8_t *state; /* borrowed on pack, owned on unpack (NULL when len is 0) */
	size_t len;
} wire_checkpoint;

typedef struct wire_msg {
	wire_kind kind;
	union {
		wire_hello hello;
		wire_welcome welcome;
		wire_ready ready;
		wire_assign assign;
		wire_heartbeat heartbeat;
		wire_result result;
		wire_result_ack result_ack;
		wire_cancel cancel;
		wire_bye bye;
		wire_error error;
		wire_submit submit;
		wire_submit_reply submit_reply;
		wire_control control;
		wire_control_reply control_reply;
		wire_data_request data_request;
		wire_data_chunk data_chunk;
		wire_checkpoint checkpoint;
	};
} wire_msg;

/* Zero m and set its kind. (About 50 KiB: a Heartbeat's list is inline.) */
void wire_msg_init(wire_msg *m, wire_kind kind);
/* Free what wire_unpack() allocated in m and zero it; for a packed-only
 * message it frees nothing. Safe on a zeroed or deinited message. */
void wire_msg_deinit(wire_msg *m);

/* Pack m into a new buffer the caller frees. m is borrowed. -EMSGSIZE
 * above EMC_MAX_MESSAGE_BYTES, -EINVAL for a kind of WIRE_NONE. */
int wire_pack(const wire_msg *m, uint8_t **ret_buf, size_t *ret_len, emc_err *err);
/* wire_pack with another version in the envelope, and WIRE_NONE packed as
 * an envelope without a body: for tests that play a broken peer. */
int wire_pack_version(const wire_msg *m, uint32_t version, uint8_t **ret_buf, size_t *ret_len, emc_err *err);

/* Unpack and check a frame into *ret (written only on success; then the
 * caller owns it: wire_msg_deinit). On failure -EBADMSG / -EPROTO /
 * -EMSGSIZE / -EINVAL / -ENOMEM and err says why. */
int wire_unpack(const uint8_t *buf, size_t len, wire_msg *ret, emc_err *err);

/* A cell configuration as a standalone blob (stored in the database).
 * unpack checks every value's range; -EINVAL and err on nonsense. */
int wire_cell_pack(const emc_cell_cfg *c, uint8_t **ret_buf, size_t *ret_len, emc_err *err);
int wire_cell_unpack(const uint8_t *buf, size_t len, emc_cell_cfg *ret, emc_err *err);

/* A dataset reference as a standalone blob, in the encoding an Assign
 * carries it (stored in the database). unpack checks every length. */
int wire_dataset_pack(const emc_dataset_ref *ref, uint8_t **ret_buf, size_t *ret_len, emc_err *err);
int wire_dataset_unpack(const uint8_t *buf, size_t len, emc_dataset_ref *ret, emc_err *err);

#endif
