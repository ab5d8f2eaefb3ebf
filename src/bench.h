/* bench.h — `headshot bench` (see bench.c). */
#ifndef BENCH_H
#define BENCH_H
enum { BENCH_ALL, BENCH_NETWORKS, BENCH_STARTUP };
/* Times building and running every embedded network, then the pipeline scenarios and a 3x3
 * conv against the FMA peak; BENCH_NETWORKS: the network table only; BENCH_STARTUP: the
 * networks' build times, then the start-up scenarios (--help, every network built, the runs
 * that find no face) only. Prints tables, or JSON when json != 0. Returns 0 if all ran. */
int bench_main(int threads, int runs, int json, int mode, const char *weights_dir);
/* Lists the embedded networks: source package, licence, size, MACs. */
int models_main(const char *weights_dir);
#endif
