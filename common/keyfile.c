/* keyfile.c — see keyfile.h. Keys are made by libzmq (zmq_curve_keypair)
 * and encoded in Z85, the form libzmq's socket options take. */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

int emc_key_read(const char *path, char ret_z85[EMC_KEY_Z85_LEN + 1], emc_err *err)
{
	char buf[EMC_KEY_Z85_LEN + 4];
	uint8_t bin[32];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return emc_err_set(err, errno, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n != EMC_KEY_Z85_LEN || !zmq_z85_decode(bin, buf))
		return emc_err_set(err, EINVAL, "%s: not a Z85-encoded 32-byte key (expected %d characters)", path,
				   EMC_KEY_Z85_LEN);
	memcpy(ret_z85, buf, EMC_KEY_Z85_LEN + 1);
	return 0;
}

static int write_file(const char *path, const char *text, mode_t mode, emc_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	size_t len = strlen(text);

	if (fd < 0)
		return emc_err_set(err, errno, "%s: %s", path, strerror(errno));
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
		int e = errno;

		close(fd);
		unlink(path);
		return emc_err_set(err, e ? e : EIO, "%s: write failed", path);
	}
	if (close(fd) < 0)
		return emc_err_set(err, errno, "%s: %s", path, strerror(errno));
	return 0;
}

int emc_key_write_pair(const char *dir, const char *name, emc_err *err)
{
	char pub[EMC_KEY_Z85_LEN + 1], sec[EMC_KEY_Z85_LEN + 1];
	char pub_path[4200], sec_path[4200];
	int r;

	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == '\0')
			return emc_err_set(err, EINVAL, "keygen: name '%s' must not contain '/'", name);
	if (!*name || strlen(name) > 128)
		return emc_err_set(err, EINVAL, "keygen: a name of 1 to 128 characters is needed");
	if (zmq_curve_keypair(pub, sec) != 0)
		return emc_err_set(err, errno, "keygen: %s", zmq_strerror(errno));
	snprintf(pub_path, sizeof pub_path, "%s/%s.pub", dir, name);
	snprintf(sec_path, sizeof sec_path, "%s/%s.key", dir, name);
	r = write_file(sec_path, sec, 0600, err);
	if (r < 0)
		return r;
	r = write_file(pub_path, pub, 0644, err);
	if (r < 0)
		unlink(sec_path);
	return r;
}

