/* pool.c — a thread pool: the workers the parallel loops of its owner run on, the networks'
 * ops (nn.c) and the image stages alike. Read pool.h first. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* How it works. A job is n independent tasks. Thread p of P (the caller is 0) owns the contiguous
 * block of tasks [p n / P, (p + 1) n / P) and takes them first, then helps with the others'
 * blocks. Owning the same block job after job keeps a thread on the same part of the feature maps
 * from one layer to the next, so the data it reads is mostly in its own cache: on this 2-core VM
 * reading the other core's half of a 72x72x32 map took 0.13 ms, as long as the op itself. Tasks
 * are taken by atomically incrementing the block's 64-bit counter [generation:32][next task:32];
 * the generation in the value read says which job the task belongs to, so a thread that wakes late
 * never runs a task of the wrong job. The caller waits only for tasks still being computed, never
 * for an idle worker to notice the job: a descheduled worker's block is simply taken by the
 * others. Workers spin briefly between jobs (a network runs dozens of small ops in a row and
 * waking a sleeping thread costs more than many of them), then sleep on a condition variable. */
#define POOL_MAX_THREADS 64

#define POOL_MAX_TASKS (1 << 30)

typedef struct {
    pool_task_fn fn;
    void *arg;
    int n, parts;                /* tasks, blocks (= threads taking part) */
    atomic_int done;             /* tasks finished */
} pool__job;

typedef struct {
    pool *p;
    int me;                      /* its thread number, 1.. (the caller is 0) */
} pool__worker_arg;

struct pool {
    int want;                    /* threads asked for, caller included (pool_threads) */
    int started;                 /* worker threads created (thread 0 is the caller) */
    pool__job jobs[2];           /* the current job and the previous one, by generation & 1 */
    _Atomic uint64_t next[POOL_MAX_THREADS];   /* per block: generation << 32 | next task */
    _Atomic uint32_t gen;        /* generation of the current job: the workers' signal */
    atomic_int sleepers;
    atomic_int stop;             /* pool_free: the workers return */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t threads[POOL_MAX_THREADS];
    pool__worker_arg args[POOL_MAX_THREADS];
};

static inline void pool__relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Runs tasks of block b until it has none left. */
static void pool__take_block(pool *p, int b) {
    for (;;) {
        uint64_t t = atomic_fetch_add(&p->next[b], 1);
        pool__job *j = &p->jobs[(t >> 32) & 1];
        int i = (int)(uint32_t)t;
        if (b >= j->parts || i >= (int)((long long)j->n * (b + 1) / j->parts)) return;
        j->fn(j->arg, i);
        atomic_fetch_add(&j->done, 1);
    }
}

/* Thread me's own block first, then the others'. */
static void pool__take_tasks(pool *p, int me, int parts) {
    for (int k = 0; k < parts; k++) pool__take_block(p, (me + k) % parts);
}

static void *pool__worker(void *arg) {
    pool *p = ((pool__worker_arg *)arg)->p;
    int me = ((pool__worker_arg *)arg)->me;
    uint32_t seen = 0;           /* generation of the last job looked at */
    for (;;) {
        for (int spin = 0; atomic_load(&p->gen) == seen; spin++) {
            if (spin < 20000) { pool__relax(); continue; }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->gen) == seen) pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = atomic_load(&p->gen);
        int parts = p->jobs[seen & 1].parts;
        if (me < parts) pool__take_tasks(p, me, parts);
    }
}

static int pool__cores(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores > POOL_MAX_THREADS ? POOL_MAX_THREADS : (int)cores;
}

pool *pool_new(int n) {
    pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pool_set_threads(p, n);
    return p;
}

void pool_set_threads(pool *p, int n) {
    if (p) p->want = n < 1 ? pool__cores() : n > POOL_MAX_THREADS ? POOL_MAX_THREADS : n;
}

int pool_threads(const pool *p) { return p ? p->want : 1; }

/* Workers up to the threads asked for, on the first loop that needs them (so a process that
 * only made its pool can still fork). Returns the threads that take part, caller included. */
static int pool__start(pool *p) {
    while (p->started + 1 < p->want) {
        pool__worker_arg *a = &p->args[p->started + 1];
        a->p = p, a->me = p->started + 1;
        if (pthread_create(&p->threads[a->me], NULL, pool__worker, a) != 0) break;
        p->started++;
    }
    return p->started + 1 < p->want ? p->started + 1 : p->want;
}

void pool_free(pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->gen, 1);              /* wakes the spinning and the sleeping alike */
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i <= p->started; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p);
}

void pool_for(pool *p, int n, pool_task_fn fn, void *arg) {
    int active = n > 1 && n <= POOL_MAX_TASKS && pool_threads(p) > 1 ? pool__start(p) : 1;
    if (active == 1) {
        for (int i = 0; i < n; i++) fn(arg, i);
        return;
    }
    uint32_t gen = atomic_load(&p->gen) + 1;
    pool__job *j = &p->jobs[gen & 1];
    j->fn = fn, j->arg = arg, j->n = n, j->parts = active < n ? active : n;
    atomic_store(&j->done, 0);
    for (int b = 0; b < j->parts; b++)   /* block b starts at its first task */
        atomic_store(&p->next[b], (uint64_t)gen << 32 | (uint32_t)((long long)n * b / j->parts));
    atomic_store(&p->gen, gen);    /* publish */
    if (atomic_load(&p->sleepers)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    pool__take_tasks(p, 0, j->parts);
    for (int spin = 0; atomic_load(&j->done) < n; spin++)   /* tasks still running elsewhere */
        if (spin < 1000) pool__relax();
        else sched_yield();
}

typedef struct {
    void (*fn)(void *arg, int lo, int hi);
    void *arg;
    int n, bands;
} pool__rows_job;

static void pool__rows_task(void *arg, int i) {
    const pool__rows_job *j = arg;
    j->fn(j->arg, (int)((long long)j->n * i / j->bands), (int)((long long)j->n * (i + 1) / j->bands));
}

void pool_rows(pool *p, int n, void (*fn)(void *arg, int lo, int hi), void *arg) {
    pool__rows_job j = {fn, arg, n, pool_threads(p) * 4};   /* a few bands per thread: loads vary */
    if (j.bands > n) j.bands = n;
    if (j.bands <= 1) {
        if (n > 0) fn(arg, 0, n);
        return;
    }
    pool_for(p, j.bands, pool__rows_task, &j);
}
