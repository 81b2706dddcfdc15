/* auth.c — the ZAP handler that keeps strangers off the worker socket.
 *
 * A thread owns a REP socket bound to inproc://zeromq.zap.01 in the
 * coordinator's ZeroMQ context; libzmq asks it about every CURVE handshake
 * on a socket with a ZAP domain. The reply is "200" when the client's
 * public key is in the allow-list directory, "400" otherwise (and the
 * refusal is logged with the peer's address). Requests are parsed
 * defensively: they come from libzmq, but carry a stranger's bytes.
 *
 * The thread stops when auth_destroy() sends it a word over an inproc PAIR;
 * it never blocks anywhere else, so stopping is prompt.
 */
#include "auth.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "keyfile.h"
#include "log.h"

#define ZAP_ENDPOINT  "inproc://zeromq.zap.01"
#define ZAP_DOMAIN    "emc"
#define STOP_ENDPOINT "inproc://emc-auth-stop"
#define ZAP_FRAMES    7

struct auth {
	void *zctx;
	char keys_dir[4096];
	char secret_z85[EMC_KEY_Z85_LEN + 1];
	void *zap;     /* REP, owned by the thread once it runs */
	void *stop_tx; /* PAIR, main side */
	void *stop_rx; /* PAIR, thread side */
	pthread_t thread;
	bool running;
};

/* Is the Z85 form of this 32-byte key in the allow-list directory? */
static bool key_allowed(const char *keys_dir, const uint8_t *key)
{
	char want[EMC_KEY_Z85_LEN + 1], dirpath[4200], path[4600], have[EMC_KEY_Z85_LEN + 1];
	struct dirent *de;
	bool found = false;
	int seen = 0;
	DIR *d;

	if (!zmq_z85_encode(want, key, 32))
		return false;
	snprintf(dirpath, sizeof dirpath, "%s/workers", keys_dir);
	d = opendir(dirpath);
	if (!d)
		return false;
	while (!found && (de = readdir(d)) && seen++ < AUTH_MAX_KEYS) {
		size_t len = strlen(de->d_name);
		emc_err err;

		if (len < 5 || strcmp(de->d_name + len - 4, ".pub") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dirpath, de->d_name);
		if (emc_key_read(path, have, &err) == 0 && strcmp(have, want) == 0)
			found = true;
	}
	closedir(d);
	return found;
}

/* Answer one ZAP request (RFC 27). */
static void zap_handle(auth *a)
{
	zmq_msg_t frames[ZAP_FRAMES];
	int n = 0, more = 1;
	const char *status = "400", *text = "not allowed";
	char address[64] = "?";
	char user[EMC_KEY_Z85_LEN + 1] = "";
	bool ok = false;

	while (more && n < ZAP_FRAMES) {
		zmq_msg_init(&frames[n]);
		if (zmq_msg_recv(&frames[n], a->zap, 0) < 0) {
			zmq_msg_close(&frames[n]);
			goto out;
		}
		more = zmq_msg_more(&frames[n]);
		n++;
	}
	while (more) { /* more frames than a request has: drain them */
		zmq_msg_t junk;

		zmq_msg_init(&junk);
		if (zmq_msg_recv(&junk, a->zap, 0) < 0) {
			zmq_msg_close(&junk);
			break;
		}
		more = zmq_msg_more(&junk);
		zmq_msg_close(&junk);
	}
	/* version, request id, domain, address, identity, mechanism, key */
	if (n >= 6) {
		size_t alen = zmq_msg_size(&frames[3]);

		if (alen >= sizeof address)
			alen = sizeof address - 1;
		memcpy(address, zmq_msg_data(&frames[3]), alen);
		address[alen] = '\0';
	}
	if (n == ZAP_FRAMES && zmq_msg_size(&frames[0]) == 3 && memcmp(zmq_msg_data(&frames[0]), "1.0", 3) == 0 &&
	    zmq_msg_size(&frames[5]) == 5 && memcmp(zmq_msg_data(&frames[5]), "CURVE", 5) == 0 &&
	    zmq_msg_size(&frames[6]) == 32) {
		ok = key_allowed(a->keys_dir, zmq_msg_data(&frames[6]));
		if (ok) {
			status = "200";
			text = "OK";
		} else {
			char z85[EMC_KEY_Z85_LEN + 1] = "?";

			zmq_z85_encode(z85, zmq_msg_data(&frames[6]), 32);
			log_warn("refused a worker from %s: its key %s is not in %s/workers", address, z85,
				 a->keys_dir);
		}
	} else {
		log_warn("refused a peer from %s: not a CURVE handshake", address);
	}
	/* Reply: version, request id, status code, status text, user id,
	 * metadata. The user id is the key in Z85: every message of the
	 * connection carries it (zmq_msg_gets "User-Id"), so the scheduler
	 * knows which key a worker session speaks with. */
	zmq_send(a->zap, "1.0", 3, ZMQ_SNDMORE);
	if (n >= 2)
		zmq_send(a->zap, zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]), ZMQ_SNDMORE);
	else
		zmq_send(a->zap, "", 0, ZMQ_SNDMORE);
	zmq_send(a->zap, status, 3, ZMQ_SNDMORE);
	zmq_send(a->zap, text, strlen(text), ZMQ_SNDMORE);
	if (ok)
		zmq_z85_encode(user, zmq_msg_data(&frames[6]), 32);
	zmq_send(a->zap, user, strlen(user), ZMQ_SNDMORE);
	zmq_send(a->zap, "", 0, 0);
