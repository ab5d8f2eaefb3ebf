/* test_landmarks.c — FaceMesh against TF.js, the whole face pipeline (detection, landmarks,
 * re-crops) against its JS twin (tools/reference/gold-face.mjs), refusals of photos without
 * people, and head pose on synthetically rotated and mirrored photos. */
#include "landmarks.h"
#include "test.h"
#include "golden.h"

#include "img.h"

#include <stdint.h>

/* ------------------------------------------------------------------ helpers --- */


/* Largest x,y and z distance between two point sets, relative to the face width (x extent
 * of the reference points). */
static void compare_points(const float *ref, const float *got, int stride_ref, float *dxy, float *dz, float *width) {
    float x0 = 1e30f, x1 = -1e30f;
    for (int i = 0; i < LMK_POINTS; i++) x0 = fminf(x0, ref[i * stride_ref]), x1 = fmaxf(x1, ref[i * stride_ref]);
    *width = x1 - x0, *dxy = 0, *dz = 0;
    for (int i = 0; i < LMK_POINTS; i++) {
        const float *r = ref + i * stride_ref, *g = got + 3 * i;
        *dxy = fmaxf(*dxy, hypotf(r[0] - g[0], r[1] - g[1]) / *width);
        *dz = fmaxf(*dz, fabsf(r[2] - g[2]) / *width);
    }
}

typedef img_rgb photo;

static photo load(const char *file) {
    photo p = {0};
    char err[IMG_ERR];
    if (img_load_file(&p, file, NULL, err) != 0) CHECK(0, "%s: decodes: %s", file, err);
    return p;
}

/* Detection + landmarks of every face: the faces, their landmarks, and how many have the
 * face flag. */
typedef struct {
    int n, faces;                 /* detections, of which flagged faces */
    det_face det[8];
    lmk_result lmk[8];
    char err[NN_ERR];
} found;

static found *find_faces(det_model *dm, lmk_model *lm, photo p) {
    static found f;
    f.faces = 0;
    f.n = det_run(dm, p.rgb, p.w, p.h, f.det, 8, f.err);
    for (int i = 0; i < f.n; i++) {
        if (lmk_run(lm, p.rgb, p.w, p.h, &f.det[i], &f.lmk[i], f.err) != 0) {
            f.n = -1;
            break;
        }
        f.faces += f.lmk[i].flag >= LMK_FLAG_MIN;
    }
    return &f;
}

/* ------------------------------------------------------------------ raw network --- */

static float in_[LMK_INPUT * LMK_INPUT * 3], ref_mesh[LMK_POINTS * 3], mesh[LMK_POINTS * 3];

/* Our FaceMesh on the golden's crop: every landmark within 1% of the face width, flag within
 * 0.02. */
static void test_network(lmk_model *m, const char *golden) {
    char err[NN_ERR];
    nn_model *g = NULL;
    float ref_flag, flag;
    if (nn_model_open(&g, golden, "tests/golden", err) != 0) {
        CHECK(0, "%s: golden readable: %s", golden, err);
        return;
    }
    int ok = golden_get(g, "input", in_, sizeof in_ / sizeof *in_) && golden_get(g, "mesh", ref_mesh, LMK_POINTS * 3)
          && golden_get(g, "flag", &ref_flag, 1);
    CHECK(ok, "%s: golden has input 192x192x3, mesh 1404 and flag", golden);
    for (int k = 0; ok && k < 2; k++) {
        if (golden_isa(k, err) != 0 || lmk_forward(m, in_, mesh, &flag, err) != 0) {
            CHECK(0, "%s (%s): runs: %s", golden, nn_isa(), err);
            continue;
        }
        float dxy, dz, width;
        compare_points(ref_mesh, mesh, 3, &dxy, &dz, &width);
        CHECK(dxy <= 0.01f && fabsf(flag - ref_flag) <= 0.02f,
              "%s (%s): max landmark error %.3f%% of face width %.1f px (tol 1%%), depth %.3f%%, flag %.4f vs %.4f (tol 0.02)",
              golden, nn_isa(), 100 * dxy, width, 100 * dz, flag, ref_flag);
    }
    nn_model_close(g);
}

/* ------------------------------------------------------------------ end to end --- */

/* The pipeline on photo P against the JS twin's result for photo ID: same faces, landmarks
 * within 1% of the face width (the twin runs the original float32 networks on the same
 * crops). P may be the photo scaled by SCALE: our results are divided by it first. */
