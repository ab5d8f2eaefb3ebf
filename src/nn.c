/* nn.c — headshot's neural-network runtime. Read nn.h first: it explains the model.
 *
 * Sections, in the order a network meets them:
 *   1. half floats and int8 quantisation
 *   2. the weight container: parsing and validating .hsw files, embedded blobs
 *   3. layers: dequantising and packing weights for the kernels
 *   4. machine: CPU feature detection, kernel sets, the thread pool
 *   5. contexts and the memory planner
 *   6. ops: shapes, reference arithmetic and dispatch to the optimised kernels
 */
#include "nn.h"
#include "nn_kernels.h"
#include "nn_int8.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

static void nn__seterr(char *err, const char *fmt, ...) {
    if (!err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, NN_ERR, fmt, ap);
    va_end(ap);
}

/* Buffers of a megabyte and more (packed weights of the big layers, arenas) are placed on
 * 2 MB boundaries and offered to the kernel as huge pages: a fresh process then takes one
 * page fault per 2 MB instead of one per 4 KB, which is most of a cold start's cost. */
#define NN_HUGE (2u << 20)

void *nn_buffer_alloc(size_t n) {
    void *p = NULL;
    size_t align = NN_ALIGN, size = n + NN_ALIGN;
    if (size >= NN_HUGE / 2) align = NN_HUGE, size = (size + NN_HUGE - 1) / NN_HUGE * NN_HUGE;
    if (posix_memalign(&p, align, size) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    if (align == NN_HUGE) madvise(p, size, MADV_HUGEPAGE);   /* a hint: failure changes nothing */
#endif
    return p;
}

static double nn__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ====================================================== 1. half floats, quantisation === */

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

/* ======================================================== 2. the weight container === */

#define NN__MAGIC "HSNN"
#define NN__VERSION 2         /* version 1 files (no dtype 3) are read too: old golden files */
#define NN__HEADER 64
#define NN__ENTRY 96

struct nn_model {
    char network[17];        /* name from the header */
    int count;               /* tensors */
    nn_wtensor *tensors;     /* [count] */
    void *owned;             /* file contents when read from disk, else NULL */
    int8_t *decoded;         /* the Huffman-coded int8 tensors, decoded; else NULL */
    size_t size;             /* container bytes */
    char err[NN_ERR];        /* first error of the nn_layer_* calls */
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

    nn_model *m = calloc(1, sizeof *m);
    if (!m || !(m->tensors = calloc(count ? count : 1, sizeof *m->tensors))) {
        free(m);
        return nn__seterr(err, "%s: out of memory", what), -1;
    }
    size_t decoded = 0;      /* bytes for the dtype-3 tensors, decoded */
    memcpy(m->network, b + 48, 16);
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
    if (decoded && !(m->decoded = nn_buffer_alloc(decoded))) {
        nn_model_close(m);
        return nn__seterr(err, "%s: out of memory", what), -1;
    }
    size_t at = 0;
    for (uint32_t i = 0; i < count; i++) {             /* every consumer sees plain int8 */
        const unsigned char *e = b + table + (size_t)i * entry;
        nn_wtensor *t = &m->tensors[i];
        if (e[48] != NN__I8_CODED) continue;
        size_t n = (size_t)t->shape[0] * t->shape[1] * t->shape[2] * t->shape[3];
        const char *bad = nn__huff_decode(t->data, nn__u64(e + 80), m->decoded + at, n);
        if (bad) {
            nn__seterr(err, "%s: tensor %u: %s", what, i, bad);
            nn_model_close(m);
            return -1;
        }
        t->data = m->decoded + at;
        at += (n + 63) / 64 * 64;
    }
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
    void *buf = n > 0 ? nn_buffer_alloc((size_t)n) : NULL;
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
    free(m->tensors);
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
size_t nn_model_bytes(const nn_model *m) { return m->size; }

/* ========================================================================= 3. layers === */

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
    float *x = nn_buffer_alloc(n * sizeof(float));
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
    l->bias = nn_buffer_alloc(cout * sizeof(float));
    if (!l->weights || !l->bias) return;
    memset(l->bias, 0, cout * sizeof(float));
    if (nn_model_find(m, bname)) {
        int bshape[1] = {cout};
        float *b = nn__dequant(m, bname, bshape, 1);
        if (b) memcpy(l->bias, b, cout * sizeof(float));
        free(b);
    }
}

static size_t nn__round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

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
    l->wino = nn_buffer_alloc(16 * per_xi * sizeof(float));
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
    l->packed = nn_buffer_alloc(panels * panel * sizeof(float));
    if (!l->packed) return;
    memset(l->packed, 0, panels * panel * sizeof(float));
    for (int o = 0; o < l->cout; o++) {
        float *p = l->packed + (o / NN_NR) * panel;
        int j = o % NN_NR;
        p[j] = l->bias[o];
        for (int t = 0; t < taps; t++)
            for (int k = 0; k < l->cin; k++)
                p[NN_NR + ((size_t)t * l->cin + k) * NN_NR + j] = l->weights[((size_t)o * taps + t) * l->cin + k];
    }
    if (l->kh == 3 && l->kw == 3 && l->cin % NN_NR == 0 && l->cout % NN_NR == 0 &&
        l->cin * l->cout <= NN__WINO_MAX_WEIGHTS) {
        nn__pack_winograd(l);
        if (!l->wino) free(l->packed), l->packed = NULL;
    }
}

void nn_layer_conv(nn_model *m, nn_layer *l, const char *name, int kh, int kw, int cin, int cout) {
    nn__layer_init(m, l, name, NN_CONV, kh, kw, cin, cout);
    if (l->weights && l->bias) nn__pack_conv(l);
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
    l->packed = nn_buffer_alloc((1 + taps) * cp * sizeof(float));
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
    if (!l->packed) nn__model_fail(m, "layer %s not loaded", name);
}

int nn_layer_random(nn_layer *l, nn_layer_kind kind, int kh, int kw, int cin, int cout, uint32_t seed) {
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "random");
    l->kind = kind, l->kh = kh, l->kw = kw, l->cin = cin, l->cout = cout;
    size_t n = (size_t)cout * kh * kw * (kind == NN_DWCONV ? 1 : cin);
    l->weights = nn_buffer_alloc(n * sizeof(float));
    l->bias = nn_buffer_alloc(cout * sizeof(float));
    if (!l->weights || !l->bias) return nn_layer_free(l), -1;
    for (size_t i = 0; i < n + cout; i++) {
        seed = seed * 1664525u + 1013904223u;
        float v = (seed >> 8) / 16777216.0f - 0.5f;
        if (i < n) l->weights[i] = v;
        else l->bias[i - n] = v;
    }
    if (kind == NN_CONV) nn__pack_conv(l);
    if (kind == NN_DWCONV) nn__pack_dwconv(l);
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

/* ========================================================================= 4. machine === */

/* --- CPU features. A kernel set needs the CPU bits *and* the OS saving its registers on a
 * context switch (XCR0, read by XGETBV): AVX2 the XMM/YMM state (bits 1, 2), AVX-512 also
 * the opmask and both halves of the ZMM state (bits 5, 6, 7). */
#if defined(__x86_64__)
#include <cpuid.h>
static int nn__cpu_x86_level(void) {   /* 0: baseline, 1: AVX2 + FMA, 2: and AVX-512 F/DQ/BW/VL */
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!fma || !osxsave || !avx) return 0;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 0x6) != 0x6) return 0;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (!((b >> 5) & 1)) return 0;                      /* AVX2 */
    unsigned avx512 = 1u << 16 | 1u << 17 | 1u << 30 | 1u << 31;   /* F, DQ, BW, VL */
    return (b & avx512) == avx512 && (xlo & 0xe6) == 0xe6 ? 2 : 1;
}
#endif

/* Every kernel set built into this binary, best first. */
static const nn_kernel_set *const nn__kernel_sets[] = {
#if defined(__x86_64__)
    &nn_kernels_avx512, &nn_kernels_avx2,
#elif defined(__aarch64__)
    &nn_kernels_neon,                                   /* NEON is mandatory on aarch64 */
#endif
    &nn_kernels_portable,
};
#define NN__NSETS (int)(sizeof nn__kernel_sets / sizeof nn__kernel_sets[0])

