/* test_models.c — the networks are built when a stage first needs them (pl_models_load):
 *   - pl_models_open builds none;
 *   - a run that finds no face (the dogs of d10) builds the detectors and FaceMesh only: never
 *     the selfie network, the identity network or an upscaler;
 *   - a headshot without super-resolution builds the selfie and identity networks, no upscaler,
 *     and is byte for byte the headshot of networks all built beforehand, and of a run that
 *     keeps its photo (pl_opts.release: the photo is freed once framed);
 *   - with --weights DIR, a missing container is an error of pl_models_open, before any work.
 */
#include "pipeline.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static meta_history H;            /* 30 KB: off the stack */

/* "det lmk" ...: which networks m has built. */
static const char *built(const pl_models *m) {
    static char s[64];
    snprintf(s, sizeof s, "%s%s%s%s%s%s", m->det ? "det " : "", m->lmk ? "lmk " : "", m->matte ? "matte " : "",
             m->id ? "id " : "", m->up[0] ? "up-slim " : "", m->up[1] ? "up-medium " : "");
    return s[0] ? s : "none";
}

/* A run of m on TEST_DATA/name; with release the photo is given to the run to free, and
 * *freed (may be NULL) says whether it was. */
static int run(pl_models *m, const char *name, int release, pl_result *r, int *freed, char err[PL_ERR]) {
    img_rgb ph = {0};
    pl_opts o;
    pl_opts_default(&o);
    o.enhance = PL_ENHANCE_OFF;   /* an upscaler would be built for d01's small face otherwise */
    o.release = release ? &ph : NULL;
    memset(r, 0, sizeof *r);
    meta_init(&H, "headshot test");
    char path[64];
    snprintf(path, sizeof path, TEST_DATA "%s", name);
    int rc = pl_load(path, 0, &ph, r, &H, err);
    if (rc == 0) rc = pl_run(m, &ph, &o, r, &H, err);
    if (freed) *freed = !ph.rgb;
    img_free(&ph);
    return rc;
}

static void test_lazy(void) {
    pl_models m = {0}, all = {0};
    pl_result r = {0}, ra = {0};
    char err[PL_ERR] = "";
    int rc = pl_models_open(&m, NULL, NULL, err);
    CHECK(rc == 0 && !strcmp(built(&m), "none"), "pl_models_open builds no network: %s %s", built(&m), err);
    rc = run(&m, "d10.jpg", 1, &r, NULL, err);
    CHECK(rc == PL_ENOFACE && m.det && m.lmk && !m.matte && !m.id && !m.up[0] && !m.up[1],
          "no face (d10, dogs): rc %d (want %d), built: %s (want det lmk)", rc, PL_ENOFACE, built(&m));
    pl_result_free(&r);
    int freed = 0;
    rc = run(&m, "d01.jpg", 1, &r, &freed, err);
    CHECK(rc == 0 && m.matte && m.id && !m.up[0] && !m.up[1] && freed, "headshot of d01, --enhance off: rc %d %s, built: %s "
          "(want det lmk matte id), the photo freed by the run: %s", rc, rc ? err : "", built(&m), freed ? "yes" : "no");
    err[0] = 0;
    int same = 0;
    if (pl_models_open(&all, NULL, NULL, err) == 0 && pl_models_load(&all, PL_NET_DET | PL_NET_LMK | PL_NET_MATTE | PL_NET_ID, err) == 0 &&
        run(&all, "d01.jpg", 0, &ra, NULL, err) == 0)
        same = r.out.w == ra.out.w && r.out.h == ra.out.h && !memcmp(r.out.rgb, ra.out.rgb, (size_t)r.out.w * r.out.h * 3);
    CHECK(rc == 0 && same, "the same headshot, byte for byte, from networks all built beforehand (%s) and the photo kept %s",
          built(&all), err);
    rc = pl_models_load(&m, PL_NET_UP, err);
    CHECK(rc == 0 && m.up[0] && !m.up[1], "PL_NET_UP builds the slim upscaler only: %s %s", built(&m), rc ? err : "");
    pl_result_free(&r), pl_result_free(&ra);
    pl_models_close(&m), pl_models_close(&all);
}

/* The containers pl_models_open checks with --weights. */
static const char *const names[] = {"blazeface", "blazeface_back", "facemesh", "selfie", "face_recognition"};

/* DIR with links to the repository's weights/NAME.hsw, all but skip (NULL: all). */
static int weights_dir(const char *dir, const char *skip) {
    char cwd[1024], from[1200], to[128];
    if (!getcwd(cwd, sizeof cwd)) return -1;
    for (int i = 0; i < 5; i++) {
        snprintf(to, sizeof to, "%s/%s.hsw", dir, names[i]);
        unlink(to);
        snprintf(from, sizeof from, "%s/weights/%s.hsw", cwd, names[i]);
        if ((!skip || strcmp(skip, names[i])) && symlink(from, to)) return -1;
    }
    return 0;
}

static void test_weights_dir(void) {
    char dir[] = "/tmp/headshot-models-XXXXXX", err[PL_ERR] = "";
    pl_models m = {0};
    if (!mkdtemp(dir)) return (void)CHECK(0, "temporary directory");
    int rc = weights_dir(dir, "selfie") ? -2 : pl_models_open(&m, NULL, dir, err);
    CHECK(rc == -1 && strstr(err, "selfie.hsw"), "--weights without selfie.hsw: pl_models_open fails (rc %d): \"%s\"", rc, err);
    rc = weights_dir(dir, NULL) ? -2 : pl_models_open(&m, NULL, dir, err);
    CHECK(rc == 0 && !strcmp(built(&m), "none"), "--weights with every container: opened (rc %d %s), built: %s", rc,
          rc ? err : "", rc ? "-" : built(&m));
    if (rc == 0) pl_models_close(&m);
    char to[128];
    for (int i = 0; i < 5; i++) snprintf(to, sizeof to, "%s/%s.hsw", dir, names[i]), unlink(to);
    rmdir(dir);
}

int main(void) {
    test_lazy();
    test_weights_dir();
    return test_done();
}
