/* label.c — the "AI-edited" mark (see label.h): a bitmap font, the box geometry, drawing, text. */
#include "label.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ============================================================ font === */

/* The glyphs LABEL_TEXT needs, upper case and digits for label_text() (the contact sheet of
 * --variants), 7 rows high, proportional widths; '#' = ink. Lower case has no descenders, so
 * every glyph sits on the same baseline. */
#define LABEL_ROWS LABEL_FONT_ROWS
static const struct {
    char c;                       /* the character */
    int w;                        /* columns */
    const char *art;              /* LABEL_ROWS rows of w characters, top to bottom */
} label_font[] = {
    {'A', 5, ".###." "#...#" "#...#" "#####" "#...#" "#...#" "#...#"},
    {'I', 3, "###" ".#." ".#." ".#." ".#." ".#." "###"},
    {'-', 3, "..." "..." "..." "###" "..." "..." "..."},
    {'d', 5, "....#" "....#" ".####" "#...#" "#...#" "#...#" ".####"},
    {'e', 5, "....." "....." ".###." "#...#" "#####" "#...." ".###."},
    {'i', 3, ".#." "..." "##." ".#." ".#." ".#." "###"},
    {'t', 4, ".#.." ".#.." "####" ".#.." ".#.." ".#.." "..##"},
    {'B', 5, "####." "#...#" "#...#" "####." "#...#" "#...#" "####."},
    {'C', 5, ".###." "#...#" "#...." "#...." "#...." "#...#" ".###."},
    {'D', 5, "####." "#...#" "#...#" "#...#" "#...#" "#...#" "####."},
    {'E', 5, "#####" "#...." "#...." "####." "#...." "#...." "#####"},
    {'F', 5, "#####" "#...." "#...." "####." "#...." "#...." "#...."},
    {'G', 5, ".###." "#...#" "#...." "#.###" "#...#" "#...#" ".####"},
    {'H', 5, "#...#" "#...#" "#...#" "#####" "#...#" "#...#" "#...#"},
    {'J', 5, "..###" "...#." "...#." "...#." "...#." "#..#." ".##.."},
    {'K', 5, "#...#" "#..#." "#.#.." "##..." "#.#.." "#..#." "#...#"},
    {'L', 5, "#...." "#...." "#...." "#...." "#...." "#...." "#####"},
    {'M', 5, "#...#" "##.##" "#.#.#" "#.#.#" "#...#" "#...#" "#...#"},
    {'N', 5, "#...#" "#...#" "##..#" "#.#.#" "#..##" "#...#" "#...#"},
    {'O', 5, ".###." "#...#" "#...#" "#...#" "#...#" "#...#" ".###."},
    {'P', 5, "####." "#...#" "#...#" "####." "#...." "#...." "#...."},
    {'Q', 5, ".###." "#...#" "#...#" "#...#" "#.#.#" "#..#." ".##.#"},
    {'R', 5, "####." "#...#" "#...#" "####." "#.#.." "#..#." "#...#"},
    {'S', 5, ".####" "#...." "#...." ".###." "....#" "....#" "####."},
    {'T', 5, "#####" "..#.." "..#.." "..#.." "..#.." "..#.." "..#.."},
    {'U', 5, "#...#" "#...#" "#...#" "#...#" "#...#" "#...#" ".###."},
    {'V', 5, "#...#" "#...#" "#...#" "#...#" "#...#" ".#.#." "..#.."},
    {'W', 5, "#...#" "#...#" "#...#" "#.#.#" "#.#.#" "#.#.#" ".#.#."},
    {'X', 5, "#...#" "#...#" ".#.#." "..#.." ".#.#." "#...#" "#...#"},
    {'Y', 5, "#...#" "#...#" ".#.#." "..#.." "..#.." "..#.." "..#.."},
    {'Z', 5, "#####" "....#" "...#." "..#.." ".#..." "#...." "#####"},
    {'0', 5, ".###." "#...#" "#..##" "#.#.#" "##..#" "#...#" ".###."},
    {'1', 5, "..#.." ".##.." "..#.." "..#.." "..#.." "..#.." ".###."},
    {'2', 5, ".###." "#...#" "....#" "...#." "..#.." ".#..." "#####"},
    {'3', 5, "####." "....#" "....#" ".###." "....#" "....#" "####."},
    {'4', 5, "...#." "..##." ".#.#." "#..#." "#####" "...#." "...#."},
    {'5', 5, "#####" "#...." "####." "....#" "....#" "#...#" ".###."},
    {'6', 5, ".###." "#...." "#...." "####." "#...#" "#...#" ".###."},
    {'7', 5, "#####" "....#" "...#." "..#.." ".#..." ".#..." ".#..."},
    {'8', 5, ".###." "#...#" "#...#" ".###." "#...#" "#...#" ".###."},
    {'9', 5, ".###." "#...#" "#...#" ".####" "....#" "....#" ".###."},
    {'+', 5, "....." "..#.." "..#.." "#####" "..#.." "..#.." "....."},
    {'/', 5, "....#" "....#" "...#." "..#.." ".#..." "#...." "#...."},
    {'#', 5, ".#.#." ".#.#." "#####" ".#.#." "#####" ".#.#." ".#.#."},
    {'.', 1, "." "." "." "." "." "." "#"},
    {':', 1, "." "#" "." "." "." "#" "."},
    {' ', 3, "..." "..." "..." "..." "..." "..." "..."},
};
#define LABEL_GLYPHS (int)(sizeof label_font / sizeof label_font[0])

