/* compose.c — backdrops and linear-light compositing (see compose.h). Sections: sRGB
 * tables, parsing, studio backdrops, the blurred background, pictures, compositing.
 */
#include "compose.h"
#include "colour.h"
#include "pool.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compose__fail(char *err, const char *msg) {
    if (err) snprintf(err, COMPOSE_ERR, "background: %.140s", msg);
    return -1;
}

/* ============================================================ sRGB === */

/* frame.c's names for colour.h's tables. */

/* Random rounding: a hash of the position and channel gives the fraction threshold, so the
 * noise is fixed for a given pixel (same input, same bytes) and averages to the exact value. */
static inline unsigned char compose__dither(const uint16_t *enc, float l, uint32_t x, uint32_t y, uint32_t c) {
    uint32_t k = x * 0x9E3779B1u ^ (y + 0x7F4A7C15u) * 0x85EBCA77u ^ c * 0xC2B2AE3Du;
    k ^= k >> 15, k *= 0x2C1B3C6Du, k ^= k >> 12, k *= 0x297A2D39u, k ^= k >> 15;
    return (unsigned char)((enc[col_encode_index(l)] + (k & 255)) >> 8);
}

/* ============================================================ parsing === */

static const struct { const char *name; compose_kind kind; } compose__names[] = {
    {"studio", COMPOSE_STUDIO}, {"studio-blue", COMPOSE_STUDIO_BLUE}, {"studio-warm", COMPOSE_STUDIO_WARM},
    {"white", COMPOSE_COLOUR},  {"blur", COMPOSE_BLUR},               {"transparent", COMPOSE_TRANSPARENT},
    {"keep", COMPOSE_KEEP},
};

