/* testutil.h — small helpers shared by the cmocka unit tests. */
#ifndef EMC_TESTUTIL_H
#define EMC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* A fresh temporary directory for one test; removed by tmpdir_remove(). */
static inline char *tmpdir_new(void)
{
	char *dir = strdup("/tmp/emc-test-XXXXXX");

	assert_non_null(dir);
	assert_non_null(mkdtemp(dir));
	return dir;
}

static inline void tmpdir_remove(char **dir)
{
	char cmd[512];

	if (!*dir)
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", *dir);
	assert_int_equal(system(cmd), 0);
	free(*dir);
	*dir = NULL;
}

/* Write len bytes to dir/name; returns the malloc'd full path. */
static inline char *write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char *path = malloc(strlen(dir) + strlen(name) + 2);
	FILE *f;

	assert_non_null(path);
	sprintf(path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Assert that haystack contains needle, printing both when it does not. */
#define assert_contains(haystack, needle)                                                        \
	do {                                                                                     \
		const char *h_ = (haystack), *n_ = (needle);                                     \
		if (!strstr(h_, n_))                                                             \
			fail_msg("expected \"%s\" to contain \"%s\"", h_, n_);                   \
	} while (0)

#endif
