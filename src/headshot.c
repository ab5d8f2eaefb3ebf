/* headshot.c — the command line: options, subcommands, exit codes, the main job.
 *
 * Every failure ends in one line on stderr, "headshot: <file>: <reason>", and one of the
 * exit codes below (documented in docs/CLI.md and --help). Nothing here aborts. The work
 * itself is in pipeline.c; this file turns words into pl_opts, and results into files.
 */
#include "batch.h"
#include "bench.h"
#include "compare.h"
#include "img.h"
#include "job.h"
#include "meta.h"
#include "nn.h"
#include "pipeline.h"
#include "serve.h"
#include "sheet.h"
#include "status.h"
#include "team.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif


#define HS_JOBS 1                /* default --jobs (measured: docs/CLI.md) */

/* Options every command takes (they may come before or after the command's own). */
typedef struct {
    int threads;             /* --threads N, 0 = all cores */
    const char *weights;     /* --weights DIR, NULL = embedded weights */
    int trace;               /* --trace: every network op on stderr */
    const char *isa;         /* --isa NAME, NULL = auto (or $HEADSHOT_ISA) */
    const char *precision;   /* --precision int8|fp32, NULL = int8 (or $HEADSHOT_PRECISION) */
} hs_global;

typedef struct {
    const char *input;       /* INPUT path (the first, in a batch) */
    char **inputs;           /* every INPUT: argv's own slots, moved to its front */
    int n_inputs;            /* their count */
    int batch;               /* 1: several inputs, a directory, or --team: -o is a directory */
    int jobs;                /* --jobs N: photos at a time in a batch */
    int variants;            /* --variants: several looks of one photo and a contact sheet */
    int team;                /* --team: the batch as one photo session */
    const char *output;      /* -o path, "-" = stdout */
    int quiet;               /* 1: print errors only */
    int verbose;             /* 1: stage times on stderr */
    const char *report;      /* --report FILE.json, NULL = none */
    int json;                /* --json: the report on stdout */
    job_opts job;            /* what the pipeline does, format, quality, pixel limit (job_option) */
} hs_opts;

/* ============================================================ messages === */

static int hs_error(int code, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints "headshot: [file: ]message" and returns code, so callers can `return hs_error(...)`. */
static int hs_error(int code, const char *file, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "headshot: ");
    if (file) fprintf(stderr, "%s: ", file);
    vfprintf(stderr, fmt, ap);
    if (code == HS_EUSAGE) fprintf(stderr, " (see 'headshot --help')");
    fprintf(stderr, "\n");
    va_end(ap);
    return code;
}

