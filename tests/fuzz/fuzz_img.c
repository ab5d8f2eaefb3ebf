/* fuzz_img.c — image decoding: sniffing, the structure checks and size limits of img.c, stb's
 * JPEG and PNG decoders, and the EXIF orientation (exif.c) with the turn it applies. */
#include "fuzz.h"
#include "exif.h"
#include "img.h"

#include <string.h>

/* A lower pixel limit than the default keeps each run fast; the checks are the same. */
#define FUZZ_IMG_MAX_PIXELS (1 << 20)

FUZZ_TARGET(img) {
    int o = exif_orientation(data, size);
    FUZZ_ASSERT(o >= 1 && o <= 8, "EXIF orientation outside 1..8");

    img_rgb im;
    char err[IMG_ERR] = "";
    img_load_opts opts = {FUZZ_IMG_MAX_PIXELS, 0};
    int rc = img_load_memory(&im, data, size, &opts, err);
    if (rc != 0) {
        FUZZ_ASSERT(rc == IMG_EFORMAT || rc == IMG_ELARGE || rc == IMG_EFAIL, "unexpected error class");
        FUZZ_ASSERT(err[0] && memchr(err, 0, IMG_ERR), "refusal without a reason");
        FUZZ_ASSERT(!im.rgb && !im.alpha && !im.w && !im.h, "refusal left an image behind");
        return 0;
    }
    FUZZ_ASSERT(im.w > 0 && im.h > 0 && im.rgb, "empty image loaded");
    FUZZ_ASSERT((long long)im.w * im.h <= FUZZ_IMG_MAX_PIXELS, "image above the pixel limit loaded");
    /* Touch the corners of every plane, so a short allocation shows under ASan. */
    size_t last = (size_t)im.w * im.h - 1;
    volatile unsigned sum = im.rgb[0] + im.rgb[last * 3 + 2];
    if (im.alpha) sum += im.alpha[0] + im.alpha[last];
    (void)sum;
    img_free(&im);
    return 0;
}
