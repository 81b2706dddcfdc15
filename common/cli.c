/* cli.c — see cli.h. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>

int cli_long(const char *text, long min, long max, long *ret)
{
	char *end;
	long v;

	if (!text || !*text)
		return -EINVAL;
	errno = 0;
	v = strtol(text, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int cli_long_option(const char *name, const char *text, long min, long max, long *ret, emc_err *err)
{
	int r = cli_long(text, min, max, ret);

	if (r < 0)
		return emc_err_set(err, r, "--%s must be a whole number from %ld to %ld", name, min, max);
	return 0;
}
