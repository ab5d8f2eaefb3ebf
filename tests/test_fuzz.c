/* test_fuzz.c — every saved fuzz input, through the fuzz targets, in the normal build.
 *
 * tests/fuzz/regress/NAME/ holds the inputs that once crashed or broke a promise of target
 * NAME (each fixed at its root, docs/SECURITY.md says where), and tests/fuzz/corpus/NAME/ its
 * seeds. The targets (tests/fuzz/fuzz_*.c) check the contract themselves and abort when it is
 * broken; here they are plain functions (FUZZ_REGRESS), so this needs no clang, and `make
 * asan` runs the same inputs under the sanitizers. */
#define FUZZ_REGRESS
#include "test.h"
#include "fuzz/fuzz_cli.c"
#include "fuzz/fuzz_img.c"
#include "fuzz/fuzz_meta.c"
#include "fuzz/fuzz_weights.c"

#include <dirent.h>

static const struct {
    const char *name;
    int (*run)(const uint8_t *data, size_t size);
} fuzz_targets[] = {{"cli", fuzz_cli}, {"img", fuzz_img}, {"meta", fuzz_meta}, {"weights", fuzz_weights}};

/* Feeds every file of dir to run; returns how many (0 when there is no such dir). */
static int run_dir(const char *dir, const char *name, int (*run)(const uint8_t *, size_t)) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        rewind(f);
        unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
        size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
        fclose(f);
        if (buf && got == (size_t)n) run(buf, got);   /* returns only if the contract held */
        CHECK(buf && got == (size_t)n, "fuzz %s: %s handled", name, path);
        free(buf);
        files++;
    }
    closedir(d);
    return files;
}

int main(void) {
    for (size_t t = 0; t < sizeof fuzz_targets / sizeof fuzz_targets[0]; t++) {
        const char *name = fuzz_targets[t].name;
        char dir[128];
        snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", name);
        int seeds = run_dir(dir, name, fuzz_targets[t].run);
        snprintf(dir, sizeof dir, "tests/fuzz/regress/%s", name);
        int regress = run_dir(dir, name, fuzz_targets[t].run);
        CHECK(seeds > 0, "fuzz %s: %d seeds and %d saved inputs kept their contract", name, seeds, regress);
    }
    return test_done();
}
