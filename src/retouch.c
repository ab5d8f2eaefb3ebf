/* retouch.c — look_retouch (look.h; rules in docs/LOOK.md): blemishes and the mid
 * frequencies of the skin, on the sRGB values as floats (the perceptual space retouchers
 * separate frequencies in), inside the face's box only, under the tone guard.
 */
#include "look_parts.h"
#include "colour.h"
#include "landmarks.h"
#include "buffer.h"
#include "pool.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================ retouch: planes === */

/* Frequency separation at the face's scale: high band (pores, fine texture) below SEP_HIGH
 * face widths, kept whole; mid band (blotches, uneven tone) up to SEP_MID, attenuated where
 * its amplitude is small compared with the skin's typical one (soft coring), so that folds,
 * the nose's shading and wrinkles (large amplitudes) keep their shape; low band kept. */
#define SEP_HIGH 0.005f
#define SEP_MID 0.035f
#define SEP_CORE 2.5f             /* amplitudes above ~this many typical ones are kept */

#define BLUR_MAX_R 512
#define BLUR_BOX_SIGMA 2.5f       /* from here on three box passes stand in for the Gaussian */

/* One pass of a separable filter of half-width r, src into dst (not the same plane), edges
 * repeated: a box (k NULL) or the symmetric kernel k[0..r], along rows or columns. Bands of
 * rows (or columns) run in parallel; each value is summed in the same order whatever the
 * split. */
typedef struct {
    float *dst;                   /* h x w */
    const float *src;             /* h x w */
    int w, h, r;                  /* plane size, half-width */
    const float *k;               /* r + 1 kernel taps, or NULL: box */
    atomic_int failed;            /* a band found no memory for its scratch */
} blur_pass;

static void blur_rows(void *arg, int y0, int y1) {
    blur_pass *j = arg;
    int w = j->w, r = j->r;
    float inv = 1.f / (2 * r + 1), *pad = malloc((size_t)(w + 2 * r) * sizeof *pad);
    if (!pad) y1 = y0, atomic_store(&j->failed, 1);
    for (int y = y0; y < y1; y++) {
        const float *a = j->src + (size_t)y * w;
        float *o = j->dst + (size_t)y * w, acc = 0;
        for (int i = 0; i < w + 2 * r; i++) pad[i] = a[i < r ? 0 : i - r >= w ? w - 1 : i - r];
        if (j->k) {
            for (int x = 0; x < w; x++) {
                const float *q = pad + r + x;
                float s = j->k[0] * q[0];
                for (int t = 1; t <= r; t++) s += j->k[t] * (q[t] + q[-t]);
                o[x] = s;
            }
            continue;
        }
        for (int i = 0; i < 2 * r + 1; i++) acc += pad[i];
        for (int x = 0; x < w; x++) o[x] = acc * inv, acc += (x + 1 < w ? pad[x + 2 * r + 1] - pad[x] : 0);
    }
    free(pad);
}

/* Columns x0..x1 of a box pass: running column sums of rows y - r .. y + r. */
static void blur_box_cols(void *arg, int x0, int x1) {
    blur_pass *j = arg;
    int w = j->w, h = j->h, r = j->r, n = x1 - x0;
    float inv = 1.f / (2 * r + 1), *acc = buffer_alloc((size_t)n * sizeof *acc);
    if (!acc) h = 0, atomic_store(&j->failed, 1);
    const float *src = j->src + x0;
    for (int x = 0; x < n && h; x++) acc[x] = 0;
    for (int t = -r; t <= r && h; t++) {
        const float *row = src + (size_t)(t < 0 ? 0 : t >= h ? h - 1 : t) * w;
        for (int x = 0; x < n; x++) acc[x] += row[x];
    }
    for (int y = 0; y < h; y++) {
        float *o = j->dst + (size_t)y * w + x0;
        for (int x = 0; x < n; x++) o[x] = acc[x] * inv;
        if (y + 1 == h) break;
        const float *in = src + (size_t)(y + r + 1 >= h ? h - 1 : y + r + 1) * w;
        const float *out = src + (size_t)(y - r < 0 ? 0 : y - r) * w;
        for (int x = 0; x < n; x++) acc[x] += in[x] - out[x];
    }
    free(acc);
}

/* Output rows y0..y1 of a kernel pass along columns. */
static void blur_kernel_cols(void *arg, int y0, int y1) {
    blur_pass *j = arg;
    int w = j->w, h = j->h;
    for (int y = y0; y < y1; y++) {
        float *o = j->dst + (size_t)y * w;
        const float *c = j->src + (size_t)y * w;
        for (int x = 0; x < w; x++) o[x] = j->k[0] * c[x];
        for (int t = 1; t <= j->r; t++) {
            const float *up = j->src + (size_t)(y - t < 0 ? 0 : y - t) * w;
            const float *dn = j->src + (size_t)(y + t >= h ? h - 1 : y + t) * w;
            for (int x = 0; x < w; x++) o[x] += j->k[t] * (up[x] + dn[x]);
        }
    }
}

