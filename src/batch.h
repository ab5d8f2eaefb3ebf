/* batch.h — many photos in one run: the list of inputs, their output names, worker processes,
 * progress on stderr and the closing summary.
 *
 *   batch_item *it;  int n;
 *   batch_collect(paths, np, "out", "jpg", &it, &n, err);      files, and directories' photos
 *   batch_run(it, n, &worker, &opts, err);                     every pending item, in workers
 *   batch_summary(it, n, stderr);                              "12 done, 2 failed: ..."
 *   batch_free(it, n);
 *
 * The caller's worker callbacks do the work (open the networks, make one headshot); this
 * module only schedules and reports. A failed item never stops the others: its exit code and
 * reason are kept for the summary.
 *
 * Parallel files (jobs > 1) run in forked worker processes, each with its own networks: a
 * process per worker keeps a crash to one file, and measured faster than worker threads with
 * a runtime each (docs/ARCHITECTURE.md, "Not yet as it should be"). The parent must not have
 * started its pool's threads before it forks (it does not run networks in that case; a pool
 * starts its threads with its first loop); jobs = 1 runs in the calling process.
 */
#ifndef BATCH_H
#define BATCH_H

#include "err.h"
#include <stdio.h>

#define BATCH_ERR HS_ERR          /* size of error-message buffers */
#define BATCH_DATA 8              /* numbers a run hands back to the caller (team measurements) */
#define BATCH_NOTE 1024           /* warnings of one run, one per line */
#define BATCH_PENDING (-1)        /* batch_item.rc of an item not run yet */
#define BATCH_MAX_JOBS 64

typedef struct {
    char *in;                     /* input path (malloc'ed) */
    char *out;                    /* output path (malloc'ed) */
    const char *name;             /* the input's base name, for progress and the summary (in in) */
    int rc;                       /* exit code of its run (0 = done), BATCH_PENDING before */
    char why[BATCH_ERR];          /* the failure's reason, "" when done */
    char note[BATCH_NOTE];        /* warnings to show with it, lines ending in '\n' */
    double ms;                    /* wall time of its run, milliseconds */
    float data[BATCH_DATA];       /* the run's numbers for the caller */
} batch_item;

/* Reports that the run of the current item enters stage name (a short word). */
typedef void (*batch_stage_fn)(void *progress, const char *name);

typedef struct {
    /* Once per worker, before its first item: load the networks. 0, or an exit code with err
     * (the batch stops: nothing could run). */
    int (*open)(void *ctx, char err[BATCH_ERR]);
    /* One item: returns its exit code (0 = done), it->why on failure; may fill it->note and
     * it->data; calls stage(progress, name) as stages begin. */
    int (*run)(void *ctx, batch_item *it, batch_stage_fn stage, void *progress);
    void (*close)(void *ctx);
    void *ctx;
} batch_worker;

typedef struct {
    int jobs;                     /* files at a time, 1..BATCH_MAX_JOBS */
    int quiet;                    /* 1: only failures */
    const char *verb;             /* what success is called in progress lines: "done", "measured" */
} batch_opts;

/* The inputs of paths[0..np): a directory gives its JPEG and PNG files (by extension, any
 * case, hidden files skipped), sorted by name; anything else is taken as given (a missing or
 * bad file fails when it runs). Outputs are outdir/BASE.ext, BASE the input's name without
 * its extension; when two inputs would share an output, the later ones get "-2", "-3", ...
 * Returns 0, or -1 with err (no photos at all, a directory that cannot be read, out of
 * memory). */
int batch_collect(char *const *paths, int np, const char *outdir, const char *ext, batch_item **items,
                  int *n, char err[BATCH_ERR]);
void batch_free(batch_item *items, int n);

/* Runs every item whose rc is BATCH_PENDING, o->jobs at a time, showing progress on stderr:
 * a bar redrawn in place when stderr is a terminal, else one line per file. Returns the
 * number of items that failed in this call, or -1 with err when no worker could open (the
 * exit code is then in *fatal). */
int batch_run(batch_item *items, int n, const batch_worker *w, const batch_opts *o, int *fatal,
              char err[BATCH_ERR]);

/* "N done, M failed: a.jpg (reason), ..." and a newline on f. */
void batch_summary(const batch_item *items, int n, FILE *f);

#endif