static void test_photo(det_model *dm, lmk_model *lm, const char *id, photo p, float scale) {
    char err[NN_ERR], name[64];
    nn_model *g = NULL;
    snprintf(name, sizeof name, "face-%s", id);
    if (!p.rgb || nn_model_open(&g, name, "tests/golden", err) != 0) {
        CHECK(0, "%s: photo and golden %s readable", id, name);
        return;
    }
    const nn_wtensor *td = nn_model_find(g, "det"), *tl = nn_model_find(g, "landmarks"), *tf = nn_model_find(g, "flag");
    int nref = td && tl && tf && td->shape[1] == 17 && tl->shape[0] == td->shape[0] && tl->shape[1] == LMK_POINTS
        ? td->shape[0] : -1;
    found *f = find_faces(dm, lm, p);
    CHECK(nref > 0 && f->n == nref, "%s %dx%d: %d face(s), reference %d%s%s", id, p.w, p.h, f->n, nref,
          f->n < 0 ? ": " : "", f->n < 0 ? f->err : "");
    for (int i = 0; i < nref && f->n == nref; i++) {
        const float *d = (const float *)td->data + 17 * i, *ref = (const float *)tl->data + (size_t)i * LMK_POINTS * 3;
        det_face r = {0};
        r.x = d[1] * scale, r.y = d[2] * scale, r.w = d[3] * scale, r.h = d[4] * scale;
        int k = 0;   /* our face that matches reference face i */
        for (int j = 1; j < f->n; j++)
            if (det_iou(&r, &f->det[j]) > det_iou(&r, &f->det[k])) k = j;
        float pts[LMK_POINTS][3], dxy, dz, width, rflag = ((const float *)tf->data)[i], iou = det_iou(&r, &f->det[k]);
        for (int j = 0; j < LMK_POINTS; j++)
            for (int c = 0; c < 3; c++) pts[j][c] = f->lmk[k].pts[j][c] / scale;
        compare_points(ref, &pts[0][0], 3, &dxy, &dz, &width);
        CHECK(dxy <= 0.01f && fabsf(f->lmk[k].flag - rflag) <= 0.02f && iou >= 0.95f,
              "%s %dx%d face %d end to end: max landmark error %.3f%% of face width %.1f px (tol 1%%), depth %.3f%%, "
              "flag %.4f vs %.4f (tol 0.02), box IoU %.4f (tol 0.95), %d FaceMesh runs", id, p.w, p.h, i, 100 * dxy,
              width, 100 * dz, f->lmk[k].flag, rflag, iou, f->lmk[k].runs);
    }
    nn_model_close(g);
}

static void test_file(det_model *dm, lmk_model *lm, const char *id, const char *file) {
    photo p = load(file);
    test_photo(dm, lm, id, p, 1);
    img_free(&p);
}

/* A 15 MP photo: d07 enlarged 2.5 times (nearest neighbour). Thanks to the block averaging
 * before sampling, the crops hardly change, so the results, scaled back, must still match the
 * golden of the original. */
static void test_big(det_model *dm, lmk_model *lm) {
    const float k = 2.5f;
    char err[IMG_ERR];
    photo p = load(TEST_DATA "d07.jpg"), q = {0};
    if (p.rgb) img_new(&q, (int)(p.w * k), (int)(p.h * k), 0, err);
    for (int y = 0; q.rgb && y < q.h; y++)
        for (int x = 0; x < q.w; x++)
            memcpy(q.rgb + ((size_t)y * q.w + x) * 3, p.rgb + ((size_t)(int)(y / k) * p.w + (int)(x / k)) * 3, 3);
    test_photo(dm, lm, "d07", q, k);
    img_free(&q);
    img_free(&p);
}

/* ------------------------------------------------------------------ refusals --- */

/* No person: every detection (if any) must fail FaceMesh's face flag. */
static void test_refusal(det_model *dm, lmk_model *lm, const char *what, const char *file) {
    photo p = load(file);
    if (!p.rgb) return;
    found *f = find_faces(dm, lm, p);
    float worst = 0;
    for (int i = 0; i < f->n; i++) worst = fmaxf(worst, f->lmk[i].flag);
    CHECK(f->n >= 0 && f->faces == 0, "%s %dx%d: no face: %d detection(s), highest face flag %.4f (must be < %.1f)%s",
          what, p.w, p.h, f->n, worst, LMK_FLAG_MIN, f->n < 0 ? f->err : "");
    img_free(&p);
}

