/* nn.c — headshot's neural-network runtime. Read nn.h first: it explains the model.
 *
 * Sections, in the order a learner reads them (the weights and layers are nn_weights.c):
 *   1. contexts and tensors
 *   2. ops: shapes, the reference loops (the definition), then the dispatch to the
 *      optimised kernels of the runtime's kernel set
 *   3. planning and running: the memory planner, nn_run
 *   4. kernel sets and runtimes: CPU feature detection, the table of sets, the process's
 *      runtime (HEADSHOT_ISA, --isa, --trace)
 */
#include "nn.h"
#include "nn_kernels.h"
#include "nn_int8.h"
#include "buffer.h"
#include "pool.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void nn__seterr(char *err, const char *fmt, ...) {
    if (!err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, NN_ERR, fmt, ap);
    va_end(ap);
}

static double nn__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ============================================================ 1. contexts, tensors === */

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
    const nn_runtime *rt;    /* the kernel set and the trace of its ops */
    double t0;               /* trace: start of the current op */
    char err[NN_ERR];        /* sticky error of the current pass */
};

nn_ctx *nn_ctx_new(const char *name, char err[NN_ERR]) {
    nn_ctx *c = calloc(1, sizeof *c);
    if (!c) return nn__seterr(err, "out of memory"), NULL;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->rt = nn_runtime_default();
    return c;
}

void nn_ctx_runtime(nn_ctx *c, const nn_runtime *rt) { c->rt = rt; }
pool *nn_ctx_pool(const nn_ctx *c) { return c->rt->pool; }

void nn_ctx_free(nn_ctx *c) {
    if (!c) return;
    free(c->allocs);
    free(c->arena);
    free(c->zeros);
    free(c);
}

nn_stats nn_ctx_stats(const nn_ctx *c) { return c->stats; }
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

/* ============================================================================ 2. ops === */

/* Every op begins with nn__op_begin (sticky error check, stats) and ends with nn__op_end
 * (trace line). During planning, ops stop after allocating their result. */
static int nn__op_begin(nn_ctx *c, uint64_t macs) {
    if (c->err[0]) return 0;
    c->stats.ops++;
    c->stats.macs += macs;
    if (c->rt->trace && !c->planning) c->t0 = nn__now();
    return !c->planning;
}

static void nn__op_end(nn_ctx *c, const char *op, const char *name, nn_tensor x, nn_tensor y, uint64_t macs) {
    if (!c->rt->trace || c->planning || c->err[0]) return;
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
static void nn__op_parallel(nn_ctx *c, int tasks, pool_task_fn fn, void *arg) {
    if (tasks > 1 && pool_threads(c->rt->pool) > 1) c->stats.split_ops++;
    pool_for(c->rt->pool, tasks, fn, arg);
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
    const float *residual;   /* oh*ow*cout added before the activation, or NULL */
    nn_act act;
    int rows_per_task;       /* output pixels per task, whole micro-tiles */
    int groups;              /* tasks per row band, each over its share of the channel panels */
} nn__conv_job;

/* The reference: a direct loop nest over NHWC, the oracle of every kernel. It reads the
 * weights where the packing put them (nn_kernels.h: the stored ones permuted, the fp32 copy
 * is not kept), weight (o, ky, kx, k) at w[k * NN_NR] below. */
static void nn__conv_reference(nn__conv_job *j) {
    const nn_layer *l = j->l;
    nn_tensor x = j->x, y = j->y;
    size_t panel = NN_NR + (size_t)l->kh * l->kw * l->cin * NN_NR;
    for (int oy = 0; oy < y.h; oy++)
        for (int ox = 0; ox < y.w; ox++)
            for (int o = 0; o < l->cout; o++) {
                float s = l->bias[o];
                for (int ky = 0; ky < l->kh; ky++)
                    for (int kx = 0; kx < l->kw; kx++) {
                        int iy = oy * j->stride - j->pt + ky, ix = ox * j->stride - j->pl + kx;
                        if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
                        const float *in = x.data + ((size_t)iy * x.w + ix) * x.c;
                        const float *w = l->packed + o / NN_NR * panel + NN_NR +
                                         (size_t)(ky * l->kw + kx) * l->cin * NN_NR + o % NN_NR;
                        for (int k = 0; k < l->cin; k++) s += in[k] * w[(size_t)k * NN_NR];
                    }
                size_t at = ((size_t)oy * y.w + ox) * y.c + o;
                y.data[at] = nn__act1(j->residual ? s + j->residual[at] : s, &j->act, o);
            }
}

/* The indirection of output pixels p0..p1, one micro-tile: for each pixel and tap, where its
 * cin_ind inputs start, or the zero row in the padding. Each tile's is built just before its
 * igemm call, into the task's stack: a whole layer's buffer written and read back was as much
 * memory traffic as the activations themselves on the 1x1 layers of a large map. */
#define NN__TILE_IND (16 * 64)   /* pointers of one tile: MR <= 16 rows of <= 64 taps */
static void nn__conv_indirection(const nn__conv_job *j, int p0, int p1, const float **ind) {
    const nn_tensor x = j->x;    /* the job's fields in locals: the stores through ind could alias them */
    const float *zeros = j->c->zeros;
    int kh = j->l->kh, kw = j->kw_ind, ow = j->y.w, stride = j->stride, pt = j->pt, pl = j->pl;
    if (kh == 1 && kw == 1 && stride == 1 && pt == 0 && pl == 0 && x.w == ow) {   /* 1x1: pixel p itself */
        for (int p = p0; p < p1; p++) ind[p - p0] = x.data + (size_t)p * x.c;
        return;
    }
    for (int p = p0, oy = p0 / ow, ox = p0 % ow; p < p1; p++, ox = ox + 1 < ow ? ox + 1 : (oy++, 0))
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
                int iy = oy * stride - pt + ky, ix = ox * stride - pl + kx;
                int in = iy >= 0 && iy < x.h && ix >= 0 && ix < x.w;
                ind[(size_t)(p - p0) * kh * kw + ky * kw + kx] = in ? x.data + ((size_t)iy * x.w + ix) * x.c : zeros;
            }
}

