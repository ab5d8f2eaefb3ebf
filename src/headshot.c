/* headshot.c — the command line: options, subcommands, exit codes, the main job.
 *
 * Every failure ends in one line on stderr, "headshot: <file>: <reason>", and one of the
 * exit codes below (documented in docs/CLI.md and --help). Nothing here aborts.
 */
#include "img.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HS_VERSION "0.1.0"
#define HS_MAX_SIDE 1024         /* longest side of the output until the pipeline decides */
#define HS_QUALITY 92            /* default JPEG quality */

enum {
    HS_OK = 0,
    HS_EINTERNAL = 1,    /* out of memory, bug */
    HS_EUSAGE = 2,       /* bad command line */
    HS_EINPUT = 3,       /* input missing or unreadable */
    HS_EFORMAT = 4,      /* input unsupported, corrupt or truncated */
    HS_ELARGE = 5,       /* input above the pixel limit */
    HS_ENOFACE = 6,      /* no face found (face pipeline) */
    HS_EIDENTITY = 7,    /* identity check failed (face pipeline) */
    HS_EOUTPUT = 8,      /* output cannot be written */
    HS_EWEIGHTS = 9,     /* network weights unreadable (--weights) */
};

typedef struct {
    const char *input;       /* INPUT path */
    const char *output;      /* -o path, "-" = stdout */
    int format;              /* IMG_JPEG / IMG_PNG from --format, -1 = from the output name */
    int quality;             /* JPEG quality 1..100 */
    long long max_pixels;    /* input pixel limit */
    int threads;             /* worker threads for the pipeline, 0 = all cores */
    const char *weights;     /* --weights DIR, NULL = embedded weights */
    int quiet;               /* 1: print errors only */
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
    "\n"
    "INPUT is a JPEG or PNG photo. Its format is read from the bytes, not the name, and\n"
    "phone photos are turned upright from their EXIF orientation. OUTPUT ending in .jpg or\n"
    ".jpeg gives a JPEG, .png a PNG; '-o -' writes a JPEG to standard output. The output\n"
    "file is replaced only when the run succeeds, and never when it is the input.\n"
    "\n"
    "Status: the face pipeline (detection, landmarks, background, retouch, upscaling,\n"
    "identity check) is being built. Today headshot writes the upright photo scaled so\n"
    "that its longest side is at most 1024 pixels.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE     where to write the result (required); '-' = standard output\n"
    "      --format jpeg|png format for '-o -' (default jpeg)\n"
    "      --quality N       JPEG quality, 1..100 (default 92)\n"
    "      --max-pixels N    refuse inputs with more than N pixels (default 100000000)\n"
    "      --threads N       worker threads for the face pipeline (default: all cores)\n"
    "      --weights DIR     read network weights from DIR/NAME.hsw instead of the copies\n"
    "                        built into the program (for developers)\n"
    "  -q, --quiet           print nothing but errors\n"
    "  -h, --help            show this text\n"
    "      --version         show the version and how the program was built\n"
    "\n"
    "Examples:\n"
    "  headshot selfie.jpg -o headshot.jpg\n"
    "  headshot IMG_0042.png -o headshot.png\n"
    "  headshot selfie.jpg -o small.jpg --quality 80\n"
    "  headshot selfie.jpg -o - > headshot.jpg\n"
    "  headshot selfie.jpg -o - --format png | display\n"
    "\n"
    "Exit status:\n"
    "  0  success                      5  image larger than --max-pixels\n"
    "  1  internal error               6  no face found\n"
    "  2  usage error                  7  identity check failed\n"
    "  3  cannot read the input        8  cannot write the output\n"
    "  4  unsupported or corrupt image 9  network weights unreadable\n";

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

static int hs_cmd_help(int argc, char **argv) {
    (void)argc, (void)argv;
    fputs(hs_help, stdout);
    return HS_OK;
}

static int hs_cmd_version(int argc, char **argv) {
    (void)argc, (void)argv;
    printf("headshot " HS_VERSION "\n"
           "built with " HS_COMPILER " for " HS_ARCH "; stb_image 2.27, stb_image_write 1.16, "
           "stb_image_resize 0.97\n");
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

static int hs_parse(int argc, char **argv, hs_opts *o) {
    *o = (hs_opts){NULL, NULL, -1, HS_QUALITY, IMG_MAX_PIXELS, 0, NULL, 0};
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long long n;
        if (only_files || a[0] != '-' || !strcmp(a, "-")) {
            if (o->input) return hs_error(HS_EUSAGE, NULL, "more than one input ('%s' and '%s')", o->input, a);
            o->input = a;
        } else if (!strcmp(a, "--")) {
            only_files = 1;
        } else if (hs_is(a, "-o") || hs_is(a, "--output")) {
            if (!(o->output = hs_value(argc, argv, &i, a[1] == 'o' ? "-o" : "--output"))) return HS_EUSAGE;
        } else if (hs_is(a, "--format")) {
            if (!(v = hs_value(argc, argv, &i, "--format"))) return HS_EUSAGE;
            if (!strcmp(v, "jpeg") || !strcmp(v, "jpg")) o->format = IMG_JPEG;
            else if (!strcmp(v, "png")) o->format = IMG_PNG;
            else return hs_error(HS_EUSAGE, NULL, "--format must be jpeg or png, not '%s'", v);
        } else if (hs_is(a, "--quality")) {
            if (hs_int(hs_value(argc, argv, &i, "--quality"), "--quality", 1, 100, &n)) return HS_EUSAGE;
            o->quality = (int)n;
        } else if (hs_is(a, "--max-pixels")) {
            if (hs_int(hs_value(argc, argv, &i, "--max-pixels"), "--max-pixels", 1, 1000000000000LL, &n)) return HS_EUSAGE;
            o->max_pixels = n;
        } else if (hs_is(a, "--threads")) {
            if (hs_int(hs_value(argc, argv, &i, "--threads"), "--threads", 1, 1024, &n)) return HS_EUSAGE;
            o->threads = (int)n;
        } else if (hs_is(a, "--weights")) {
            if (!(o->weights = hs_value(argc, argv, &i, "--weights"))) return HS_EUSAGE;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else {
            return hs_error(HS_EUSAGE, NULL, "unknown option '%s'", a);
        }
    }
    if (!o->input) return hs_error(HS_EUSAGE, NULL, "no INPUT photo given");
    if (!strcmp(o->input, "-")) return hs_error(HS_EUSAGE, NULL, "reading the photo from standard input is not supported; give a file");
    if (!o->output) return hs_error(HS_EUSAGE, NULL, "no output given: add -o OUTPUT.jpg");
    if (strcmp(o->output, "-")) {
        int f = img_format_from_path(o->output);
        if (f < 0) return hs_error(HS_EUSAGE, o->output, "output name must end in .jpg, .jpeg or .png");
        if (o->format >= 0 && o->format != f)
            return hs_error(HS_EUSAGE, o->output, "--format disagrees with the output name");
        o->format = f;
    } else if (o->format < 0) {
        o->format = IMG_JPEG;
    }
    return HS_OK;
}

/* ============================================================ the main job === */

static int hs_exit_for(int img_code) {
    switch (img_code) {
    case IMG_EREAD: return HS_EINPUT;
    case IMG_EFORMAT: return HS_EFORMAT;
    case IMG_ELARGE: return HS_ELARGE;
    case IMG_EWRITE: return HS_EOUTPUT;
    default: return HS_EINTERNAL;
    }
}

static int hs_write_stdout(const unsigned char *p, size_t n) {
    for (size_t done = 0; done < n;) {
        ssize_t put = write(STDOUT_FILENO, p + done, n - done);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) return hs_error(HS_EOUTPUT, "standard output", "cannot write: %s", strerror(put < 0 ? errno : EIO));
        done += (size_t)put;
    }
    return HS_OK;
}

static int hs_run(int argc, char **argv) {
    hs_opts o;
    int rc = hs_parse(argc, argv, &o);
    if (rc) return rc;
    int to_stdout = !strcmp(o.output, "-");
    if (to_stdout && isatty(STDOUT_FILENO))
        return hs_error(HS_EUSAGE, NULL, "refusing to write image bytes to a terminal; redirect '-o -' to a file or pipe");

    /* The same file under another name (symlink, hard link, ./x) is still the input. */
    struct stat si, so;
    if (!to_stdout && stat(o.input, &si) == 0 && stat(o.output, &so) == 0 &&
        si.st_dev == so.st_dev && si.st_ino == so.st_ino)
        return hs_error(HS_EUSAGE, o.output, "is the input file; choose another output name");

    char err[IMG_ERR];
    img_load_opts lo = {o.max_pixels, 0};
    img_rgb im, fit;
    rc = img_load_file(&im, o.input, &lo, err);
    if (rc) return hs_error(hs_exit_for(rc), o.input, "%s", err);

    int side = im.w > im.h ? im.w : im.h;
    if (side > HS_MAX_SIDE) {
        int w = (int)((long long)im.w * HS_MAX_SIDE / side), h = (int)((long long)im.h * HS_MAX_SIDE / side);
        rc = img_resize(&fit, &im, w > 0 ? w : 1, h > 0 ? h : 1, err);
        img_free(&im);
        if (rc) return hs_error(hs_exit_for(rc), o.input, "%s", err);
        im = fit;
    }

    unsigned char *bytes;
    size_t n;
    rc = img_encode(&im, (img_format)o.format, o.quality, NULL, 0, &bytes, &n, err);
    if (rc == 0) {
        rc = to_stdout ? hs_write_stdout(bytes, n)
           : img_write_file(o.output, bytes, n, err) ? hs_error(HS_EOUTPUT, o.output, "%s", err) : HS_OK;
        free(bytes);
    } else {
        rc = hs_error(hs_exit_for(rc), o.output, "%s", err);
    }
    if (rc == HS_OK && !o.quiet)
        fprintf(stderr, "headshot: wrote %s (%dx%d %s)\n", to_stdout ? "standard output" : o.output,
                im.w, im.h, o.format == IMG_PNG ? "PNG" : "JPEG");
    img_free(&im);
    return rc;
}

/* ============================================================ commands === */

/* Subcommands: `headshot NAME ARGS...` runs run(argc - 1, argv + 1). */
static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} hs_commands[] = {
    {"help", hs_cmd_help},
    {"version", hs_cmd_version},
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
    if (argc > 1) {
        for (size_t i = 0; i < sizeof hs_commands / sizeof hs_commands[0]; i++)
            if (!strcmp(argv[1], hs_commands[i].name)) return hs_commands[i].run(argc - 1, argv + 1);
        if (hs_looks_like_command(argv[1])) return hs_error(HS_EUSAGE, NULL, "unknown command '%s'", argv[1]);
    }
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return hs_cmd_help(0, NULL);
        if (!strcmp(argv[i], "--version")) return hs_cmd_version(0, NULL);
    }
    return hs_run(argc, argv);
}