static int blur_pass_run(pool *workers, float *dst, const float *src, int w, int h, int r, const float *k,
                         int vertical) {
    blur_pass j = {dst, src, w, h, r, k, 0};
    if (!vertical) pool_rows(workers, h, blur_rows, &j);
    else if (k) pool_rows(workers, h, blur_kernel_cols, &j);
    else pool_rows(workers, w, blur_box_cols, &j);
    return atomic_load(&j.failed) ? -1 : 0;
}

/* Gaussian blur of a w x h plane, edges repeated; dst may be src. Small sigmas convolve with
 * the kernel; from BLUR_BOX_SIGMA on, three box passes of the same variance (within a few
 * percent of the Gaussian, and their cost does not grow with sigma). -1: out of memory. */
static int blur(pool *workers, float *dst, const float *src, int w, int h, float sigma) {
    int r = (int)ceilf(3 * sigma), box = sigma >= BLUR_BOX_SIGMA;
    if (r > BLUR_MAX_R && !box) r = BLUR_MAX_R;
    if (r < 1 || sigma <= 0) {
        if (dst != src) memcpy(dst, src, (size_t)w * h * sizeof *dst);
        return 0;
    }
    float *tmp = buffer_alloc((size_t)w * h * sizeof *tmp);
    int rc = tmp ? 0 : -1;
    if (rc == 0 && box) {
        /* Widths wl (odd) and wl + 2 so that three passes have variance sigma^2. */
        int wl = (int)sqrtf(4 * sigma * sigma + 1);
        wl -= !(wl & 1);
        int m = (int)lroundf((12 * sigma * sigma - 3.f * wl * wl - 12.f * wl - 9) / (-4.f * wl - 4));
        const float *in = src;
        for (int p = 0; p < 6 && rc == 0; p++) {   /* 3 along rows, then 3 along columns; ends in dst */
            float *out = p % 2 ? dst : tmp;
            rc = blur_pass_run(workers, out, in, w, h, (p % 3 < m ? wl : wl + 2) / 2, NULL, p >= 3);
            in = out;
        }
    } else if (rc == 0) {
        float k[BLUR_MAX_R + 1], sum = 0;
        for (int i = 0; i <= r; i++) k[i] = expf(-0.5f * i * i / (sigma * sigma)), sum += i ? 2 * k[i] : k[i];
        for (int i = 0; i <= r; i++) k[i] /= sum;
        rc = blur_pass_run(workers, tmp, src, w, h, r, k, 0);   /* rows into tmp, then columns into dst */
        if (rc == 0) rc = blur_pass_run(workers, dst, tmp, w, h, r, k, 1);
    }
    free(tmp);
    return rc;
}

/* ============================================================ retouch: blemishes === */

/* A blemish is a small round spot, darker or redder than the skin around it. Detection is the
 * textbook blob detector: difference-of-Gaussians of luma (dark) and of redness R - G (red)
 * over a ladder of scales, in units of the skin's robust spread at that scale; spots are the
 * maxima over space and scale above a threshold. A maximum must then be round (principal
 * curvatures of the DoG within SPOT_EDGE of each other: not a wrinkle, a lash or a frame),
 * lie in skin, and stand out from its own ring of pixels by more than the ring's own texture
 * (not part of freckles, stubble or hair). The spot is filled by interpolating its ring
 * inward (inverse-distance weights: no seam) plus the fine texture of a clean skin disc
 * next to it, feathered. */
#define SPOT_R_MAX 0.03f          /* largest spot radius, face widths */
#define SPOT_R_MIN 0.006f         /* smallest, face widths (at least 1 px) */
#define SPOT_SCALES 8             /* most DoG scales (sqrt 2 apart) */
#define SPOT_EDGE 4.0f            /* largest ratio of the DoG's principal curvatures */
#define SPOT_RING 3.0f            /* contrast against the ring, in units of the ring's spread */
#define SPOT_MAX 64               /* spots filled at most (the strongest) */

typedef struct {
    float cx, cy;                 /* centre, box pixels */
    float r;                      /* radius: sqrt 2 x the detecting scale */
    float z;                      /* DoG response, units of the skin's spread */
} look_spot;

static int cmp_spot(const void *a, const void *b) {
    float x = ((const look_spot *)a)->z, y = ((const look_spot *)b)->z;
    return (x < y) - (x > y);
}

typedef struct {
    int w, h;                     /* box size */
    float *img[3];                /* the box's pixels, sRGB / 255 */
    unsigned char *skin;          /* 1: skin by geometry (oval minus grown features) */
    unsigned char *keep;          /* 1: outside every feature outline (may be changed) */
    float fw;                     /* face width, pixels */
    pool *workers;                /* the threads of the blurs */
} look_face;