/* The glyph of c: exact, else its upper case (lower case exists only for LABEL_TEXT), else -1
 * (drawn as a blank 3 columns wide). */
static int label_glyph(char c) {
    for (int pass = 0; pass < 2; pass++, c = (char)toupper((unsigned char)c))
        for (int i = 0; i < LABEL_GLYPHS; i++)
            if (label_font[i].c == c) return i;
    return -1;
}

int label_text_width(const char *text) {
    int w = 0;
    for (const char *p = text; *p; p++) {
        int g = label_glyph(*p);
        w += (g >= 0 ? label_font[g].w : 3) + (p[1] ? 1 : 0);
    }
    return w;
}

/* ============================================================ geometry === */

/* In font pixels: padding around the text, margin to the image edges, corner radius. */
#define LABEL_PAD_X 3
#define LABEL_PAD_Y 2
#define LABEL_MARGIN 4
#define LABEL_RADIUS 3
#define LABEL_BOX_ALPHA 0.55f
#define LABEL_INK_ALPHA 0.90f

int label_place(int w, int h, label_rect *r) {
    int s = (w < h ? w : h) / 300;
    if (s < 1) s = 1;
    r->scale = s;
    r->w = (label_text_width(LABEL_TEXT) + 2 * LABEL_PAD_X) * s;
    r->h = (LABEL_ROWS + 2 * LABEL_PAD_Y) * s;
    r->x = w - r->w - LABEL_MARGIN * s;
    r->y = h - r->h - LABEL_MARGIN * s;
    return r->x >= LABEL_MARGIN * s && r->y >= LABEL_MARGIN * s ? 0 : -1;
}

/* Share (0..1) of pixel (x, y) inside the rounded box: from the signed distance of the pixel
 * centre to the box edge, so the corners fade over one pixel. */
static float label_cover(const label_rect *r, int x, int y) {
    float rad = (float)(LABEL_RADIUS * r->scale);
    float hx = r->w * 0.5f, hy = r->h * 0.5f;
    float dx = fabsf(x + 0.5f - (r->x + hx)) - (hx - rad), dy = fabsf(y + 0.5f - (r->y + hy)) - (hy - rad);
    float out = sqrtf(fmaxf(dx, 0) * fmaxf(dx, 0) + fmaxf(dy, 0) * fmaxf(dy, 0)) + fminf(fmaxf(dx, dy), 0) - rad;
    return fminf(fmaxf(0.5f - out, 0), 1);
}

/* 1 if font pixel (col, row) of text is ink: which glyph column it falls in. */
static int label_ink_at(const char *text, int col, int row) {
    if (row < 0 || row >= LABEL_ROWS || col < 0) return 0;
    for (const char *p = text; *p; p++) {
        int g = label_glyph(*p), gw = g >= 0 ? label_font[g].w : 3;
        if (col < gw) return g >= 0 && label_font[g].art[row * gw + col] == '#';
        col -= gw + 1;
        if (col < 0) return 0;   /* the blank column between glyphs */
    }
    return 0;
}

/* 1 if box pixel (x, y) is ink. */
static int label_ink(const label_rect *r, int x, int y) {
    return label_ink_at(LABEL_TEXT, (x - r->x) / r->scale - LABEL_PAD_X, (y - r->y) / r->scale - LABEL_PAD_Y);
}

/* ============================================================ drawing === */

static unsigned char label_mix(unsigned char c, float to, float a) {
    return (unsigned char)lrintf(c + (to - c) * a);
}

int label_draw(img_rgb *im, label_rect *where, char err[LABEL_ERR]) {
    label_rect r;
    if (!im->rgb || label_place(im->w, im->h, &r) != 0) {
        snprintf(err, LABEL_ERR, "the %dx%d image is too small for the AI-edited mark", im->w, im->h);
        return -1;
    }
    for (int y = r.y; y < r.y + r.h; y++) {
        for (int x = r.x; x < r.x + r.w; x++) {
            float cover = label_cover(&r, x, y);
            if (cover <= 0) continue;
            unsigned char *px = im->rgb + ((size_t)y * im->w + x) * 3;
            int ink = label_ink(&r, x, y);
            for (int c = 0; c < 3; c++) {
                px[c] = label_mix(px[c], 0, LABEL_BOX_ALPHA * cover);
                if (ink) px[c] = label_mix(px[c], 255, LABEL_INK_ALPHA);
            }
            if (im->alpha) {
                unsigned char *a = im->alpha + (size_t)y * im->w + x;
                *a = label_mix(*a, 255, cover);
            }
        }
    }
    if (where) *where = r;
    return 0;
}

void label_text(img_rgb *im, int x, int y, int scale, const char *text, const unsigned char rgb[3]) {
    int w = label_text_width(text) * scale, h = LABEL_ROWS * scale;
    for (int yy = y < 0 ? 0 : y; yy < y + h && yy < im->h; yy++)
        for (int xx = x < 0 ? 0 : x; xx < x + w && xx < im->w; xx++)
            if (label_ink_at(text, (xx - x) / scale, (yy - y) / scale))
                memcpy(im->rgb + ((size_t)yy * im->w + xx) * 3, rgb, 3);
}
