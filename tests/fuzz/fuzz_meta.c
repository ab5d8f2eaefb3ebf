/* fuzz_meta.c — the XMP packet and the JSON report (meta.c) fed hostile strings: file names,
 * presets, step parameters, model names and warnings with quotes, newlines, control bytes,
 * <>&, and bytes that are not UTF-8. Both outputs are checked for well-formedness, strictly:
 * a JSON parser (RFC 8259) and an XML tag and entity walk, both requiring valid UTF-8. */
#include "fuzz.h"
#include "meta.h"

#include <math.h>
#include <string.h>

/* Length of the valid UTF-8 character at s (1..4), or 0. */
static int fuzz_utf8(const unsigned char *s, const unsigned char *end) {
    unsigned c = s[0];
    int n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!n || end - s < n) return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return n;
}

static int fuzz_utf8_ok(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        int k = fuzz_utf8(s + i, s + n);
        if (!k) return 0;
        i += (size_t)k;
    }
    return 1;
}

/* ------------------------------------------------------------ JSON */

typedef struct { const char *p, *end; } fuzz_json;

static void fuzz_json_ws(fuzz_json *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')) j->p++;
}

static int fuzz_json_lit(fuzz_json *j, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n)) return 0;
    j->p += n;
    return 1;
}

static int fuzz_json_string(fuzz_json *j) {
    if (!fuzz_json_lit(j, "\"")) return 0;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (++j->p >= j->end || !strchr("\"\\/bfnrtu", *j->p)) return 0;
            if (*j->p == 'u')
                for (int i = 0; i < 4; i++)
                    if (++j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p)) return 0;
        }
        j->p++;
    }
    return fuzz_json_lit(j, "\"");
}

static int fuzz_json_value(fuzz_json *j, int depth) {
    fuzz_json_ws(j);
    if (j->p >= j->end || depth > 16) return 0;
    char c = *j->p;
    if (c == '"') return fuzz_json_string(j);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->p++;
        fuzz_json_ws(j);
        if (fuzz_json_lit(j, close == '}' ? "}" : "]")) return 1;
        do {
            fuzz_json_ws(j);
            if (c == '{' && !(fuzz_json_string(j) && (fuzz_json_ws(j), fuzz_json_lit(j, ":")))) return 0;
            if (!fuzz_json_value(j, depth + 1)) return 0;
            fuzz_json_ws(j);
        } while (fuzz_json_lit(j, ","));
        return fuzz_json_lit(j, close == '}' ? "}" : "]");
    }
    if (fuzz_json_lit(j, "null") || fuzz_json_lit(j, "true") || fuzz_json_lit(j, "false")) return 1;
    char *e;
    const char *start = j->p;
    if (!(c == '-' || (c >= '0' && c <= '9'))) return 0;
    (void)strtod(start, &e);   /* the buffer is NUL-terminated (open_memstream) */
    if (e == start || e > j->end) return 0;
    for (const char *q = start; q < e; q++)
        if (!strchr("-+.eE0123456789", *q)) return 0;   /* no inf, nan or hex floats */
    j->p = e;
    return 1;
}

static int fuzz_json_ok(const char *s, size_t n) {
    fuzz_json j = {s, s + n};
    if (!fuzz_utf8_ok((const unsigned char *)s, n) || !fuzz_json_value(&j, 0)) return 0;
    fuzz_json_ws(&j);
    return j.p == j.end;
}

/* ------------------------------------------------------------ XML */

/* Tags balance and nest, attribute values are quoted, '&' starts a known entity, text holds
 * no '<' and no control character XML 1.0 forbids. Processing instructions are skipped. */
