/* networks.h — the table of embedded networks, for `headshot bench`, `headshot models` and
 * --trace. Each network file describes itself with one hs_network. */
#ifndef NETWORKS_H
#define NETWORKS_H
#include "nn.h"

typedef struct hs_network hs_network;
struct hs_network {
    const char *name;        /* the container weights/<name>.hsw, and the bench name as in
                                ../shared/peer-bench ("blazeface", ...) */
    const char *what;        /* one line: what it does */
    const char *source;      /* npm package@version and file */
    const char *licence;     /* SPDX id */
    int h, w, c;             /* bench input shape */
    /* The network built alone, for forward: load gets its descriptor, so the variants of a
     * file (two detectors, two upscalers) share one loader. */
    void *(*load)(const hs_network *self, const char *weights_dir, char err[NN_ERR]);
    void (*free)(void *net);
    nn_forward_fn forward;
};

extern const hs_network *const hs_networks[];   /* NULL-terminated */
#endif
