/* job.c — one photo through the pipeline in memory (job.h). */
#include "job.h"

#include "sheet.h"
#include "status.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const job_look job_looks[JOB_LOOKS] = {
    {"studio", "studio", 1}, {"studio-blue", "studio-blue", 1}, {"studio-warm", "studio-warm", 1},
    {"white", "white", 1},   {"blur", "blur", 1},               {"light-off", "studio", 0},
};

void job_opts_default(job_opts *o) {
    memset(o, 0, sizeof *o);
    pl_opts_default(&o->pl);
    o->format = -1, o->quality = JOB_QUALITY, o->max_pixels = IMG_MAX_PIXELS;
}

/* A whole number in lo..hi, or HS_EUSAGE with the command line's reason. */
static int job__int(const char *name, const char *v, long long lo, long long hi, long long *out, char why[JOB_WHY]) {
    char *end;
    errno = 0;
    long long n = v ? strtoll(v, &end, 10) : 0;
    if (!v || errno || end == v || *end || n < lo || n > hi)
        return snprintf(why, JOB_WHY, "--%s must be a whole number from %lld to %lld, not '%s'", name, lo, hi, v ? v : ""),
               HS_EUSAGE;
    *out = n;
    return HS_OK;
}

static int job__unit(const char *name, const char *v, float *out, char why[JOB_WHY]) {
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || errno || end == v || *end || !(x >= 0 && x <= 1))
        return snprintf(why, JOB_WHY, "--%s must be a number from 0 to 1, not '%s'", name, v ? v : ""), HS_EUSAGE;
    *out = (float)x;
    return HS_OK;
}

/* A flag: NULL or "" (given alone), 1/on/true, 0/off/false. */
static int job__flag(const char *name, const char *v, int *out, char why[JOB_WHY]) {
    if (!v || !*v || !strcmp(v, "1") || !strcmp(v, "on") || !strcmp(v, "true")) return *out = 1, HS_OK;
    if (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "false")) return *out = 0, HS_OK;
    return snprintf(why, JOB_WHY, "--%s takes no value (or on/off), not '%s'", name, v), HS_EUSAGE;
}

/* Picks value v out of the NULL-terminated names, or -1. */
static int job__pick(const char *v, const char *const *names) {
    for (int i = 0; v && names[i]; i++)
        if (!strcmp(v, names[i])) return i;
    return -1;
}

int job_option_is_flag(const char *name) {
    return !strcmp(name, "label") || !strcmp(name, "force") || !strcmp(name, "keep-others");
}