static int nn__can_run(const nn_kernel_set *k) {
#if defined(__x86_64__)
    if (k == &nn_kernels_avx512) return nn__cpu_x86_level() >= 2;
    if (k == &nn_kernels_avx2) return nn__cpu_x86_level() >= 1;
#endif
    (void)k;
    return 1;
}

static const nn_kernel_set *nn__best_kernels(void) {
    int i = 0;
    while (!nn__can_run(nn__kernel_sets[i])) i++;      /* the last one, portable, always can */
    return nn__kernel_sets[i];
}

static const nn_kernel_set *nn__kernels;   /* NULL: reference loops */
static int nn__isa_chosen;

/* HEADSHOT_ISA=reference|portable|avx2|avx512|neon forces a kernel set (tests of every path);
 * one this CPU cannot run falls back to the best, with a warning, so the variable can never
 * cause SIGILL. */
static void nn__isa_init(void) {
    if (nn__isa_chosen) return;
    const char *env = getenv("HEADSHOT_ISA");
    char err[NN_ERR];
    if (!env || !*env || nn_set_isa(env, err) != 0) {
        if (env && *env) fprintf(stderr, "headshot: HEADSHOT_ISA=%s: %s; using %s\n", env, err, nn__best_kernels()->name);
        nn__kernels = nn__best_kernels();
    }
    nn__isa_chosen = 1;
}

int nn_set_isa(const char *name, char err[NN_ERR]) {
    const nn_kernel_set *k = !strcmp(name, "auto") ? nn__best_kernels() : NULL;
    for (int i = 0; i < NN__NSETS && !k; i++)
        if (!strcmp(name, nn__kernel_sets[i]->name) && nn__can_run(nn__kernel_sets[i])) k = nn__kernel_sets[i];
    if (!k && strcmp(name, "reference")) {
        char list[64] = "";
        for (int i = 0; i < NN__NSETS; i++)
            if (nn__can_run(nn__kernel_sets[i])) strcat(strcat(list, nn__kernel_sets[i]->name), ", ");
        return nn__seterr(err, "kernel set '%s' is not available on this CPU (it runs: auto, %sreference)", name, list), -1;
    }
    nn__kernels = k;                                    /* NULL: reference */
    nn__isa_chosen = 1;
    return 0;
}
const char *nn_isa(void) {
    nn__isa_init();
    return nn__kernels ? nn__kernels->name : "reference";
}
const char *nn_isa_best(void) { return nn__best_kernels()->name; }
const char *nn_isa_built(int i, int *runs) {
    if (i < 0 || i >= NN__NSETS) return NULL;
    if (runs) *runs = nn__can_run(nn__kernel_sets[i]);
    return nn__kernel_sets[i]->name;
}

/* --- Thread pool.
 *
 * A job is n independent tasks. Thread p of P (the caller is 0) owns the contiguous block of
 * tasks [p n / P, (p + 1) n / P) and takes them first, then helps with the others' blocks.
 * Owning the same block job after job keeps a thread on the same part of the feature maps
 * from one layer to the next, so the data it reads is mostly in its own cache: on this
 * 2-core VM reading the other core's half of a 72x72x32 map took 0.13 ms, as long as the op
 * itself. Tasks are taken by atomically incrementing the block's 64-bit counter
 * [generation:32][next task:32]; the generation in the value read says which job the task
 * belongs to, so a thread that wakes late never runs a task of the wrong job. The caller
 * waits only for tasks still being computed, never for an idle worker to notice the job: a
 * descheduled worker's block is simply taken by the others. Workers spin briefly between
 * jobs (a network runs dozens of small ops in a row and waking a sleeping thread costs more
 * than many of them), then sleep on a condition variable. */
#define NN__MAX_THREADS 64

typedef void (*nn__task_fn)(void *arg, int i);

#define NN__MAX_TASKS (1 << 30)

typedef struct {
    nn__task_fn fn;
    void *arg;
    int n, parts;                /* tasks, blocks (= threads taking part) */
    atomic_int done;             /* tasks finished */
} nn__job;

static struct {
    int started;                 /* worker threads created (thread 0 is the caller) */
    int active;                  /* threads taking part in jobs, caller included */
    nn__job jobs[2];             /* the current job and the previous one, by generation & 1 */
    _Atomic uint64_t next[NN__MAX_THREADS];   /* per block: generation << 32 | next task */
    _Atomic uint32_t gen;        /* generation of the current job: the workers' signal */
    atomic_int sleepers;
    pthread_mutex_t mu;
    pthread_cond_t wake;
} nn__pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static inline void nn__cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Runs tasks of block b until it has none left. */
static void nn__take_block(int b) {
    for (;;) {
        uint64_t t = atomic_fetch_add(&nn__pool.next[b], 1);
        nn__job *j = &nn__pool.jobs[(t >> 32) & 1];
        int i = (int)(uint32_t)t;
        if (b >= j->parts || i >= (int)((long long)j->n * (b + 1) / j->parts)) return;
        j->fn(j->arg, i);
        atomic_fetch_add(&j->done, 1);
    }
}

/* Thread me's own block first, then the others'. */
static void nn__take_tasks(int me, int parts) {
    for (int k = 0; k < parts; k++) nn__take_block((me + k) % parts);
}

static void *nn__worker(void *arg) {
    int me = (int)(intptr_t)arg;
    uint32_t seen = 0;           /* generation of the last job looked at */
    for (;;) {
        for (int spin = 0; atomic_load(&nn__pool.gen) == seen; spin++) {
            if (spin < 20000) { nn__cpu_relax(); continue; }
            pthread_mutex_lock(&nn__pool.mu);
            atomic_fetch_add(&nn__pool.sleepers, 1);
            while (atomic_load(&nn__pool.gen) == seen) pthread_cond_wait(&nn__pool.wake, &nn__pool.mu);
            atomic_fetch_sub(&nn__pool.sleepers, 1);
            pthread_mutex_unlock(&nn__pool.mu);
        }
        seen = atomic_load(&nn__pool.gen);
        int parts = nn__pool.jobs[seen & 1].parts;
        if (me < parts) nn__take_tasks(me, parts);
    }
    return NULL;
}

/* Sets the threads used from the next op on (n < 1: online cores). Not thread-safe: call it
 * between runs, from the thread that runs the networks. */
void nn_set_threads(int n) {
    if (n < 1) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores < 1 ? 1 : (int)cores;
    }
    if (n > NN__MAX_THREADS) n = NN__MAX_THREADS;
    while (nn__pool.started + 1 < n) {
        pthread_t t;
        if (pthread_create(&t, NULL, nn__worker, (void *)(intptr_t)(nn__pool.started + 1)) != 0) break;
        pthread_detach(t);
        nn__pool.started++;
    }
    nn__pool.active = nn__pool.started + 1 < n ? nn__pool.started + 1 : n;
}

int nn_threads(void) {
    if (!nn__pool.active) nn_set_threads(0);
    return nn__pool.active;
}

/* Runs fn(arg, 0..n-1), spread over the pool; returns when all are done. */
static void nn__parallel(int n, nn__task_fn fn, void *arg) {
    if (n <= 1 || n > NN__MAX_TASKS || nn_threads() == 1) {
        for (int i = 0; i < n; i++) fn(arg, i);
        return;
    }
    uint32_t gen = atomic_load(&nn__pool.gen) + 1;
    nn__job *j = &nn__pool.jobs[gen & 1];
    j->fn = fn, j->arg = arg, j->n = n, j->parts = nn__pool.active < n ? nn__pool.active : n;
    atomic_store(&j->done, 0);
    for (int b = 0; b < j->parts; b++)   /* block b starts at its first task */
        atomic_store(&nn__pool.next[b], (uint64_t)gen << 32 | (uint32_t)((long long)n * b / j->parts));
    atomic_store(&nn__pool.gen, gen);    /* publish */
    if (atomic_load(&nn__pool.sleepers)) {
        pthread_mutex_lock(&nn__pool.mu);
        pthread_cond_broadcast(&nn__pool.wake);
        pthread_mutex_unlock(&nn__pool.mu);
    }
    nn__take_tasks(0, j->parts);
    for (int spin = 0; atomic_load(&j->done) < n; spin++)   /* tasks still running elsewhere */
        if (spin < 1000) nn__cpu_relax();
        else sched_yield();
}

void nn_parallel_for(int n, void (*fn)(void *arg, int i), void *arg) { nn__parallel(n, fn, arg); }