/* The pixels of the annulus r0 < d <= r1 around (cx, cy) inside the box: their count, and
 * how many are skin. idx receives their indices (room for (2 r1 + 3)^2). */
static int ring_of(const look_face *f, float cx, float cy, float r0, float r1, int *idx, int *skin) {
    int n = 0;
    *skin = 0;
    for (int y = (int)floorf(cy - r1); y <= (int)ceilf(cy + r1); y++)
        for (int x = (int)floorf(cx - r1); x <= (int)ceilf(cx + r1); x++) {
            float d = hypotf(x - cx, y - cy);
            if (d <= r0 || d > r1 || x < 0 || y < 0 || x >= f->w || y >= f->h) continue;
            idx[n++] = y * f->w + x, *skin += f->skin[y * f->w + x];
        }
    return n;
}

/* Measures candidate s against its ring (annulus 1.6 r + 1 .. + 2) in plane v (luma: dark
 * spots lie below, sign -1; redness: above, sign +1) and returns its contrast in units of the
 * ring's robust spread, 0 when the ring is not skin or is crossed by something as strong as
 * the spot (a frame, a fold). The spot's extent is remeasured: the pixels inside the ring
 * beyond half the contrast give its centre and radius. */
static float spot_measure(const look_face *f, const float *v, float sign, look_spot *s, int *idx, float *tmp) {
    float r0 = 1.6f * s->r + 1, med, spread, c = 0;
    int skin, n = ring_of(f, s->cx, s->cy, r0, r0 + 2, idx, &skin), m = 0, busy = 0;
    if (!n || skin < 0.9f * n) return 0;
    for (int i = 0; i < n; i++) tmp[i] = v[idx[i]];
    med = look__quantile(tmp, n, 0.5f);
    for (int i = 0; i < n; i++) tmp[i] = fabsf(v[idx[i]] - med);
    spread = fmaxf(1.4826f * look__quantile(tmp, n, 0.5f), 1.f / 255);
    int x0 = (int)floorf(s->cx - r0), x1 = (int)ceilf(s->cx + r0);
    int y0 = (int)floorf(s->cy - r0), y1 = (int)ceilf(s->cy + r0);
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            if (x >= 0 && y >= 0 && x < f->w && y < f->h && hypotf(x - s->cx, y - s->cy) <= s->r)
                c += v[y * f->w + x], m++;
    c = m ? sign * (c / m - med) : 0;
    for (int i = 0; i < n; i++) busy += sign * (v[idx[i]] - med) > 0.5f * c;
    if (c <= 0 || busy > 0.2f * n) return 0;
    double sx = 0, sy = 0;
    int k = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            if (x >= 0 && y >= 0 && x < f->w && y < f->h && hypotf(x - s->cx, y - s->cy) <= r0 &&
                sign * (v[y * f->w + x] - med) > 0.5f * c)
                sx += x, sy += y, tmp[2 * k] = (float)x, tmp[2 * k + 1] = (float)y, k++;
    if (k) {
        float cx = (float)(sx / k), cy = (float)(sy / k), r = 0;
        for (int i = 0; i < k; i++) r = fmaxf(r, hypotf(tmp[2 * i] - cx, tmp[2 * i + 1] - cy));
        s->cx = cx, s->cy = cy, s->r = r + 0.5f;
    }
    return c / spread;
}

/* A pixel (x, y) of a spot, interpolated from the ring around it (pixels idx[0..n) of plane
 * v): their mean weighted by inverse square distance. */
static float ring_fill(const float *v, int w, const int *idx, int n, int x, int y) {
    float s = 0, sw = 0;
    for (int i = 0; i < n; i++) {
        float dx = (float)(idx[i] % w - x), dy = (float)(idx[i] / w - y), wt = 1 / (dx * dx + dy * dy + 0.25f);
        s += wt * v[idx[i]], sw += wt;
    }
    return s / sw;
}

/* RMS of the fine band's luma (planes fine) over the annulus r0 < d <= r1 at (cx, cy). */
static float texture_of(const look_face *f, float *const fine[3], float cx, float cy, float r0, float r1) {
    double s2 = 0;
    int m = 0;
    for (int y = (int)floorf(cy - r1); y <= (int)ceilf(cy + r1); y++)
        for (int x = (int)floorf(cx - r1); x <= (int)ceilf(cx + r1); x++) {
            float d = hypotf(x - cx, y - cy);
            if (x < 0 || y < 0 || x >= f->w || y >= f->h || d <= r0 || d > r1) continue;
            size_t i = (size_t)y * f->w + x;
            float l = col_luma(fine[0][i], fine[1][i], fine[2][i]);
            s2 += (double)l * l, m++;
        }
    return m ? (float)sqrt(s2 / m) : 0;
}

