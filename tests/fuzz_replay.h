/* fuzz_replay.h — the main() of a fuzz target built without libFuzzer.
 *
 * A target built with -DEMC_FUZZ_LIBFUZZER is driven by libFuzzer. Built
 * without it, it includes this file and calls fuzz_replay_main(): every
 * file given, or every regular file in each directory given (sorted by
 * name, dot files skipped), is read whole and passed to
 * LLVMFuzzerTestOneInput once, so that the plain and sanitized builds run
 * the seed corpus as a regression test. The run is one TAP check; a broken
 * invariant aborts inside the target, which fails the test with the file
 * named on stderr (-v names every file as it starts). With --write-seeds
 * DIR and a seed writer, the target writes its seed corpus instead.
 *
 * Inputs larger than FUZZ_REPLAY_MAX_BYTES are refused rather than cut:
 * libFuzzer would pass them whole, so a cut one would replay something
 * else.
 */
#ifndef EMC_FUZZ_REPLAY_H
#define EMC_FUZZ_REPLAY_H

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FUZZ_REPLAY_MAX_BYTES ((size_t)4 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fuzz_replay_verbose;

static int fuzz_replay_file(const char *name, const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t len;

	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", name, path, strerror(errno));
		return -1;
	}
	buf = malloc(FUZZ_REPLAY_MAX_BYTES + 1);
	if (!buf) {
		fclose(f);
		fprintf(stderr, "%s: %s: out of memory\n", name, path);
		return -1;
	}
	len = fread(buf, 1, FUZZ_REPLAY_MAX_BYTES + 1, f);
	fclose(f);
	if (len > FUZZ_REPLAY_MAX_BYTES) {
		free(buf);
		fprintf(stderr, "%s: %s: larger than %zu bytes\n", name, path, FUZZ_REPLAY_MAX_BYTES);
		return -1;
	}
	if (fuzz_replay_verbose)
		fprintf(stderr, "%s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int fuzz_replay_path(const char *name, const char *path, int *count)
{
	struct dirent **names;
	struct stat st;
	int n, r = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s: %s\n", name, path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (fuzz_replay_file(name, path) < 0)
			return -1;
		(*count)++;
		return 0;
	}
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s: %s\n", name, path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char child[4096];

		snprintf(child, sizeof child, "%s/%s", path, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(child, &st) == 0 && S_ISREG(st.st_mode)) {
			if (fuzz_replay_file(name, child) < 0)
				r = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return r;
}

/* The whole main(): `name` prefixes messages and the TAP line;
 * write_seeds may be NULL (a corpus of hand-written files only). */
static int fuzz_replay_main(int argc, char **argv, const char *name, int (*write_seeds)(const char *dir))
{
	int count = 0, first = 1, r = 0;

	if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0 && write_seeds)
		return write_seeds(argv[2]) < 0 ? 1 : 0;
	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		fuzz_replay_verbose = true;
		first = 2;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: %s [-v] FILE|DIR...\n", name);
		if (write_seeds)
			fprintf(stderr, "       %s --write-seeds DIR\n", name);
		return 2;
	}
	printf("1..1\n");
	fflush(stdout);
	for (int i = first; i < argc; i++)
		if (fuzz_replay_path(name, argv[i], &count) < 0)
			r = -1;
	printf("%s 1 - %s: %d input(s) replayed without a crash\n", r == 0 && count > 0 ? "ok" : "not ok", name,
	       count);
	return r == 0 && count > 0 ? 0 : 1;
}

#endif
