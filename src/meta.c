/* meta.c — the edit history, its XMP packet and the JSON report (see meta.h). Sections:
 * recording, text building (UTF-8 check, XML and JSON escaping), XMP, framing, JSON.
 */
#include "meta.h"
#include "colour.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define META_XMP_SIG "http://ns.adobe.com/xap/1.0/"   /* + NUL: the APP1 identifier of XMP */
#define META_XMP_KEY "XML:com.adobe.xmp"               /* the iTXt keyword of XMP */

/* ============================================================ recording === */

static double meta__now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void meta__copy(char *dst, size_t size, const char *src) {
    snprintf(dst, size, "%s", src ? src : "");
}

void meta_init(meta_history *h, const char *tool) {
    memset(h, 0, sizeof *h);
    meta__copy(h->tool, sizeof h->tool, tool);
    h->input_bytes = -1;
    h->faces = -1;
    h->subject = -1;
    h->output_format = -1;
    h->identity = h->ita_before = h->ita_after = NAN;
    for (int i = 0; i < 6; i++) h->skin[i / 3][i % 3] = NAN;
    h->mark = meta__now();
}

int meta_input(meta_history *h, const char *path, int w, int hgt, char err[META_ERR]) {
    unsigned char d[SHA256_SIZE];
    long long size;
    if (sha256_file(path, d, &size, err, META_ERR) != 0) return -1;
    meta__copy(h->input, sizeof h->input, path);
    h->input_bytes = size;
    h->input_w = w, h->input_h = hgt;
    sha256_hex(d, h->input_sha256);
    return 0;
}

void meta_input_bytes(meta_history *h, const char *name, const unsigned char *b, size_t n, int w, int hgt) {
    unsigned char d[SHA256_SIZE];
    sha256(b, n, d);
    meta__copy(h->input, sizeof h->input, name);
    h->input_bytes = (long long)n;
    h->input_w = w, h->input_h = hgt;
    sha256_hex(d, h->input_sha256);
}

void meta_subject(meta_history *h, int faces, int subject, float x, float y, float w, float hgt) {
    h->faces = faces;
    h->subject = subject;
    h->subject_box[0] = x, h->subject_box[1] = y, h->subject_box[2] = w, h->subject_box[3] = hgt;
}

void meta_preset(meta_history *h, const char *name) { meta__copy(h->preset, sizeof h->preset, name); }

void meta_output(meta_history *h, int w, int hgt, img_format f) {
    h->output_w = w, h->output_h = hgt;
    h->output_format = (int)f;
}

void meta_step(meta_history *h, meta_kind kind, const char *name, const char *params_fmt, ...) {
    double now = meta__now();
    if (h->n_steps == META_MAX_STEPS) {
        h->dropped++;
        return;
    }
    meta_entry *e = &h->steps[h->n_steps++];
    e->kind = kind;
    meta__copy(e->name, sizeof e->name, name);
    e->params[0] = '\0';
    if (params_fmt) {
        va_list ap;
        va_start(ap, params_fmt);
        vsnprintf(e->params, sizeof e->params, params_fmt, ap);
        va_end(ap);
    }
    e->ms = now - h->mark;
    h->mark = now;
}

void meta_step_ms(meta_history *h, double ms) {
    if (h->n_steps > 0) h->steps[h->n_steps - 1].ms = ms;
}

void meta_model(meta_history *h, const char *name, const char *version, const char *licence) {
    for (int i = 0; i < h->n_models; i++)
        if (!strcmp(h->models[i].name, name ? name : "")) return;
    if (h->n_models == META_MAX_MODELS) {
        h->dropped++;
        return;
    }
    meta_modelref *m = &h->models[h->n_models++];
    meta__copy(m->name, sizeof m->name, name);
    meta__copy(m->version, sizeof m->version, version);
    meta__copy(m->licence, sizeof m->licence, licence);
}