/* The ring a fill interpolates from: the skin of the annulus r .. r + 1.5 around (cx, cy),
 * without the pixels that stand out from it (a frame or a fold crossing it: beyond 2.5 robust
 * spreads in luma or redness, planes lu and rd). Compacts idx to those kept and returns their
 * count, 0 when under 70% of the annulus is skin or under 60% of that is kept; *spread: the
 * skin's luma spread. */
static int fill_ring(const look_face *f, const float *lu, const float *rd, float cx, float cy, float r, int *idx,
                     float *tmp, float *spread) {
    int skin, all = ring_of(f, cx, cy, r, r + 1.5f, idx, &skin), n = 0, k = 0;
    for (int i = 0; i < all; i++)
        if (f->skin[idx[i]]) idx[n++] = idx[i];
    if (n < 0.7f * all) return 0;
    float med[2], sp[2];
    for (int p = 0; p < 2; p++) {
        const float *v = p ? rd : lu;
        for (int i = 0; i < n; i++) tmp[i] = v[idx[i]];
        med[p] = look__quantile(tmp, n, 0.5f);
        for (int i = 0; i < n; i++) tmp[i] = fabsf(v[idx[i]] - med[p]);
        sp[p] = fmaxf(1.4826f * look__quantile(tmp, n, 0.5f), 1.f / 255);
    }
    for (int i = 0; i < n; i++)
        if (fabsf(lu[idx[i]] - med[0]) <= 2.5f * sp[0] && fabsf(rd[idx[i]] - med[1]) <= 2.5f * sp[1]) idx[k++] = idx[i];
    *spread = sp[0];
    return n && k >= 0.6f * n ? k : 0;
}

/* The blob detector's state: the face's planes and scales, the spots found. */
typedef struct {
    const look_face *f;
    int w, h, levels;
    size_t n;                     /* pixels of a plane */
    float rmax, s0, thr;          /* largest spot radius, the first scale, the detection threshold */
    float *planes;                /* one allocation: luma, red, g0, fine[3], z (2 per level), gs (levels + 2) */
    float *luma, *red, *g0, *fine[3], *z, *gs;
    int *idx;                     /* scratch: ring pixels */
    float *tmp;                   /* scratch: ring values */
    look_spot *spots;
    int ns, cap;
} look_blobs;

/* The planes: the fine band of each channel (the texture a fill borrows), luma and redness. */
static int blobs_planes(look_blobs *b) {
    const look_face *f = b->f;
    for (int c = 0; c < 3; c++) {
        if (blur(f->workers, b->fine[c], f->img[c], b->w, b->h, fmaxf(SEP_HIGH * f->fw, 0.5f))) return -1;
        for (size_t i = 0; i < b->n; i++) b->fine[c][i] = f->img[c][i] - b->fine[c][i];
    }
    for (size_t i = 0; i < b->n; i++)
        b->luma[i] = col_luma(f->img[0][i], f->img[1][i], f->img[2][i]), b->red[i] = f->img[0][i] - f->img[1][i];
    return 0;
}

/* DoG planes, each in units of its robust spread over skin: z[(2 k + plane) n]. The Gaussian
 * ladder is built incrementally (G(s sqrt 2) = G(s) blurred by s) and level k's DoG is
 * G(2 s_k) - G(s_k), two rungs apart. */
static int blobs_dog(look_blobs *b) {
    size_t n = b->n;
    for (int p = 0; p < 2; p++) {
        float sg = b->s0;
        if (blur(b->f->workers, b->gs, p ? b->red : b->luma, b->w, b->h, sg)) return -1;
        for (int k = 1; k < b->levels + 2; k++, sg *= (float)M_SQRT2)
            if (blur(b->f->workers, b->gs + k * n, b->gs + (k - 1) * n, b->w, b->h, sg)) return -1;
        for (int k = 0; k < b->levels; k++) {
            const float *lo = b->gs + k * n, *hi = b->gs + (k + 2) * n;
            float *d = b->z + (2 * (size_t)k + p) * n;
            int m = 0;
            for (size_t i = 0; i < n; i++) {
                d[i] = p ? lo[i] - hi[i] : hi[i] - lo[i];
                if (b->f->skin[i]) b->g0[m++] = fabsf(d[i]);
            }
            float spread = fmaxf(1.4826f * look__quantile(b->g0, m, 0.5f), 0.25f / 255);
            for (size_t i = 0; i < n; i++) d[i] /= spread;
        }
    }
    return 0;
}

/* Pixel i of DoG plane d at level k (below, above: the neighbouring levels' planes or NULL)
 * as a spot: a maximum over space and scale, round, standing out from its ring. Returns 1
 * with *s filled, else 0. */
