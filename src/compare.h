/* compare.h — `headshot compare A B [--json]`: are two photos of the same person?
 *
 * Each photo is loaded upright (EXIF orientation applied), its main face found (among the
 * faces FaceMesh confirms, the subject by the pipeline's rule: pl_faces, pl_subject), and
 * face-api's 128-d descriptor computed from
 * the FaceMesh points (identity.h). The euclidean distance of the two descriptors gives the
 * verdict: below 0.6 the same person (face-api's threshold), uncertain above 0.4.
 */
#ifndef COMPARE_H
#define COMPARE_H

/* argv[0] is "compare". weights_dir as for --weights (NULL: the embedded networks). Prints
 * the faces, the distance and the verdict (or one JSON object with --json) on stdout, errors
 * on stderr, and returns the exit status: 0 the same person, 7 not the same person, 2 usage,
 * 3 unreadable, 4 unsupported or corrupt, 5 too large, 6 no face, 9 weights, 1 internal. */
int compare_main(int argc, char **argv, const char *weights_dir);

#endif
