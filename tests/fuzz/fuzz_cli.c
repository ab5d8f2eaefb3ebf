/* fuzz_cli.c — the command-line parser of src/headshot.c: global options (hs_globals), the
 * main job's options (hs_parse, which hands the pipeline's to job_option) and what the preset
 * imposes (job_finish; hs_run reads an image backdrop first, so not for those). The input is the
 * argument list, NUL-separated. Nothing runs: the parsers are reached by including the file
 * with its main renamed, so headshot.c needs no hook. Files named in arguments are only
 * stat()ed by the parser; errors go to stderr (run the fuzzer with -close_fd_mask=2). */
#include "fuzz.h"

#define main headshot_main
#include "../../src/headshot.c"
#undef main

#define FUZZ_CLI_ARGS 64

FUZZ_TARGET(cli) {
    static char buf[4096];
    char *argv[FUZZ_CLI_ARGS + 2];
    if (size >= sizeof buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    int argc = 0;
    argv[argc++] = "headshot";
    for (char *p = buf; p <= buf + size && argc <= FUZZ_CLI_ARGS; p += strlen(p) + 1) argv[argc++] = p;
    argv[argc] = NULL;

    hs_global g;
    int n = hs_globals(argc, argv, &g);
    nn_trace_all(0);
    if (n < 0) return 0;
    FUZZ_ASSERT(n <= argc && !argv[n], "global options: argument list not ended");
    hs_opts o;
    int rc = hs_parse(n, argv, &o);
    char why[JOB_WHY];
    if (rc == HS_OK && o.job.pl.background.kind != COMPOSE_IMAGE) rc = job_finish(&o.job, why);
    FUZZ_ASSERT(rc == HS_OK || rc == HS_EUSAGE, "parser: unexpected status");
    if (rc != HS_OK) return 0;
    FUZZ_ASSERT(o.input && o.output && o.n_inputs >= 1 && o.n_inputs < n, "accepted without input or output");
    FUZZ_ASSERT(o.job.format == IMG_JPEG || o.job.format == IMG_PNG, "accepted without an output format");
    FUZZ_ASSERT(o.job.quality >= 1 && o.job.quality <= 100 && o.jobs >= 1 && o.job.max_pixels >= 1, "option out of range");
    FUZZ_ASSERT(o.job.pl.background.kind != COMPOSE_IMAGE || (o.job.pl.background.file && o.job.pl.background.file[0]),
                "image backdrop without a file");
    return 0;
}