static int compose__hex(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int compose_parse(const char *s, compose_bg *bg, char err[COMPOSE_ERR]) {
    memset(bg, 0, sizeof *bg);
    for (size_t i = 0; i < sizeof compose__names / sizeof compose__names[0]; i++)
        if (!strcmp(s, compose__names[i].name)) {
            bg->kind = compose__names[i].kind;
            if (bg->kind == COMPOSE_COLOUR) memset(bg->rgb, 255, 3);
            return 0;
        }
    if (!strncmp(s, "image:", 6)) {
        if (!s[6]) return snprintf(err, COMPOSE_ERR, "--background image: needs a file, as in image:office.jpg"), -1;
        bg->kind = COMPOSE_IMAGE, bg->file = s + 6;
        return 0;
    }
    if (s[0] == '#' && strlen(s) == 7) {
        int ok = 1;
        for (int k = 0; k < 3; k++) {
            int hi = compose__hex(s[1 + 2 * k]), lo = compose__hex(s[2 + 2 * k]);
            ok &= hi >= 0 && lo >= 0;
            bg->rgb[k] = (unsigned char)(hi * 16 + lo);
        }
        if (ok) {
            bg->kind = COMPOSE_COLOUR;
            return 0;
        }
    }
    snprintf(err, COMPOSE_ERR, "--background must be studio, studio-blue, studio-warm, white, #RRGGBB, blur, "
             "image:FILE, transparent or keep, not '%.40s'", s);
    return -1;
}

void compose_name(const compose_bg *bg, char *buf, size_t n) {
    if (bg->kind == COMPOSE_COLOUR && bg->rgb[0] == 255 && bg->rgb[1] == 255 && bg->rgb[2] == 255)
        snprintf(buf, n, "white");
    else if (bg->kind == COMPOSE_COLOUR)
        snprintf(buf, n, "#%02X%02X%02X", bg->rgb[0], bg->rgb[1], bg->rgb[2]);
    else if (bg->kind == COMPOSE_IMAGE)
        snprintf(buf, n, "image:%s", bg->file ? bg->file : "");
    else
        for (size_t i = 0; i < sizeof compose__names / sizeof compose__names[0]; i++)
            if (compose__names[i].kind == bg->kind) snprintf(buf, n, "%s", compose__names[i].name);
}

/* ============================================================ studio backdrops === */

/* A paper backdrop lit from behind: the light is brightest behind the subject's head and
 * shoulders (the glow's centre, 42% down) and falls off as a gaussian of the elliptical
 * distance, wider than tall in a square, to the darker edge colour. Mixed in linear light,
 * where light adds. Colours are sRGB bytes: glow centre, then corners. */
static const unsigned char compose__studio[3][2][3] = {
    {{184, 184, 182}, {92, 93, 96}},       /* studio: neutral grey, corners a little cool */
    {{150, 172, 198}, {48, 64, 92}},       /* studio-blue: slate */
    {{204, 186, 160}, {112, 92, 74}},      /* studio-warm: beige paper, brown corners */
};
#define COMPOSE_GLOW_Y 0.42f      /* glow centre, share of the height from the top */
#define COMPOSE_GLOW_RX 0.62f     /* glow radii: shares of the width and of the height */
#define COMPOSE_GLOW_RY 0.72f

typedef struct {
    int tint, w, h;
    float *back;                  /* h x w x 3 */
} compose__studio_job;

static void compose__studio_rows(void *arg, int y0, int y1) {
    const compose__studio_job *j = arg;
    const float *lin = col_linear_table();
    int w = j->w, h = j->h;
    float c[3], e[3];
    for (int k = 0; k < 3; k++) c[k] = lin[compose__studio[j->tint][0][k]], e[k] = lin[compose__studio[j->tint][1][k]];
    float cx = 0.5f * w, cy = COMPOSE_GLOW_Y * h, rx = COMPOSE_GLOW_RX * w, ry = COMPOSE_GLOW_RY * h;
    for (int y = y0; y < y1; y++) {
        float dy = (y + 0.5f - cy) / ry;
        for (int x = 0; x < w; x++) {
            float dx = (x + 0.5f - cx) / rx, t = expf(-(dx * dx + dy * dy));
            float *p = j->back + ((size_t)y * w + x) * 3;
            for (int k = 0; k < 3; k++) p[k] = e[k] + (c[k] - e[k]) * t;
        }
    }
}

static void compose__studio_fill(pool *workers, int tint, int w, int h, float *back) {
    compose__studio_job j = {tint, w, h, back};
    pool_rows(workers, h, compose__studio_rows, &j);
}

/* ============================================================ the blurred background === */
/* The photo's background without the subject: pixels are weighted by how much they show
 * background, averaged into blocks of d x d (d from the blur size), the holes the subject
 * leaves are filled from coarser levels (push-pull), the result is blurred (three box passes,
 * close to a gaussian) and enlarged bilinearly. The subject's colours never enter, so it does
 * not bleed into the blur around its outline. */

#define COMPOSE_BOX_R 3           /* box radius at the reduced size: 3 passes give sigma 3.46 */
#define COMPOSE_FILL_TAU 0.25f    /* block weight from which a block trusts its own colour */

/* One box pass of radius r along rows (stride 1) or columns, c channels, edges clamped. */
static void compose__box(float *v, int w, int h, int c, int r, int along_rows, float *line) {
    int n = along_rows ? w : h, m = along_rows ? h : w;
    for (int j = 0; j < m; j++) {
        for (int i = 0; i < n; i++) {
            size_t at = along_rows ? (size_t)j * w + i : (size_t)i * w + j;
            memcpy(line + (size_t)i * c, v + at * c, sizeof(float) * c);
        }
        for (int i = 0; i < n; i++) {
            float s[4] = {0, 0, 0, 0};
            for (int t = i - r; t <= i + r; t++) {
                const float *q = line + (size_t)(t < 0 ? 0 : t >= n ? n - 1 : t) * c;
                for (int k = 0; k < c; k++) s[k] += q[k];
            }
            size_t at = along_rows ? (size_t)j * w + i : (size_t)i * w + j;
            for (int k = 0; k < c; k++) v[at * c + k] = s[k] / (2 * r + 1);
        }
    }
}

/* Push-pull: sum (premultiplied colour, 3 floats) and weight (1 float) per pixel in cw[4 * n],
 * w x h. On return cw[0..2] of every pixel holds a colour: its own where its weight is at least
 * COMPOSE_FILL_TAU, blended toward the coarser level's where less. */
static int compose__fill(float *cw, int w, int h) {
    if (w == 1 && h == 1) {
        float s = cw[3];
        for (int k = 0; k < 3; k++) cw[k] = s > 0 ? cw[k] / s : 0.2f;   /* no background at all: mid grey */
        return 0;
    }
    int pw = (w + 1) / 2, ph = (h + 1) / 2;
    float *up = calloc((size_t)pw * ph * 4, sizeof(float));
    if (!up) return -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 4; k++) up[((size_t)(y / 2) * pw + x / 2) * 4 + k] += 0.25f * cw[((size_t)y * w + x) * 4 + k];
    if (compose__fill(up, pw, ph)) return free(up), -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            /* the parent level bilinearly at this pixel's centre */
            float fx = (x + 0.5f) / 2 - 0.5f, fy = (y + 0.5f) / 2 - 0.5f, coarse[3] = {0, 0, 0};
            int x0 = (int)floorf(fx), y0 = (int)floorf(fy);
            float ax = fx - x0, ay = fy - y0;
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < 2; i++) {
                    int xx = x0 + i < 0 ? 0 : x0 + i >= pw ? pw - 1 : x0 + i, yy = y0 + j < 0 ? 0 : y0 + j >= ph ? ph - 1 : y0 + j;
                    float k = (i ? ax : 1 - ax) * (j ? ay : 1 - ay);
                    for (int c = 0; c < 3; c++) coarse[c] += k * up[((size_t)yy * pw + xx) * 4 + c];
                }
            float *p = cw + ((size_t)y * w + x) * 4, s = p[3], lam = s / COMPOSE_FILL_TAU;
            lam = lam > 1 ? 1 : lam;
            for (int c = 0; c < 3; c++) p[c] = (s > 0 ? lam * p[c] / s : 0) + (1 - lam) * coarse[c];
        }
    free(up);
    return 0;
}

