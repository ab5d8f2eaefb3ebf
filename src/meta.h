/* meta.h — what was done to the photo: the edit history, its XMP label and the JSON report.
 *
 * The pipeline fills one meta_history as it goes (meta_input, meta_step after each step,
 * meta_model for every network it ran, meta_identity, meta_ita, meta_warn ...). At the end:
 *   meta_xmp_block()    the XMP packet framed for img_encode(): a JPEG APP1 segment
 *                       ("http://ns.adobe.com/xap/1.0/\0" + packet) or a PNG iTXt chunk
 *                       (keyword "XML:com.adobe.xmp"), so every output says what made it;
 *   meta_report_json()  the same history, and the run's details, as JSON (--report, --json).
 *
 * The XMP carries the IPTC DigitalSourceType (compositeWithTrainedAlgorithmicMedia when a
 * neural network changed pixels, algorithmicallyEnhanced when only classical code did),
 * xmp:CreatorTool, xmpMM:History (one "edited" event per pixel-changing step, its parameters
 * in stEvt:parameters) and, in the headshot namespace, the input's SHA-256, the identity
 * distance and verdict, and the models ("name (version; licence)"). It carries no file name, no
 * date and no timing: the same input and options give the same bytes.
 *
 * Text from the pipeline is escaped for XML and JSON, and bytes that are not UTF-8 are
 * replaced by U+FFFD, so the packet is well-formed whatever a parameter holds. Records beyond
 * the fixed capacities are counted, not stored (meta_history.dropped).
 */
#ifndef META_H
#define META_H

#include "err.h"
#include "img.h"
#include "sha256.h"

#include <stdio.h>

#define META_ERR HS_ERR           /* size of every error-message buffer */
#define META_MAX_STEPS 24         /* capacities: a JPEG APP1 segment holds 64 KiB of XMP */
#define META_MAX_MODELS 12
#define META_MAX_WARNINGS 16
#define META_NAME 48              /* short strings: names, licences, presets */
#define META_TEXT 240             /* long strings: parameters, versions, warnings, paths */

#define META_ID_WARN 0.4f         /* identity distance above this: warn (same person below 0.6) */
#define META_ID_SAME 0.6f         /* = ID_SAME_MAX of identity.h (face-api's threshold) */

#define META_SOURCE_NEURAL "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
#define META_SOURCE_CLASSICAL "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicallyEnhanced"
#define META_NS "http://ns.headshot.invalid/1.0/"   /* our XMP namespace, prefix "headshot" */

typedef enum {
    META_ANALYSIS,                /* read pixels, changed none: detection, landmarks, identity */
    META_CLASSICAL,               /* changed pixels with classical code: crop, light, label */
    META_NEURAL,                  /* a neural network changed pixels: background, upscaling */
} meta_kind;

typedef struct {
    meta_kind kind;               /* decides the DigitalSourceType and whether XMP lists it */
    char name[META_NAME];         /* "background", "super-resolution", ... */
    char params[META_TEXT];       /* free text from the pipeline, "key=value ..." */
    double ms;                    /* wall time since the previous record, milliseconds */
} meta_entry;

typedef struct {
    char name[META_NAME];         /* "selfie", "face_recognition", ... */
    char version[128];            /* package and file, "@vladmandic/face-api@1.7.15 ..." */
    char licence[META_NAME];      /* SPDX id */
} meta_modelref;

