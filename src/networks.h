/* networks.h — the table of embedded networks, for `headshot bench`, `headshot models` and
 * --trace. Each network file describes itself with one hs_network. */
#ifndef NETWORKS_H
#define NETWORKS_H
#include "nn.h"

typedef struct {
    const char *name;        /* bench name, as in ../shared/peer-bench ("blazeface", ...) */
    const char *weights;     /* container name: weights/<weights>.hsw */
    const char *what;        /* one line: what it does */
    const char *source;      /* npm package@version and file */
    const char *licence;     /* SPDX id */
    int h, w, c;             /* bench input shape */
    void *(*load)(const char *weights_dir, char err[NN_ERR]);
    void (*free)(void *net);
    nn_forward_fn forward;
} hs_network;

extern const hs_network *const hs_networks[];   /* NULL-terminated */
#endif