static int blobs_peak(look_blobs *b, const float *d, const float *below, const float *above, int p, int k, int x, int y,
                      look_spot *s) {
    int w = b->w;
    size_t i = (size_t)y * w + x;
    float v = d[i];
    if (v <= b->thr || !b->f->skin[i]) return 0;
    int peak = 1;
    for (int j = 0; j < 9 && peak; j++) peak = j == 4 || v >= d[(ptrdiff_t)i + (j / 3 - 1) * (ptrdiff_t)w + j % 3 - 1];
    if ((below && below[i] > v) || (above && above[i] > v)) peak = 0;
    if (!peak) return 0;
    float dxx = d[i + 1] + d[i - 1] - 2 * v, dyy = d[i + w] + d[i - w] - 2 * v;
    float dxy = (d[i + w + 1] - d[i + w - 1] - d[i - w + 1] + d[i - w - 1]) / 4;
    float tr = dxx + dyy, det = dxx * dyy - dxy * dxy;
    if (det <= 0 || tr * tr / det >= (SPOT_EDGE + 1) * (SPOT_EDGE + 1) / SPOT_EDGE) return 0;
    *s = (look_spot){(float)x, (float)y, (float)M_SQRT2 * b->s0 * powf((float)M_SQRT2, (float)k), v};
    return s->r <= b->rmax && !(spot_measure(b->f, p ? b->red : b->luma, p ? 1 : -1, s, b->idx, b->tmp) < SPOT_RING);
}

/* Every spot of every level and plane into b->spots, strongest first. */
static int blobs_detect(look_blobs *b) {
    size_t n = b->n;
    for (int k = 0; k < b->levels; k++)
        for (int p = 0; p < 2; p++) {
            const float *d = b->z + (2 * (size_t)k + p) * n;
            const float *below = k > 0 ? d - 2 * n : NULL, *above = k + 1 < b->levels ? d + 2 * n : NULL;
            for (int y = 1; y < b->h - 1; y++)
                for (int x = 1; x < b->w - 1; x++) {
                    look_spot s;
                    if (!blobs_peak(b, d, below, above, p, k, x, y, &s)) continue;
                    if (b->ns == b->cap) {
                        look_spot *t = realloc(b->spots, (size_t)(b->cap = b->cap ? 2 * b->cap : 16) * sizeof *t);
                        if (!t) return -1;
                        b->spots = t;
                    }
                    b->spots[b->ns++] = s;
                }
        }
    if (b->ns) qsort(b->spots, (size_t)b->ns, sizeof *b->spots, cmp_spot);
    return 0;
}

/* Texture for spot sp (its ring: idx[0..nr), radius r_out): the offset of a disc as big beside
 * it, all skin and not itself a spot, whose fine band is closest in strength to that of the
 * spot's ring (within a factor 2); 0, 0 when there is none. */
static void blobs_donor(look_blobs *b, const look_spot *sp, float r_out, int nr, int *ox, int *oy) {
    int skin;
    float want = texture_of(b->f, b->fine, sp->cx, sp->cy, r_out, r_out + 1.5f), best = logf(2);
    *ox = *oy = 0;
    for (int d = 0; d < 8; d++) {
        float a = d * (float)M_PI / 4, L = 2 * r_out + 2;
        int dx = (int)lroundf(L * cosf(a)), dy = (int)lroundf(L * sinf(a)), clean = 1;
        float ex = sp->cx + dx, ey = sp->cy + dy;
        if (ex - r_out < 0 || ey - r_out < 0 || ex + r_out > b->w - 1 || ey + r_out > b->h - 1) continue;
        int all = ring_of(b->f, ex, ey, -1, r_out, b->idx + nr, &skin);
        for (int j = 0; j < b->ns && clean; j++)
            clean = !(b->spots[j].z > 0 && hypotf(b->spots[j].cx - ex, b->spots[j].cy - ey) < b->spots[j].r + r_out);
        if (skin < all || !clean) continue;
        float e = fabsf(logf((texture_of(b->f, b->fine, ex, ey, -1, r_out) + 1e-6f) / (want + 1e-6f)));
        if (e < best) best = e, *ox = dx, *oy = dy;
    }
}

/* Spot sp filled into out: from its ring (idx[0..nr)) inwards, plus the donor's fine band at
 * offset (ox, oy) when there is one, feathered from r_in to r_out, at the given opacity. */
