/* keyfile.h — CURVE key files: one Z85-encoded 32-byte key per file.
 *
 * Used by the coordinator (its secret key, the allow-list of worker public
 * keys), by workers (their key pair and the coordinator's public key) and
 * by `emcctl keygen`.
 */
#ifndef EMC_KEYFILE_H
#define EMC_KEYFILE_H

#include "err.h"

#define EMC_KEY_Z85_LEN 40

/* Read a key file (40 Z85 characters, optional trailing newline) into
 * ret_z85 (41 bytes, NUL-terminated). Errors name the file. */
int emc_key_read(const char *path, char ret_z85[EMC_KEY_Z85_LEN + 1], emc_err *err);

/* Write a new key pair: dir/name.key (secret, mode 0600) and dir/name.pub
 * (0644). Refuses to overwrite. */
int emc_key_write_pair(const char *dir, const char *name, emc_err *err);

#endif