int job_option(job_opts *o, const char *name, const char *v, char why[JOB_WHY]) {
    static const char *const enhance[] = {"auto", "off", "fast", "best", NULL}, *const light[] = {"off", "auto", NULL},
                      *const formats[] = {"jpeg", "png", "jpg", NULL};
    long long n;
    int k;
    if (!job_option_is_flag(name) && !v) return snprintf(why, JOB_WHY, "option --%s needs a value", name), HS_EUSAGE;
    if (!strcmp(name, "preset")) {
        if ((k = frame_preset_find(v)) < 0)
            return snprintf(why, JOB_WHY, "--preset must be linkedin, portrait, passport-eu or passport-us, not '%s'", v), HS_EUSAGE;
        o->pl.preset = (frame_preset)k;
    } else if (!strcmp(name, "background")) {
        char err[COMPOSE_ERR];
        if (compose_parse(v, &o->pl.background, err)) return snprintf(why, JOB_WHY, "%s", err), HS_EUSAGE;
        o->set_background = 1;
    } else if (!strcmp(name, "face")) {
        if (job__int(name, v, 0, PL_MAX_FACES - 1, &n, why)) return HS_EUSAGE;
        o->pl.face = (int)n;
    } else if (!strcmp(name, "enhance")) {
        if ((k = job__pick(v, enhance)) < 0)
            return snprintf(why, JOB_WHY, "--enhance must be auto, off, fast or best, not '%s'", v), HS_EUSAGE;
        o->pl.enhance = (pl_enhance)k;
        o->set_enhance = k != PL_ENHANCE_OFF;
    } else if (!strcmp(name, "light")) {
        if ((k = job__pick(v, light)) < 0) return snprintf(why, JOB_WHY, "--light must be auto or off, not '%s'", v), HS_EUSAGE;
        o->pl.light = k;
    } else if (!strcmp(name, "white-balance")) {
        if ((k = job__pick(v, light)) < 0)
            return snprintf(why, JOB_WHY, "--white-balance must be auto or off, not '%s'", v), HS_EUSAGE;
        o->pl.white_balance = k;
    } else if (!strcmp(name, "keep-others")) {
        return job__flag(name, v, &o->pl.keep_others, why);
    } else if (!strcmp(name, "light-strength")) {
        return job__unit(name, v, &o->pl.light_strength, why);
    } else if (!strcmp(name, "retouch")) {
        if (job__unit(name, v, &o->pl.retouch, why)) return HS_EUSAGE;
        o->set_retouch = o->pl.retouch > 0;
    } else if (!strcmp(name, "size")) {
        char *x;
        long w = strtol(v, &x, 10), h = *x == 'x' ? strtol(x + 1, &x, 10) : 0;
        if (*x || w < 64 || h < 64 || w > 8192 || h > 8192)
            return snprintf(why, JOB_WHY, "--size must be WIDTHxHEIGHT, each 64 to 8192 pixels, not '%s'", v), HS_EUSAGE;
        o->pl.width = (int)w, o->pl.height = (int)h;
    } else if (!strcmp(name, "label")) {
        return job__flag(name, v, &o->pl.label, why);
    } else if (!strcmp(name, "force")) {
        return job__flag(name, v, &o->pl.force, why);
    } else if (!strcmp(name, "format")) {
        if ((k = job__pick(v, formats)) < 0) return snprintf(why, JOB_WHY, "--format must be jpeg or png, not '%s'", v), HS_EUSAGE;
        o->format = k == 1 ? IMG_PNG : IMG_JPEG;
    } else if (!strcmp(name, "quality")) {
        if (job__int(name, v, 1, 100, &n, why)) return HS_EUSAGE;
        o->quality = (int)n;
    } else if (!strcmp(name, "max-pixels")) {
        if (job__int(name, v, 1, 1000000000000LL, &n, why)) return HS_EUSAGE;
        o->max_pixels = n;
    } else {
        return snprintf(why, JOB_WHY, "unknown option '--%.60s'", name), HS_EUSAGE;
    }
    return HS_OK;
}

int job_finish(job_opts *o, char why[JOB_WHY]) {
    const frame_spec *s = frame_spec_get(o->pl.preset);
    o->n_notes = 0;
    if (o->pl.width && s->passport) return snprintf(why, JOB_WHY, "--size: passport photos have their fixed print size"), HS_EUSAGE;
    if (s->passport) {
        compose_bg asked = o->pl.background;
        pl_opts_apply_preset(&o->pl);
        char want[64], had[META_TEXT];
        compose_name(&o->pl.background, want, sizeof want), compose_name(&asked, had, sizeof had);
        if (o->set_background && strcmp(want, had))
            snprintf(o->notes[o->n_notes++], JOB_WHY, "%s requires a %s background; --background %.40s is not used", s->name,
                     want, had);
        if (o->set_retouch) snprintf(o->notes[o->n_notes++], JOB_WHY, "passport photos are not retouched; --retouch is not used");
        if (o->set_enhance)
            snprintf(o->notes[o->n_notes++], JOB_WHY, "passport photos get no generative upscaling; --enhance is not used");
    }
    if (o->pl.background.kind == COMPOSE_IMAGE && !o->pl.background.picture)
        return snprintf(why, JOB_WHY, "--background image:FILE: the picture is not loaded"), HS_EUSAGE;
    if (o->pl.background.kind == COMPOSE_TRANSPARENT && o->format == IMG_JPEG)
        return snprintf(why, JOB_WHY, "--background transparent needs a PNG output (-o NAME.png, or --format png)"), HS_EUSAGE;
    if (o->format < 0) o->format = o->pl.background.kind == COMPOSE_TRANSPARENT ? IMG_PNG : IMG_JPEG;
    return HS_OK;
}

