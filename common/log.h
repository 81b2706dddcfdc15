/* log.h — the programs' one way to say something on stderr.
 *
 * Only programs log (emc-coordinator, emc-worker, emcctl); libraries return
 * errors. Lines look like `2026-11-29T10:00:00.123Z coordinator INFO: ...`.
 * The level below which lines are dropped is process-wide and set once at
 * start-up from --verbose / --quiet or EMC_LOG=debug|info|warn|error.
 */
#ifndef EMC_LOG_H
#define EMC_LOG_H

#include <stdint.h>

enum emc_log_level { EMC_LOG_DEBUG = 0, EMC_LOG_INFO, EMC_LOG_WARN, EMC_LOG_ERROR };

/* Name this process's lines (e.g. "coordinator", "worker") and read EMC_LOG. */
void emc_log_init(const char *component);
void emc_log_set_level(enum emc_log_level level);
enum emc_log_level emc_log_get_level(void);

__attribute__((format(printf, 2, 3))) void emc_log(enum emc_log_level level, const char *fmt, ...);

#define log_debug(...) emc_log(EMC_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) emc_log(EMC_LOG_INFO, __VA_ARGS__)
#define log_warn(...) emc_log(EMC_LOG_WARN, __VA_ARGS__)
#define log_error(...) emc_log(EMC_LOG_ERROR, __VA_ARGS__)

/* The one clock for everything that times out: CLOCK_MONOTONIC in ms. */
int64_t emc_now_ms(void);
/* Wall-clock time in ms since the epoch, for display and records only. */
int64_t emc_wall_ms(void);

#endif
