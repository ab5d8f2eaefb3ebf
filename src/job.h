/* job.h — one photo through the pipeline in memory: bytes and options in, the encoded
 * headshot (with its XMP), its report and an exit status with a one-line reason out.
 *
 *   job_opts o;  job_opts_default(&o);
 *   job_option(&o, "preset", "portrait", why);     the command line's names and values
 *   job_finish(&o, why);                            what the preset imposes
 *   job_result r;  job_run(&models, bytes, n, "selfie.jpg", &o, &r, why);
 *   ... r.bytes[0..r.n) is the JPEG or PNG, r.report the JSON report ...
 *   job_result_free(&r);
 *
 * The one pipeline path of every command: `headshot serve` runs each request through here,
 * and the CLI's single photo, batch, --variants and --team read the file into memory, call
 * job_run (or job_run_variants) and write r.bytes and r.report where the command line says;
 * both hand each option to job_option.
 * Statuses are the exit statuses of status.h; nothing is printed and nothing touches a file.
 */
#ifndef JOB_H
#define JOB_H

#include "err.h"
#include "pipeline.h"

#include <stddef.h>

#define JOB_WHY HS_ERR            /* size of a failure's reason */
#define JOB_QUALITY 92            /* default JPEG quality, as the command line's */
#define JOB_LOOKS 6               /* looks of job_run_variants */

typedef struct {
    pl_opts pl;                   /* what the pipeline does */
    int format;                   /* IMG_JPEG / IMG_PNG; -1: JPEG, or PNG for a transparent backdrop */
    int quality;                  /* JPEG quality 1..100 */
    long long max_pixels;         /* input pixel limit */
    int set_background;           /* the user chose these (passports override them with a note) */
    int set_retouch;
    int set_enhance;
    char notes[3][JOB_WHY];       /* job_finish's notes: what a passport preset did not use */
    int n_notes;
} job_opts;

typedef struct {
    unsigned char *bytes;         /* the encoded headshot, malloc'ed */
    size_t n;
    img_format format;
    int w, h;                     /* its size */
    float identity;               /* descriptor distance photo -> headshot */
    int own_background;           /* 1: a crop of the photo with its own background (no frame
                                     kept the subject whole; frame_plan.inside) */
    char *report;                 /* meta_report_json, malloc'ed, NUL-terminated */
    size_t report_n;
    char *warnings;               /* the run's warnings, each ending in '\n', malloc'ed; NULL: none */
    double ms[PL_STAGES];         /* each stage's wall time, milliseconds (pl_result.ms) */
    double encode_ms;             /* encoding with the XMP and the report */
    team_measure team;            /* --team's numbers of the photo (pl_result.team) */
} job_result;

/* The looks of --variants, in the contact sheet's order. */
typedef struct {
    const char *name;             /* file suffix and the sheet's label */
    const char *background;       /* its backdrop, as --background */
    int light;                    /* 0: --light off */
} job_look;
extern const job_look job_looks[JOB_LOOKS];

/* linkedin, studio, ... (pl_opts_default), JPEG at JOB_QUALITY, IMG_MAX_PIXELS. */
void job_opts_default(job_opts *o);
/* One option by its command-line name without the dashes: preset, background, face, enhance,
 * light, white-balance, light-strength, retouch, size, label, force, keep-others, format,
 * quality, max-pixels. value is NULL for a flag given alone (job_option_is_flag: label, force,
 * keep-others; "1"/"on"/"true" and "0"/"off"/"false" also do). Returns 0, or HS_EUSAGE with
 * the command line's reason in why. */
int job_option(job_opts *o, const char *name, const char *value, char why[JOB_WHY]);
/* 1 if the option called name is a flag (it takes no value on the command line). */
int job_option_is_flag(const char *name);
/* After the options: what a passport preset imposes (with a note in o->notes for each choice
 * it overrides) and the checks across options. Returns 0, or HS_EUSAGE with why. */
int job_finish(job_opts *o, char why[JOB_WHY]);

/* The photo in[0..n) (name: what the report calls it) as one headshot. Returns HS_OK with r
 * filled, or a status of status.h with why (r->warnings and r->ms as far as the run went);
 * free r with job_result_free either way. A team's measuring shot (o->pl.team.measuring)
 * fills r->team and encodes nothing. */
int job_run(pl_models *m, const unsigned char *in, size_t n, const char *name, const job_opts *o, job_result *r,
            char why[JOB_WHY]);
/* The photo in the JOB_LOOKS looks of job_looks (o's background is not used; its light
 * applies to all but light-off), the networks run once (pl_run_variants). r[JOB_LOOKS]; sheet
 * (NULL: none) gets the contact sheet of the looks (sheet.h) with the first look's XMP. As for
 * job_run, free every r[k] and the sheet with job_result_free whatever the outcome. */
int job_run_variants(pl_models *m, const unsigned char *in, size_t n, const char *name, const job_opts *o,
                     job_result *r, job_result *sheet, char why[JOB_WHY]);
void job_result_free(job_result *r);
/* The exit status (status.h) of a pipeline error code (PL_E*). */
int job_status_of_pipeline(int pl_code);

#endif