static const char hs_help[] =
    "headshot " HS_VERSION " - turn a selfie into a professional headshot, fully offline.\n"
    "\n"
    "Usage: headshot [options] INPUT -o OUTPUT\n"
    "       headshot [options] PHOTO|DIR... -o OUTDIR       a batch (--team: as one session)\n"
    "       headshot [options] --variants INPUT -o OUTPUT   six looks and a contact sheet\n"
    "       headshot detect IMAGE [--json]      faces, landmarks and pose of a photo\n"
    "       headshot compare A B [--json]       are two photos the same person?\n"
    "       headshot bench [--runs N] [--json] [--networks | --startup]\n"
    "                                           how fast the networks and the pipeline run here\n"
    "       headshot models                     the built-in networks and their licences\n"
    "       headshot serve [--port N]           the same tool as a web page on this computer\n"
    "                                           only (prints the address to open; see\n"
    "                                           'headshot serve --help')\n"
    "\n"
    "headshot finds the face (the largest, most central one), levels the eyes by turning the\n"
    "whole photo, frames head and shoulders by the preset's rule, upscales when the face is\n"
    "small, cuts the person out, evens the light, retouches lightly, puts a new backdrop\n"
    "behind, and checks that the result still shows the same person. Nothing leaves your\n"
    "computer. Every output says in its XMP metadata what was done and by which models.\n"
    "\n"
    "INPUT is a JPEG or PNG photo, read by its bytes, turned upright from its EXIF\n"
    "orientation. OUTPUT ending in .jpg or .jpeg gives a JPEG, .png a PNG; '-o -' writes a\n"
    "JPEG to standard output. The output is replaced only when the run succeeds.\n"
    "\n"
    "Batches: several photos, or a directory (its .jpg, .jpeg and .png files), go into the\n"
    "directory OUTDIR (made if missing) as OUTDIR/NAME.jpg (.png with --format png). An\n"
    "input is never written over: its output gets NAME-2.jpg instead. A photo that fails is\n"
    "reported and the others are done; the last line says \"N done, M failed\" and why.\n"
    "Progress goes to standard error: a bar (file, stage, time left) on a terminal, one\n"
    "line per photo otherwise, nothing but failures with --quiet.\n"
    "\n"
    "Framing (--preset):\n"
    "  linkedin     square 1024x1024; chin to top of hair 55-60% of the height, eyes 40%\n"
    "               from the top (the default)\n"
    "  portrait     4:5 1600x2000, head and shoulders\n"
    "  passport-eu  35x45 mm at 600 dpi (827x1063); chin to crown 32-36 mm, eyes centred,\n"
    "               light grey #E8E8E8 background\n"
    "  passport-us  2x2 in at 600 dpi (1200x1200); head 1-1 3/8 in, eyes 1 1/8-1 3/8 in\n"
    "               above the bottom, white background\n"
    "  Passport photos get their plain background and are never retouched or upscaled:\n"
    "  offices refuse altered photos, so there is no option to change that. Print them at\n"
    "  600 dpi. Where a frame runs past the photo's edge, the backdrop fills it; but the\n"
    "  person is never shown cut by the photo's edge: a photo cropped close gets a tighter\n"
    "  frame (a warning says how much), a tilted head is levelled only as far as that\n"
    "  allows, a face that fills the photo gets a crop of the photo with its own\n"
    "  background, and a passport photo without the room is refused (exit 11). Black\n"
    "  bars and caption bands along the edges are trimmed; a photo stored sideways or\n"
    "  upside down without an EXIF tag is turned upright by its face.\n"
    "\n"
    "Backdrop (--background):\n"
    "  studio       soft grey paper lit from behind (the default)\n"
    "  studio-blue, studio-warm   the same, slate blue or warm beige\n"
    "  white, #RRGGBB             a flat colour, e.g. #1F3A5F\n"
    "  blur         your own background, strongly blurred, like a wide-open lens\n"
    "  image:FILE   a picture of your own, scaled to cover\n"
    "  transparent  no backdrop: a PNG with an alpha channel (needs -o NAME.png)\n"
    "  keep         the photo's background as it is\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE     where to write the result (required); '-' = standard output\n"
    "      --preset NAME     linkedin, portrait, passport-eu, passport-us (see above)\n"
    "      --background B    see above (default studio)\n"
    "      --face N          make the headshot of face N (0 = best detection; 'headshot\n"
    "                        detect' lists them) instead of the largest, most central one\n"
    "      --keep-others     keep everyone in the picture (a couple, a team); by default\n"
    "                        the other people and what touches only them are removed\n"
    "      --enhance MODE    super-resolution of a small face: auto (default: when the face\n"
    "                        would be enlarged more than 1.33x, fast model), off, fast\n"
    "                        (whenever enlarged, ESRGAN-slim), best (ESRGAN-medium, slower)\n"
    "      --light auto|off  exposure, white balance and fill light (default auto); your\n"
    "                        skin tone is never lightened\n"
    "      --white-balance auto|off  the light's colour correction (default auto): only\n"
    "                        from neutral surfaces (walls, paper, a white shirt), never from\n"
    "                        skin; off keeps the photo's colour of light\n"
    "      --light-strength X  0..1, how much of the light correction to apply (default 1)\n"
    "      --retouch X       0..1, blemishes and uneven skin (default 0.3; 0 = none);\n"
    "                        features are never moved or reshaped\n"
    "      --size WxH        output size in pixels, e.g. 512x512 (default: the preset's;\n"
    "                        not for passports); head and eyes keep the preset's shares\n"
    "      --label           draw a small 'AI-edited' mark in the bottom-right corner\n"
    "      --force           write the result even when the identity check fails\n"
    "      --report FILE     write what was done (steps, times, models, checks) as JSON\n"
    "      --json            print that report on standard output\n"
    "      --format jpeg|png format for '-o -' and for a batch (default jpeg)\n"
    "      --quality N       JPEG quality, 1..100 (default 92)\n"
    "      --max-pixels N    refuse inputs with more than N pixels (default 100000000)\n"
    "      --variants        one photo in six looks (studio, studio-blue, studio-warm, white,\n"
    "                        blur, light-off): OUTPUT-LOOK.jpg each and OUTPUT-sheet.jpg,\n"
    "                        all side by side with their names; the networks run once\n"
    "      --team            a batch as one photo session: the same backdrop, the eye line\n"
    "                        and face size (eyes to chin) the same in every frame, and one\n"
    "                        exposure and colour of light; needs a backdrop that is the same\n"
    "                        for everyone (not blur or keep)\n"
    "      --jobs N          photos of a batch at a time, each in its own process with\n"
    "                        cores/N threads (default 1)\n"
    "      --threads N       worker threads (default: all cores)\n"
    "      --isa NAME        kernels: auto, portable, avx2, avx512, neon (default auto)\n"
    "      --precision P     int8 or fp32: the arithmetic of the networks measured to\n"
    "                        keep their accuracy in int8 (default int8)\n"
    "      --weights DIR     read network weights from DIR/NAME.hsw instead of the copies\n"
    "                        built into the program (for developers)\n"
    "      --trace           print every network operation with its time (for developers)\n"
    "  -v, --verbose         print the time of every stage\n"
    "  -q, --quiet           print nothing but errors\n"
    "  -h, --help            show this text\n"
    "      --version         show the version, the build and the kernels in use\n"
    "\n"
    "Examples:\n"
    "  headshot selfie.jpg -o headshot.jpg                       LinkedIn, studio grey\n"
    "  headshot selfie.jpg -o profile.jpg --background studio-blue\n"
    "  headshot selfie.jpg -o portrait.jpg --preset portrait --background blur\n"
    "  headshot selfie.jpg -o passport.jpg --preset passport-eu\n"
    "  headshot selfie.jpg -o visa.jpg --preset passport-us\n"
    "  headshot selfie.jpg -o cutout.png --background transparent\n"
    "  headshot selfie.jpg -o office.jpg --background image:office.jpg --label\n"
    "  headshot team.jpg -o anna.jpg --face 2 --background '#1F3A5F'\n"
    "  headshot selfie.jpg -o natural.jpg --retouch 0 --light off --background keep\n"
    "  headshot selfie.jpg -o headshot.jpg --report what-was-done.json\n"
    "  headshot selfie.jpg -o - --format png | display\n"
    "  headshot photos/ -o headshots/                            every photo of a directory\n"
    "  headshot --team --background studio-blue team/*.jpg -o site/\n"
    "  headshot --variants selfie.jpg -o me.jpg                  me-studio.jpg ... me-sheet.jpg\n"
    "\n"
    "Exit status:\n"
    "  0  success                      5  image larger than --max-pixels\n"
    "  1  internal error               6  no face found\n"
    "  2  usage error                  7  identity check failed (see --force)\n"
    "  3  cannot read the input        8  cannot write the output\n"
    "  4  unsupported or corrupt image 9  network weights unreadable\n"
    "  10 a batch ran and some of its photos failed (the summary names them and why);\n"
    "     a problem before any photo ran gives its own code (2 usage, 9 weights, ...)\n"
    "  11 passport: the photo is cropped too tightly to show the whole head at the\n"
    "     official size (the message says how much more room it needs); nothing written\n";