static int fuzz_xml_ok(const char *s, size_t n) {
    if (!fuzz_utf8_ok((const unsigned char *)s, n)) return 0;
    const char *stack[32], *p = s, *end = s + n;
    size_t len[32];
    int depth = 0;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') return 0;
        if (c == '&') {
            static const char *const ent[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
            int ok = 0;
            for (int i = 0; i < 5 && !ok; i++)
                if ((size_t)(end - p) >= strlen(ent[i]) && !memcmp(p, ent[i], strlen(ent[i]))) ok = (int)strlen(ent[i]);
            if (!ok) return 0;
            p += ok;
            continue;
        }
        if (c != '<') { p++; continue; }
        if (end - p >= 2 && p[1] == '?') {
            const char *q = strstr(p, "?>");
            if (!q || q >= end) return 0;
            p = q + 2;
            continue;
        }
        int closing = end - p >= 2 && p[1] == '/';
        const char *name = p + 1 + closing, *q = name;
        while (q < end && !strchr(" \n\t/>", *q)) q++;
        size_t nl = (size_t)(q - name);
        if (!nl) return 0;
        while (q < end && *q != '>' && *q != '/') {   /* attributes: name="value" */
            if (*q == '"') {
                const char *v = memchr(q + 1, '"', (size_t)(end - q - 1));
                if (!v || memchr(q + 1, '<', (size_t)(v - q - 1))) return 0;
                q = v;
            }
            q++;
        }
        int empty = q < end && *q == '/';
        if (empty) q++;
        if (q >= end || *q != '>') return 0;
        if (closing) {
            if (!depth || len[depth - 1] != nl || memcmp(stack[depth - 1], name, nl)) return 0;
            depth--;
        } else if (!empty) {
            if (depth == 32) return 0;
            stack[depth] = name, len[depth++] = nl;
        }
        p = q + 1;
    }
    return depth == 0;
}

/* ------------------------------------------------------------ target */

/* The next NUL-terminated field of the input ("" when it runs out; the last may lack its NUL). */
static const char *fuzz_field(const uint8_t **p, const uint8_t *end, char *buf, size_t cap) {
    size_t n = 0;
    while (*p < end && **p && n + 1 < cap) buf[n++] = (char)*(*p)++;
    while (*p < end && **p) (*p)++;
    if (*p < end) (*p)++;
    buf[n] = '\0';
    return buf;
}

FUZZ_TARGET(meta) {
    static meta_history h;   /* large: not on the stack */
    const uint8_t *p = data, *end = data + size;
    char a[400], b[400], c[400];
    meta_init(&h, fuzz_field(&p, end, a, sizeof a));
    snprintf(h.input, sizeof h.input, "%s", fuzz_field(&p, end, a, sizeof a));
    meta_preset(&h, fuzz_field(&p, end, a, sizeof a));
    h.identity = size % 3 == 0 ? NAN : (float)(size % 100) / 100;
    meta_output(&h, 600, 800, size % 2 ? IMG_PNG : IMG_JPEG);
    for (int k = 0; p < end && k < 64; k++) {
        fuzz_field(&p, end, a, sizeof a), fuzz_field(&p, end, b, sizeof b), fuzz_field(&p, end, c, sizeof c);
        meta_step(&h, (meta_kind)(k % 3), a, "%s", b);
        meta_model(&h, a, b, c);
        meta_warn(&h, "%s", c);
    }

    size_t xn;
    char *xmp = meta_xmp(&h, &xn);
    FUZZ_ASSERT(xmp && strlen(xmp) == xn, "XMP packet missing or holds a NUL");
    FUZZ_ASSERT(fuzz_xml_ok(xmp, xn), "XMP packet is not well-formed");
    free(xmp);
    for (int f = IMG_JPEG; f <= IMG_PNG; f++) {
        unsigned char *blk;
        size_t bn;
        char err[META_ERR] = "";
        if (meta_xmp_block(&h, (img_format)f, &blk, &bn, err) != 0) {
            FUZZ_ASSERT(err[0], "XMP framing refused without a reason");
            continue;
        }
        size_t framed = f == IMG_JPEG ? 2 + ((size_t)blk[2] << 8 | blk[3])
                                      : 12 + ((size_t)blk[0] << 24 | (size_t)blk[1] << 16 | (size_t)blk[2] << 8 | blk[3]);
        FUZZ_ASSERT(framed == bn, "XMP block length field disagrees with its size");
        free(blk);
    }

    char *json = NULL;
    size_t jn = 0;
    FILE *f = open_memstream(&json, &jn);
    FUZZ_ASSERT(f, "open_memstream failed");
    int rc = meta_report_json(&h, f);
    fclose(f);
    FUZZ_ASSERT(rc == 0, "JSON report failed");
    FUZZ_ASSERT(fuzz_json_ok(json, jn), "JSON report is not well-formed");
    free(json);
    return 0;
}