static void blobs_paint(const look_blobs *b, const look_spot *sp, float r_in, float r_out, int nr, int ox, int oy,
                        float opacity, float *const out[3]) {
    int w = b->w, h = b->h, tex = ox || oy;
    for (int y = (int)floorf(sp->cy - r_out); y <= (int)ceilf(sp->cy + r_out); y++)
        for (int x = (int)floorf(sp->cx - r_out); x <= (int)ceilf(sp->cx + r_out); x++) {
            float d = hypotf(x - sp->cx, y - sp->cy), a;
            if (x < 0 || y < 0 || x >= w || y >= h || d >= r_out || !b->f->keep[(size_t)y * w + x]) continue;
            a = d <= r_in ? 1 : (r_out - d) / (r_out - r_in);
            a = a * a * (3 - 2 * a) * opacity;
            size_t p = (size_t)y * w + x, q = (size_t)(y + oy) * w + x + ox;
            for (int c = 0; c < 3; c++) {
                float v = ring_fill(b->f->img[c], w, b->idx, nr, x, y) + (tex ? b->fine[c][q] : 0);
                out[c][p] += a * (v - out[c][p]);
            }
        }
}

/* Fills the strongest spots; weaker detections overlapping one (the same spot at other scales
 * and places) are merged into it: its disc grows to cover them. Returns the count filled. */
static int blobs_fill(look_blobs *b, float opacity, float *const out[3]) {
    int count = 0;
    for (int k = 0; k < b->ns && count < SPOT_MAX; k++) {
        look_spot *sp = &b->spots[k];
        if (sp->z == 0) continue;
        for (int j = k + 1; j < b->ns; j++) {
            float d = hypotf(b->spots[j].cx - sp->cx, b->spots[j].cy - sp->cy);
            if (b->spots[j].z > 0 && d < sp->r + b->spots[j].r)
                sp->r = fminf(fmaxf(sp->r, d + b->spots[j].r), 1.5f * b->rmax), b->spots[j].z = 0;
        }
        float r_in = sp->r + 1, r_out = r_in + fmaxf(1.5f, 0.5f * sp->r), spread;
        int nr = fill_ring(b->f, b->luma, b->red, sp->cx, sp->cy, r_out, b->idx, b->tmp, &spread), ox, oy;
        if (!nr) continue;
        blobs_donor(b, sp, r_out, nr, &ox, &oy);
        blobs_paint(b, sp, r_in, r_out, nr, ox, oy, opacity, out);
        count++;
    }
    return count;
}

/* Finds blemishes in f->img and fills them into out (3 planes, a copy of img). Returns the
 * count, or -1 when out of memory. */
static int blemishes(const look_face *f, float *const out[3], float strength) {
    look_blobs b = {.f = f, .w = f->w, .h = f->h, .n = (size_t)f->w * f->h};
    float rmin = fmaxf(SPOT_R_MIN * f->fw, 1);
    b.rmax = fmaxf(SPOT_R_MAX * f->fw, 2), b.s0 = rmin / (float)M_SQRT2, b.thr = fmaxf(4.5f - 3 * strength, 2.5f);
    b.levels = 1 + (int)ceilf(logf(b.rmax / rmin) / logf((float)M_SQRT2));
    if (b.levels > SPOT_SCALES) b.levels = SPOT_SCALES;
    int ringmax = (int)(2 * (3 * b.rmax + 8) + 3), count = -1;
    size_t n = b.n;
    b.idx = malloc((size_t)ringmax * ringmax * 2 * sizeof *b.idx);
    b.planes = buffer_alloc(n * (8 + 3 * (size_t)b.levels) * sizeof *b.planes);
    b.tmp = malloc((size_t)ringmax * ringmax * sizeof *b.tmp);
    if (b.idx && b.planes && b.tmp) {
        b.luma = b.planes, b.red = b.planes + n, b.g0 = b.planes + 2 * n;
        for (int c = 0; c < 3; c++) b.fine[c] = b.planes + (3 + (size_t)c) * n;
        b.z = b.planes + 6 * n, b.gs = b.z + 2 * (size_t)b.levels * n;   /* levels + 2 planes: the Gaussian ladder */
        if (!blobs_planes(&b) && !blobs_dog(&b) && !blobs_detect(&b)) count = blobs_fill(&b, fminf(strength / 0.2f, 1), out);
    }
    free(b.idx), free(b.planes), free(b.tmp), free(b.spots);
    return count;
}

/* ============================================================ retouch === */

#define SKIN_FEATHER 0.02f        /* mask feather sigma, face widths */
#define SKIN_GATE 0.05f           /* chromaticity distance from the cheeks' at which the mask is 0.6 */

/* The box b of im becomes img + t (out - img) (planes of 0..1 values). */
static void retouch_write(img_rgb *im, look_box b, const float *const *img, const float *const *out, float t) {
    for (int j = 0; j < b.h; j++)
        for (int i = 0; i < b.w; i++) {
            unsigned char *p = im->rgb + 3 * ((size_t)(b.y0 + j) * im->w + b.x0 + i);
            for (int c = 0; c < 3; c++) {
                size_t k = (size_t)j * b.w + i;
                float v = (img[c][k] + t * (out[c][k] - img[c][k])) * 255 + 0.5f;
                p[c] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : (int)v);
            }
        }
}