#if defined(__clang__)
#define HS_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define HS_COMPILER "gcc " __VERSION__
#else
#define HS_COMPILER "an unknown compiler"
#endif

#if defined(__x86_64__)
#define HS_ARCH "x86_64"
#elif defined(__aarch64__)
#define HS_ARCH "aarch64"
#else
#define HS_ARCH "an unknown architecture"
#endif

static int hs_cmd_help(int argc, char **argv, const hs_global *g) {
    (void)argc, (void)argv, (void)g;
    fputs(hs_help, stdout);
    return HS_OK;
}

/* Version, build, and the kernel sets: the one in use, those built in, those this CPU runs.
 * The machine code outside the kernels is the architecture's baseline, so any x86-64 or
 * aarch64 CPU runs the binary; a CPU without AVX2 gets the portable kernels and a note of
 * what that costs (measured on the demo photo, whose upscaling is most of its time). */
/* On an x86-64 CPU without AVX2 the portable kernels run: what that costs, or NULL. */
static const char *hs_speed_note(void) {
#if defined(__x86_64__)
    if (!strcmp(nn_isa_best(), "portable"))
        return "this CPU has no AVX2, so the portable kernels run: the networks are about 4x slower "
               "(the demo photo takes 4x as long, a large photo that needs no upscaling about 1.1x)";
#endif
    return NULL;
}

static int hs_cmd_version(int argc, char **argv, const hs_global *g) {
    (void)argc, (void)argv, (void)g;
    printf("headshot " HS_VERSION "\n"
           "built with " HS_COMPILER " for " HS_ARCH " (baseline instructions; SIMD kernels chosen at run "
           "time); stb_image 2.30, stb_image_write 1.16, stb_image_resize 0.97\n");
    const char *isa = nn_isa(), *best = nn_isa_best(), *name;
    if (!strcmp(isa, best)) printf("kernels: %s (the best this CPU runs); built in:", isa);
    else printf("kernels: %s (chosen by --isa or HEADSHOT_ISA; the best this CPU runs: %s); built in:", isa, best);
    int runs, n = 0;
    for (int i = 0; (name = nn_isa_built(i, &runs)); i++) printf("%s %s", i ? "," : "", name);
    printf("; this CPU runs:");
    for (int i = 0; (name = nn_isa_built(i, &runs)); i++)
        if (runs) printf("%s %s", n++ ? "," : "", name);
    printf("\n");
    if (hs_speed_note()) printf("note: %s\n", hs_speed_note());
    return HS_OK;
}

/* ============================================================ options === */

/* The value of the option at argv[*i], given as "--name=value" or "--name value" (then *i
 * moves past it); NULL after printing a usage error when it is missing. */
static const char *hs_value(int argc, char **argv, int *i, const char *name) {
    size_t len = strlen(name);
    if (argv[*i][len] == '=') return argv[*i] + len + 1;
    if (*i + 1 < argc) return argv[++*i];
    hs_error(HS_EUSAGE, NULL, "option %s needs a value", name);
    return NULL;
}

/* 1 if argv[*i] is the option `name` (with or without "=value"). */
static int hs_is(const char *arg, const char *name) {
    size_t len = strlen(name);
    return !strncmp(arg, name, len) && (arg[len] == '\0' || (arg[len] == '=' && name[1] == '-'));
}

