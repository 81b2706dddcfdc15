/* auth.h — who may connect to the worker socket: CURVE keys and an allow-list.
 *
 * The coordinator's worker socket is a CURVE server. libzmq alone admits
 * every client that knows the server's public key; so before the socket
 * binds, auth_new() starts a ZAP handler (RFC 27) in the same ZeroMQ
 * context, which admits a client only if its public key is in the
 * allow-list directory. The directory is read again at every handshake,
 * so adding or removing a worker's key needs no restart.
 *
 * Key files hold a Z85-encoded 32-byte key (40 characters) on one line:
 *   KEYS/coordinator.key   the coordinator's secret key (mode 0600)
 *   KEYS/coordinator.pub   its public key (give it to the workers)
 *   KEYS/workers/NAME.pub  one allowed worker each
 * `emcctl keygen DIR NAME` writes DIR/NAME.key and DIR/NAME.pub (keyfile.h).
 */
#ifndef EMC_AUTH_H
#define EMC_AUTH_H

#include <stddef.h>

#include "err.h"

#define AUTH_MAX_KEYS 65536

typedef struct auth auth;

/* Load keys_dir/coordinator.key, check keys_dir/workers/, start the ZAP
 * handler in zctx. On success *ret is owned by the caller (auth_destroy,
 * before zmq_ctx_term). */
int auth_new(void *zctx, const char *keys_dir, auth **ret, emc_err *err);

/* Make sock a CURVE server with our secret key, under the ZAP handler. */
int auth_server_socket(auth *a, void *sock);

/* Stop the handler; NULL-safe; sets *p = NULL. */
void auth_destroy(auth **p);


#endif