static void nn__conv_task(void *arg, int task) {
    nn__conv_job *j = arg;
    const nn_layer *l = j->l;
    const nn_kernel_set *k = j->c->rt->kernels;
    int taps = l->kh * j->kw_ind, M = j->y.h * j->y.w, band = task / j->groups, group = task % j->groups;
    int p0 = band * j->rows_per_task, p1 = p0 + j->rows_per_task < M ? p0 + j->rows_per_task : M;
    int per_group = ((l->cout + k->nr - 1) / k->nr + j->groups - 1) / j->groups * k->nr;
    int n_lo = group * per_group, n_hi = n_lo + per_group < l->cout ? n_lo + per_group : l->cout;
    const float *ind[NN__TILE_IND];
    size_t panel = NN_NR + (size_t)l->kh * l->kw * l->cin * NN_NR;
    nn_epilogue e = nn__epilogue(&j->act);
    for (int n0 = n_lo; n0 < n_hi; n0 += k->nr) {
        int nc = n_hi - n0 < k->nr ? n_hi - n0 : k->nr;
        e.prelu = j->act.kind == NN_PRELU ? j->act.slope + n0 : NULL;
        for (int p = p0; p < p1; p += k->mr) {
            int mr = p1 - p < k->mr ? p1 - p : k->mr;
            e.residual = j->residual ? j->residual + (size_t)p * l->cout + n0 : NULL;
            nn__conv_indirection(j, p, p + mr, ind);
            k->igemm(mr, nc, taps, j->cin_ind, ind, l->packed + (n0 / NN_NR) * panel,
                     j->y.data + (size_t)p * l->cout + n0, l->cout, &e);
        }
    }
    if (!nn__act_in_epilogue(&j->act) && j->groups == 1)
        nn__act_rows(j->y.data + (size_t)p0 * l->cout, p1 - p0, l->cout, &j->act);
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
    j->c->rt->kernels->wino_input(src, j->x.c, v, xs);
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
    j->c->rt->kernels->wino_output(m, xs, l->cout, l->bias, j->residual ? res : NULL, out, rest ? -FLT_MAX : e.min,
                             rest ? FLT_MAX : e.max);
    for (int p = 0; rest && p < 4; p++)
        if (out[p]) nn__act_rows(out[p], 1, l->cout, &j->act);
}