/* Parses a whole decimal integer in lo..hi into *out; prints a usage error otherwise. */
static int hs_int(const char *s, const char *name, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < lo || v > hi) {
        if (s) hs_error(HS_EUSAGE, NULL, "%s must be a whole number from %lld to %lld, not '%s'", name, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Takes the global options out of argv (any position before "--"), applies them, and
 * returns the new argc, or -1 after a usage error. */
static int hs_globals(int argc, char **argv, hs_global *g) {
    *g = (hs_global){0, NULL, 0, NULL, NULL};
    int n = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        if (!strcmp(a, "--")) {
            while (i < argc) argv[n++] = argv[i++];
            break;
        } else if (hs_is(a, "--threads")) {
            if (hs_int(hs_value(argc, argv, &i, "--threads"), "--threads", 1, 1024, &v)) return -1;
            g->threads = (int)v;
        } else if (hs_is(a, "--weights")) {
            if (!(g->weights = hs_value(argc, argv, &i, "--weights"))) return -1;
        } else if (hs_is(a, "--isa")) {
            if (!(g->isa = hs_value(argc, argv, &i, "--isa"))) return -1;
        } else if (hs_is(a, "--precision")) {
            if (!(g->precision = hs_value(argc, argv, &i, "--precision"))) return -1;
        } else if (!strcmp(a, "--trace")) {
            g->trace = 1;
        } else {
            argv[n++] = argv[i];
        }
    }
    argv[n] = NULL;
    char err[NN_ERR];
    if (g->isa && nn_set_isa(g->isa, err) != 0) return hs_error(HS_EUSAGE, NULL, "--isa %s: %s", g->isa, err), -1;
    if (g->precision && nn_set_precision(g->precision, err) != 0)
        return hs_error(HS_EUSAGE, NULL, "--precision %s: %s", g->precision, err), -1;
    /* --threads is applied by main(), or by each batch worker: the runtime's threads do not
     * survive the fork of a batch's worker processes. */
    if (g->trace) nn_trace_all(1);
    return n;
}

/* A batch: -o is a directory (made when missing); the format comes from --format. */
static int hs_parse_batch(hs_opts *o) {
    struct stat st;
    if (o->variants) return hs_error(HS_EUSAGE, NULL, "--variants takes one photo, not a batch");
    if (o->report || o->json) return hs_error(HS_EUSAGE, NULL, "--report and --json are for one photo, not a batch");
    if (!strcmp(o->output, "-") || (stat(o->output, &st) == 0 && !S_ISDIR(st.st_mode)) ||
        (stat(o->output, &st) != 0 && img_format_from_path(o->output) >= 0))
        return hs_error(HS_EUSAGE, o->output, "with several photos (or a directory, or --team), -o must be a directory");
    int kind = o->job.pl.background.kind;
    if (o->team && (kind == COMPOSE_BLUR || kind == COMPOSE_KEEP))
        return hs_error(HS_EUSAGE, NULL, "--team needs one backdrop for everyone: studio, studio-blue, studio-warm, a colour or image:FILE");
    if (o->job.format < 0) o->job.format = IMG_JPEG;
    return HS_OK;
}

/* A pipeline option at argv[*i] (job_option: the names `headshot serve` takes too), as
 * "--name value", "--name=value" or, for a flag, "--name". Returns 0, or HS_EUSAGE after
 * printing the reason (an unknown option too). */
static int hs_job_option(int argc, char **argv, int *i, job_opts *o) {
    const char *a = argv[*i], *eq = strchr(a, '=');
    char name[32], why[JOB_WHY];
    if (strncmp(a, "--", 2) || (size_t)((eq ? eq : a + strlen(a)) - a - 2) >= sizeof name)
        return hs_error(HS_EUSAGE, NULL, "unknown option '%s'", a);
    snprintf(name, sizeof name, "%.*s", (int)((eq ? eq : a + strlen(a)) - a - 2), a + 2);
    const char *v = eq ? eq + 1 : job_option_is_flag(name) || *i + 1 >= argc ? NULL : argv[++*i];
    return job_option(o, name, v, why) ? hs_error(HS_EUSAGE, NULL, "%s", why) : HS_OK;
}

static int hs_parse(int argc, char **argv, hs_opts *o) {
    memset(o, 0, sizeof *o);
    o->jobs = HS_JOBS;
    o->inputs = argv + 1;
    job_opts_default(&o->job);
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long n;
        if (only_files || a[0] != '-' || !strcmp(a, "-")) {
            argv[1 + o->n_inputs++] = argv[i];   /* a slot at or before i: already read */
        } else if (!strcmp(a, "--")) {
            only_files = 1;
        } else if (hs_is(a, "-o") || hs_is(a, "--output")) {
            if (!(o->output = hs_value(argc, argv, &i, a[1] == 'o' ? "-o" : "--output"))) return HS_EUSAGE;
        } else if (hs_is(a, "--jobs")) {
            if (hs_int(hs_value(argc, argv, &i, "--jobs"), "--jobs", 1, BATCH_MAX_JOBS, &n)) return HS_EUSAGE;
            o->jobs = (int)n;
        } else if (!strcmp(a, "--variants")) {
            o->variants = 1;
        } else if (!strcmp(a, "--team")) {
            o->team = 1;
        } else if (hs_is(a, "--report")) {
            if (!(o->report = hs_value(argc, argv, &i, "--report"))) return HS_EUSAGE;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o->verbose = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else if (hs_job_option(argc, argv, &i, &o->job)) {
            return HS_EUSAGE;
        }
    }
    if (!o->n_inputs) return hs_error(HS_EUSAGE, NULL, "no INPUT photo given");
    o->input = o->inputs[0];
    for (int i = 0; i < o->n_inputs; i++)
        if (!strcmp(o->inputs[i], "-")) return hs_error(HS_EUSAGE, NULL, "reading the photo from standard input is not supported; give a file");
    if (!o->output) return hs_error(HS_EUSAGE, NULL, "no output given: add -o OUTPUT.jpg");
    struct stat st;
    o->batch = o->n_inputs > 1 || o->team || (stat(o->input, &st) == 0 && S_ISDIR(st.st_mode));
    if (o->batch) return hs_parse_batch(o);
    if (o->variants) {
        if (!strcmp(o->output, "-")) return hs_error(HS_EUSAGE, NULL, "--variants writes several files: give -o NAME.jpg, not '-o -'");
        if (o->job.set_background) return hs_error(HS_EUSAGE, NULL, "--variants chooses the backdrops itself; leave out --background");
        if (frame_spec_get(o->job.pl.preset)->passport) return hs_error(HS_EUSAGE, NULL, "--variants: a passport photo has one backdrop");
        if (o->report || o->json) return hs_error(HS_EUSAGE, NULL, "--report and --json are for one headshot, not --variants");
    }
    if (strcmp(o->output, "-")) {
        int f = img_format_from_path(o->output);
        if (f < 0) return hs_error(HS_EUSAGE, o->output, "output name must end in .jpg, .jpeg or .png");
        if (o->job.format >= 0 && o->job.format != f)
            return hs_error(HS_EUSAGE, o->output, "--format disagrees with the output name");
        o->job.format = f;
    } else if (o->job.format < 0) {
        o->job.format = IMG_JPEG;
    }
    if (o->json && !strcmp(o->output, "-"))
        return hs_error(HS_EUSAGE, NULL, "--json and '-o -' would both write to standard output; use --report FILE");
    if (o->report && (!strcmp(o->report, o->output) || !strcmp(o->report, o->input)))
        return hs_error(HS_EUSAGE, o->report, "--report must not be the input or the output");
    return HS_OK;
}

/* ============================================================ the main job === */

static int hs_write_stdout(const unsigned char *p, size_t n, char why[HS_ERR]) {
    for (size_t done = 0; done < n;) {
        ssize_t put = write(STDOUT_FILENO, p + done, n - done);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) return snprintf(why, HS_ERR, "cannot write: %s", strerror(put < 0 ? errno : EIO)), HS_EOUTPUT;
        done += (size_t)put;
    }
    return HS_OK;
}

/* Refuses, before any work, an output path that cannot be written: an existing non-file, or
 * a directory that does not exist (img_write_file checks again when it writes). */
