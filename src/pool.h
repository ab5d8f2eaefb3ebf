/* pool.h — the thread pool: parallel loops for the networks and the image stages.
 *
 * One pool per process (threads are a process resource); every loop split on it gives the
 * same result for any thread count, because each task writes only its own part of the
 * result. The caller is thread 0 and works too. */
#ifndef POOL_H
#define POOL_H

typedef void (*pool_task_fn)(void *arg, int i);

/* Threads for the loops from now on (n < 1: online cores, the default). Not thread-safe:
 * call it between runs, from the thread that runs the loops. */
void pool_set_threads(int n);
int pool_threads(void);
/* Runs fn(arg, i) for i = 0..n-1 on the pool's threads, returning when all are done; tasks
 * run in any order and concurrently, so each must write only its own part of the result.
 * Not from inside a task, nor from two threads at once. */
void pool_for(int n, pool_task_fn fn, void *arg);
/* The same over 0..n-1 cut into a few contiguous bands per thread: fn(arg, lo, hi). */
void pool_rows(int n, void (*fn)(void *arg, int lo, int hi), void *arg);

#endif