typedef struct {
    void (*fn)(void *arg, int lo, int hi);
    void *arg;
    int n, bands;
} nn__rows_job;

static void nn__rows_task(void *arg, int i) {
    const nn__rows_job *j = arg;
    j->fn(j->arg, (int)((long long)j->n * i / j->bands), (int)((long long)j->n * (i + 1) / j->bands));
}

void nn_parallel_rows(int n, void (*fn)(void *arg, int lo, int hi), void *arg) {
    nn__rows_job j = {fn, arg, n, nn_threads() * 4};   /* a few bands per thread: loads vary */
    if (j.bands > n) j.bands = n;
    if (j.bands <= 1) {
        if (n > 0) fn(arg, 0, n);
        return;
    }
    nn__parallel(j.bands, nn__rows_task, &j);
}

/* ============================================================ 5. contexts, planner === */

typedef struct {
    size_t bytes;            /* rounded up, padding included */
    int born, dies;          /* op counter at nn_new / nn_free (INT32_MAX: never freed) */
    size_t offset;           /* in the arena, assigned by the planner */
} nn__alloc;

struct nn_ctx {
    char name[32];
    int planning;            /* 1 during the planning pass */
    int in_h, in_w, in_c;    /* the input shape the plan is for (0: no plan) */
    nn__alloc *allocs;       /* [nallocs] every nn_new of one run, in call order */
    int nallocs, cap;
    int next_alloc;          /* nn_new calls so far in the current pass */
    int clock;               /* advances at every nn_new / nn_free */
    unsigned char *arena;    /* NN_ALIGN-aligned, arena_bytes */
    size_t arena_bytes;
    float *zeros;            /* zero row for padding taps, >= max_row floats */
    size_t max_row;
    nn_stats stats;          /* of the plan */
    int trace;
    double t0;               /* trace: start of the current op */
    char err[NN_ERR];        /* sticky error of the current pass */
};

static int nn__trace_default;
void nn_trace_all(int on) { nn__trace_default = on; }

nn_ctx *nn_ctx_new(const char *name, char err[NN_ERR]) {
    nn_ctx *c = calloc(1, sizeof *c);
    if (!c) return nn__seterr(err, "out of memory"), NULL;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->trace = nn__trace_default;
    return c;
}

void nn_ctx_free(nn_ctx *c) {
    if (!c) return;
    free(c->allocs);
    free(c->arena);
    free(c->zeros);
    free(c);
}

nn_stats nn_ctx_stats(const nn_ctx *c) { return c->stats; }
void nn_ctx_trace(nn_ctx *c, int on) { c->trace = on; }
int nn_planning(const nn_ctx *c) { return c->planning; }