static int hs_check_output(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) return hs_error(HS_EOUTPUT, path, "exists and is not a regular file");
    const char *slash = strrchr(path, '/');
    if (!slash) return HS_OK;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) + 1, path);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return hs_error(HS_EOUTPUT, path, "its directory does not exist");
    return HS_OK;
}

static double hs_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* bytes[0..n) into path ("-" = standard output), a file replaced atomically. Returns an exit
 * code, with the reason in why. */
static int hs_write(const char *path, const void *bytes, size_t n, char why[HS_ERR]) {
    char err[IMG_ERR];
    if (!strcmp(path, "-")) return hs_write_stdout(bytes, n, why);
    return img_write_file(path, bytes, n, err) ? (snprintf(why, HS_ERR, "%s", err), HS_EOUTPUT) : HS_OK;
}

/* The photo at path through job_run (or job_run_variants when r has JOB_LOOKS slots and sheet
 * is not NULL); r is to be freed with job_result_free whatever the outcome. Returns an exit
 * code with why. */
static int hs_job(pl_models *m, const char *path, const job_opts *o, job_result *r, job_result *sheet, char why[HS_ERR]) {
    unsigned char *in;
    size_t n;
    char err[IMG_ERR];
    int rc = img_read_file(path, &in, &n, err);
    if (rc) {
        memset(r, 0, sizeof *r * (sheet ? JOB_LOOKS : 1));
        if (sheet) memset(sheet, 0, sizeof *sheet);
        return snprintf(why, HS_ERR, "%s", err), hs_status_of_image(rc);
    }
    rc = sheet ? job_run_variants(m, in, n, path, o, r, sheet, why) : job_run(m, in, n, path, o, r, why);
    free(in);
    return rc;
}

/* Each line of warnings (job_result.warnings, may be NULL) as "headshot: warning: LINE", but
 * those already in seen[0..n_seen) (earlier looks' warnings, each may be NULL). */
static void hs_warnings(const char *warnings, const char *const *seen, int n_seen) {
    for (const char *w = warnings, *e; w && (e = strchr(w, '\n')); w = e + 1) {
        int len = (int)(e - w), dup = 0;
        for (int k = 0; k < n_seen && !dup; k++)
            for (const char *s = seen[k], *f; s && (f = strchr(s, '\n')) && !dup; s = f + 1) dup = f - s == len && !strncmp(s, w, len);
        if (!dup) fprintf(stderr, "headshot: warning: %.*s\n", len, w);
    }
}

/* One photo, one headshot (o->output may be "-"), with its report. */
static int hs_one(const hs_opts *o, const hs_global *g) {
    int rc, to_stdout = !strcmp(o->output, "-");
    if (to_stdout && isatty(STDOUT_FILENO))
        return hs_error(HS_EUSAGE, NULL, "refusing to write image bytes to a terminal; redirect '-o -' to a file or pipe");

    /* The same file under another name (symlink, hard link, ./x) is still the input. */
    struct stat si, so;
    if (!to_stdout && stat(o->input, &si) == 0 && stat(o->output, &so) == 0 &&
        si.st_dev == so.st_dev && si.st_ino == so.st_ino)
        return hs_error(HS_EUSAGE, o->output, "is the input file; choose another output name");
    if (!to_stdout && (rc = hs_check_output(o->output))) return rc;
    if (o->report && (rc = hs_check_output(o->report))) return rc;

    char err[PL_ERR], why[HS_ERR];
    pl_models models;
    job_result r;
    /* The networks are built as the stages need them (pl_models_load); with --weights the files are checked here. */
    if (pl_models_open(&models, NULL, g->weights, err))
        return hs_error(g->weights ? HS_EWEIGHTS : HS_EINTERNAL, g->weights, "%s", err);
    rc = hs_job(&models, o->input, &o->job, &r, NULL, why);
    pl_models_close(&models);
    if (!o->quiet) hs_warnings(r.warnings, NULL, 0);
    double t0 = hs_now();
    if (rc) rc = hs_error(rc, rc == HS_EUSAGE ? NULL : o->input, "%s", why);   /* usage: --face N */
    else if ((rc = hs_write(o->output, r.bytes, r.n, why))) hs_error(rc, to_stdout ? "standard output" : o->output, "%s", why);
    double save_ms = r.encode_ms + hs_now() - t0;
    if (rc == HS_OK && o->report && (rc = hs_write(o->report, r.report, r.report_n, why))) hs_error(rc, o->report, "%s", why);
    if (rc == HS_OK && o->json && (fwrite(r.report, 1, r.report_n, stdout) != r.report_n || fflush(stdout)))
        rc = hs_error(HS_EOUTPUT, "standard output", "cannot write the report");
    if (rc == HS_OK && !o->quiet) {
        if (o->verbose) {
            double total = save_ms;
            fprintf(stderr, "headshot: times (ms):");
            for (int i = 0; i < PL_STAGES; i++)
                if (r.ms[i] > 0) fprintf(stderr, " %s %.1f", pl_stage_names[i], r.ms[i]), total += r.ms[i];
            fprintf(stderr, " encode+write %.1f; total %.1f\n", save_ms, total);
        }
        char bg[META_TEXT] = "the photo's own";
        if (!r.own_background) compose_name(&o->job.pl.background, bg, sizeof bg);
        fprintf(stderr, "headshot: wrote %s (%dx%d %s, %s, %s background, identity distance %.2f: %s)\n",
                to_stdout ? "standard output" : o->output, r.w, r.h, r.format == IMG_PNG ? "PNG" : "JPEG",
                frame_spec_get(o->job.pl.preset)->name, bg, r.identity, meta_identity_verdict(r.identity));
    }
    job_result_free(&r);
    return rc;
}

/* ============================================================ batches === */

/* A batch worker (batch.h): its networks, and (--team) the session. */
typedef struct {
    const hs_opts *o;
    const hs_global *g;
    int threads;                 /* network threads per worker, 0 = as set */
    const batch_item *items;     /* the batch: an item's index is its photo's in the team */
    team_session *team;          /* --team, NULL = none */
    pl_models m;                 /* opened by hs_batch_open in the worker */
} hs_batch;

