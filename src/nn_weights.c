/* nn_weights.c — from a weight file to layers the kernels take. Read nn.h first.
 *
 * Sections, in the order a network meets them:
 *   1. half floats and int8 quantisation
 *   2. the container: parsing and validating .hsw files (docs/WEIGHTS.md), the Huffman
 *      decoder of coded int8 tensors, embedded blobs
 *   3. layers: dequantising and packing weights into the kernels' layouts (nn_kernels.h)
 */
#include "nn.h"
#include "nn_kernels.h"
#include "nn_int8.h"
#include "buffer.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ========================================================= 1. half floats, int8 === */

float nn_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023, bits;
    if (exp == 0) {                        /* zero or subnormal: man * 2^-24 */
        float f = ldexpf((float)man, -24);
        return sign ? -f : f;
    }
    if (exp == 31) bits = sign | 0x7f800000u | (man << 13);               /* inf, nan */
    else bits = sign | ((exp + 112) << 23) | (man << 13);                  /* rebias 15->127 */
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t nn_float_to_half(float f) {        /* round to nearest even */
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);              /* overflow -> inf */
    if (ax < 0x38800000u) {                                                 /* subnormal half */
        float a;
        memcpy(&a, &ax, 4);
        return (uint16_t)(sign | (uint32_t)lrintf(a * 16777216.0f));       /* a / 2^-24 */
    }
    uint32_t r = ax + 0xc8000fffu + ((ax >> 13) & 1);                       /* rebias + round */
    return (uint16_t)(sign | (r >> 13));
}