/* ------------------------------------------------------------------ pose --- */

/* The photo turned by DEG degrees clockwise about its centre (y down: a point's angle grows
 * by DEG), bilinear, black corners; or mirrored left-right when mirror is set. */
static photo transform(photo p, float deg, int mirror) {
    photo q = {0};
    char err[IMG_ERR];
    if (img_new(&q, p.w, p.h, 0, err) != 0) return q;
    float cs = cosf(deg / 57.2957795f), sn = sinf(deg / 57.2957795f), cx = p.w / 2.0f, cy = p.h / 2.0f;
    for (int y = 0; y < q.h; y++)
        for (int x = 0; x < q.w; x++) {
            float dx = x + 0.5f - cx, dy = y + 0.5f - cy;   /* source = centre + R(-deg) (dst - centre) */
            float sx = mirror ? p.w - 1 - x : cx + dx * cs + dy * sn - 0.5f, sy = mirror ? y : cy - dx * sn + dy * cs - 0.5f;
            int x0 = (int)floorf(sx), y0 = (int)floorf(sy);
            float fx = sx - x0, fy = sy - y0;
            for (int c = 0; c < 3; c++) {
                float v = 0;
                for (int j = 0; j < 2; j++)
                    for (int i = 0; i < 2; i++) {
                        int xx = x0 + i, yy = y0 + j;
                        if (xx >= 0 && yy >= 0 && xx < p.w && yy < p.h)
                            v += (i ? fx : 1 - fx) * (j ? fy : 1 - fy) * p.rgb[((size_t)yy * p.w + xx) * 3 + c];
                    }
                q.rgb[((size_t)y * q.w + x) * 3 + c] = (unsigned char)(v + 0.5f);
            }
        }
    return q;
}

/* Pose of the best flagged face; 0 if none. */
static int pose_of(det_model *dm, lmk_model *lm, photo p, lmk_pose *pose) {
    found *f = find_faces(dm, lm, p);
    for (int i = 0; i < f->n; i++)
        if (f->lmk[i].flag >= LMK_FLAG_MIN) {
            *pose = lmk_pose_of((const float (*)[3])f->lmk[i].pts);
            return 1;
        }
    return 0;
}

static void test_pose(det_model *dm, lmk_model *lm) {
    photo p = load(TEST_DATA "d03.png");
    lmk_pose p0, p1;
    if (!p.rgb || !pose_of(dm, lm, p, &p0)) {
        CHECK(0, "pose: d03 has a face");
        img_free(&p);
        return;
    }
    CHECK(fabsf(p0.yaw) < 25 && fabsf(p0.pitch) < 25 && fabsf(p0.roll) < 15,
          "pose: d03 (near-frontal portrait): roll %.2f, yaw %.2f, pitch %.2f degrees (each within +-25)", p0.roll, p0.yaw, p0.pitch);
    const float turns[] = {15, -20, 40};
    for (int k = 0; k < 3; k++) {
        photo q = transform(p, turns[k], 0);
        int ok = q.rgb && pose_of(dm, lm, q, &p1);
        float d = p1.roll - p0.roll;
        CHECK(ok && fabsf(d - turns[k]) <= 1, "pose: d03 turned %+.0f degrees: roll changes by %+.2f (tol 1 degree), yaw %+.2f, pitch %+.2f",
              turns[k], ok ? d : 0.0f, ok ? p1.yaw : 0.0f, ok ? p1.pitch : 0.0f);
        img_free(&q);
    }
    photo q = transform(p, 0, 1);
    int ok = q.rgb && pose_of(dm, lm, q, &p1);
    CHECK(ok && fabsf(p1.yaw + p0.yaw) <= 2 && fabsf(p1.roll + p0.roll) <= 1 && fabsf(p1.pitch - p0.pitch) <= 2,
          "pose: d03 mirrored: yaw %+.2f -> %+.2f (sign flips, tol 2), roll %+.2f -> %+.2f (tol 1), pitch %+.2f -> %+.2f (tol 2)",
          p0.yaw, p1.yaw, p0.roll, p1.roll, p0.pitch, p1.pitch);
    img_free(&q);
    img_free(&p);
}

/* ------------------------------------------------------------------ the upright second look --- */

