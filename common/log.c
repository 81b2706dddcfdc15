/* log.c — stderr logging for the programs, and the two clocks.
 *
 * One write(2) per line so that lines of concurrent threads or of the
 * several processes `emcctl run` starts do not interleave mid-line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *log_component = "emc";
static enum emc_log_level log_level = EMC_LOG_INFO;

static const char *const level_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

void emc_log_init(const char *component)
{
	const char *env = getenv("EMC_LOG");

	log_component = component;
	if (!env)
		return;
	for (int i = EMC_LOG_DEBUG; i <= EMC_LOG_ERROR; i++)
		if (strcasecmp(env, level_names[i]) == 0)
			log_level = (enum emc_log_level)i;
}

void emc_log_set_level(enum emc_log_level level)
{
	log_level = level;
}

enum emc_log_level emc_log_get_level(void)
{
	return log_level;
}

void emc_log(enum emc_log_level level, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t len;
	va_list ap;

	if (level < log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	len = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
	len += (size_t)snprintf(line + len, sizeof line - len, ".%03ldZ %s %s: ",
				ts.tv_nsec / 1000000, log_component, level_names[level]);
	va_start(ap, fmt);
	if (len < sizeof line)
		vsnprintf(line + len, sizeof line - len, fmt, ap);
	va_end(ap);
	len = strlen(line);
	if (len >= sizeof line - 1)
		len = sizeof line - 2;
	line[len++] = '\n';
	if (write(STDERR_FILENO, line, len) < 0) {
		/* Nowhere left to report it. */
	}
}

int64_t emc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t emc_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
