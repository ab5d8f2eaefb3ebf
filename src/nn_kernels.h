/* nn_kernels.h — the interface between nn.c and its optimised kernels (private to the runtime).
 *
 * Only the compute-bound ops have several kernels: convolution (and dense, a 1x1 convolution)
 * as an indirect GEMM, and depthwise convolution. Each kernel set implements the same
 * functions on the same packed layouts; a runtime (nn_runtime, nn.h) holds the set its
 * contexts' ops call, chosen at run time. The "reference" set has no micro-kernels: its ops
 * run their reference loops (nn.c), which read the same packed weights. Every micro-kernel is
 * tested on its edge tiles against the contracts below (tests/test_kernels.c).
 *
 * Indirect GEMM (XNNPACK's "igemm"): the input of a convolution is never copied into an
 * im2col matrix. Instead an indirection buffer holds, for each output pixel and each kernel
 * tap, a pointer to the cin input values under that tap (or to a row of zeros in the padding).
 * The micro-kernel computes an MR x NR tile of the output: MR output pixels times one panel of
 * 16 output channels (NR = 16), or two adjacent panels (NR = 32).
 *
 * Packed conv weights, per panel of 16 output channels (channels past cout are zero):
 *     bias[16], then for tap t, input channel k: w[t][k][0..15]
 * so the kernel streams the panel from start to end exactly once per tile.
 *
 * Packed depthwise weights, channels padded to a multiple of 16 (cp):
 *     bias[cp], then w[tap][cp]
 * Depthwise convolution has too little arithmetic per pointer for an indirection buffer to
 * pay off: its kernel walks input rows directly.
 */
#ifndef NN_KERNELS_H
#define NN_KERNELS_H
#include <stddef.h>

#define NN_NR 16   /* output channels per panel */

typedef struct {
    float min, max;          /* clamp after the affine part: relu = [0, inf), relu6 = [0, 6] */
    float leak;              /* slope for x < 0 when prelu == NULL and leaky != 0 */
    int leaky;               /* 1: x < 0 -> x * (prelu ? prelu[j] : leak) */
    const float *prelu;      /* per-channel slopes, already offset to the panel, >= 16 readable */
    const float *residual;   /* igemm only: added before the activation; tile-offset, ldc apart */
} nn_epilogue;

/* C[r][0..nc) = epilogue(bias + sum_t sum_k A_r,t[k] * W[t][k][j] (+ residual[r][j])) for r < mr.
 * a[r * taps + t] points at cin floats of row r under tap t; w points at the panel (bias
 * first). nc <= nr of the set: a set with nr = 32 takes channels 16..31 from the next panel,
 * which follows the first in memory. Rows mr..MR-1 are not touched; c rows are ldc floats
 * apart. */
typedef void (*nn_igemm_fn)(int mr, int nc, int taps, int cin, const float *const *a,
                            const float *w, float *c, size_t ldc, const nn_epilogue *e);

/* One output row of a depthwise convolution. rows[ky] is the input row under kernel row ky
 * (iw pixels of c channels) or NULL where it falls in the padding; output pixel x reads input
 * columns x * stride - pl + kx, skipping those outside [0, iw). A row may be read up to
 * NN_NR - 1 floats past its last channel (the arena pads every tensor by NN_ALIGN bytes).
 * Packed weights w: bias first, then one cp-float row per tap. */
typedef struct {
    int ow, iw, c, cp;       /* output width, input width, channels, padded channels */
    int kh, kw, stride, pl;  /* kernel, stride, left padding */
} nn_dwrow;

/* The kernel columns [*kx0, *kx1) of output pixel x that fall inside the input row; its
 * first input column is x * stride - pl (returned). */
static inline int nn_dwrow_taps(const nn_dwrow *d, int x, int *kx0, int *kx1) {
    int ix0 = x * d->stride - d->pl;
    *kx0 = ix0 < 0 ? -ix0 : 0;
    *kx1 = d->iw - ix0 < d->kw ? d->iw - ix0 : d->kw;
    return ix0;
}
typedef void (*nn_dwconv_fn)(const nn_dwrow *d, const float *const *rows, const float *w,
                             float *out, const nn_epilogue *e);

/* The Winograd F(2x2, 3x3) transforms of one tile (nn_winograd.h, compiled by every set). */
typedef void (*nn_wino_input_fn)(const float *const *src, int cin, float *v, size_t xs);
typedef void (*nn_wino_output_fn)(const float *m, size_t xs, int cout, const float *bias, const float *const *res,
                                  float *const *out, float lo, float hi);

typedef struct nn_kernel_set {
    const char *name;        /* "reference", "portable", "avx2", "avx512", "neon" */
    int mr;                  /* rows per igemm tile */
    int nr;                  /* output channels per igemm call: 16 (one panel) or 32 (two) */
    nn_igemm_fn igemm;
    nn_dwconv_fn dwconv;
    nn_wino_input_fn wino_input;
    nn_wino_output_fn wino_output;
} nn_kernel_set;

extern const nn_kernel_set nn_kernels_reference;   /* no micro-kernels: the ops' reference loops */
extern const nn_kernel_set nn_kernels_portable;
#if defined(__x86_64__) || defined(_M_X64)
extern const nn_kernel_set nn_kernels_avx2;
extern const nn_kernel_set nn_kernels_avx512;
#endif
#if defined(__aarch64__)
extern const nn_kernel_set nn_kernels_neon;
#endif

/* Shared by nn.c and nn_weights.c. */
void nn__seterr(char *err, const char *fmt, ...);   /* into an NN_ERR buffer, when err != NULL */
static inline size_t nn__round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

#endif