void nn_fail(nn_ctx *c, const char *fmt, ...) {
    if (c->err[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, NN_ERR, fmt, ap);
    va_end(ap);
}

nn_tensor nn_new(nn_ctx *c, int h, int w, int ch) {
    nn_tensor t = {h, w, ch, NULL, -1};
    if (c->err[0]) return t;
    if (h <= 0 || w <= 0 || ch <= 0 || (double)h * w * ch > 1e9) {
        nn_fail(c, "%s: bad tensor shape %dx%dx%d", c->name, h, w, ch);
        return t;
    }
    size_t bytes = nn__round_up((size_t)h * w * ch * sizeof(float), NN_ALIGN) + NN_ALIGN;
    if (c->planning) {
        if (c->nallocs == c->cap) {
            int cap = c->cap ? 2 * c->cap : 256;
            nn__alloc *a = realloc(c->allocs, cap * sizeof *a);
            if (!a) return nn_fail(c, "out of memory"), t;
            c->allocs = a, c->cap = cap;
        }
        c->allocs[c->nallocs] = (nn__alloc){bytes, c->clock++, INT32_MAX, 0};
        t.id = c->nallocs++;
        return t;
    }
    if (c->next_alloc >= c->nallocs || c->allocs[c->next_alloc].bytes != bytes) {
        nn_fail(c, "%s: run differs from its plan (allocation %d)", c->name, c->next_alloc);
        return t;
    }
    t.id = c->next_alloc++;
    t.data = (float *)(c->arena + c->allocs[t.id].offset);
    return t;
}

void nn_free(nn_ctx *c, nn_tensor t) {
    if (c->planning && t.id >= 0 && t.id < c->nallocs) c->allocs[t.id].dies = c->clock++;
}

/* Greedy by size (as TensorFlow Lite's planner): biggest buffers first, each at the lowest
 * offset where it overlaps no already-placed buffer that is alive at the same time. */
static int nn__by_size(const void *a, const void *b) {
    const nn__alloc *x = *(nn__alloc *const *)a, *y = *(nn__alloc *const *)b;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : x->born - y->born;
}

static size_t nn__plan_offsets(nn__alloc *a, int n) {
    nn__alloc **order = malloc((n ? n : 1) * sizeof *order);
    if (!order) return 0;
    for (int i = 0; i < n; i++) order[i] = &a[i];
    qsort(order, n, sizeof *order, nn__by_size);
    size_t peak = 0;
    for (int i = 0; i < n; i++) {
        nn__alloc *x = order[i];
        size_t off = 0;
        for (int moved = 1; moved;) {            /* bump past every conflict until none left */
            moved = 0;
            for (int j = 0; j < i; j++) {
                nn__alloc *y = order[j];
                int alive_together = x->born < y->dies && y->born < x->dies;
                if (alive_together && off < y->offset + y->bytes && y->offset < off + x->bytes)
                    off = y->offset + y->bytes, moved = 1;
            }
        }
        x->offset = off;
        if (off + x->bytes > peak) peak = off + x->bytes;
    }
    free(order);
    return peak;
}

static void nn__copy_input(nn_tensor t, const float *in) {
    if (t.data) memcpy(t.data, in, nn_numel(t) * sizeof(float));
}

int nn_run(nn_ctx *c, nn_forward_fn f, const void *net, const float *in, int h, int w, int ch,
           nn_tensor *out, char err[NN_ERR]) {
    nn__isa_init();
    if (c->in_h != h || c->in_w != w || c->in_c != ch) {        /* plan for this shape */
        c->planning = 1;
        c->nallocs = 0, c->clock = 0, c->err[0] = 0, c->max_row = 0;
        memset(&c->stats, 0, sizeof c->stats);
        nn_tensor x = nn_new(c, h, w, ch);
        nn_tensor tmp[NN_MAX_OUTPUTS];
        f(c, net, x, tmp);
        c->planning = 0;
        if (c->err[0]) {
            c->in_h = 0;
            return nn__seterr(err, "%s", c->err), -1;
        }
        size_t peak = nn__plan_offsets(c->allocs, c->nallocs);
        free(c->arena);
        free(c->zeros);
        c->arena = nn_buffer_alloc(peak);
        c->zeros = nn_buffer_alloc((c->max_row + NN_ALIGN) * sizeof(float));
        if (!c->arena || !c->zeros) {
            c->in_h = 0;
            return nn__seterr(err, "%s: out of memory for %zu bytes of activations", c->name, peak), -1;
        }
        memset(c->zeros, 0, (c->max_row + NN_ALIGN) * sizeof(float));
        c->stats.arena_bytes = peak;
        c->in_h = h, c->in_w = w, c->in_c = ch;
    }
    c->next_alloc = 0, c->clock = 0, c->err[0] = 0;
    c->stats.ops = 0, c->stats.macs = 0, c->stats.split_ops = 0;
    nn_tensor x = nn_new(c, h, w, ch);
    nn__copy_input(x, in);
    c->t0 = nn__now();
    int n = f(c, net, x, out);
    if (c->err[0]) return nn__seterr(err, "%s", c->err), -1;
    return n;
}

/* ============================================================================ 6. ops === */

/* Every op begins with nn__op_begin (sticky error check, stats) and ends with nn__op_end
 * (trace line). During planning, ops stop after allocating their result. */
static int nn__op_begin(nn_ctx *c, uint64_t macs) {
    if (c->err[0]) return 0;
    c->stats.ops++;
    c->stats.macs += macs;
    if (c->trace && !c->planning) c->t0 = nn__now();
    return !c->planning;
}

static void nn__op_end(nn_ctx *c, const char *op, const char *name, nn_tensor x, nn_tensor y, uint64_t macs) {
    if (!c->trace || c->planning || c->err[0]) return;
    double ms = (nn__now() - c->t0) * 1e3;
    fprintf(stderr, "%-10s %-12s %-24s %4dx%-4dx%-4d -> %4dx%-4dx%-4d %9.3f MMAC %8.3f ms\n", c->name, op,
            name ? name : "", x.h, x.w, x.c, y.h, y.w, y.c, macs / 1e6, ms);
}

static int nn__same_shape(nn_tensor a, nn_tensor b) { return a.h == b.h && a.w == b.w && a.c == b.c; }

/* --- activations, scalar: the definition every kernel must match. */
static float nn__act1(float v, const nn_act *a, int ch) {
    switch (a->kind) {
    case NN_LINEAR: return v;
    case NN_RELU: return v > 0 ? v : 0;
    case NN_RELU6: return v < 0 ? 0 : v > 6 ? 6 : v;
    case NN_LEAKY: return v >= 0 ? v : v * a->leak;
    case NN_PRELU: return v >= 0 ? v : v * a->slope[ch];
    case NN_SIGMOID: return 1.0f / (1.0f + expf(-v));
    case NN_TANH: return tanhf(v);
    case NN_HARDSWISH: return v * (v <= -3 ? 0 : v >= 3 ? 1 : (v + 3) / 6);
    }
    return v;
}

/* Activation over whole rows: the kind is switched once, so the common ones vectorise. */
static void nn__act_rows(float *y, size_t pixels, int ch, const nn_act *a) {
    size_t n = pixels * ch;
    switch (a->kind) {
    case NN_LINEAR: return;
    case NN_RELU: for (size_t i = 0; i < n; i++) y[i] = y[i] > 0 ? y[i] : 0; return;
    case NN_RELU6: for (size_t i = 0; i < n; i++) y[i] = y[i] < 0 ? 0 : y[i] > 6 ? 6 : y[i]; return;
    case NN_HARDSWISH:
        for (size_t i = 0; i < n; i++) y[i] = y[i] * (y[i] <= -3 ? 0 : y[i] >= 3 ? 1 : (y[i] + 3) / 6);
        return;
    case NN_LEAKY: for (size_t i = 0; i < n; i++) y[i] = y[i] < 0 ? y[i] * a->leak : y[i]; return;
    case NN_PRELU:
        for (size_t p = 0; p < pixels; p++, y += ch)
            for (int k = 0; k < ch; k++) y[k] = y[k] < 0 ? y[k] * a->slope[k] : y[k];
        return;
    default:
        for (size_t p = 0; p < pixels; p++)
            for (int k = 0; k < ch; k++) y[p * ch + k] = nn__act1(y[p * ch + k], a, k);
    }
}

/* When an op is worth more than one thread. Splitting costs little to start (the workers
 * spin) but every thread then holds a part of the output in its own cache, and the next op
 * pulls it across: for a small op that costs more than the second thread gains (blazeface on
 * 2 threads: 1.0 ms with the old limits of 64 K elements / 100 K / 200 K MACs, 0.73-0.85 ms
 * with these; 1 thread: 0.70 ms). Measured with `headshot bench --networks --threads 2`. */
#define NN__PAR_ELEMENTS (1u << 20)   /* memory-bound ops: output elements */
#define NN__PAR_DW_MACS 4000000u       /* depthwise convolution */
#define NN__PAR_CONV_MACS 2000000u     /* convolution (and dense) */

/* An op's tasks on the pool, counted in the stats when they do use more than one thread. */
static void nn__op_parallel(nn_ctx *c, int tasks, nn__task_fn fn, void *arg) {
    if (tasks > 1 && nn_threads() > 1) c->stats.split_ops++;
    nn__parallel(tasks, fn, arg);
}

/* Memory-bound ops split their pixels into this many chunks when they are big enough to
 * be worth waking the pool. */
#define NN__ROW_CHUNK 4096
static int nn__row_tasks(size_t pixels, int ch) {
    if (pixels * ch < NN__PAR_ELEMENTS) return 1;
    return (int)((pixels + NN__ROW_CHUNK - 1) / NN__ROW_CHUNK);
}

/* The part of an activation the GEMM epilogue does; the rest (sigmoid, tanh, hardswish)
 * is applied to the tile afterwards. */
static nn_epilogue nn__epilogue(const nn_act *a) {
    nn_epilogue e = {-FLT_MAX, FLT_MAX, 0, 0, NULL, NULL};
    if (a->kind == NN_RELU) e.min = 0;
    if (a->kind == NN_RELU6) e.min = 0, e.max = 6;
    if (a->kind == NN_LEAKY) e.leaky = 1, e.leak = a->leak;
    if (a->kind == NN_PRELU) e.leaky = 1, e.prelu = a->slope;
    return e;
}
static int nn__act_in_epilogue(const nn_act *a) { return a->kind <= NN_PRELU; }

/* --- padding arithmetic (TensorFlow's). */
static int nn__out_size(int in, int k, int stride, nn_padding pad, int *before) {
    if (pad == NN_SAME) {
        int out = (in + stride - 1) / stride, total = (out - 1) * stride + k - in;
        *before = total > 0 ? total / 2 : 0;
        return out;
    }
    *before = 0;
    return in >= k ? (in - k) / stride + 1 : 0;
}

/* --- convolution. */
#define NN_SPAN_MAX 32       /* kw * cin at most this: a stem's kernel row is one tap (nn__conv) */
typedef struct {
    nn_ctx *c;
    const nn_layer *l;
    nn_tensor x, y;
    int stride, pt, pl;      /* stride, padding top and left */
    int kw_ind, cin_ind;     /* taps per kernel row and channels per tap, as the kernels see them */
    const float **ind;       /* [oh*ow*kh*kw_ind] indirection buffer */
    const float *residual;   /* oh*ow*cout added before the activation, or NULL */
    nn_act act;
    int rows_per_task;       /* output pixels per task, whole micro-tiles */
    int groups;              /* tasks per row band, each over its share of the channel panels */
} nn__conv_job;

static void nn__conv_indirection(nn__conv_job *j, int p0, int p1) {
    const nn_layer *l = j->l;
    int taps = l->kh * j->kw_ind;
    for (int p = p0; p < p1; p++) {
        int oy = p / j->y.w, ox = p % j->y.w;
        for (int ky = 0; ky < l->kh; ky++)
            for (int kx = 0; kx < j->kw_ind; kx++) {
                int iy = oy * j->stride - j->pt + ky, ix = ox * j->stride - j->pl + kx;
                int in = iy >= 0 && iy < j->x.h && ix >= 0 && ix < j->x.w;
                j->ind[(size_t)p * taps + ky * j->kw_ind + kx] =
                    in ? j->x.data + ((size_t)iy * j->x.w + ix) * j->x.c : j->c->zeros;
            }
    }
}

static void nn__conv_task(void *arg, int task) {
    nn__conv_job *j = arg;
    const nn_layer *l = j->l;
    const nn_kernel_set *k = nn__kernels;
    int taps = l->kh * j->kw_ind, M = j->y.h * j->y.w, band = task / j->groups, group = task % j->groups;
    int p0 = band * j->rows_per_task, p1 = p0 + j->rows_per_task < M ? p0 + j->rows_per_task : M;
    int per_group = ((l->cout + k->nr - 1) / k->nr + j->groups - 1) / j->groups * k->nr;
    int n_lo = group * per_group, n_hi = n_lo + per_group < l->cout ? n_lo + per_group : l->cout;
    if (j->groups == 1) nn__conv_indirection(j, p0, p1);   /* else built once before the tasks */
    size_t panel = NN_NR + (size_t)l->kh * l->kw * l->cin * NN_NR;
    nn_epilogue e = nn__epilogue(&j->act);
    for (int n0 = n_lo; n0 < n_hi; n0 += k->nr) {
        int nc = n_hi - n0 < k->nr ? n_hi - n0 : k->nr;
        e.prelu = j->act.kind == NN_PRELU ? j->act.slope + n0 : NULL;
        for (int p = p0; p < p1; p += k->mr) {
            int mr = p1 - p < k->mr ? p1 - p : k->mr;
            e.residual = j->residual ? j->residual + (size_t)p * l->cout + n0 : NULL;
            k->igemm(mr, nc, taps, j->cin_ind, j->ind + (size_t)p * taps, l->packed + (n0 / NN_NR) * panel,
                     j->y.data + (size_t)p * l->cout + n0, l->cout, &e);
        }
    }
    if (!nn__act_in_epilogue(&j->act) && j->groups == 1)
        nn__act_rows(j->y.data + (size_t)p0 * l->cout, p1 - p0, l->cout, &j->act);
}

/* The reference: a direct loop nest over NHWC, no packing. The oracle of every kernel. */
static void nn__conv_reference(nn__conv_job *j) {
    const nn_layer *l = j->l;
    nn_tensor x = j->x, y = j->y;
    for (int oy = 0; oy < y.h; oy++)
        for (int ox = 0; ox < y.w; ox++)
            for (int o = 0; o < l->cout; o++) {
                float s = l->bias[o];
                for (int ky = 0; ky < l->kh; ky++)
                    for (int kx = 0; kx < l->kw; kx++) {
                        int iy = oy * j->stride - j->pt + ky, ix = ox * j->stride - j->pl + kx;
                        if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
                        const float *in = x.data + ((size_t)iy * x.w + ix) * x.c;
                        const float *w = l->weights + (((size_t)o * l->kh + ky) * l->kw + kx) * l->cin;
                        for (int k = 0; k < l->cin; k++) s += in[k] * w[k];
                    }
                size_t at = ((size_t)oy * y.w + ox) * y.c + o;
                y.data[at] = nn__act1(j->residual ? s + j->residual[at] : s, &j->act, o);
            }
}

/* --- Winograd F(2x2, 3x3) at run time (the weights: nn__pack_winograd). The output's 2x2
 * tiles are taken in chunks of NN__WINO_CHUNK; for each chunk the input transform fills V
 * [16][chunk][cin], 16 igemm calls give M [16][chunk][cout], and the output transform writes
 * the tiles with bias, residual and activation. Task s takes a contiguous run of chunks and
 * scratch slot s, one slot per thread, so that a thread reuses the same cache-warm scratch;
 * the arithmetic of every output is the same whichever task does it. The transforms are the
 * kernel set's (nn_winograd.h): 16 channels at a time, the layer's channels being multiples
 * of 16. */
#define NN__WINO_CHUNK 24         /* tiles per chunk: whole micro-tiles for MR = 4, 6 or 12; 24 beat 12, 48, 96 */
#define NN__WINO_SLOTS 16         /* scratch slots, the most threads one layer runs on */
#define NN__WINO_MIN_TILES 64     /* smaller outputs (8x8 and less) run direct */

typedef struct {
    nn__conv_job *j;
    int tiles_x, tiles, chunks;
    int tasks;                    /* <= the slots planned */
    float *scratch;               /* [slots][16 * chunk * (cin + cout)] */
} nn__wino_job;

/* The tile (tx, ty): its 16 input pixels (the zero row where they fall in the padding)
 * through the kernel set's input transform into v. */
static void nn__wino_input(const nn__conv_job *j, int tx, int ty, float *v, size_t xs) {
    const float *src[16];
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++) {
            int iy = 2 * ty - j->pt + i, ix = 2 * tx - j->pl + k;
            src[i * 4 + k] = iy >= 0 && iy < j->x.h && ix >= 0 && ix < j->x.w
                                 ? j->x.data + ((size_t)iy * j->x.w + ix) * j->x.c : j->c->zeros;
        }
    nn__kernels->wino_input(src, j->x.c, v, xs);
}