static int hs_batch_open(void *ctx, char err[BATCH_ERR]) {
    hs_batch *b = ctx;
    if (b->threads) nn_set_threads(b->threads);
    if (pl_models_open(&b->m, NULL, b->g->weights, err) == 0) return HS_OK;
    return b->g->weights ? HS_EWEIGHTS : HS_EINTERNAL;
}

static void hs_batch_close(void *ctx) { pl_models_close(&((hs_batch *)ctx)->m); }

/* One photo of the batch: its headshot into it->out, or (a team's measuring shot) its team
 * numbers into it->data (team_measure_pack). */
static int hs_batch_run(void *ctx, batch_item *it, batch_stage_fn stage, void *progress) {
    hs_batch *b = ctx;
    job_opts jo = b->o->job;
    jo.pl.stage = stage, jo.pl.stage_ctx = progress;
    if (b->team) team_session_shot(b->team, (int)(it - b->items), &jo.pl.team);
    char why[HS_ERR];
    job_result r;
    stage(progress, "load");
    int rc = hs_job(&b->m, it->in, &jo, &r, NULL, why);
    size_t at = 0;
    for (const char *w = r.warnings, *e; w && !jo.pl.team.measuring && (e = strchr(w, '\n')) && at < sizeof it->note; w = e + 1)
        at += (size_t)snprintf(it->note + at, sizeof it->note - at, "warning: %.*s\n", (int)(e - w), w);
    if (rc) {
        snprintf(it->why, BATCH_ERR, "%s", why);
    } else if (jo.pl.team.measuring) {
        team_measure_pack(&r.team, it->data);
    } else {
        stage(progress, "write");
        if ((rc = hs_write(it->out, r.bytes, r.n, why))) snprintf(it->why, BATCH_ERR, "%s", why);
    }
    job_result_free(&r);
    return rc;
}

/* --team: the session's two passes over the batch (team.h): every photo measured, the shared
 * target, then every photo measured made. Returns batch_run's count of failures, or -1. */
static int hs_team_run(hs_batch *b, batch_item *items, int n, const batch_worker *w, batch_opts *bo, int *fatal,
                       char err[BATCH_ERR]) {
    team_session t;
    if (team_session_init(&t, n)) return *fatal = HS_EINTERNAL, snprintf(err, BATCH_ERR, "out of memory"), -1;
    b->team = &t, bo->verb = "measured";
    int failed = batch_run(items, n, w, bo, fatal, err);
    for (int i = 0; failed >= 0 && i < n; i++)
        if (items[i].rc == 0) {
            team_measure m = team_measure_unpack(items[i].data);
            team_session_add(&t, i, &m);
            items[i].rc = BATCH_PENDING;
        }
    if (failed >= 0) {
        team_session_target(&t);
        if (!b->o->quiet && t.n_measured)
            fprintf(stderr, "headshot: team of %d: head %.2f x eyes-to-chin; highlights %s\n", t.n_measured, t.target.head_ratio,
                    t.target.ok ? "measured: one exposure and colour for all" : "not measured: each keeps its own light");
        bo->verb = "done";
        failed = batch_run(items, n, w, bo, fatal, err);
    }
    team_session_free(&t);
    b->team = NULL;
    return failed;
}

/* Several photos (or a directory) into the directory -o; --team measures them all first. */
static int hs_batch_main(const hs_opts *o, const hs_global *g) {
    if (mkdir(o->output, 0777) != 0 && errno != EEXIST)
        return hs_error(HS_EOUTPUT, o->output, "cannot make the directory: %s", strerror(errno));
    batch_item *items;
    int n, fatal = HS_EINTERNAL;
    char err[BATCH_ERR];
    if (batch_collect(o->inputs, o->n_inputs, o->output, o->job.format == IMG_PNG ? "png" : "jpg", &items, &n, err))
        return hs_error(HS_EINPUT, NULL, "%s", err);
    hs_batch *b = calloc(1, sizeof *b);   /* the networks' handles: off the stack, not static */
    if (!b) return batch_free(items, n), hs_error(HS_EINTERNAL, NULL, "out of memory");
    *b = (hs_batch){.o = o, .g = g, .items = items};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int jobs = o->jobs < n ? o->jobs : n;
    b->threads = g->threads ? g->threads : jobs > 1 && cores / jobs > 1 ? (int)(cores / jobs) : jobs > 1 ? 1 : 0;
    batch_worker w = {hs_batch_open, hs_batch_run, hs_batch_close, b};
    batch_opts bo = {o->jobs, o->quiet, "done"};
    int failed = o->team ? hs_team_run(b, items, n, &w, &bo, &fatal, err) : batch_run(items, n, &w, &bo, &fatal, err);
    int rc = HS_OK;
    if (failed < 0) {
        rc = hs_error(fatal, NULL, "%s", err);
    } else {
        if (!o->quiet) batch_summary(items, n, stderr);
        for (int i = 0; i < n; i++)
            if (items[i].rc != 0) rc = HS_EBATCH;
    }
    batch_free(items, n);
    free(b);
    return rc;
}

/* ============================================================ variants === */

/* One photo in every look, OUT-LOOK.ext each, and the contact sheet OUT-sheet.ext: the
 * networks run once (job_run_variants), only light to identity run per look. */
