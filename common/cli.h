/* cli.h — command-line numbers, checked.
 *
 * atoi() turns "abc" into 0 and "9999999999" into garbage; the programs'
 * numeric options go through here instead, so a typo gets a clear error.
 */
#ifndef EMC_CLI_H
#define EMC_CLI_H

#include "err.h"

/* Parse a whole decimal integer in [min, max]. 0 on success; -EINVAL for
 * text that is not one integer, -ERANGE for one out of range. */
int cli_long(const char *text, long min, long max, long *ret);

/* cli_long for the option --name, with the message a user should read:
 * "--name must be a whole number from MIN to MAX". */
int cli_long_option(const char *name, const char *text, long min, long max, long *ret, emc_err *err);

#endif
