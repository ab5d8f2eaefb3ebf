/* bench.h — `headshot bench` (see bench.c). */
#ifndef BENCH_H
#define BENCH_H
/* Times every embedded network, then (unless networks_only) the pipeline scenarios and a 3x3
 * conv against the FMA peak; prints tables, or JSON when json != 0. Returns 0 if all ran. */
int bench_main(int threads, int runs, int json, int networks_only, const char *weights_dir);
/* Lists the embedded networks: source package, licence, size, MACs. */
int models_main(const char *weights_dir);
#endif