void meta_identity(meta_history *h, float distance) { h->identity = distance; }

void meta_ita(meta_history *h, float before, float after) {
    h->ita_before = before;
    h->ita_after = after;
}

void meta_skin(meta_history *h, float l0, float a0, float b0, float l1, float a1, float b1, const char *guard) {
    const float v[6] = {l0, a0, b0, l1, a1, b1};
    for (int i = 0; i < 6; i++) h->skin[i / 3][i % 3] = v[i];
    meta__copy(h->guard, sizeof h->guard, guard ? guard : "");
}

void meta_warn(meta_history *h, const char *fmt, ...) {
    if (h->n_warnings == META_MAX_WARNINGS) {
        h->dropped++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->warnings[h->n_warnings++], META_TEXT, fmt, ap);
    va_end(ap);
}

const char *meta_source_type(const meta_history *h) {
    for (int i = 0; i < h->n_steps; i++)
        if (h->steps[i].kind == META_NEURAL) return META_SOURCE_NEURAL;
    return META_SOURCE_CLASSICAL;
}

const char *meta_identity_verdict(float d) {
    if (isnan(d)) return "not measured";
    if (d <= META_ID_WARN) return "same person";
    if (d < META_ID_SAME) return "probably the same person";
    return "not the same person";
}

/* ============================================================ text building === */

/* A growing NUL-terminated string; after a failed allocation it stays failed. */
typedef struct {
    char *p;                      /* n bytes + NUL, or NULL */
    size_t n, cap;                /* used and allocated bytes */
    int failed;                   /* 1: out of memory, p is freed */
} meta_buf;