/* The detector's eye points can be wrong on a face turned to the side (devset2 e28: a 28 degree
 * tilt on an upright face, flag 0.02 in that crop). d03's detection with its eye points turned
 * by a false tilt: where lmk_run refuses it, lmk_run_upright must confirm the face (flag >=
 * LMK_UPRIGHT_MIN) with d03's own roll; on the dogs (d10) it confirms nothing. */
static void test_second_look(det_model *dm, lmk_model *lm) {
    photo p = load(TEST_DATA "d03.png");
    lmk_pose p0;
    if (!p.rgb || !pose_of(dm, lm, p, &p0)) {
        CHECK(0, "second look: d03 has a face");
        return img_free(&p);
    }
    found *f = find_faces(dm, lm, p);
    int refused = 0;
    for (int deg = 30; deg <= 150; deg += 30) {
        det_face d = f->det[0];
        float *a = d.kp[DET_RIGHT_EYE], *b = d.kp[DET_LEFT_EYE], mx = (a[0] + b[0]) / 2, my = (a[1] + b[1]) / 2;
        float half = hypotf(b[0] - a[0], b[1] - a[1]) / 2, t = deg / 57.2957795f;
        a[0] = mx - half * cosf(t), a[1] = my - half * sinf(t), b[0] = mx + half * cosf(t), b[1] = my + half * sinf(t);
        lmk_result first, got;
        char err[NN_ERR];
        if (lmk_at_roi(lm, p.rgb, p.w, p.h, lmk_roi_from_face(&d), &first, err)) continue;
        if (lmk_run(lm, p.rgb, p.w, p.h, &d, &got, err) || got.flag >= LMK_FLAG_MIN) continue;
        refused++;
        int rc = lmk_run_upright(lm, p.rgb, p.w, p.h, &d, &got, err);
        lmk_pose q = lmk_pose_of((const float (*)[3])got.pts);
        CHECK(rc == 1 && got.flag >= LMK_UPRIGHT_MIN && fabsf(q.roll - p0.roll) < 2,
              "second look: d03 with a false %d degree tilt from the detector (first crop's flag %.3f): confirmed, flag %.3f, "
              "roll %.1f (d03's %.1f, tol 2)", deg, first.flag, got.flag, q.roll, p0.roll);
    }
    CHECK(refused > 0, "second look: a false tilt of 30-150 degrees makes lmk_run refuse d03 (%d of 5)", refused);
    img_free(&p);
    p = load(TEST_DATA "d10.jpg");
    if (!p.rgb) return;
    f = find_faces(dm, lm, p);
    int taken = 0;
    float best = 0;
    for (int i = 0; i < f->n; i++) {
        lmk_result got;
        char err[NN_ERR];
        taken += lmk_run_upright(lm, p.rgb, p.w, p.h, &f->det[i], &got, err) != 0;
        best = fmaxf(best, got.flag);
    }
    CHECK(f->n > 0 && taken == 0, "second look: the dogs (d10): %d detections, none taken upright (highest flag %.3f, need %.1f)",
          f->n, best, LMK_UPRIGHT_MIN);
    img_free(&p);
}

int main(void) {
    char err[NN_ERR];
    const char *dir = getenv("HEADSHOT_WEIGHTS");
    lmk_model *lm = lmk_load(NULL, dir, err);
    CHECK(lm != NULL, "facemesh: loads%s%s", lm ? "" : ": ", lm ? "" : err);
    det_model *dm = lm ? det_load(NULL, dir, err) : NULL;
    CHECK(dm != NULL, "blazeface: loads%s%s", dm ? "" : ": ", dm ? "" : err);
    if (lm && dm) {
        test_network(lm, "facemesh-d01");
        test_network(lm, "facemesh-d03");
        test_network(lm, "facemesh-d05");
        test_file(dm, lm, "d01", TEST_DATA "d01.jpg");
        test_second_look(dm, lm);
        test_file(dm, lm, "d03", TEST_DATA "d03.png");
        test_file(dm, lm, "d05", TEST_DATA "d05.jpg");
        test_file(dm, lm, "d07", TEST_DATA "d07.jpg");
        test_big(dm, lm);
        test_refusal(dm, lm, "d09 landscape", TEST_DATA "d09-small.jpg");
        test_refusal(dm, lm, "d10 dogs", TEST_DATA "d10.jpg");
        test_pose(dm, lm);
    }
    det_free(dm);
    lmk_free(lm);
    return test_done();
}
