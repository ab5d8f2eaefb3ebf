/* pool.h — a thread pool: parallel loops for the networks and the image stages.
 *
 * A pool belongs to whoever runs the work: the networks' runtime (nn_runtime.pool) and, through
 * it, the pipeline's stages; a function with a parallel loop takes the pool it runs on. Every
 * loop split on a pool gives the same result for any thread count, because each task writes
 * only its own part of the result. The caller is thread 0 and works too. */
#ifndef POOL_H
#define POOL_H

typedef struct pool pool;
typedef void (*pool_task_fn)(void *arg, int i);

/* A pool of n threads, the caller's included (n < 1: the online cores). Its workers start with
 * the first loop that needs them, so a process may fork after making one. NULL when out of
 * memory. pool_free stops and joins them (NULL is a no-op). */
pool *pool_new(int n);
void pool_free(pool *p);
/* Threads for the loops from now on (n < 1: online cores). Not thread-safe: call it between
 * loops, from the thread that runs them. */
void pool_set_threads(pool *p, int n);
int pool_threads(const pool *p);   /* 1 for NULL */
/* Runs fn(arg, i) for i = 0..n-1 on the pool's threads, returning when all are done; tasks
 * run in any order and concurrently, so each must write only its own part of the result.
 * p NULL: all on the caller's thread. Not from inside a task, nor from two threads at once
 * on one pool. */
void pool_for(pool *p, int n, pool_task_fn fn, void *arg);
/* The same over 0..n-1 cut into a few contiguous bands per thread: fn(arg, lo, hi). */
void pool_rows(pool *p, int n, void (*fn)(void *arg, int lo, int hi), void *arg);

#endif