static int meta__reserve(meta_buf *b, size_t more) {
    if (b->failed) return -1;
    if (b->n + more + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + more + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        free(b->p);
        *b = (meta_buf){NULL, 0, 0, 1};
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static void meta__raw(meta_buf *b, const void *s, size_t n) {
    if (meta__reserve(b, n)) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void meta__put(meta_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void meta__put(meta_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || meta__reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

/* Length (2..4) of the well-formed UTF-8 multi-byte character at s, or 0: not UTF-8 (overlong,
 * surrogate, above U+10FFFF, cut short by the NUL), or U+FFFE / U+FFFF, which XML forbids. */
static int meta__utf8(const unsigned char *s) {
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    int n;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    if (c == 0xEF && s[1] == 0xBF && s[2] >= 0xBE) return 0;
    return n;
}

/* s escaped as XML character data (json = 0) or as the inside of a JSON string (json = 1).
 * XML 1.0 has no escape for control characters: they become spaces. */
static void meta__text(meta_buf *b, const char *str, int json) {
    for (const unsigned char *s = (const unsigned char *)(str ? str : ""); *s;) {
        unsigned c = *s;
        if (c >= 0x80) {
            int n = meta__utf8(s);
            if (n) meta__raw(b, s, (size_t)n);
            else meta__put(b, "%s", json ? "\\ufffd" : "\xEF\xBF\xBD");
            s += n ? n : 1;
            continue;
        }
        s++;
        if (json && (c == '"' || c == '\\')) meta__put(b, "\\%c", c);
        else if (json && (c == '\n' || c == '\t' || c == '\r')) meta__put(b, "\\%c", c == '\n' ? 'n' : c == '\t' ? 't' : 'r');
        else if (json && c < 0x20) meta__put(b, "\\u%04x", c);
        else if (!json && c == '&') meta__put(b, "&amp;");
        else if (!json && c == '<') meta__put(b, "&lt;");
        else if (!json && c == '>') meta__put(b, "&gt;");
        else if (!json && c < 0x20 && c != '\t' && c != '\n') meta__put(b, " ");
        else meta__put(b, "%c", c);
    }
}

/* ============================================================ XMP === */

/* <prefix:name>escaped text</prefix:name> at the given indent. */
static void meta__elem(meta_buf *b, int indent, const char *tag, const char *text) {
    meta__put(b, "%*s<%s>", indent, "", tag);
    meta__text(b, text, 0);
    meta__put(b, "</%s>\n", tag);
}

char *meta_xmp(const meta_history *h, size_t *n) {
    meta_buf b = {0};
    meta__put(&b, "<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
                  "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n"
                  " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
                  "  <rdf:Description rdf:about=\"\"\n"
                  "    xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"\n"
                  "    xmlns:xmpMM=\"http://ns.adobe.com/xap/1.0/mm/\"\n"
                  "    xmlns:stEvt=\"http://ns.adobe.com/xap/1.0/sType/ResourceEvent#\"\n"
                  "    xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\"\n"
                  "    xmlns:headshot=\"" META_NS "\">\n");
    meta__elem(&b, 3, "Iptc4xmpExt:DigitalSourceType", meta_source_type(h));
    meta__elem(&b, 3, "xmp:CreatorTool", h->tool);

    /* The edits, in order: steps that changed pixels (an empty Seq would read as "."). */
    int edits = 0;
    for (int i = 0; i < h->n_steps; i++) edits += h->steps[i].kind != META_ANALYSIS;
    if (edits) meta__put(&b, "   <xmpMM:History>\n    <rdf:Seq>\n");
    for (int i = 0; i < h->n_steps; i++) {
        const meta_entry *e = &h->steps[i];
        if (e->kind == META_ANALYSIS) continue;
        char what[META_NAME + META_TEXT + 32];
        snprintf(what, sizeof what, "%s%s%s%s", e->name, e->kind == META_NEURAL ? " (neural network)" : "",
                 e->params[0] ? ": " : "", e->params);
        meta__put(&b, "     <rdf:li rdf:parseType=\"Resource\">\n");
        meta__elem(&b, 6, "stEvt:action", "edited");
        meta__elem(&b, 6, "stEvt:parameters", what);
        meta__elem(&b, 6, "stEvt:softwareAgent", h->tool);
        meta__put(&b, "     </rdf:li>\n");
    }
    if (edits) meta__put(&b, "    </rdf:Seq>\n   </xmpMM:History>\n");

    if (h->input_sha256[0]) meta__elem(&b, 3, "headshot:InputSHA256", h->input_sha256);
    if (!isnan(h->identity)) {
        char d[32];
        snprintf(d, sizeof d, "%.4f", h->identity);
        meta__elem(&b, 3, "headshot:IdentityDistance", d);
        meta__elem(&b, 3, "headshot:IdentityVerdict", meta_identity_verdict(h->identity));
    }
    /* Models as a Bag of text, "name (version; licence)": readers such as exiftool list a Bag
     * of an unknown namespace whole, but show only the first of a Bag of structures. */
    if (h->n_models) {
        meta__put(&b, "   <headshot:Models>\n    <rdf:Bag>\n");
        for (int i = 0; i < h->n_models; i++) {
            char m[sizeof h->models[i] + 8];
            snprintf(m, sizeof m, "%s (%s; %s)", h->models[i].name, h->models[i].version, h->models[i].licence);
            meta__elem(&b, 5, "rdf:li", m);
        }
        meta__put(&b, "    </rdf:Bag>\n   </headshot:Models>\n");
    }
    meta__put(&b, "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"r\"?>");
    if (n) *n = b.n;
    return b.p;
}

/* ============================================================ framing === */

static uint32_t meta__crc32(uint32_t c, const unsigned char *p, size_t n) {
    c = ~c;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static void meta__be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

int meta_xmp_block(const meta_history *h, img_format f, unsigned char **out, size_t *n, char err[META_ERR]) {
    *out = NULL;
    *n = 0;
    size_t xn;
    char *xmp = meta_xmp(h, &xn);
    if (!xmp) {
        snprintf(err, META_ERR, "out of memory building the XMP packet");
        return -1;
    }
    /* JPEG: FF E1, length (itself + signature + packet) <= 65535. PNG: length, "iTXt",
     * keyword NUL, compression flag 0, method 0, empty language NUL, empty translation NUL,
     * text, CRC of type + data. */
    size_t sig = f == IMG_JPEG ? sizeof META_XMP_SIG : sizeof META_XMP_KEY + 4;
    size_t head = f == IMG_JPEG ? 4 : 8, total = head + sig + xn + (f == IMG_JPEG ? 0 : 4);
    if (f == IMG_JPEG && 2 + sig + xn > 65535) {
        snprintf(err, META_ERR, "the XMP packet (%zu bytes) does not fit in one JPEG segment", xn);
        free(xmp);
        return -1;
    }
    unsigned char *p = malloc(total);
    if (!p) {
        snprintf(err, META_ERR, "out of memory framing the XMP packet");
        free(xmp);
        return -1;
    }
    if (f == IMG_JPEG) {
        p[0] = 0xFF, p[1] = 0xE1, p[2] = (unsigned char)((2 + sig + xn) >> 8), p[3] = (unsigned char)(2 + sig + xn);
        memcpy(p + head, META_XMP_SIG, sig);           /* with its NUL */
    } else {
        meta__be32(p, (uint32_t)(sig + xn));
        memcpy(p + 4, "iTXt", 4);
        memcpy(p + head, META_XMP_KEY, sizeof META_XMP_KEY);
        memset(p + head + sizeof META_XMP_KEY, 0, 4);   /* flag, method, language, translation */
    }
    memcpy(p + head + sig, xmp, xn);
    if (f != IMG_JPEG) meta__be32(p + total - 4, meta__crc32(0, p + 4, total - 8));
    free(xmp);
    *out = p;
    *n = total;
    return 0;
}

/* ============================================================ JSON === */

static void meta__jstr(meta_buf *b, const char *s) {
    if (!s) {
        meta__put(b, "null");
        return;
    }
    meta__put(b, "\"");
    meta__text(b, s, 1);
    meta__put(b, "\"");
}

/* A number, or null when it was not measured (JSON has no NaN). */
static void meta__jnum(meta_buf *b, double v) {
    if (isfinite(v)) meta__put(b, "%.6g", v);
    else meta__put(b, "null");
}

static int meta__flush(meta_buf *b, FILE *f) {
    int ok = !b->failed && fwrite(b->p, 1, b->n, f) == b->n && !ferror(f);
    free(b->p);
    return ok ? 0 : -1;
}

int meta_json_string(FILE *f, const char *s) {
    meta_buf b = {0};
    meta__jstr(&b, s);
    return meta__flush(&b, f);
}

/* The report's "skin": L*, a*, b*, hue angle and ITA before and after, and the guard's cuts
 * (opened after the "skin_ita" object; the caller closes it). */
static void meta__skin_json(meta_buf *b, const meta_history *h) {
    for (int k = 0; k < 2; k++) {   /* L*, a*, b*, hue angle and ITA of the skin */
        const float *s = h->skin[k];
        const float more[2] = {col_hue(s[1], s[2]), col_ita(s[0], s[2])};
        meta__put(b, k ? "}, \"after\": {\"L\": " : "},\n  \"skin\": {\"before\": {\"L\": ");
        meta__jnum(b, s[0]);
        meta__put(b, ", \"a\": ");
        meta__jnum(b, s[1]);
        meta__put(b, ", \"b\": ");
        meta__jnum(b, s[2]);
        meta__put(b, ", \"hue\": ");
        meta__jnum(b, more[0]);
        meta__put(b, ", \"ita\": ");
        meta__jnum(b, more[1]);
    }
    meta__put(b, "}, \"guard\": ");
    meta__jstr(b, h->guard);
}

int meta_report_json(const meta_history *h, FILE *f) {
    static const char *const kinds[] = {"analysis", "classical", "neural"};
    meta_buf b = {0};
    meta__put(&b, "{\n  \"tool\": ");
    meta__jstr(&b, h->tool);

    meta__put(&b, ",\n  \"input\": {\"file\": ");
    meta__jstr(&b, h->input[0] ? h->input : NULL);
    meta__put(&b, ", \"bytes\": ");
    meta__jnum(&b, h->input_bytes >= 0 ? (double)h->input_bytes : NAN);
    meta__put(&b, ", \"width\": %d, \"height\": %d, \"sha256\": ", h->input_w, h->input_h);
    meta__jstr(&b, h->input_sha256[0] ? h->input_sha256 : NULL);

    meta__put(&b, "},\n  \"faces\": ");
    meta__jnum(&b, h->faces >= 0 ? h->faces : NAN);
    meta__put(&b, ",\n  \"subject\": ");
    if (h->subject >= 0)
        meta__put(&b, "{\"index\": %d, \"x\": %.1f, \"y\": %.1f, \"w\": %.1f, \"h\": %.1f}", h->subject,
                  h->subject_box[0], h->subject_box[1], h->subject_box[2], h->subject_box[3]);
    else
        meta__put(&b, "null");
    meta__put(&b, ",\n  \"preset\": ");
    meta__jstr(&b, h->preset[0] ? h->preset : NULL);
    meta__put(&b, ",\n  \"output\": ");
    if (h->output_format >= 0)
        meta__put(&b, "{\"width\": %d, \"height\": %d, \"format\": \"%s\"}", h->output_w, h->output_h,
                  h->output_format == IMG_PNG ? "PNG" : "JPEG");
    else
        meta__put(&b, "null");

    meta__put(&b, ",\n  \"steps\": [");
    for (int i = 0; i < h->n_steps; i++) {
        const meta_entry *e = &h->steps[i];
        meta__put(&b, "%s\n    {\"name\": ", i ? "," : "");
        meta__jstr(&b, e->name);
        meta__put(&b, ", \"kind\": \"%s\", \"params\": ", kinds[e->kind]);
        meta__jstr(&b, e->params);
        meta__put(&b, ", \"ms\": %.1f}", e->ms);
    }
    meta__put(&b, "%s],\n  \"models\": [", h->n_steps ? "\n  " : "");
    for (int i = 0; i < h->n_models; i++) {
        meta__put(&b, "%s\n    {\"name\": ", i ? "," : "");
        meta__jstr(&b, h->models[i].name);
        meta__put(&b, ", \"version\": ");
        meta__jstr(&b, h->models[i].version);
        meta__put(&b, ", \"licence\": ");
        meta__jstr(&b, h->models[i].licence);
        meta__put(&b, "}");
    }
    meta__put(&b, "%s],\n  \"identity\": {\"distance\": ", h->n_models ? "\n  " : "");
    meta__jnum(&b, h->identity);
    meta__put(&b, ", \"warn_above\": %.1f, \"same_below\": %.1f, \"verdict\": ", META_ID_WARN, META_ID_SAME);
    meta__jstr(&b, meta_identity_verdict(h->identity));
    meta__put(&b, "},\n  \"skin_ita\": {\"before\": ");
    meta__jnum(&b, h->ita_before);
    meta__put(&b, ", \"after\": ");
    meta__jnum(&b, h->ita_after);

    meta__skin_json(&b, h);
    meta__put(&b, "},\n  \"warnings\": [");
    for (int i = 0; i < h->n_warnings; i++) {
        meta__put(&b, "%s", i ? ", " : "");
        meta__jstr(&b, h->warnings[i]);
    }
    meta__put(&b, "],\n  \"records_dropped\": %d,\n  \"digital_source_type\": ", h->dropped);
    meta__jstr(&b, meta_source_type(h));
    meta__put(&b, "\n}\n");
    return meta__flush(&b, f);
}