/* The tile's output pixels (those inside the output) from m, with bias, residual, activation. */
static void nn__wino_output(const nn__conv_job *j, int tx, int ty, const float *m, size_t xs) {
    const nn_layer *l = j->l;
    float *out[4];
    const float *res[4];
    for (int p = 0; p < 4; p++) {
        int oy = 2 * ty + p / 2, ox = 2 * tx + p % 2;
        size_t at = ((size_t)oy * j->y.w + ox) * l->cout;
        out[p] = oy < j->y.h && ox < j->y.w ? j->y.data + at : NULL;
        res[p] = out[p] && j->residual ? j->residual + at : NULL;
    }
    nn_epilogue e = nn__epilogue(&j->act);
    int rest = e.leaky || !nn__act_in_epilogue(&j->act);   /* activations done a pixel at a time */
    nn__kernels->wino_output(m, xs, l->cout, l->bias, j->residual ? res : NULL, out, rest ? -FLT_MAX : e.min,
                             rest ? FLT_MAX : e.max);
    for (int p = 0; rest && p < 4; p++)
        if (out[p]) nn__act_rows(out[p], 1, l->cout, &j->act);
}

static void nn__wino_task(void *arg, int slot) {
    const nn__wino_job *w = arg;
    const nn__conv_job *j = w->j;
    const nn_layer *l = j->l;
    const nn_kernel_set *k = nn__kernels;
    int cin = l->cin, cout = l->cout;
    float *v = w->scratch + (size_t)slot * 16 * NN__WINO_CHUNK * (cin + cout), *m = v + (size_t)16 * NN__WINO_CHUNK * cin;
    size_t panel = NN_NR + (size_t)cin * NN_NR, per_xi = cout / NN_NR * panel;
    nn_epilogue plain = {-FLT_MAX, FLT_MAX, 0, 0, NULL, NULL};
    const float *rows[NN__WINO_CHUNK];
    for (int chunk = slot * w->chunks / w->tasks; chunk < (slot + 1) * w->chunks / w->tasks; chunk++) {
        int t0 = chunk * NN__WINO_CHUNK, nt = w->tiles - t0 < NN__WINO_CHUNK ? w->tiles - t0 : NN__WINO_CHUNK;
        for (int t = 0; t < nt; t++)
            nn__wino_input(j, (t0 + t) % w->tiles_x, (t0 + t) / w->tiles_x, v + (size_t)t * cin, (size_t)NN__WINO_CHUNK * cin);
        for (int xi = 0; xi < 16; xi++) {
            for (int t = 0; t < nt; t++) rows[t] = v + ((size_t)xi * NN__WINO_CHUNK + t) * cin;
            float *mx = m + (size_t)xi * NN__WINO_CHUNK * cout;
            for (int n0 = 0; n0 < cout; n0 += k->nr) {
                int nc = cout - n0 < k->nr ? cout - n0 : k->nr;
                for (int r = 0; r < nt; r += k->mr)
                    k->igemm(nt - r < k->mr ? nt - r : k->mr, nc, 1, cin, rows + r, l->wino + xi * per_xi + (n0 / NN_NR) * panel,
                             mx + (size_t)r * cout + n0, cout, &plain);
            }
        }
        for (int t = 0; t < nt; t++)
            nn__wino_output(j, (t0 + t) % w->tiles_x, (t0 + t) / w->tiles_x, m + (size_t)t * cout, (size_t)NN__WINO_CHUNK * cout);
    }
}

/* A layer with int8 weights (nn_layer_conv_int8): nn_int8.c does the arithmetic, with the
 * reference's C kernel when the reference is chosen. */
static nn_tensor nn__conv_int8(nn_ctx *c, nn_tensor x, nn_tensor y, const nn_layer *l, int stride, int pt, int pl,
                               const nn_tensor *residual, nn_act act, const char *opname) {
    size_t bytes = nn_q8_conv_scratch(l, x.h, x.w, y.h, y.w, stride, pt, pl);
    nn_tensor s = nn_new(c, 1, 1, (int)((bytes + sizeof(float) - 1) / sizeof(float)));
    nn_free(c, s);
    uint64_t macs = (uint64_t)y.h * y.w * l->cout * l->kh * l->kw * l->cin;
    if (!nn__op_begin(c, macs)) return y;
    nn_epilogue e = nn__epilogue(&act);
    e.residual = residual ? residual->data : NULL;
    int threads = nn__kernels && macs >= NN__PAR_CONV_MACS ? nn_threads() : 1;
    if (threads > 1) c->stats.split_ops++;
    nn_q8_conv(l, x, y, stride, pt, pl, e, s.data, threads, nn_isa());
    if (!nn__act_in_epilogue(&act)) nn__act_rows(y.data, (size_t)y.h * y.w, l->cout, &act);
    char op[24];
    snprintf(op, sizeof op, "%s.i8", opname);
    nn__op_end(c, op, l->name, x, y, macs);
    return y;
}