/* The retouch under the tone guard: evening out blotches moves the cheeks' median colour, and
 * on nearly grey skin that is a visible tint. The largest share of the retouch (bisected) that
 * keeps the skin's hue (hue_move) and ITA within the guard's bounds is written. Returns it. */
static float retouch_guarded(img_rgb *im, const float (*lmk)[3], look_box b, const float *const *img,
                             const float *const *out) {
    retouch_write(im, b, img, out, 0);
    look_skin s0 = look_skin_of(im, lmk);
    if (!isfinite(s0.ita)) return retouch_write(im, b, img, out, 1), 1;   /* no cheek to watch */
    float lo = 0, hi = 1, t = 1;
    for (int i = 0; i <= GUARD_STEPS; i++, t = 0.5f * (lo + hi)) {
        retouch_write(im, b, img, out, t);
        look_skin s = look_skin_of(im, lmk);
        if (!isfinite(s.ita) || (fabsf(look__hue_move(s0, s)) <= LOOK_GUARD_HUE && fabsf(s.ita - s0.ita) <= LOOK_GUARD_ITA)) {
            if (t == 1) return 1;
            lo = t;
        } else {
            hi = t;
        }
    }
    retouch_write(im, b, img, out, lo);
    return lo;
}

/* Skin by geometry: the oval pulled in from the hairline and jaw, minus the features grown by
 * a margin (lids and lashes, brow hairs, lip line); keep: outside the outlines. drop: scratch. */
static void retouch_skin(const float (*lmk)[3], look_box b, look_face *f, unsigned char *drop) {
    static const struct { look_region r; float grow; } features[] = {
        {LOOK_RIGHT_EYE, 0.045f}, {LOOK_LEFT_EYE, 0.045f}, {LOOK_RIGHT_BROW, 0.03f}, {LOOK_LEFT_BROW, 0.03f},
        {LOOK_LIPS, 0.025f},      {LOOK_NOSTRILS, 0.015f},
    };
    size_t n = (size_t)b.w * b.h;
    look__fill_region(lmk, LOOK_FACE_OVAL, -0.03f * f->fw, b, f->skin, 1);
    memset(f->keep, 1, n);
    for (int k = 0; k < COUNT(features); k++) {
        look__fill_region(lmk, features[k].r, features[k].grow * f->fw, b, drop, 1);
        look__fill_region(lmk, features[k].r, 0, b, f->keep, 0);
    }
    for (size_t i = 0; i < n; i++) f->skin[i] &= !drop[i];
}

/* Bands of the cleaned image out: b1 blurred to SEP_HIGH, b2 to SEP_MID (mid = b1 - b2), mag
 * the mid band's amplitude; *typical its median on skin. tmp: scratch. Returns 0, or -1 when
 * out of memory. */
static int retouch_bands(const look_face *f, float *const out[3], float *const b1[3], float *const b2[3], float *mag,
                         float *tmp, float *typical) {
    int w = f->w, h = f->h, m = 0;
    size_t n = (size_t)w * h;
    for (int c = 0; c < 3; c++)
        if (blur(f->workers, b1[c], out[c], w, h, fmaxf(SEP_HIGH * f->fw, 0.5f)) ||
            blur(f->workers, b2[c], out[c], w, h, SEP_MID * f->fw))
            return -1;
    for (size_t i = 0; i < n; i++) {
        float d0 = b1[0][i] - b2[0][i], d1 = b1[1][i] - b2[1][i], d2 = b1[2][i] - b2[2][i];
        mag[i] = sqrtf(d0 * d0 + d1 * d1 + d2 * d2);
        if (f->skin[i]) tmp[m++] = mag[i];
    }
    *typical = fmaxf(look__quantile(tmp, m, 0.5f), 0.5f / 255);
    return 0;
}

/* The mask: geometry feathered, times a gate on the colour of the low band b2 against the
 * cheeks' (hair and hat inside the oval drop out), zero inside the feature outlines. cheeks,
 * tmp: scratch. Returns 0, or -1 when out of memory. */
