/* err.h — an error message that travels back to the caller who logs it.
 *
 * Libraries in emc do not log. A function that can fail for a reason the
 * user must read (a spec key, a file offset, a peer's bytes) returns a
 * negative errno value and writes one human sentence into an emc_err that
 * the caller passed in. The first caller that cannot pass the error on logs
 * it once. The message names the file, line, key or offset involved.
 */
#ifndef EMC_ERR_H
#define EMC_ERR_H

#include <stdarg.h>
#include <stdio.h>

#define EMC_ERR_MAX 512

typedef struct emc_err {
	char msg[EMC_ERR_MAX];
} emc_err;

/* Write a message into err (NULL-safe) and return -errnum, so that
 * `return emc_err_set(err, -EINVAL, "...")` is the usual idiom. errnum
 * may be given as positive or negative; the result is always <= 0. */
__attribute__((format(printf, 3, 4))) static inline int
emc_err_set(emc_err *err, int errnum, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return errnum > 0 ? -errnum : errnum;
}

static inline void emc_err_clear(emc_err *err)
{
	if (err)
		err->msg[0] = '\0';
}

#endif