typedef struct {
    char tool[META_NAME];         /* "headshot 0.1.0": xmp:CreatorTool and stEvt:softwareAgent */
    /* input */
    char input[META_TEXT];        /* path as given: report only, never in the XMP */
    long long input_bytes;        /* file size; -1 before meta_input */
    int input_w, input_h;         /* upright pixels; 0 before meta_input */
    char input_sha256[SHA256_HEX];/* lower-case hex; "" before meta_input */
    /* subject */
    int faces;                    /* faces found; -1 = detection did not run */
    int subject;                  /* index of the chosen face among them; -1 = none */
    float subject_box[4];         /* x, y, w, h of the chosen face, input pixels */
    char preset[META_NAME];       /* "" = none */
    /* output */
    int output_w, output_h;       /* 0 before meta_output */
    int output_format;            /* img_format; -1 before meta_output */
    /* checks: NaN = not measured */
    float identity;               /* descriptor distance, input subject vs output subject */
    float ita_before, ita_after;  /* skin individual typology angle, degrees */
    float skin[2][3];             /* the skin's median CIELAB L*, a*, b* before / after the look */
    char guard[META_TEXT];        /* what the tone guard cut and why ("" = nothing) */
    /* records, in order */
    meta_entry steps[META_MAX_STEPS];
    int n_steps;
    meta_modelref models[META_MAX_MODELS];
    int n_models;
    char warnings[META_MAX_WARNINGS][META_TEXT];
    int n_warnings;
    int dropped;                  /* steps, models or warnings that did not fit */
    double mark;                  /* monotonic clock of the last record, milliseconds */
} meta_history;

/* ============================================================ recording === */

/* Empty history; tool is the creator name ("headshot 0.1.0"). Starts the step clock. */
void meta_init(meta_history *h, const char *tool);

/* The input: path (kept for the report), its upright size, and its size and SHA-256, read
 * from the file here (read-only). Returns 0, or -1 with a reason in err. */
int meta_input(meta_history *h, const char *path, int w, int hgt, char err[META_ERR]);

/* The same for an input held in memory (headshot serve): name is what the report shows. */
void meta_input_bytes(meta_history *h, const char *name, const unsigned char *b, size_t n, int w, int hgt);

/* Faces found, the index of the chosen one (-1: none) and its box in input pixels. */
void meta_subject(meta_history *h, int faces, int subject, float x, float y, float w, float hgt);
void meta_preset(meta_history *h, const char *name);
void meta_output(meta_history *h, int w, int hgt, img_format f);

/* One step, recorded after it ran: its time is the time since the previous record (or
 * meta_init). params_fmt is printf-style; NULL or "" for none. */
void meta_step(meta_history *h, meta_kind kind, const char *name, const char *params_fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sets the time of the step recorded last, for a caller that times its stages itself (model
 * loading and work between steps then stay out of the steps' times). */
void meta_step_ms(meta_history *h, double ms);
/* A network the run used; a name already recorded is not added twice. */
void meta_model(meta_history *h, const char *name, const char *version, const char *licence);
void meta_identity(meta_history *h, float distance);
void meta_ita(meta_history *h, float before, float after);
/* The skin (median CIELAB of the cheeks) before and after the look, and the tone guard's cuts. */
void meta_skin(meta_history *h, float l0, float a0, float b0, float l1, float a1, float b1, const char *guard);
void meta_warn(meta_history *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ============================================================ results === */

/* META_SOURCE_NEURAL if a META_NEURAL step ran, else META_SOURCE_CLASSICAL. */
const char *meta_source_type(const meta_history *h);
/* "same person" (<= META_ID_WARN), "probably the same person" (< META_ID_SAME), "not the same
 * person", or "not measured" (NaN). */
const char *meta_identity_verdict(float distance);

/* The XMP packet as a malloc'ed NUL-terminated UTF-8 string (*n bytes, without the NUL);
 * NULL when out of memory. */
char *meta_xmp(const meta_history *h, size_t *n);
/* The packet framed for img_encode(..., meta, meta_n, ...) in format f: one JPEG APP1 segment
 * or one PNG iTXt chunk (with its CRC). *out is malloc'ed. Returns 0, or -1 with err (out of
 * memory; a packet too big for one APP1 segment). */
int meta_xmp_block(const meta_history *h, img_format f, unsigned char **out, size_t *n, char err[META_ERR]);

/* The report as one JSON object and a newline. Returns 0, or -1 when out of memory or f
 * reports a write error. */
int meta_report_json(const meta_history *h, FILE *f);
/* s as a JSON string literal (quoted, escaped, invalid UTF-8 as U+FFFD); NULL as null. */
int meta_json_string(FILE *f, const char *s);

#endif