static double job__now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* The "load" stage from memory (pl_load reads a file): decode, record the input. */
static int job__load(const unsigned char *in, size_t n, const char *name, const job_opts *o, img_rgb *photo,
                     pl_result *r, meta_history *h, char why[JOB_WHY]) {
    double t0 = job__now();
    img_load_opts lo = {o->max_pixels, 0};
    char err[IMG_ERR];
    int rc = img_load_memory(photo, in, n, &lo, err);
    if (rc) return snprintf(why, JOB_WHY, "%s", err), hs_status_of_image(rc);
    meta_input_bytes(h, name, in, n, photo->w, photo->h);
    r->ms[PL_LOAD] = job__now() - t0;
    return HS_OK;
}

int job_status_of_pipeline(int pl_code) {
    switch (pl_code) {
    case PL_ENOFACE: return HS_ENOFACE;
    case PL_EFACE: return HS_EUSAGE;
    case PL_EIDENTITY: return HS_EIDENTITY;
    case PL_EROOM: return HS_EROOM;
    default: return HS_EINTERNAL;
    }
}

/* What the CLI shows of a run, whatever its outcome: warnings, times, the team's numbers. */
static int job__record(const pl_result *pr, const meta_history *h, job_result *out, char why[JOB_WHY]) {
    memcpy(out->ms, pr->ms, sizeof out->ms);
    out->team = pr->team;
    size_t len = 0;
    for (int i = 0; i < h->n_warnings; i++) len += strlen(h->warnings[i]) + 1;
    if (!len) return HS_OK;
    if (!(out->warnings = malloc(len + 1))) return snprintf(why, JOB_WHY, "out of memory"), HS_EINTERNAL;
    out->warnings[0] = '\0';
    for (int i = 0, at = 0; i < h->n_warnings; i++) at += sprintf(out->warnings + at, "%s\n", h->warnings[i]);
    return HS_OK;
}

/* The image im with h's XMP, encoded into out, and h's report. */
static int job__encode(const job_opts *o, const img_rgb *im, meta_history *h, job_result *out, char why[JOB_WHY]) {
    char err[META_ERR > IMG_ERR ? META_ERR : IMG_ERR];
    unsigned char *xmp = NULL;
    size_t xmp_n = 0;
    double t0 = job__now();
    out->format = (img_format)o->format, out->w = im->w, out->h = im->h;
    meta_output(h, im->w, im->h, out->format);
    if (meta_xmp_block(h, out->format, &xmp, &xmp_n, err)) return snprintf(why, JOB_WHY, "%s", err), HS_EINTERNAL;
    int rc = img_encode(im, out->format, o->quality, xmp, xmp_n, &out->bytes, &out->n, err);
    free(xmp);
    if (rc) return snprintf(why, JOB_WHY, "%s", err), hs_status_of_image(rc);
    FILE *f = open_memstream(&out->report, &out->report_n);
    int ok = f && meta_report_json(h, f) == 0;
    if (f) ok &= fclose(f) == 0;
    if (!ok) return snprintf(why, JOB_WHY, "out of memory writing the report"), HS_EINTERNAL;
    out->encode_ms = job__now() - t0;
    return HS_OK;
}

/* The end of a run: its record, then (done, and not a measuring shot) its encoding. */
static int job__finish(int rc, const char *err, const job_opts *o, const pl_opts *po, const pl_result *pr,
                       meta_history *h, job_result *out, char why[JOB_WHY]) {
    int rec = job__record(pr, h, out, why);
    if (rc) return snprintf(why, JOB_WHY, "%s", err), job_status_of_pipeline(rc);
    if (rec || po->team.measuring) return rec;
    out->identity = pr->identity;
    out->own_background = pr->plan.inside;
    return job__encode(o, &pr->out, h, out, why);
}

