/* test.h — the smallest test harness that tells the truth.
 *
 * Each tests/test_*.c is its own program. A check prints "ok - what" or "not ok - what: why";
 * tests/run.sh counts those lines over all programs and prints "N passed, N failed".
 * A program that crashes or exits non-zero without printing counts as a failure too.
 */
#ifndef TEST_H
#define TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

static int test__failed;

/* CHECK(cond, "name", "printf format for the measured values", ...) */
#define CHECK(cond, ...) test__report(!!(cond), #cond, __FILE__, __LINE__, __VA_ARGS__)

static void test__report(int ok, const char *expr, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#include <stdarg.h>
static void test__report(int ok, const char *expr, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf(ok ? "ok - " : "not ok - ");
    vprintf(fmt, ap);
    if (!ok) printf("  [%s:%d: %s]", file, line, expr);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (!ok) test__failed++;
}

/* Where the devset and repository test data live, relative to the repository root. */
#define TEST_DATA "tests/data/"

static int test_done(void) { return test__failed ? 1 : 0; }

/* The whole file at path, malloc'ed, its size in *n; NULL (and *n = 0) when it cannot be read. */
static inline unsigned char *test_slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    *n = 0;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long len = ftell(f);
        rewind(f);
        if (len > 0 && (b = malloc((size_t)len)) && fread(b, 1, (size_t)len, f) == (size_t)len) *n = (size_t)len;
    }
    fclose(f);
    return b;
}
#endif