static int hs_variants_main(const hs_opts *o, const hs_global *g) {
    char (*path)[PATH_MAX] = malloc(sizeof *path * (JOB_LOOKS + 1));   /* the looks, then the sheet */
    job_result r[JOB_LOOKS + 1];                                        /* the same */
    char err[PL_ERR], why[HS_ERR];
    const char *dot = strrchr(o->output, '.');   /* there: hs_parse checked the extension */
    struct stat si, so;
    int rc = path ? HS_OK : hs_error(HS_EINTERNAL, NULL, "out of memory"), have_in = stat(o->input, &si) == 0;
    for (int k = 0; k <= JOB_LOOKS && rc == HS_OK; k++) {
        snprintf(path[k], PATH_MAX, "%.*s-%s%s", (int)(dot - o->output), o->output, k < JOB_LOOKS ? job_looks[k].name : "sheet", dot);
        if (have_in && stat(path[k], &so) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
            rc = hs_error(HS_EUSAGE, path[k], "is the input file; choose another output name");
        else rc = hs_check_output(path[k]);
    }
    pl_models m;
    if (rc == HS_OK && pl_models_open(&m, NULL, g->weights, err)) rc = hs_error(g->weights ? HS_EWEIGHTS : HS_EINTERNAL, g->weights, "%s", err);
    else if (rc == HS_OK) {
        rc = hs_job(&m, o->input, &o->job, r, &r[JOB_LOOKS], why);
        pl_models_close(&m);
        const char *seen[JOB_LOOKS];
        for (int k = 0; k < JOB_LOOKS && !o->quiet; k++) seen[k] = r[k].warnings, hs_warnings(r[k].warnings, seen, k);   /* each once */
        if (rc) rc = hs_error(rc, rc == HS_EUSAGE ? NULL : o->input, "%s", why);
        for (int k = 0; k <= JOB_LOOKS && rc == HS_OK; k++) {
            if ((rc = hs_write(path[k], r[k].bytes, r[k].n, why))) hs_error(rc, path[k], "%s", why);
            else if (!o->quiet && k < JOB_LOOKS)
                fprintf(stderr, "headshot: wrote %s (%dx%d, identity distance %.2f: %s)\n", path[k], r[k].w, r[k].h, r[k].identity,
                        meta_identity_verdict(r[k].identity));
            else if (!o->quiet) fprintf(stderr, "headshot: wrote %s (the %d looks side by side)\n", path[k], JOB_LOOKS);
        }
        for (int k = 0; k <= JOB_LOOKS; k++) job_result_free(&r[k]);
    }
    free(path);
    return rc;
}

static int hs_run(int argc, char **argv, const hs_global *g) {
    hs_opts o;
    int rc = hs_parse(argc, argv, &o);
    if (rc) return rc;
    img_rgb picture = {0};
    if (o.job.pl.background.kind == COMPOSE_IMAGE) {   /* --background image:FILE, read once for all */
        char err[IMG_ERR];
        img_load_opts lo = {o.job.max_pixels, 0};
        if ((rc = img_load_file(&picture, o.job.pl.background.file, &lo, err)))
            return hs_error(hs_status_of_image(rc), o.job.pl.background.file, "%s", err);
        o.job.pl.background.picture = &picture;
    }
    /* what a passport preset imposes, named in notes (not errors: scripts pass their defaults) */
    char why[JOB_WHY];
    if (job_finish(&o.job, why)) return img_free(&picture), hs_error(HS_EUSAGE, NULL, "%s", why);
    for (int i = 0; i < o.job.n_notes && !o.quiet; i++) fprintf(stderr, "headshot: note: %s\n", o.job.notes[i]);
    if (!o.batch && g->threads) nn_set_threads(g->threads);   /* a batch's workers set their own */
    if (!o.quiet && hs_speed_note()) fprintf(stderr, "headshot: note: %s\n", hs_speed_note());
    rc = o.batch ? hs_batch_main(&o, g) : o.variants ? hs_variants_main(&o, g) : hs_one(&o, g);
    img_free(&picture);
    return rc;
}

/* ============================================================ commands === */

/* `headshot detect IMAGE [--json] [--max-pixels N]`: the faces the pipeline would see. */
static int hs_cmd_detect(int argc, char **argv, const hs_global *g) {
    const char *file = NULL;
    int json = 0;
    long long max_pixels = IMG_MAX_PIXELS;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (hs_is(argv[i], "--max-pixels")) {
            if (hs_int(hs_value(argc, argv, &i, "--max-pixels"), "--max-pixels", 1, 1000000000000LL, &max_pixels)) return HS_EUSAGE;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("Usage: headshot detect IMAGE [--json] [--max-pixels N]\n\n"
                   "Lists the faces in IMAGE (upright pixels, best detector score first) that the landmark\n"
                   "network confirms, with their box, 6 keypoints, 468 landmarks, head pose and which one\n"
                   "headshot would take as the subject. Exit status 6 when there is none.\n");
            return HS_OK;
        } else if (argv[i][0] == '-' && argv[i][1]) return hs_error(HS_EUSAGE, NULL, "detect: unknown option '%s'", argv[i]);
        else if (file) return hs_error(HS_EUSAGE, NULL, "detect: more than one image ('%s' and '%s')", file, argv[i]);
        else file = argv[i];
    }
    if (!file) return hs_error(HS_EUSAGE, NULL, "detect: give an image: headshot detect IMAGE [--json]");
    char err[PL_ERR];
    img_rgb im;
    img_load_opts lo = {max_pixels, 0};
    int rc = img_load_file(&im, file, &lo, err);
    if (rc) return hs_error(hs_status_of_image(rc), file, "%s", err);
    pl_models m;
    pl_face *f = malloc(sizeof(pl_face) * PL_MAX_FACES);
    if (!f) return img_free(&im), hs_error(HS_EINTERNAL, file, "out of memory");
    if (pl_models_open(&m, NULL, g->weights, err)) {
        img_free(&im), free(f);
        return hs_error(g->weights ? HS_EWEIGHTS : HS_EINTERNAL, g->weights, "%s", err);
    }
    int refused = 0, n = pl_faces(&m, &im, f, PL_MAX_FACES, &refused, NULL, err);
    pl_models_close(&m);
    int subject = n > 0 ? pl_subject(f, n, im.w, im.h) : -1;
    if (n < 0) rc = hs_error(HS_EINTERNAL, file, "%s", err);
    else if (json) {
        printf("{\"width\":%d,\"height\":%d,\"faces\":[", im.w, im.h);
        for (int i = 0; i < n; i++) {
            const det_face *d = &f[i].det;
            printf("%s{\"score\":%.4f,\"box\":{\"x\":%.2f,\"y\":%.2f,\"width\":%.2f,\"height\":%.2f},\"keypoints\":[", i ? "," : "",
                   d->score, d->x, d->y, d->w, d->h);
            for (int k = 0; k < DET_KEYPOINTS; k++) printf("%s[%.2f,%.2f]", k ? "," : "", d->kp[k][0], d->kp[k][1]);
            printf("],\"landmarks\":[");
            for (int k = 0; k < LMK_POINTS; k++)
                printf("%s[%.2f,%.2f,%.2f]", k ? "," : "", f[i].lmk.pts[k][0], f[i].lmk.pts[k][1], f[i].lmk.pts[k][2]);
            printf("],\"roll\":%.2f,\"yaw\":%.2f,\"pitch\":%.2f,\"subject\":%s}", f[i].pose.roll, f[i].pose.yaw, f[i].pose.pitch,
                   i == subject ? "true" : "false");
        }
        printf("]}\n");
    } else {
        printf("%s: %dx%d, %d face%s", file, im.w, im.h, n, n == 1 ? "" : "s");
        if (refused) printf(" (%d more detection%s refused by the landmark network)", refused, refused == 1 ? "" : "s");
        printf("\n");
        for (int i = 0; i < n; i++)
            printf("  face %d: score %.2f, box %.0fx%.0f at (%.0f, %.0f), roll %.1f, yaw %.1f, pitch %.1f%s\n", i, f[i].det.score,
                   f[i].det.w, f[i].det.h, f[i].det.x, f[i].det.y, f[i].pose.roll, f[i].pose.yaw, f[i].pose.pitch,
                   i == subject ? "  <- subject" : "");
    }
    if (rc == HS_OK && fflush(stdout) != 0) rc = hs_error(HS_EOUTPUT, "standard output", "cannot write");
    if (rc == HS_OK && n == 0) rc = hs_error(HS_ENOFACE, file, "no face found");
    img_free(&im), free(f);
    return rc;
}