static nn_tensor nn__conv(nn_ctx *c, nn_tensor x, const nn_layer *l, int stride, nn_padding pad,
                          const nn_tensor *residual, nn_act act, const char *opname) {
    nn_tensor y = {0, 0, 0, NULL, -1};
    if (c->err[0]) return y;
    if (l->kind != NN_CONV || x.c != l->cin || (!l->packed && !l->q8)) {
        nn_fail(c, "%s %s: input has %d channels, layer wants %d", opname, l->name, x.c, l->cin);
        return y;
    }
    int pt, pl, oh = nn__out_size(x.h, l->kh, stride, pad, &pt), ow = nn__out_size(x.w, l->kw, stride, pad, &pl);
    if (residual && (residual->h != oh || residual->w != ow || residual->c != l->cout))
        nn_fail(c, "%s %s: residual %dx%dx%d does not match the output %dx%dx%d", opname, l->name, residual->h,
                residual->w, residual->c, oh, ow, l->cout);
    y = nn_new(c, oh, ow, l->cout);
    if (l->q8) return nn__conv_int8(c, x, y, l, stride, pt, pl, residual, act, opname);
    int M = oh * ow, taps = l->kh * l->kw;
    /* A stem with few input channels (RGB) runs as kh taps of kw * cin floats each: in NHWC
     * the pixels under one kernel row are adjacent, and the packed weights [tap][cin] have the
     * same order either way, so the sums and their order are unchanged. Only the pointer loads
     * and the tap loop's overhead per 3 channels go. The input is first copied with its left
     * and right padding, so that every span lies inside a row; rows above and below read the
     * zero row, as before. */
    nn__conv_job j = {c, l, x, y, stride, pt, pl, l->kw, l->cin, NULL, residual ? residual->data : NULL, act, 0, 1};
    int tiles_x = (ow + 1) / 2, tiles = tiles_x * ((oh + 1) / 2), chunks = (tiles + NN__WINO_CHUNK - 1) / NN__WINO_CHUNK;
    if (l->wino && stride == 1 && tiles >= NN__WINO_MIN_TILES) {
        int slots = chunks < NN__WINO_SLOTS ? chunks : NN__WINO_SLOTS;
        nn__wino_job w = {&j, tiles_x, tiles, chunks, 1, NULL};
        nn_tensor scratch = nn_new(c, slots * 16 * NN__WINO_CHUNK, 1, l->cin + l->cout);
        nn_free(c, scratch);
        if ((size_t)l->cin > c->max_row) c->max_row = l->cin;
        uint64_t macs = (uint64_t)M * l->cout * taps * l->cin;
        if (!nn__op_begin(c, macs)) return y;
        if (!nn__kernels) {
            nn__conv_reference(&j);
        } else {
            w.scratch = scratch.data;
            if (macs >= NN__PAR_CONV_MACS) w.tasks = nn_threads() < slots ? nn_threads() : slots;
            nn__op_parallel(c, w.tasks, nn__wino_task, &w);
        }
        nn__op_end(c, opname, l->name, x, y, macs);
        return y;
    }
    nn_tensor xp = {0, 0, 0, NULL, -1};
    if (l->kw > 1 && l->cin * l->kw <= NN_SPAN_MAX) {
        int pr = (ow - 1) * stride - pl + l->kw - x.w;
        xp = nn_new(c, x.h, pl + x.w + (pr > 0 ? pr : 0), x.c);
        j.x = xp, j.pl = 0, j.kw_ind = 1, j.cin_ind = l->kw * l->cin;
    }
    nn_tensor ind = nn_new(c, M, l->kh * j.kw_ind, sizeof(void *) / sizeof(float));
    nn_free(c, ind);
    nn_free(c, xp);
    if ((size_t)j.cin_ind > c->max_row) c->max_row = j.cin_ind;
    uint64_t macs = (uint64_t)M * l->cout * taps * l->cin;
    if (!nn__op_begin(c, macs)) return y;
    j.ind = (const float **)(void *)ind.data;
    if (!nn__kernels) {
        j.x = x, j.pl = pl;
        nn__conv_reference(&j);
    } else {
        if (xp.data)
            for (int r = 0; r < x.h; r++) {
                float *d = xp.data + (size_t)r * xp.w * x.c;
                memset(d, 0, (size_t)xp.w * x.c * sizeof(float));
                memcpy(d + (size_t)pl * x.c, x.data + (size_t)r * x.w * x.c, (size_t)x.w * x.c * sizeof(float));
            }
        /* Tasks of whole micro-tiles of output pixels, a few per thread. With fewer tiles than
         * that (the deep layers of a small map, where the weights are most of the memory
         * traffic) each task takes every pixel and a share of the output channels instead, so
         * that every thread has work and reads only its share of the weights. */
        int mr = nn__kernels->mr, tiles = (M + mr - 1) / mr, per = 1;
        int want = nn_threads() * 4, panels = (l->cout + nn__kernels->nr - 1) / nn__kernels->nr;
        if (macs < NN__PAR_CONV_MACS) per = tiles;
        else if (tiles > want) per = (tiles + want - 1) / want;
        else per = tiles, j.groups = panels < want ? panels : want;
        j.rows_per_task = per * mr;
        if (j.groups > 1) nn__conv_indirection(&j, 0, M);
        nn__op_parallel(c, (M + j.rows_per_task - 1) / j.rows_per_task * j.groups, nn__conv_task, &j);
        if (j.groups > 1 && !nn__act_in_epilogue(&act)) nn__act_rows(y.data, M, l->cout, &act);
    }
    nn__op_end(c, opname, l->name, x, y, macs);
    return y;
}

nn_tensor nn_conv2d(nn_ctx *c, nn_tensor x, const nn_layer *l, int stride, nn_padding pad, nn_act act) {
    return nn__conv(c, x, l, stride, pad, NULL, act, "conv");
}

nn_tensor nn_conv2d_add(nn_ctx *c, nn_tensor x, const nn_layer *l, int stride, nn_padding pad, nn_tensor r, nn_act act) {
    return nn__conv(c, x, l, stride, pad, &r, act, "conv+add");
}

nn_tensor nn_dense(nn_ctx *c, nn_tensor x, const nn_layer *l, nn_act act) {
    nn_tensor flat = x;
    flat.h = flat.w = 1, flat.c = x.h * x.w * x.c;
    return nn__conv(c, flat, l, 1, NN_VALID, NULL, act, "dense");
}

/* --- depthwise convolution. */
typedef struct {
    nn_ctx *c;
    const nn_layer *l;
    nn_tensor x, y;
    int stride, pt, pl;
    nn_act act;
} nn__dw_job;

static void nn__dw_row(void *arg, int oy) {
    nn__dw_job *j = arg;
    const nn_layer *l = j->l;
    const float *rows[16];   /* kh <= 16, checked by nn_dwconv2d */
    for (int ky = 0; ky < l->kh; ky++) {
        int iy = oy * j->stride - j->pt + ky;
        rows[ky] = iy >= 0 && iy < j->x.h ? j->x.data + (size_t)iy * j->x.w * j->x.c : NULL;
    }
    nn_dwrow d = {j->y.w, j->x.w, l->cout, (int)nn__round_up(l->cout, NN_NR), l->kh, l->kw, j->stride, j->pl};
    nn_epilogue e = nn__epilogue(&j->act);
    float *out = j->y.data + (size_t)oy * j->y.w * j->y.c;
    nn__kernels->dwconv(&d, rows, l->packed, out, &e);
    if (!nn__act_in_epilogue(&j->act)) nn__act_rows(out, j->y.w, j->y.c, &j->act);
}

static void nn__dw_reference(nn__dw_job *j) {
    const nn_layer *l = j->l;
    nn_tensor x = j->x, y = j->y;
    for (int oy = 0; oy < y.h; oy++)
        for (int ox = 0; ox < y.w; ox++)
            for (int ch = 0; ch < y.c; ch++) {
                float s = l->bias[ch];
                for (int ky = 0; ky < l->kh; ky++)
                    for (int kx = 0; kx < l->kw; kx++) {
                        int iy = oy * j->stride - j->pt + ky, ix = ox * j->stride - j->pl + kx;
                        if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
                        s += x.data[((size_t)iy * x.w + ix) * x.c + ch] * l->weights[(ch * l->kh + ky) * l->kw + kx];
                    }
                y.data[((size_t)oy * y.w + ox) * y.c + ch] = nn__act1(s, &j->act, ch);
            }
}

