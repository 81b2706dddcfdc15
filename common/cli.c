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
