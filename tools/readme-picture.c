/* readme-picture.c — BEFORE and AFTER side by side at one height, as a JPEG: the README's
 * before/after pictures (tools/make-readme-pictures.sh builds and runs it).
 *
 *   readme-picture BEFORE AFTER OUT.jpg HEIGHT QUALITY
 *
 * Each picture is scaled (img_resize, sRGB-correct) to HEIGHT pixels keeping its shape;
 * a white gap of HEIGHT/40 pixels separates them. Uses the program's own img.c.
 */
#include "img.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 6) return fprintf(stderr, "usage: readme-picture BEFORE AFTER OUT.jpg HEIGHT QUALITY\n"), 2;
    int h = atoi(argv[4]), q = atoi(argv[5]), gap = h / 40, x = 0;
    char err[IMG_ERR];
    img_rgb in[2], sc[2], out;
    img_load_opts lo = {0, 0};
    for (int i = 0; i < 2; i++)
        if (img_load_file(&in[i], argv[1 + i], &lo, err) ||
            img_resize(&sc[i], &in[i], (int)((long long)in[i].w * h / in[i].h), h, err))
            return fprintf(stderr, "readme-picture: %s: %s\n", argv[1 + i], err), 1;
    if (img_new(&out, sc[0].w + gap + sc[1].w, h, 0, err)) return fprintf(stderr, "readme-picture: %s\n", err), 1;
    memset(out.rgb, 255, (size_t)out.w * out.h * 3);
    for (int i = 0; i < 2; x += sc[i].w + gap, i++)
        for (int y = 0; y < h; y++)
            memcpy(out.rgb + ((size_t)y * out.w + x) * 3, sc[i].rgb + (size_t)y * sc[i].w * 3, (size_t)sc[i].w * 3);
    unsigned char *bytes;
    size_t n;
    if (img_encode(&out, IMG_JPEG, q, NULL, 0, &bytes, &n, err) || img_write_file(argv[3], bytes, n, err))
        return fprintf(stderr, "readme-picture: %s: %s\n", argv[3], err), 1;
    return 0;
}
