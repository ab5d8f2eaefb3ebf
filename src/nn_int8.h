/* nn_int8.h — int8 convolution: the packed layout, the micro-kernel interface and the hook
 * nn.c calls (private to the runtime; the public switch is the runtime's precision in nn.h).
 *
 * What is int8 here: the weights of a layer loaded with nn_layer_conv_int8 stay as stored
 * (int8, one scale per output channel) and the layer's input is quantised at run time to
 * uint8 with one scale and zero point for the whole tensor, from its min and max ("dynamic"
 * quantisation, like ONNX Runtime's ConvInteger). The products are summed exactly in int32;
 * the epilogue turns the sum back into float:
 *     y[j] = (float)(acc - zp * wsum[j]) * (sa * sw[j]) + bias[j]   (+ residual, activation)
 * wsum[j] (the sum of channel j's weights) removes the zero point from the sum, so that
 * padding and values are one and the same u8 domain: padding is the byte zp, i.e. 0.0.
 * Outputs stay float32 tensors, so int8 layers mix freely with every other op.
 *
 * Packed weights, per panel of 16 output channels (channels past cout are zero):
 *     for tap t, for group g of 4 input channels: w[t][4g..4g+3][0..15] as 16 x 4 bytes
 *     (channel-major: the 4 weights of channel j are adjacent, bytes 4j..4j+3)
 * which is the operand order of VNNI's vpdpbusd (4 u8 x s8 products summed per int32 lane).
 * A tap holds kc = cin rounded up to 4 bytes; the weights past cin are zero, so the up to 3
 * bytes an input row is read past its end only ever meet zeros (the buffers have slack).
 *
 * Every kernel set computes the same integers and the same float epilogue, operation for
 * operation (separate multiply and add, no FMA): results are bit-identical across kernel
 * sets and thread counts, and tests/test_int8.c checks every kernel against the C one.
 */
#ifndef NN_INT8_H
#define NN_INT8_H
#include <stddef.h>
#include <stdint.h>

#include "nn.h"
#include "nn_kernels.h"

/* A layer's int8 weights (nn_layer.q8). */
struct nn_q8_layer {
    int taps, kc;            /* taps as packed (kh, or kh * kw), bytes per tap (multiple of 4) */
    int span;                /* 1: each kernel row is one tap of kw * cin channels (RGB stems) */
    size_t panel;            /* bytes per 16-channel panel: taps * kc * 16 */
    int8_t *w;               /* panels, ceil(cout / 16) of them */
    float *wscale;           /* per output channel, padded with zeros to a multiple of 32 */
    int32_t *wsum;           /* per output channel: sum of its weights (same padding) */
    float *bias;             /* per output channel (same padding) */
};

typedef struct {
    float sa;                /* input scale */
    int32_t zp;              /* input zero point, 0..255 */
    const float *wscale;     /* offset to the tile's first channel, nr readable */
    const int32_t *wsum;
    const float *bias;
    nn_epilogue e;           /* slope, clamp and residual as in the float kernels */
} nn_q8_epilogue;

/* C[r][0..nc) = epilogue(sum_t sum_k A_r,t[k] * W[t][k][j]) for r < mr: a[r * taps + t]
 * points at kc bytes (u8) of row r under tap t; w points at the first panel, a set with nr =
 * 32 takes channels 16..31 from the next one, panel bytes further. */
typedef void (*nn_q8_igemm_fn)(int mr, int nc, int taps, int kc, const uint8_t *const *a, const int8_t *w,
                               size_t panel, float *c, size_t ldc, const nn_q8_epilogue *e);

/* Quantising a layer's input: *mn, *mx lowered/raised to the min and max of x (NaN ignored);
 * q[i] = clamp(x[i] * inv + zph, 0, 255) truncated (zph = zp + 0.5: round half up; NaN -> 0). */
typedef void (*nn_q8_minmax_fn)(const float *x, size_t n, float *mn, float *mx);
typedef void (*nn_q8_quantize_fn)(const float *x, size_t n, float inv, float zph, uint8_t *q);

typedef struct {
    const char *name;        /* "c", "avx2", "avxvnni", "vnni", "neon" */
    int mr, nr;              /* rows per tile, channels per call (16 or 32) */
    nn_q8_igemm_fn igemm;
    nn_q8_minmax_fn minmax;
    nn_q8_quantize_fn quantize;
} nn_q8_kernel_set;

extern const nn_q8_kernel_set nn_q8_kernels_c;
#if defined(__x86_64__) || defined(_M_X64)
extern const nn_q8_kernel_set nn_q8_kernels_avx2;
extern const nn_q8_kernel_set nn_q8_kernels_avxvnni;
extern const nn_q8_kernel_set nn_q8_kernels_vnni;
#endif
#if defined(__aarch64__)
extern const nn_q8_kernel_set nn_q8_kernels_neon;
#endif
void nn_q8_minmax_c(const float *x, size_t n, float *mn, float *mx);
void nn_q8_quantize_c(const float *x, size_t n, float inv, float zph, uint8_t *q);

/* The epilogue of one output value (channel j of the tile, res: its residual or NULL), the
 * definition every kernel matches: separate multiply and add, in this order. */
static inline float nn_q8_out(int32_t acc, const nn_q8_epilogue *e, int j, const float *res) {
    float s = e->sa * e->wscale[j];
    float v = (float)(acc - e->zp * e->wsum[j]) * s;
    v = v + e->bias[j];
    if (res) v = v + *res;
    if (e->e.leaky && v < 0) v = v * (e->e.prelu ? e->e.prelu[j] : e->e.leak);
    return v < e->e.min ? e->e.min : v > e->e.max ? e->e.max : v;
}

/* The int8 kernels for the float kernel set NAME ("avx512" -> vnni when the CPU has
 * AVX512-VNNI; "avx512" or "avx2" -> avxvnni when it has AVX-VNNI, else avx2; "neon" ->
 * neon; anything else -> c). */
const nn_q8_kernel_set *nn_q8_kernels_for(const char *isa);
/* The i-th int8 set this CPU runs (c first), NULL past the end: for the tests. */
const nn_q8_kernel_set *nn_q8_kernels_at(int i);

/* --- the hook in nn.c's convolution. */
/* Bytes of arena the int8 convolution of layer l needs besides its output (quantised input,
 * indirection buffer), for an h x w input, an oh x ow output and padding pt, pl. */
size_t nn_q8_conv_scratch(const nn_layer *l, int h, int w, int oh, int ow, int stride, int pt, int pl);
/* y = conv(x) with the int8 weights; e carries the residual and the part of the activation
 * a GEMM epilogue does. On pool's threads, splitting for at most threads (1: none). isa: the
 * kernel set's name. */
void nn_q8_conv(const nn_layer *l, nn_tensor x, nn_tensor y, int stride, int pt, int pl, nn_epilogue e,
                void *scratch, struct pool *pool, int threads, const char *isa);
void nn_q8_free(struct nn_q8_layer *q);
/* The runtime a model's layers are built with (nn_weights.c): its precision decides. */
const nn_runtime *nn_model_runtime_of(const nn_model *m);

/* The scale and zero point for n floats: their min/max (0 always inside the range) over 255
 * steps. Exposed for the tests. */
void nn_q8_params(const nn_q8_kernel_set *k, const float *x, size_t n, float *sa, int32_t *zp);

#endif