static void nn__wino_task(void *arg, int slot) {
    const nn__wino_job *w = arg;
    const nn__conv_job *j = w->j;
    const nn_layer *l = j->l;
    const nn_kernel_set *k = j->c->rt->kernels;
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
    int reference = c->rt->kernels == &nn_kernels_reference;
    int threads = !reference && macs >= NN__PAR_CONV_MACS ? pool_threads(c->rt->pool) : 1;
    if (threads > 1) c->stats.split_ops++;
    nn_q8_conv(l, x, y, stride, pt, pl, e, s.data, c->rt->pool, threads, c->rt->kernels->name);
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
    nn__conv_job j = {c, l, x, y, stride, pt, pl, l->kw, l->cin, residual ? residual->data : NULL, act, 0, 1};
    int tiles_x = (ow + 1) / 2, tiles = tiles_x * ((oh + 1) / 2), chunks = (tiles + NN__WINO_CHUNK - 1) / NN__WINO_CHUNK;
    if (l->wino && stride == 1 && tiles >= NN__WINO_MIN_TILES) {
        int slots = chunks < NN__WINO_SLOTS ? chunks : NN__WINO_SLOTS;
        nn__wino_job w = {&j, tiles_x, tiles, chunks, 1, NULL};
        nn_tensor scratch = nn_new(c, slots * 16 * NN__WINO_CHUNK, 1, l->cin + l->cout);
        nn_free(c, scratch);
        if ((size_t)l->cin > c->max_row) c->max_row = l->cin;
        uint64_t macs = (uint64_t)M * l->cout * taps * l->cin;
        if (!nn__op_begin(c, macs)) return y;
        if (c->rt->kernels == &nn_kernels_reference) {
            nn__conv_reference(&j);
        } else {
            w.scratch = scratch.data;
            int threads = pool_threads(c->rt->pool);
            if (macs >= NN__PAR_CONV_MACS) w.tasks = threads < slots ? threads : slots;
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
    nn_free(c, xp);
    if (l->kh * j.kw_ind * c->rt->kernels->mr > NN__TILE_IND)
        nn_fail(c, "%s %s: %d taps of %d channels, more than a tile's indirection holds", opname, l->name,
                l->kh * j.kw_ind, j.cin_ind);
    if ((size_t)j.cin_ind > c->max_row) c->max_row = j.cin_ind;
    uint64_t macs = (uint64_t)M * l->cout * taps * l->cin;
    if (!nn__op_begin(c, macs)) return y;
    if (c->rt->kernels == &nn_kernels_reference) {
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
        int mr = c->rt->kernels->mr, tiles = (M + mr - 1) / mr, per = 1;
        int want = pool_threads(c->rt->pool) * 4, panels = (l->cout + c->rt->kernels->nr - 1) / c->rt->kernels->nr;
        if (macs < NN__PAR_CONV_MACS) per = tiles;
        else if (tiles > want) per = (tiles + want - 1) / want;
        else per = tiles, j.groups = panels < want ? panels : want;
        j.rows_per_task = per * mr;
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

static void nn__dw_reference(nn__dw_job *j) {   /* weights as packed: w[tap][cp] after the bias */
    const nn_layer *l = j->l;
    nn_tensor x = j->x, y = j->y;
    size_t cp = nn__round_up(l->cout, NN_NR);
    for (int oy = 0; oy < y.h; oy++)
        for (int ox = 0; ox < y.w; ox++)
            for (int ch = 0; ch < y.c; ch++) {
                float s = l->bias[ch];
                for (int ky = 0; ky < l->kh; ky++)
                    for (int kx = 0; kx < l->kw; kx++) {
                        int iy = oy * j->stride - j->pt + ky, ix = ox * j->stride - j->pl + kx;
                        if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
                        s += x.data[((size_t)iy * x.w + ix) * x.c + ch] * l->packed[(1 + ky * l->kw + kx) * cp + ch];
                    }
                y.data[((size_t)oy * y.w + ox) * y.c + ch] = nn__act1(s, &j->act, ch);
            }
}

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
    j->c->rt->kernels->dwconv(&d, rows, l->packed, out, &e);
    if (!nn__act_in_epilogue(&j->act)) nn__act_rows(out, j->y.w, j->y.c, &j->act);
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
    if (c->rt->kernels == &nn_kernels_reference) nn__dw_reference(&j);
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

/* ================================================================ 3. planning, running === */

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
        c->arena = buffer_alloc(peak);
        c->zeros = buffer_alloc((c->max_row + NN_ALIGN) * sizeof(float));
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

/* ======================================================= 4. kernel sets, runtimes === */

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

/* The reference set has no micro-kernels: its ops run their reference loops, the definition
 * every other set is checked against (tests/test_nn.c). Every CPU runs it. */
const nn_kernel_set nn_kernels_reference = {"reference", 0, 0, NULL, NULL, NULL, NULL};

/* Every kernel set built into this binary, best first; the reference last. */
static const nn_kernel_set *const nn__kernel_sets[] = {
#if defined(__x86_64__)
    &nn_kernels_avx512, &nn_kernels_avx2,
#elif defined(__aarch64__)
    &nn_kernels_neon,                                   /* NEON is mandatory on aarch64 */
#endif
    &nn_kernels_portable, &nn_kernels_reference,
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
    while (!nn__can_run(nn__kernel_sets[i])) i++;      /* portable always can */
    return nn__kernel_sets[i];
}

static int nn__precision_of(const char *name, char err[NN_ERR]) {   /* int8: 1, fp32: 0, else -1 */
    if (!name || !strcmp(name, "int8")) return 1;
    if (!strcmp(name, "fp32")) return 0;
    return nn__seterr(err, "precision '%s' is not one of int8, fp32", name), -1;
}

int nn_runtime_init(nn_runtime *rt, const char *isa, const char *precision, char err[NN_ERR]) {
    int int8 = nn__precision_of(precision, err);
    if (int8 < 0) return -1;
    const nn_kernel_set *k = !strcmp(isa, "auto") ? nn__best_kernels() : NULL;
    for (int i = 0; i < NN__NSETS && !k; i++)
        if (!strcmp(isa, nn__kernel_sets[i]->name) && nn__can_run(nn__kernel_sets[i])) k = nn__kernel_sets[i];
    if (!k) {
        char list[64] = "";
        for (int i = 0; i < NN__NSETS; i++)
            if (nn__can_run(nn__kernel_sets[i])) strcat(strcat(list, ", "), nn__kernel_sets[i]->name);
        return nn__seterr(err, "kernel set '%s' is not available on this CPU (it runs: auto%s)", isa, list), -1;
    }
    rt->kernels = k, rt->int8 = int8, rt->pool = NULL, rt->trace = 0;
    return 0;
}

/* The process's runtime. HEADSHOT_ISA=reference|portable|avx2|avx512|neon forces its kernel
 * set (tests of every path); one this CPU cannot run falls back to the best, with a warning,
 * so the variable can never cause SIGILL. HEADSHOT_PRECISION=int8|fp32 its precision. */
static nn_runtime nn__default;

nn_runtime *nn_runtime_default(void) {
    if (nn__default.kernels) return &nn__default;
    const char *isa = getenv("HEADSHOT_ISA"), *precision = getenv("HEADSHOT_PRECISION");
    char err[NN_ERR];
    nn__default.kernels = nn__best_kernels(), nn__default.int8 = 1, nn__default.pool = pool_new(0);
    if (isa && *isa && nn_set_isa(isa, err) != 0)
        fprintf(stderr, "headshot: HEADSHOT_ISA=%s: %s; using %s\n", isa, err, nn__default.kernels->name);
    if (precision && *precision && nn_set_precision(precision, err) != 0)
        fprintf(stderr, "headshot: HEADSHOT_PRECISION=%s: %s; using int8\n", precision, err);
    return &nn__default;
}

int nn_set_isa(const char *name, char err[NN_ERR]) {
    nn_runtime rt;
    if (nn_runtime_init(&rt, name, NULL, err) != 0) return -1;
    nn_runtime_default()->kernels = rt.kernels;
    return 0;
}
int nn_set_precision(const char *name, char err[NN_ERR]) {
    int int8 = nn__precision_of(name, err);
    if (int8 < 0) return -1;
    nn_runtime_default()->int8 = int8;
    return 0;
}
const char *nn_precision(void) { return nn_runtime_default()->int8 ? "int8" : "fp32"; }
void nn_set_threads(int n) {
    if (nn_runtime_default()->pool) pool_set_threads(nn__default.pool, n);
}
int nn_threads(void) { return pool_threads(nn_runtime_default()->pool); }
void nn_trace_all(int on) { nn_runtime_default()->trace = on; }
const char *nn_isa(void) { return nn_runtime_default()->kernels->name; }
const char *nn_isa_best(void) { return nn__best_kernels()->name; }
const char *nn_isa_built(int i, int *runs) {
    if (i < 0 || i >= NN__NSETS - 1) return NULL;      /* the reference is not listed */
    if (runs) *runs = nn__can_run(nn__kernel_sets[i]);
    return nn__kernel_sets[i]->name;
}