int job_run(pl_models *m, const unsigned char *in, size_t n, const char *name, const job_opts *o, job_result *r,
            char why[JOB_WHY]) {
    meta_history *h = malloc(sizeof *h);
    pl_result *pr = calloc(1, sizeof *pr);
    img_rgb photo = {0};
    char err[PL_ERR];
    int rc = h && pr ? HS_OK : (snprintf(why, JOB_WHY, "out of memory"), HS_EINTERNAL);
    memset(r, 0, sizeof *r);
    r->identity = NAN;
    if (rc == HS_OK) meta_init(h, "headshot " HS_VERSION), rc = job__load(in, n, name, o, &photo, pr, h, why);
    if (rc == HS_OK) {
        pl_opts po = o->pl;
        po.release = &photo;   /* freed once framed */
        rc = pl_run(m, &photo, &po, pr, h, err);
        rc = job__finish(rc, err, o, &po, pr, h, r, why);
    }
    img_free(&photo);
    if (pr) pl_result_free(pr);
    free(pr), free(h);
    return rc;
}

/* The contact sheet of the looks, encoded with the first look's XMP. */
static int job__sheet(const job_opts *o, const pl_result *pr, meta_history *h, job_result *sheet, char why[JOB_WHY]) {
    img_rgb pics[JOB_LOOKS], im;
    const char *names[JOB_LOOKS];
    char err[SHEET_ERR];
    for (int k = 0; k < JOB_LOOKS; k++) pics[k] = pr[k].out, names[k] = job_looks[k].name;
    if (sheet_make(pics, names, JOB_LOOKS, SHEET_THUMB, &im, err)) return snprintf(why, JOB_WHY, "%s", err), HS_EINTERNAL;
    int rc = job__encode(o, &im, h, sheet, why);
    img_free(&im);
    return rc;
}

int job_run_variants(pl_models *m, const unsigned char *in, size_t n, const char *name, const job_opts *o,
                     job_result *r, job_result *sheet, char why[JOB_WHY]) {
    memset(r, 0, sizeof *r * JOB_LOOKS);
    if (sheet) memset(sheet, 0, sizeof *sheet);
    if (o->set_background) return snprintf(why, JOB_WHY, "--variants chooses the backdrops itself; leave out --background"), HS_EUSAGE;
    if (frame_spec_get(o->pl.preset)->passport) return snprintf(why, JOB_WHY, "--variants: a passport photo has one backdrop"), HS_EUSAGE;
    meta_history *h = malloc(sizeof *h * JOB_LOOKS);
    pl_result *pr = calloc(JOB_LOOKS, sizeof *pr);
    pl_opts po[JOB_LOOKS];
    img_rgb photo = {0};
    char err[PL_ERR];
    int rc = h && pr ? HS_OK : (snprintf(why, JOB_WHY, "out of memory"), HS_EINTERNAL);
    for (int k = 0; k < JOB_LOOKS; k++) {
        po[k] = o->pl;
        compose_parse(job_looks[k].background, &po[k].background, err);   /* built-in names: no error */
        po[k].light = o->pl.light && job_looks[k].light;
        r[k].identity = NAN;
    }
    po[0].release = &photo;   /* freed once framed */
    if (rc == HS_OK) meta_init(&h[0], "headshot " HS_VERSION), rc = job__load(in, n, name, o, &photo, &pr[0], &h[0], why);
    if (rc == HS_OK) {
        for (int k = 1; k < JOB_LOOKS; k++) meta_init(&h[k], "headshot " HS_VERSION);   /* a look not reached: no warnings */
        int run = pl_run_variants(m, &photo, po, JOB_LOOKS, pr, h, err);
        for (int k = 0; k < JOB_LOOKS && (rc == HS_OK || run); k++) {   /* a failed run: every look's warnings */
            int rk = job__finish(run, err, o, &po[k], &pr[k], &h[k], &r[k], why);
            rc = rc ? rc : rk;
        }
    }
    img_free(&photo);
    if (rc == HS_OK && sheet) rc = job__sheet(o, pr, &h[0], sheet, why);
    for (int k = 0; k < JOB_LOOKS && pr; k++) pl_result_free(&pr[k]);
    free(pr), free(h);
    return rc;
}

void job_result_free(job_result *r) {
    free(r->bytes), free(r->report), free(r->warnings);
    r->bytes = NULL, r->report = NULL, r->warnings = NULL, r->n = r->report_n = 0;
}