float nn_quantize_row(const float *x, int n, int8_t *q) {
    float m = 0;
    for (int i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    float scale = m / 127.0f;
    for (int i = 0; i < n; i++) {
        float v = scale > 0 ? roundf(x[i] / scale) : 0;
        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    return scale;
}

/* ========================================================== 2. the container === */

#define NN__MAGIC "HSNN"
#define NN__VERSION 2         /* version 1 files (no dtype 3) are read too: old golden files */
#define NN__HEADER 64
#define NN__ENTRY 96

struct nn_model {
    char network[17];        /* name from the header */
    int count;               /* tensors */
    void *owned;             /* file contents when read from disk, else NULL */
    int8_t *decoded;         /* the Huffman-coded int8 tensors, decoded; else NULL */
    size_t size;             /* container bytes */
    char err[NN_ERR];        /* first error of the nn_layer_* calls */
    const nn_runtime *rt;    /* the precision its layers are built with, its contexts' kernels */
    nn_wtensor tensors[];    /* [count], in the same allocation */
};

static uint32_t nn__u32(const unsigned char *p) {
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t nn__u64(const unsigned char *p) { return nn__u32(p) | (uint64_t)nn__u32(p + 4) << 32; }

static uint64_t nn__checksum(const unsigned char *p, size_t n) {  /* FNV-1a 64 over LE words */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i + 8 <= n; i += 8) h = (h ^ nn__u64(p + i)) * 0x100000001b3ull;
    return h;
}

static const size_t nn__dtype_size[] = {4, 2, 1};

/* dtype 3: int8 values stored as a canonical Huffman code (docs/WEIGHTS.md).
 * A Huffman code gives frequent values short bit strings and rare ones long strings, none the
 * start of another, so a stream of codes needs no separators: face_recognition's weights take
 * about 5.8 bits per value instead of 8. "Canonical" means the file stores only each value's
 * code length; the codes follow from them (shortest first, then by value, each code the
 * previous one plus 1, shifted left when the length grows), so writer and reader agree.
 * Codes are at most 12 bits and streams are read LSB-first (codes bit-reversed, as in DEFLATE),
 * so the next 12 bits of a stream index a 4096-entry table that gives the value and length of
 * the code they start with: one lookup per value. The code must be complete (every 12-bit
 * string starts with a code), so every table entry is a valid one. The block holds four
 * independent streams, decoded interleaved, so the CPU overlaps four lookups at a time. */
#define NN__I8_CODED 3
#define NN__HUFF_BITS 12
#define NN__HUFF_HEAD (256 + 16)   /* u8 lengths[256], u32 stream sizes[4] */

typedef struct { uint64_t bits; int nb; const unsigned char *p, *end; int8_t *out; size_t n; } nn__hstream;

static inline uint64_t nn__load64(const unsigned char *p) {      /* 8 bytes, little-endian */
    uint64_t x;
    memcpy(&x, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

static const char *nn__huff_decode(const unsigned char *blk, uint64_t nbytes, int8_t *out, size_t n) {
    if (nbytes < NN__HUFF_HEAD) return "coded block too short";
    uint32_t count[NN__HUFF_BITS + 1] = {0}, next[NN__HUFF_BITS + 1] = {0}, kraft = 0, code = 0;
    for (int v = 0; v < 256; v++) {
        if (blk[v] > NN__HUFF_BITS) return "code length > 12";
        if (blk[v]) count[blk[v]]++, kraft += 1u << (NN__HUFF_BITS - blk[v]);
    }
    if (kraft != 1u << NN__HUFF_BITS) return "code lengths do not form a complete code";
    for (int l = 1; l <= NN__HUFF_BITS; l++) code = (code + count[l - 1]) << 1, next[l] = code;
    uint16_t table[1 << NN__HUFF_BITS];     /* length << 8 | value; complete: every entry is set */
    for (int v = 0; v < 256; v++) {
        uint32_t l = blk[v], c = next[l]++, r = 0;
        for (uint32_t i = 0; i < l; i++) r |= (c >> i & 1) << (l - 1 - i);
        for (uint32_t j = r; l && j < 1u << NN__HUFF_BITS; j += 1u << l) table[j] = (uint16_t)(l << 8 | v);
    }
    nn__hstream s[4];
    const unsigned char *p = blk + NN__HUFF_HEAD;
    uint64_t total = NN__HUFF_HEAD;
    for (int k = 0; k < 4; k++) {
        uint32_t sz = nn__u32(blk + 256 + 4 * k);
        total += sz;
        if (total > nbytes) return "stream sizes do not match the block size";
        size_t a = k * n / 4, b = (k + 1) * n / 4;
        s[k] = (nn__hstream){0, 0, p, p + sz, out + a, b - a};
        p += sz;
    }
    if (total != nbytes) return "stream sizes do not match the block size";
    /* Fast part, the four streams in registers (hence the macros): while every stream has 8
     * bytes left to load and 4 values to decode, top its bit buffer up to 56..63 bits with
     * one 8-byte load, then decode 4 values from each (4 x 12 bits <= 56). */
    uint32_t e;
#define NN__HFILL(k) (b##k |= nn__load64(s[k].p) << n##k, s[k].p += (63 - n##k) >> 3, n##k |= 56)
#define NN__HGET(k) (e = table[b##k & ((1u << NN__HUFF_BITS) - 1)], \
                     *o##k++ = (int8_t)(e & 255), b##k >>= e >> 8, n##k -= e >> 8)
    uint64_t b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    uint32_t n0 = 0, n1 = 0, n2 = 0, n3 = 0;
    int8_t *o0 = s[0].out, *o1 = s[1].out, *o2 = s[2].out, *o3 = s[3].out;
    size_t left = s[0].n;                       /* the smallest count: stream 0's */
    for (; left >= 4 && s[0].end - s[0].p >= 8 && s[1].end - s[1].p >= 8 &&
           s[2].end - s[2].p >= 8 && s[3].end - s[3].p >= 8; left -= 4) {
        NN__HFILL(0), NN__HFILL(1), NN__HFILL(2), NN__HFILL(3);
        for (int j = 0; j < 4; j++) NN__HGET(0), NN__HGET(1), NN__HGET(2), NN__HGET(3);
    }
#undef NN__HFILL
#undef NN__HGET
    size_t done = (size_t)(o0 - s[0].out);
    s[0].bits = b0, s[1].bits = b1, s[2].bits = b2, s[3].bits = b3;
    s[0].nb = (int)n0, s[1].nb = (int)n1, s[2].nb = (int)n2, s[3].nb = (int)n3;
    s[0].out = o0, s[1].out = o1, s[2].out = o2, s[3].out = o3;
    for (int k = 0; k < 4; k++) s[k].n -= done;
    for (int k = 0; k < 4; k++) {           /* the ends, a byte at a time */
        nn__hstream *t = &s[k];
        for (; t->n; t->n--) {
            while (t->nb <= 56 && t->p < t->end) t->bits |= (uint64_t)*t->p++ << t->nb, t->nb += 8;
            e = table[t->bits & ((1u << NN__HUFF_BITS) - 1)];
            if ((int)(e >> 8) > t->nb) return "stream ends before its last value";
            *t->out++ = (int8_t)(e & 255);
            t->bits >>= e >> 8;
            t->nb -= (int)(e >> 8);
        }
        if (t->p != t->end || t->nb >= 8) return "stream longer than its values";
    }
    return NULL;
}

/* The Huffman-coded int8 tensors (dtype 3) of m decoded into one buffer of `bytes`, so that
 * every consumer sees plain int8; the table's entries start at entries, entry bytes apart. */
static int nn__decode_coded(nn_model *m, const unsigned char *entries, uint32_t entry, size_t bytes, const char *what,
                            char err[NN_ERR]) {
    if (bytes && !(m->decoded = buffer_alloc(bytes))) return nn__seterr(err, "%s: out of memory", what), -1;
    size_t at = 0;
    for (int i = 0; i < m->count; i++) {
        const unsigned char *e = entries + (size_t)i * entry;
        nn_wtensor *t = &m->tensors[i];
        if (e[48] != NN__I8_CODED) continue;
        size_t n = (size_t)t->shape[0] * t->shape[1] * t->shape[2] * t->shape[3];
        const char *bad = nn__huff_decode(t->data, nn__u64(e + 80), m->decoded + at, n);
        if (bad) return nn__seterr(err, "%s: tensor %d: %s", what, i, bad), -1;
        t->data = m->decoded + at;
        at += (n + 63) / 64 * 64;
    }
    return 0;
}

int nn_model_parse(nn_model **out, const void *bytes, size_t size, const char *what, char err[NN_ERR]) {
    const unsigned char *b = bytes;
    *out = NULL;
    if (size < NN__HEADER || memcmp(b, NN__MAGIC, 4) != 0)
        return nn__seterr(err, "%s: not a headshot weight file (bad magic)", what), -1;
    uint32_t version = nn__u32(b + 4);
    if (version != 1 && version != NN__VERSION)
        return nn__seterr(err, "%s: weight format version %u, this build reads %d", what, nn__u32(b + 4), NN__VERSION), -1;
    uint32_t count = nn__u32(b + 8), entry = nn__u32(b + 12);
    uint64_t table = nn__u64(b + 16), poff = nn__u64(b + 24), psize = nn__u64(b + 32), sum = nn__u64(b + 40);
    if (size % 64 || entry != NN__ENTRY || table != NN__HEADER || poff % 64 || psize % 64 ||
        count > 100000 || poff < table + (uint64_t)count * entry || poff > size || psize != size - poff)
        return nn__seterr(err, "%s: truncated or inconsistent weight file", what), -1;
#ifdef NN_FUZZ_NO_CHECKSUM   /* defined by `make fuzz` only, so random input reaches the parser */
    sum = nn__checksum(b + NN__HEADER, size - NN__HEADER);
#endif
    if (nn__checksum(b + NN__HEADER, size - NN__HEADER) != sum)
        return nn__seterr(err, "%s: weight file checksum mismatch (corrupted)", what), -1;

    nn_model *m = calloc(1, sizeof *m + count * sizeof *m->tensors);
    if (!m) return nn__seterr(err, "%s: out of memory", what), -1;
    size_t decoded = 0;      /* bytes for the dtype-3 tensors, decoded */
    memcpy(m->network, b + 48, 16);
    m->rt = nn_runtime_default();
    m->count = (int)count;
    m->size = size;
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *e = b + table + (size_t)i * entry;
        nn_wtensor *t = &m->tensors[i];
        memcpy(t->name, e, 48);
        int dtype = e[48], ndim = e[49];
        uint64_t off = nn__u64(e + 72), nbytes = nn__u64(e + 80), soff = nn__u64(e + 88), n = 1;
        const char *bad = NULL;
        if (t->name[47] || !t->name[0]) bad = "bad name";
        else if (dtype > (version == 1 ? NN_I8 : NN__I8_CODED) || ndim < 1 || ndim > 4) bad = "bad dtype or rank";
        for (int d = 0; !bad && d < 4; d++) {
            uint32_t s = nn__u32(e + 52 + 4 * d);
            if (s == 0 || s > (1u << 24) || (d >= ndim && s != 1) || n > (1ull << 38)) bad = "bad shape";
            t->shape[d] = (int)s;
            n *= s;
        }
        int coded = dtype == NN__I8_CODED;   /* every value takes at least one bit */
        if (!bad && (coded ? nbytes < NN__HUFF_HEAD || n > 8 * (nbytes - NN__HUFF_HEAD) : n * nn__dtype_size[dtype] != nbytes))
            bad = "data size does not match the shape";
        if (!bad && (off % 64 || off > psize || nbytes > psize - off))
            bad = "data out of bounds";
        if (!bad && (dtype == NN_I8 || coded) && (soff % 64 || soff > psize || (uint64_t)t->shape[0] * 4 > psize - soff))
            bad = "scales out of bounds";
        for (uint32_t j = 0; !bad && j < i; j++)
            if (!strcmp(m->tensors[j].name, t->name)) bad = "duplicate name";
        if (bad) {
            nn__seterr(err, "%s: tensor %u: %s", what, i, bad);
            nn_model_close(m);
            return -1;
        }
        t->dtype = coded ? NN_I8 : (nn_dtype)dtype;   /* coded: t->data is the block until decoded */
        t->ndim = ndim;
        t->data = b + poff + off;
        t->scales = t->dtype == NN_I8 ? (const float *)(const void *)(b + poff + soff) : NULL;
        if (coded) decoded += (n + 63) / 64 * 64;
    }
    if (nn__decode_coded(m, b + table, entry, decoded, what, err)) return nn_model_close(m), -1;
    *out = m;
    return 0;
}

/* Symbols generated by the Makefile (build/embed.S): {name, begin, size} rows, then zeros. */
extern const nn_blob nn_embedded_table[];

const nn_blob *nn_embedded(int i) {
    for (int k = 0; k <= i; k++)
        if (!nn_embedded_table[k].name) return NULL;
    return &nn_embedded_table[i];
}

int nn_model_open(nn_model **m, const char *name, const char *dir, char err[NN_ERR]) {
    *m = NULL;
    if (!dir) {
        for (int i = 0; nn_embedded(i); i++)
            if (!strcmp(nn_embedded(i)->name, name))
                return nn_model_parse(m, nn_embedded(i)->begin, nn_embedded(i)->size, name, err);
        return nn__seterr(err, "network '%s' is not embedded in this build", name), -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.hsw", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return nn__seterr(err, "%s: %s", path, strerror(errno)), -1;
    long n = (fseek(f, 0, SEEK_END) == 0) ? ftell(f) : -1;
    void *buf = n > 0 ? buffer_alloc((size_t)n) : NULL;
    int ok = buf && fseek(f, 0, SEEK_SET) == 0 && fread(buf, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    if (!ok) {
        free(buf);
        return nn__seterr(err, "%s: cannot read weight file", path), -1;
    }
    if (nn_model_parse(m, buf, (size_t)n, path, err) != 0) {
        free(buf);
        return -1;
    }
    (*m)->owned = buf;
    return 0;
}

void nn_model_close(nn_model *m) {
    if (!m) return;
    free(m->owned);
    free(m->decoded);
    free(m);
}

const nn_wtensor *nn_model_find(const nn_model *m, const char *name) {
    for (int i = 0; i < m->count; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}
int nn_model_count(const nn_model *m) { return m->count; }
const nn_wtensor *nn_model_at(const nn_model *m, int i) { return i >= 0 && i < m->count ? &m->tensors[i] : NULL; }
const char *nn_model_error(const nn_model *m) { return m->err[0] ? m->err : NULL; }

nn_ctx *nn_model_ready(const nn_model *m, const char *name, char err[NN_ERR]) {
    if (m->err[0]) return snprintf(err, NN_ERR, "%s", m->err), NULL;
    nn_ctx *c = nn_ctx_new(name, err);
    if (c) nn_ctx_runtime(c, m->rt);
    return c;
}
void nn_model_runtime(nn_model *m, const nn_runtime *rt) { m->rt = rt ? rt : nn_runtime_default(); }
const nn_runtime *nn_model_runtime_of(const nn_model *m) { return m->rt; }
size_t nn_model_bytes(const nn_model *m) { return m->size; }

/* ================================================================= 3. layers === */

static void nn__model_fail(nn_model *m, const char *fmt, ...) {
    if (m->err[0]) return;
    va_list ap;
    va_start(ap, fmt);
    int k = snprintf(m->err, NN_ERR, "%s: ", m->network);
    vsnprintf(m->err + k, NN_ERR - k, fmt, ap);
    va_end(ap);
}

/* All of tensor NAME as fp32 (dequantised); checks the element count. Caller frees. */
static float *nn__dequant(nn_model *m, const char *name, const int *shape, int ndim) {
    const nn_wtensor *t = nn_model_find(m, name);
    if (!t) return nn__model_fail(m, "missing tensor %s", name), NULL;
    for (int d = 0; d < 4; d++)
        if (t->shape[d] != (d < ndim ? shape[d] : 1)) {
            nn__model_fail(m, "%s has shape [%d,%d,%d,%d], the network expects [%d,%d,%d,%d]", name,
                           t->shape[0], t->shape[1], t->shape[2], t->shape[3], shape[0],
                           ndim > 1 ? shape[1] : 1, ndim > 2 ? shape[2] : 1, ndim > 3 ? shape[3] : 1);
            return NULL;
        }
    size_t n = (size_t)t->shape[0] * t->shape[1] * t->shape[2] * t->shape[3], row = n / t->shape[0];
    float *x = buffer_alloc(n * sizeof(float));
    if (!x) return nn__model_fail(m, "out of memory"), NULL;
    if (t->dtype == NN_F32) memcpy(x, t->data, n * sizeof(float));
    for (size_t i = 0; t->dtype == NN_F16 && i < n; i++) x[i] = nn_half_to_float(((const uint16_t *)t->data)[i]);
    for (size_t r = 0, i = 0; t->dtype == NN_I8 && r < (size_t)t->shape[0]; r++)   /* a row per scale */
        for (size_t e = i + row; i < e; i++) x[i] = ((const int8_t *)t->data)[i] * t->scales[r];
    return x;
}

const float *nn_vector(nn_model *m, const char *name, int n) {
    /* Vectors are stored as f32 (docs/WEIGHTS.md) so they can be used in place, unconverted. */
    const nn_wtensor *t = nn_model_find(m, name);
    if (!t) return nn__model_fail(m, "missing tensor %s", name), NULL;
    if (t->dtype != NN_F32 || t->ndim != 1 || t->shape[0] != n)
        return nn__model_fail(m, "%s must be an f32 vector of %d values", name, n), NULL;
    return t->data;
}

static void nn__layer_init(nn_model *m, nn_layer *l, const char *name, nn_layer_kind kind,
                           int kh, int kw, int cin, int cout) {
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    l->kind = kind;
    l->kh = kh, l->kw = kw, l->cin = cin, l->cout = cout;
    char wname[64], bname[64];
    snprintf(wname, sizeof wname, "%s.w", name);
    snprintf(bname, sizeof bname, "%s.b", name);
    int shape[4] = {cout, kh, kw, kind == NN_DWCONV ? 1 : cin};
    l->weights = nn__dequant(m, wname, shape, 4);
    l->bias = buffer_alloc(cout * sizeof(float));
    if (!l->weights || !l->bias) return;
    memset(l->bias, 0, cout * sizeof(float));
    if (nn_model_find(m, bname)) {
        int bshape[1] = {cout};
        float *b = nn__dequant(m, bname, bshape, 1);
        if (b) memcpy(l->bias, b, cout * sizeof(float));
        free(b);
    }
}

/* Winograd F(2x2, 3x3) (Lavin and Gray, 2015): a 2x2 block of outputs of a 3x3 convolution
 * from its 4x4 block of inputs with 16 multiplications per input and output channel instead
 * of 36. The inputs d are transformed to V = B'dB, the weights g to U = GgG', the 16
 * elementwise products V.U summed over input channels are 16 matrix products (our igemm
 * kernels, one tap each), and the output is Y = A'MA. The weights are transformed once, here:
 * U[xi] for xi = 4i + j, packed like a 1x1 convolution's panels with a zero bias (the bias is
 * added after the output transform). Only layers whose channels are multiples of 16 (no tails
 * in the transforms) and whose weights are not wide: our wide layers run on small maps, where
 * Winograd's 16/9 larger weights cost more memory traffic than its multiplications save. */
#define NN__WINO_MAX_WEIGHTS (64 * 64)     /* cin * cout at most this */
static void nn__pack_winograd(nn_layer *l) {
    int panels = l->cout / NN_NR, cin = l->cin;
    size_t panel = NN_NR + (size_t)cin * NN_NR, per_xi = panels * panel;
    l->wino = buffer_alloc(16 * per_xi * sizeof(float));
    if (!l->wino) return;
    memset(l->wino, 0, 16 * per_xi * sizeof(float));
    for (int o = 0; o < l->cout; o++)
        for (int k = 0; k < cin; k++) {
            const float *w = l->weights + (size_t)o * 9 * cin + k;   /* g[ky][kx] = w[(3 ky + kx) cin] */
            float gt[4][3], u;                                       /* G g, then (G g) G' */
            for (int x = 0; x < 3; x++) {
                float g0 = w[x * cin], g1 = w[(3 + x) * cin], g2 = w[(6 + x) * cin];
                gt[0][x] = g0, gt[1][x] = 0.5f * (g0 + g1 + g2), gt[2][x] = 0.5f * (g0 - g1 + g2), gt[3][x] = g2;
            }
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
                    const float *r = gt[i];
                    u = j == 0 ? r[0] : j == 1 ? 0.5f * (r[0] + r[1] + r[2]) : j == 2 ? 0.5f * (r[0] - r[1] + r[2]) : r[2];
                    l->wino[(i * 4 + j) * per_xi + (o / NN_NR) * panel + NN_NR + (size_t)k * NN_NR + o % NN_NR] = u;
                }
        }
}

/* Panels of NN_NR output channels: bias[16], then w[tap][cin][16] (see nn_kernels.h); and the
 * Winograd weights where they apply. packed stays NULL if either fails. */
static void nn__pack_conv(nn_layer *l) {
    int taps = l->kh * l->kw, panels = (l->cout + NN_NR - 1) / NN_NR;
    size_t panel = NN_NR + (size_t)taps * l->cin * NN_NR;
    l->packed = buffer_alloc(panels * panel * sizeof(float));
    if (!l->packed) return;
    size_t rows = (size_t)taps * l->cin;   /* weight (o, t, k) is row t * cin + k of output o */
    for (int n = 0; n < panels; n++) {     /* written in order: the outputs past cout are zeros */
        float *p = l->packed + n * panel;
        for (int j = 0; j < NN_NR; j++) p[j] = n * NN_NR + j < l->cout ? l->bias[n * NN_NR + j] : 0;
        for (size_t r = 0; r < rows; r++)
            for (int j = 0, o = n * NN_NR; j < NN_NR; j++, o++) p[NN_NR + r * NN_NR + j] = o < l->cout ? l->weights[o * rows + r] : 0;
    }
    if (l->kh == 3 && l->kw == 3 && l->cin % NN_NR == 0 && l->cout % NN_NR == 0 &&
        l->cin * l->cout <= NN__WINO_MAX_WEIGHTS) {
        nn__pack_winograd(l);
        if (!l->wino) free(l->packed), l->packed = NULL;
    }
}

/* The fp32 weights in the stored layout are freed once packed: every kernel set, the
 * reference included, reads the packed ones: a 12 MP headshot's peak RSS went from 246 to
 * 215 MB. */
static void nn__drop_weights(nn_layer *l) {
    free(l->weights);
    l->weights = NULL;
}

void nn_layer_conv(nn_model *m, nn_layer *l, const char *name, int kh, int kw, int cin, int cout) {
    nn__layer_init(m, l, name, NN_CONV, kh, kw, cin, cout);
    if (l->weights && l->bias) nn__pack_conv(l);
    nn__drop_weights(l);
    if (!l->packed) nn__model_fail(m, "layer %s not loaded", name);
}

void nn_layer_deconv(nn_model *m, nn_layer *l, const char *name, int kh, int kw, int cin, int cout) {
    nn__layer_init(m, l, name, NN_DECONV, kh, kw, cin, cout);   /* reference kernel only */
    if (!l->weights) nn__model_fail(m, "layer %s not loaded", name);
}

/* Channels padded to a multiple of 16: bias[cp], then w[tap][cp] (see nn_kernels.h). */
static void nn__pack_dwconv(nn_layer *l) {
    int taps = l->kh * l->kw;
    size_t cp = nn__round_up(l->cout, NN_NR);
    l->packed = buffer_alloc((1 + taps) * cp * sizeof(float));
    if (!l->packed) return;
    memset(l->packed, 0, (1 + taps) * cp * sizeof(float));
    for (int c = 0; c < l->cout; c++) {
        l->packed[c] = l->bias[c];
        for (int t = 0; t < taps; t++) l->packed[(1 + t) * cp + c] = l->weights[c * taps + t];
    }
}

void nn_layer_dwconv(nn_model *m, nn_layer *l, const char *name, int kh, int kw, int channels) {
    nn__layer_init(m, l, name, NN_DWCONV, kh, kw, channels, channels);
    if (l->weights && l->bias) nn__pack_dwconv(l);
    nn__drop_weights(l);
    if (!l->packed) nn__model_fail(m, "layer %s not loaded", name);
}

int nn_layer_random(nn_layer *l, nn_layer_kind kind, int kh, int kw, int cin, int cout, uint32_t seed) {
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "random");
    l->kind = kind, l->kh = kh, l->kw = kw, l->cin = cin, l->cout = cout;
    size_t n = (size_t)cout * kh * kw * (kind == NN_DWCONV ? 1 : cin);
    l->weights = buffer_alloc(n * sizeof(float));
    l->bias = buffer_alloc(cout * sizeof(float));
    if (!l->weights || !l->bias) return nn_layer_free(l), -1;
    for (size_t i = 0; i < n + cout; i++) {
        seed = seed * 1664525u + 1013904223u;
        float v = (seed >> 8) / 16777216.0f - 0.5f;
        if (i < n) l->weights[i] = v;
        else l->bias[i - n] = v;
    }
    if (kind == NN_CONV) nn__pack_conv(l);
    if (kind == NN_DWCONV) nn__pack_dwconv(l);
    if (kind != NN_DECONV) nn__drop_weights(l);
    return kind != NN_DECONV && !l->packed ? (nn_layer_free(l), -1) : 0;
}

void nn_layer_free(nn_layer *l) {
    free(l->packed);
    free(l->wino);
    free(l->bias);
    free(l->weights);
    nn_q8_free(l->q8);
    memset(l, 0, sizeof *l);
}