nn_tensor nn_dwconv2d(nn_ctx *c, nn_tensor x, const nn_layer *l, int stride, nn_padding pad, nn_act act) {
    nn_tensor y = {0, 0, 0, NULL, -1};
    if (c->err[0]) return y;
    if (l->kind != NN_DWCONV || x.c != l->cin || !l->packed || l->kh > 16) {
        nn_fail(c, "dwconv %s: input has %d channels, layer wants %d", l->name, x.c, l->cin);
        return y;
    }
    int pt, pl, oh = nn__out_size(x.h, l->kh, stride, pad, &pt), ow = nn__out_size(x.w, l->kw, stride, pad, &pl);
    y = nn_new(c, oh, ow, l->cout);
    uint64_t macs = (uint64_t)oh * ow * l->cout * l->kh * l->kw;
    if (!nn__op_begin(c, macs)) return y;
    nn__dw_job j = {c, l, x, y, stride, pt, pl, act};
    if (!nn__kernels) nn__dw_reference(&j);
    else if (macs < NN__PAR_DW_MACS) for (int r = 0; r < oh; r++) nn__dw_row(&j, r);
    else nn__op_parallel(c, oh, nn__dw_row, &j);
    nn__op_end(c, "dwconv", l->name, x, y, macs);
    return y;
}

/* --- transposed convolution (TF Conv2DBackpropInput), gather form: each output pixel sums
 * the input pixels whose stride grid lands on it, so the loop is race-free and exact. */
nn_tensor nn_deconv2d(nn_ctx *c, nn_tensor x, const nn_layer *l, int stride, nn_padding pad, nn_act act) {
    nn_tensor y = {0, 0, 0, NULL, -1};
    if (c->err[0]) return y;
    if (l->kind != NN_DECONV || x.c != l->cin || !l->weights) {
        nn_fail(c, "deconv %s: input has %d channels, layer wants %d", l->name, x.c, l->cin);
        return y;
    }
    int oh = pad == NN_SAME ? x.h * stride : (x.h - 1) * stride + l->kh;
    int ow = pad == NN_SAME ? x.w * stride : (x.w - 1) * stride + l->kw;
    int pt = 0, pl = 0;
    if (pad == NN_SAME) {    /* padding of the forward conv that maps y back onto x */
        int th = (x.h - 1) * stride + l->kh - oh, tw = (x.w - 1) * stride + l->kw - ow;
        pt = th > 0 ? th / 2 : 0, pl = tw > 0 ? tw / 2 : 0;
    }
    y = nn_new(c, oh, ow, l->cout);
    uint64_t macs = (uint64_t)x.h * x.w * l->kh * l->kw * l->cin * l->cout;
    if (!nn__op_begin(c, macs)) return y;
    /* Only taps with ky = (oy + pt) mod stride (+ k * stride) land on an input pixel, so the
     * loops step over exactly those: no division per tap. */
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            float *out = y.data + ((size_t)oy * ow + ox) * l->cout;
            for (int o = 0; o < l->cout; o++) out[o] = l->bias[o];
            for (int ky = (oy + pt) % stride; ky < l->kh && ky <= oy + pt; ky += stride) {
                int iy = (oy + pt - ky) / stride;
                if (iy >= x.h) continue;
                for (int kx = (ox + pl) % stride; kx < l->kw && kx <= ox + pl; kx += stride) {
                    int ix = (ox + pl - kx) / stride;
                    if (ix >= x.w) continue;
                    const float *in = x.data + ((size_t)iy * x.w + ix) * x.c;
                    for (int o = 0; o < l->cout; o++) {
                        const float *w = l->weights + (((size_t)o * l->kh + ky) * l->kw + kx) * l->cin;
                        float s = 0;
                        for (int k = 0; k < l->cin; k++) s += in[k] * w[k];
                        out[o] += s;
                    }
                }
            }
            for (int o = 0; o < l->cout; o++) out[o] = nn__act1(out[o], &act, o);
        }
    nn__op_end(c, "deconv", l->name, x, y, macs);
    return y;
}

/* --- elementwise. */
typedef struct {
    nn_tensor a, b, y;
    int mul;                 /* 1: a * b, 0: a + b */
    nn_act act;
} nn__binary_job;

static void nn__binary_rows(void *arg, int task) {
    const nn__binary_job *j = arg;
    size_t pixels = (size_t)j->a.h * j->a.w, p0 = (size_t)task * NN__ROW_CHUNK;
    size_t p1 = p0 + NN__ROW_CHUNK < pixels ? p0 + NN__ROW_CHUNK : pixels;
    int ch = j->a.c;
    if (nn__row_tasks(pixels, ch) == 1) p0 = 0, p1 = pixels;
    const float *a = j->a.data + p0 * ch;
    float *y = j->y.data + p0 * ch;
    size_t n = (p1 - p0) * ch;
    if (nn__same_shape(j->a, j->b)) {
        const float *b = j->b.data + p0 * ch;
        if (j->mul) for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i];
        else for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
    } else {                 /* per channel or scalar */
        int bc = j->b.c;
        for (size_t p = 0; p < p1 - p0; p++)
            for (int k = 0; k < ch; k++) {
                float bv = j->b.data[bc == 1 ? 0 : k];
                y[p * ch + k] = j->mul ? a[p * ch + k] * bv : a[p * ch + k] + bv;
            }
    }
    nn__act_rows(y, p1 - p0, ch, &j->act);
}

static nn_tensor nn__binary(nn_ctx *c, nn_tensor a, nn_tensor b, int mul, nn_act act) {
    int per_channel = b.h == 1 && b.w == 1 && b.c == a.c, scalar = b.h == 1 && b.w == 1 && b.c == 1;
    if (!c->err[0] && !nn__same_shape(a, b) && !per_channel && !scalar)
        nn_fail(c, "%s: shapes %dx%dx%d and %dx%dx%d do not broadcast", mul ? "mul" : "add", a.h, a.w, a.c, b.h, b.w, b.c);
    nn_tensor y = nn_new(c, a.h, a.w, a.c);
    if (!nn__op_begin(c, 0)) return y;
    nn__binary_job j = {a, b, y, mul, act};
    nn__op_parallel(c, nn__row_tasks((size_t)a.h * a.w, a.c), nn__binary_rows, &j);
    nn__op_end(c, mul ? "mul" : "add", NULL, a, y, 0);
    return y;
}

nn_tensor nn_add(nn_ctx *c, nn_tensor a, nn_tensor b, nn_act act) { return nn__binary(c, a, b, 0, act); }
nn_tensor nn_mul(nn_ctx *c, nn_tensor a, nn_tensor b) { return nn__binary(c, a, b, 1, nn_linear); }

nn_tensor nn_affine(nn_ctx *c, nn_tensor x, const float *scale, const float *shift, nn_act act) {
    nn_tensor y = nn_new(c, x.h, x.w, x.c);
    if (!nn__op_begin(c, 0)) return y;
    size_t pixels = (size_t)x.h * x.w;
    for (size_t p = 0; p < pixels; p++) {
        const float *in = x.data + p * x.c;
        float *out = y.data + p * x.c;
        for (int ch = 0; ch < x.c; ch++) out[ch] = in[ch] * (scale ? scale[ch] : 1.0f) + (shift ? shift[ch] : 0.0f);
    }
    nn__act_rows(y.data, pixels, x.c, &act);
    nn__op_end(c, "affine", NULL, x, y, 0);
    return y;
}

nn_tensor nn_activate(nn_ctx *c, nn_tensor x, nn_act act) { return nn_affine(c, x, NULL, NULL, act); }

nn_tensor nn_softmax(nn_ctx *c, nn_tensor x) {
    nn_tensor y = nn_new(c, x.h, x.w, x.c);
    if (!nn__op_begin(c, 0)) return y;
    for (size_t p = 0; p < (size_t)x.h * x.w; p++) {
        const float *in = x.data + p * x.c;
        float *out = y.data + p * x.c, m = -FLT_MAX, s = 0;
        for (int k = 0; k < x.c; k++) m = fmaxf(m, in[k]);
        for (int k = 0; k < x.c; k++) s += out[k] = expf(in[k] - m);
        for (int k = 0; k < x.c; k++) out[k] /= s;
    }
    nn__op_end(c, "softmax", NULL, x, y, 0);
    return y;
}