static int compose__blur_fill(int w, int h, const img_rgb *photo, const float *subject, float *back) {
    const float *lin = col_linear_table();
    float sigma = COMPOSE_BLUR_SIGMA * (w > h ? w : h);
    int d = (int)lroundf(sigma / 3.46f);
    d = d < 1 ? 1 : d;
    int lw = (w + d - 1) / d, lh = (h + d - 1) / d;
    float *cw = calloc((size_t)lw * lh * 4, sizeof(float));
    float *col = malloc((size_t)lw * lh * 3 * sizeof(float));
    float *line = malloc((size_t)(lw > lh ? lw : lh) * 3 * sizeof(float));
    if (!cw || !col || !line) return free(cw), free(col), free(line), -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            float b = subject ? 1 - fminf(1, 2 * subject[i]) : 1;
            float *q = cw + ((size_t)(y / d) * lw + x / d) * 4, a = b * b * (photo->alpha ? photo->alpha[i] / 255.0f : 1);
            for (int k = 0; k < 3; k++) q[k] += a * lin[photo->rgb[3 * i + k]];
            q[3] += a;
        }
    for (size_t i = 0; i < (size_t)lw * lh * 4; i++) cw[i] /= (float)(d * d);
    int rc = compose__fill(cw, lw, lh);
    if (rc == 0) {
        for (size_t i = 0; i < (size_t)lw * lh; i++) memcpy(col + 3 * i, cw + 4 * i, 3 * sizeof(float));
        for (int pass = 0; pass < 3; pass++) {
            compose__box(col, lw, lh, 3, COMPOSE_BOX_R, 1, line);
            compose__box(col, lw, lh, 3, COMPOSE_BOX_R, 0, line);
        }
        for (int y = 0; y < h; y++) {
            float fy = (y + 0.5f) / d - 0.5f;
            int y0 = (int)floorf(fy);
            float ay = fy - y0;
            int ya = y0 < 0 ? 0 : y0, yb = y0 + 1 >= lh ? lh - 1 : y0 + 1;
            for (int x = 0; x < w; x++) {
                float fx = (x + 0.5f) / d - 0.5f;
                int x0 = (int)floorf(fx);
                float ax = fx - x0;
                int xa = x0 < 0 ? 0 : x0, xb = x0 + 1 >= lw ? lw - 1 : x0 + 1;
                const float *p00 = col + ((size_t)ya * lw + xa) * 3, *p01 = col + ((size_t)ya * lw + xb) * 3;
                const float *p10 = col + ((size_t)yb * lw + xa) * 3, *p11 = col + ((size_t)yb * lw + xb) * 3;
                float *o = back + ((size_t)y * w + x) * 3;
                for (int k = 0; k < 3; k++)
                    o[k] = (1 - ay) * ((1 - ax) * p00[k] + ax * p01[k]) + ay * ((1 - ax) * p10[k] + ax * p11[k]);
            }
        }
    }
    free(cw), free(col), free(line);
    return rc;
}

/* ============================================================ pictures === */