static int hs_cmd_compare(int argc, char **argv, const hs_global *g) { return compare_main(argc, argv, g->weights); }

static int hs_cmd_serve(int argc, char **argv, const hs_global *g) { return serve_main(argc, argv, g->weights); }

static int hs_cmd_models(int argc, char **argv, const hs_global *g) {
    if (argc > 1) return hs_error(HS_EUSAGE, NULL, "models: unexpected argument '%s'", argv[1]);
    return models_main(g->weights) ? HS_EINTERNAL : HS_OK;
}

/* `headshot bench [--runs N] [--json] [--networks | --startup]` (--threads is global). */
static int hs_cmd_bench(int argc, char **argv, const hs_global *g) {
    long long runs = 10;
    int json = 0, mode = BENCH_ALL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--networks")) mode = BENCH_NETWORKS;
        else if (!strcmp(argv[i], "--startup")) mode = BENCH_STARTUP;
        else if (hs_is(argv[i], "--runs")) {
            if (hs_int(hs_value(argc, argv, &i, "--runs"), "--runs", 1, 10000, &runs)) return HS_EUSAGE;
        } else return hs_error(HS_EUSAGE, NULL, "bench: unknown argument '%s' (bench [--threads N] [--runs N] [--json] "
                               "[--networks | --startup])", argv[i]);
    }
    return bench_main(g->threads, (int)runs, json, mode, g->weights) ? HS_EINTERNAL : HS_OK;
}

/* Subcommands: `headshot NAME ARGS...` runs run(argc - 1, argv + 1, globals). */
static const struct {
    const char *name;
    int (*run)(int argc, char **argv, const hs_global *g);
} hs_commands[] = {
    {"help", hs_cmd_help},       {"version", hs_cmd_version}, {"detect", hs_cmd_detect},
    {"compare", hs_cmd_compare}, {"bench", hs_cmd_bench},     {"models", hs_cmd_models},
    {"serve", hs_cmd_serve},
};

/* A bare lower-case word that is not a regular file is a mistyped or future command, not a
 * photo (the repository itself has a bench/ directory). */
static int hs_looks_like_command(const char *a) {
    if (!*a) return 0;
    for (const char *p = a; *p; p++)
        if (*p < 'a' || *p > 'z') return 0;
    struct stat st;
    return stat(a, &st) != 0 || !S_ISREG(st.st_mode);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);   /* a closed pipe on '-o -' becomes a write error, not a kill */
#ifdef __GLIBC__
    /* Keep freed memory for the next stage instead of returning it to the system (glibc maps
     * and unmaps blocks over 128 KB by default): the stages' large buffers come and go, and a
     * page touched for the first time costs well under a microsecond on bare metal but up to
     * 25 us in some VMs. A 12 MP run faults 30% fewer pages this way. */
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
    hs_global g;
    if ((argc = hs_globals(argc, argv, &g)) < 0) return HS_EUSAGE;
    if (argc > 1) {
        for (size_t i = 0; i < sizeof hs_commands / sizeof hs_commands[0]; i++)
            if (!strcmp(argv[1], hs_commands[i].name)) {
                if (g.threads) nn_set_threads(g.threads);
                return hs_commands[i].run(argc - 1, argv + 1, &g);
            }
        if (hs_looks_like_command(argv[1])) return hs_error(HS_EUSAGE, NULL, "unknown command '%s'", argv[1]);
    }
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return hs_cmd_help(0, NULL, &g);
        if (!strcmp(argv[i], "--version")) return hs_cmd_version(0, NULL, &g);
    }
    return hs_run(argc, argv, &g);
}