out:
	for (int i = 0; i < n; i++)
		zmq_msg_close(&frames[i]);
}

static void *zap_main(void *arg)
{
	auth *a = arg;

	for (;;) {
		zmq_pollitem_t items[2] = {{.socket = a->zap, .events = ZMQ_POLLIN},
					   {.socket = a->stop_rx, .events = ZMQ_POLLIN}};

		if (zmq_poll(items, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (items[1].revents & ZMQ_POLLIN)
			break;
		if (items[0].revents & ZMQ_POLLIN)
			zap_handle(a);
	}
	zmq_close(a->zap);
	zmq_close(a->stop_rx);
	return NULL;
}

int auth_new(void *zctx, const char *keys_dir, auth **ret, emc_err *err)
{
	auth *a = calloc(1, sizeof *a);
	char path[4200];
	struct stat st;
	int linger = 0, r;

	if (!a)
		return emc_err_set(err, ENOMEM, "auth: out of memory");
	a->zctx = zctx;
	if (strlen(keys_dir) >= sizeof a->keys_dir) {
		r = emc_err_set(err, ENAMETOOLONG, "auth: --keys path too long");
		goto fail;
	}
	snprintf(a->keys_dir, sizeof a->keys_dir, "%s", keys_dir);
	snprintf(path, sizeof path, "%s/coordinator.key", keys_dir);
	r = emc_key_read(path, a->secret_z85, err);
	if (r < 0)
		goto fail;
	snprintf(path, sizeof path, "%s/workers", keys_dir);
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		r = emc_err_set(err, ENOENT, "%s: the allow-list directory of worker keys is missing", path);
		goto fail;
	}
	a->zap = zmq_socket(zctx, ZMQ_REP);
	a->stop_rx = zmq_socket(zctx, ZMQ_PAIR);
	a->stop_tx = zmq_socket(zctx, ZMQ_PAIR);
	if (!a->zap || !a->stop_rx || !a->stop_tx) {
		r = emc_err_set(err, errno, "auth: %s", zmq_strerror(errno));
		goto fail;
	}
	zmq_setsockopt(a->zap, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(a->stop_tx, ZMQ_LINGER, &linger, sizeof linger);
	if (zmq_bind(a->zap, ZAP_ENDPOINT) < 0 || zmq_bind(a->stop_rx, STOP_ENDPOINT) < 0 ||
	    zmq_connect(a->stop_tx, STOP_ENDPOINT) < 0) {
		r = emc_err_set(err, errno, "auth: cannot start the ZAP handler: %s", zmq_strerror(errno));
		goto fail;
	}
	if (pthread_create(&a->thread, NULL, zap_main, a) != 0) {
		r = emc_err_set(err, EAGAIN, "auth: cannot start the ZAP thread");
		goto fail;
	}
	a->running = true;
	*ret = a;
	return 0;
fail:
	if (a->zap)
		zmq_close(a->zap);
	if (a->stop_rx)
		zmq_close(a->stop_rx);
	if (a->stop_tx)
		zmq_close(a->stop_tx);
	free(a);
	return r;
}

int auth_server_socket(auth *a, void *sock)
{
	int one = 1;

	if (zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN, strlen(ZAP_DOMAIN)) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, a->secret_z85, EMC_KEY_Z85_LEN) < 0) {
		log_error("cannot make the worker socket a CURVE server: %s", zmq_strerror(errno));
		return -errno;
	}
	return 0;
}

void auth_destroy(auth **p)
{
	auth *a = *p;

	if (!a)
		return;
	if (a->running) {
		zmq_send(a->stop_tx, "", 0, 0);
		pthread_join(a->thread, NULL);
	}
	zmq_close(a->stop_tx);
	free(a);
	*p = NULL;
}