/* The picture scaled to cover w x h (the excess cut equally from both sides), resampled by
 * img_resize (sRGB-correct Mitchell / Catmull-Rom) from the covering crop. */
static int compose__picture(const img_rgb *pic, int w, int h, float *back, char *err) {
    double s = fmax((double)w / pic->w, (double)h / pic->h);
    int cw = (int)fmin(pic->w, lround(w / s)), ch = (int)fmin(pic->h, lround(h / s));
    cw = cw < 1 ? 1 : cw, ch = ch < 1 ? 1 : ch;
    int x0 = (pic->w - cw) / 2, y0 = (pic->h - ch) / 2;
    img_rgb crop, fit;
    char ierr[IMG_ERR];
    if (img_new(&crop, cw, ch, 0, ierr)) return compose__fail(err, ierr);
    for (int y = 0; y < ch; y++)
        memcpy(crop.rgb + (size_t)y * cw * 3, pic->rgb + ((size_t)(y0 + y) * pic->w + x0) * 3, (size_t)cw * 3);
    int rc = img_resize(&fit, &crop, w, h, ierr);
    img_free(&crop);
    if (rc) return compose__fail(err, ierr);
    const float *lin = col_linear_table();
    for (size_t i = 0; i < (size_t)w * h * 3; i++) back[i] = lin[fit.rgb[i]];
    img_free(&fit);
    return 0;
}

int compose_backdrop(pool *workers, const compose_bg *bg, int w, int h, const img_rgb *photo, const float *subject,
                     float *back, char err[COMPOSE_ERR]) {
    if (w < 1 || h < 1 || !back) return compose__fail(err, "no canvas");
    const float *lin = col_linear_table();
    switch (bg->kind) {
    case COMPOSE_STUDIO: compose__studio_fill(workers, 0, w, h, back); return 0;
    case COMPOSE_STUDIO_BLUE: compose__studio_fill(workers, 1, w, h, back); return 0;
    case COMPOSE_STUDIO_WARM: compose__studio_fill(workers, 2, w, h, back); return 0;
    case COMPOSE_COLOUR:
        for (size_t i = 0; i < (size_t)w * h; i++)
            for (int k = 0; k < 3; k++) back[3 * i + k] = lin[bg->rgb[k]];
        return 0;
    case COMPOSE_BLUR:
    case COMPOSE_KEEP:
        if (!photo || !photo->rgb || photo->w != w || photo->h != h) return compose__fail(err, "blur needs the framed photo");
        return compose__blur_fill(w, h, photo, subject, back) ? compose__fail(err, "out of memory") : 0;
    case COMPOSE_IMAGE:
        if (!bg->picture || !bg->picture->rgb) return compose__fail(err, "image: the picture is not loaded");
        return compose__picture(bg->picture, w, h, back, err);
    case COMPOSE_TRANSPARENT: return 0;
    }
    return compose__fail(err, "unknown backdrop");
}

/* ============================================================ compositing === */

typedef struct {
    const float *fg, *alpha, *back;   /* see compose_over */
    int w;
    img_rgb *out;
} compose__over_job;

static void compose__over_rows(void *arg, int y0, int y1) {
    const compose__over_job *j = arg;
    const float *fg = j->fg, *alpha = j->alpha, *back = j->back;
    const uint16_t *enc = col_encode_table();
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < j->w; x++) {
            size_t i = (size_t)y * j->w + x;
            float a = alpha[i] < 0 ? 0 : alpha[i] > 1 ? 1 : alpha[i];
            for (int k = 0; k < 3; k++) {
                float v = back ? a * fg[3 * i + k] + (1 - a) * back[3 * i + k] : fg[3 * i + k];
                j->out->rgb[3 * i + k] = compose__dither(enc, v, (uint32_t)x, (uint32_t)y, (uint32_t)k);
            }
            if (!back) j->out->alpha[i] = (unsigned char)lroundf(a * 255);
        }
}

int compose_over(pool *workers, const float *fg, const float *alpha, const float *back, int w, int h, img_rgb *out,
                 char err[COMPOSE_ERR]) {
    char ierr[IMG_ERR];
    if (img_new(out, w, h, back == NULL, ierr)) return compose__fail(err, ierr);
    compose__over_job j = {fg, alpha, back, w, out};
    pool_rows(workers, h, compose__over_rows, &j);
    return 0;
}