static int retouch_mask(const float (*lmk)[3], look_box b, const look_face *f, float *const b2[3], unsigned char *cheeks,
                        float *tmp, float *mask) {
    size_t n = (size_t)b.w * b.h;
    float ref[3] = {0, 0, 0};
    memset(cheeks, 0, n);
    look__fill_region(lmk, LOOK_RIGHT_CHEEK, 0, b, cheeks, 1);
    look__fill_region(lmk, LOOK_LEFT_CHEEK, 0, b, cheeks, 1);
    for (int c = 0; c < 3; c++) {
        int m = 0;
        for (size_t i = 0; i < n; i++)
            if (cheeks[i]) tmp[m++] = b2[c][i];
        ref[c] = look__quantile(tmp, m, 0.5f);
    }
    for (size_t i = 0; i < n; i++) mask[i] = f->skin[i];
    if (blur(f->workers, mask, mask, b.w, b.h, SKIN_FEATHER * f->fw)) return -1;
    float rs = ref[0] + ref[1] + ref[2], ry = col_luma(ref[0], ref[1], ref[2]);
    for (size_t i = 0; i < n; i++) {
        if (!f->keep[i]) mask[i] = 0;
        if (mask[i] < 1e-3f) mask[i] = 0;
        if (mask[i] > 0 && rs > 0) {   /* rs NAN (no cheek in the box): no gate */
            float s = b2[0][i] + b2[1][i] + b2[2][i] + 1e-6f, y = col_luma(b2[0][i], b2[1][i], b2[2][i]);
            float dr = b2[0][i] / s - ref[0] / rs, dg = b2[1][i] / s - ref[1] / rs;
            float dl = log2f(fmaxf(y, 1e-3f) / fmaxf(ry, 1e-3f)) / 1.5f;
            mask[i] *= expf(-0.5f * ((dr * dr + dg * dg) / (SKIN_GATE * SKIN_GATE) + dl * dl));
        }
    }
    return 0;
}

/* The mid band taken out of out under the mask, softly cored: where its amplitude is small
 * next to the typical one. Returns the share of the skin's mid-band energy removed. */
static float retouch_smooth(const look_face *f, float strength, float *const out[3], float *const b1[3],
                            float *const b2[3], const float *mag, const float *mask, float typical) {
    double e0 = 0, e1 = 0;
    float k_s = fminf(2 * strength, 0.9f);
    for (size_t i = 0; i < (size_t)f->w * f->h; i++) {
        float x = mag[i] / (SEP_CORE * typical), a = mask[i] * k_s * expf(-x * x);
        if (f->skin[i]) e0 += (double)mag[i] * mag[i], e1 += (double)mag[i] * mag[i] * (1 - a) * (1 - a);
        for (int c = 0; c < 3; c++) out[c][i] -= a * (b1[c][i] - b2[c][i]);
    }
    return e0 > 0 ? (float)(1 - e1 / e0) : 0;
}

int look_retouch(pool *workers, img_rgb *im, const float (*lmk)[3], float strength, look_report *rep,
                 char err[LOOK_ERR]) {
    float fw;
    look_report r0 = {0}, *r = rep ? rep : &r0;
    if (look__check_args(im, lmk, strength, &fw, err)) return -1;
    r->blemishes_removed = 0, r->smooth = 0;
    if (strength == 0) return 0;

    look_region oval = LOOK_FACE_OVAL;
    look_box b = look__region_box(lmk, &oval, 1, 0.06f * fw, im->w, im->h);
    int w = b.w, h = b.h;
    size_t n = (size_t)w * h;
    if (!n) return 0;   /* the face is outside the image: nothing to retouch */
    float *ws = buffer_alloc(n * 15 * sizeof *ws);   /* 7 planes here, 8 for the bands */
    unsigned char *u8 = calloc(n, 3);
    if (!ws || !u8) {
        free(ws), free(u8);
        return snprintf(err, LOOK_ERR, "look: out of memory"), -1;
    }
    r->retouch_kept = 1;
    look_face f = {w, h, {ws, ws + n, ws + 2 * n}, u8, u8 + n, fw, workers};
    float *out[3] = {ws + 3 * n, ws + 4 * n, ws + 5 * n}, *mask = ws + 6 * n, *work = ws + 7 * n;
    float *b1[3] = {work, work + n, work + 2 * n}, *b2[3] = {work + 3 * n, work + 4 * n, work + 5 * n};
    float *mag = work + 6 * n, *tmp = work + 7 * n, typical;
    unsigned char *drop = u8 + 2 * n;
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            const unsigned char *p = im->rgb + 3 * ((size_t)(b.y0 + j) * im->w + b.x0 + i);
            for (int c = 0; c < 3; c++) f.img[c][(size_t)j * w + i] = out[c][(size_t)j * w + i] = p[c] / 255.f;
        }
    retouch_skin(lmk, b, &f, drop);
    int rc = blemishes(&f, out, strength);
    if (rc >= 0) r->blemishes_removed = rc;
    if (rc < 0 || retouch_bands(&f, out, b1, b2, mag, tmp, &typical) || retouch_mask(lmk, b, &f, b2, drop, tmp, mask)) {
        free(ws), free(u8);
        return snprintf(err, LOOK_ERR, "look: out of memory"), -1;
    }
    r->smooth = retouch_smooth(&f, strength, out, b1, b2, mag, mask, typical);
    r->retouch_kept = retouch_guarded(im, lmk, b, (const float *const *)f.img, (const float *const *)out);
    free(ws), free(u8);
    r->skin_after = look_skin_of(im, lmk);
    r->ita_after = r->skin_after.ita;
    return 0;
}