/* --- layout. */
typedef struct { nn_tensor a, b, y; } nn__concat_job;

static void nn__concat_rows(void *arg, int task) {
    const nn__concat_job *j = arg;
    size_t pixels = (size_t)j->a.h * j->a.w, p0 = (size_t)task * NN__ROW_CHUNK, p1 = p0 + NN__ROW_CHUNK;
    if (nn__row_tasks(pixels, j->y.c) == 1) p0 = 0, p1 = pixels;
    if (p1 > pixels) p1 = pixels;
    for (size_t p = p0; p < p1; p++) {
        memcpy(j->y.data + p * j->y.c, j->a.data + p * j->a.c, j->a.c * sizeof(float));
        memcpy(j->y.data + p * j->y.c + j->a.c, j->b.data + p * j->b.c, j->b.c * sizeof(float));
    }
}

nn_tensor nn_concat(nn_ctx *c, nn_tensor a, nn_tensor b) {
    if (!c->err[0] && (a.h != b.h || a.w != b.w)) nn_fail(c, "concat: %dx%d and %dx%d differ", a.h, a.w, b.h, b.w);
    nn_tensor y = nn_new(c, a.h, a.w, a.c + b.c);
    if (!nn__op_begin(c, 0)) return y;
    nn__concat_job j = {a, b, y};
    nn__op_parallel(c, nn__row_tasks((size_t)a.h * a.w, y.c), nn__concat_rows, &j);
    nn__op_end(c, "concat", NULL, a, y, 0);
    return y;
}

nn_tensor nn_pad(nn_ctx *c, nn_tensor x, int top, int left, int bottom, int right, int cbefore, int cafter) {
    nn_tensor y = nn_new(c, x.h + top + bottom, x.w + left + right, x.c + cbefore + cafter);
    if (!nn__op_begin(c, 0)) return y;
    memset(y.data, 0, nn_numel(y) * sizeof(float));
    for (int iy = 0; iy < x.h; iy++)
        for (int ix = 0; ix < x.w; ix++)
            memcpy(y.data + ((size_t)(iy + top) * y.w + ix + left) * y.c + cbefore,
                   x.data + ((size_t)iy * x.w + ix) * x.c, x.c * sizeof(float));
    nn__op_end(c, "pad", NULL, x, y, 0);
    return y;
}

/* --- pooling. */
static nn_tensor nn__pooling(nn_ctx *c, nn_tensor x, int k, int stride, nn_padding pad, int is_max) {
    int pt, pl, oh = nn__out_size(x.h, k, stride, pad, &pt), ow = nn__out_size(x.w, k, stride, pad, &pl);
    nn_tensor y = nn_new(c, oh, ow, x.c);
    if (!nn__op_begin(c, 0)) return y;
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            float *out = y.data + ((size_t)oy * ow + ox) * x.c;
            int n = 0;
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    int iy = oy * stride - pt + ky, ix = ox * stride - pl + kx;
                    if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
                    const float *in = x.data + ((size_t)iy * x.w + ix) * x.c;
                    if (n++ == 0) memcpy(out, in, x.c * sizeof(float));   /* the first tap in the image */
                    else if (is_max) for (int ch = 0; ch < x.c; ch++) out[ch] = in[ch] > out[ch] ? in[ch] : out[ch];
                    else for (int ch = 0; ch < x.c; ch++) out[ch] += in[ch];
                }
            if (!is_max && n > 1)
                for (int ch = 0; ch < x.c; ch++) out[ch] /= n;
        }
    nn__op_end(c, is_max ? "maxpool" : "avgpool", NULL, x, y, 0);
    return y;
}

nn_tensor nn_maxpool(nn_ctx *c, nn_tensor x, int k, int stride, nn_padding pad) { return nn__pooling(c, x, k, stride, pad, 1); }
nn_tensor nn_avgpool(nn_ctx *c, nn_tensor x, int k, int stride, nn_padding pad) { return nn__pooling(c, x, k, stride, pad, 0); }

nn_tensor nn_global_avgpool(nn_ctx *c, nn_tensor x) {
    nn_tensor y = nn_new(c, 1, 1, x.c);
    if (!nn__op_begin(c, 0)) return y;
    for (int ch = 0; ch < x.c; ch++) y.data[ch] = 0;
    for (size_t p = 0; p < (size_t)x.h * x.w; p++)
        for (int ch = 0; ch < x.c; ch++) y.data[ch] += x.data[p * x.c + ch];
    for (int ch = 0; ch < x.c; ch++) y.data[ch] /= (float)x.h * x.w;
    nn__op_end(c, "gavgpool", NULL, x, y, 0);
    return y;
}

/* --- resampling. */
static float nn__src_coord(int o, int in, int out, int align, int half_pixel) {
    if (align && out > 1) return o * (float)(in - 1) / (out - 1);
    float scale = (float)in / out;
    return half_pixel ? (o + 0.5f) * scale - 0.5f : o * scale;
}

nn_tensor nn_resize_bilinear(nn_ctx *c, nn_tensor x, int h, int w, int align, int half_pixel) {
    nn_tensor y = nn_new(c, h, w, x.c);
    if (!nn__op_begin(c, 0)) return y;
    for (int oy = 0; oy < h; oy++) {
        float sy = nn__src_coord(oy, x.h, h, align, half_pixel);
        if (sy < 0) sy = 0;
        int y0 = (int)sy, y1 = y0 + 1 < x.h ? y0 + 1 : x.h - 1;
        float fy = sy - y0;
        for (int ox = 0; ox < w; ox++) {
            float sx = nn__src_coord(ox, x.w, w, align, half_pixel);
            if (sx < 0) sx = 0;
            int x0 = (int)sx, x1 = x0 + 1 < x.w ? x0 + 1 : x.w - 1;
            float fx = sx - x0;
            const float *a = x.data + ((size_t)y0 * x.w + x0) * x.c, *b = x.data + ((size_t)y0 * x.w + x1) * x.c;
            const float *d = x.data + ((size_t)y1 * x.w + x0) * x.c, *e = x.data + ((size_t)y1 * x.w + x1) * x.c;
            float *out = y.data + ((size_t)oy * w + ox) * x.c;
            for (int ch = 0; ch < x.c; ch++) {
                float top = a[ch] + (b[ch] - a[ch]) * fx, bot = d[ch] + (e[ch] - d[ch]) * fx;
                out[ch] = top + (bot - top) * fy;
            }
        }
    }
    nn__op_end(c, "resize_bl", NULL, x, y, 0);
    return y;
}

nn_tensor nn_resize_nearest(nn_ctx *c, nn_tensor x, int h, int w) {
    nn_tensor y = nn_new(c, h, w, x.c);
    if (!nn__op_begin(c, 0)) return y;
    for (int oy = 0; oy < h; oy++)
        for (int ox = 0; ox < w; ox++) {
            int iy = (int)((int64_t)oy * x.h / h), ix = (int)((int64_t)ox * x.w / w);
            memcpy(y.data + ((size_t)oy * w + ox) * x.c, x.data + ((size_t)iy * x.w + ix) * x.c, x.c * sizeof(float));
        }
    nn__op_end(c, "resize_nn", NULL, x, y, 0);
    return y;
}

nn_tensor nn_depth_to_space(nn_ctx *c, nn_tensor x, int block) {
    int oc = x.c / (block * block);
    if (!c->err[0] && oc * block * block != x.c) nn_fail(c, "depth_to_space: %d channels, block %d", x.c, block);
    nn_tensor y = nn_new(c, x.h * block, x.w * block, oc);
    if (!nn__op_begin(c, 0)) return y;
    int run = block * oc;    /* the bx = 0..block-1 pixels are adjacent in input and output */
    for (int iy = 0; iy < x.h; iy++)
        for (int by = 0; by < block; by++) {
            float *dst = y.data + (size_t)(iy * block + by) * y.w * oc;
            const float *src = x.data + (size_t)iy * x.w * x.c + by * run;
            for (int ix = 0; ix < x.w; ix++, dst += run, src += x.c)
                for (int k = 0; k < run; k++) dst[k] = src[k];
        }
    nn__op_end(c, "d2s", NULL, x, y, 0);
    return y;
}
