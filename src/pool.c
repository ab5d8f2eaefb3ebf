/* pool.c — the process's thread pool: the workers every parallel loop runs on, the networks'
 * ops (nn.c) and the image stages alike. Read pool.h first. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
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

static struct {
    int started;                 /* worker threads created (thread 0 is the caller) */
    int active;                  /* threads taking part in jobs, caller included */
    pool__job jobs[2];           /* the current job and the previous one, by generation & 1 */
    _Atomic uint64_t next[POOL_MAX_THREADS];   /* per block: generation << 32 | next task */
    _Atomic uint32_t gen;        /* generation of the current job: the workers' signal */
    atomic_int sleepers;
    pthread_mutex_t mu;
    pthread_cond_t wake;
} pool__state = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static inline void pool__relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Runs tasks of block b until it has none left. */
static void pool__take_block(int b) {
    for (;;) {
        uint64_t t = atomic_fetch_add(&pool__state.next[b], 1);
        pool__job *j = &pool__state.jobs[(t >> 32) & 1];
        int i = (int)(uint32_t)t;
        if (b >= j->parts || i >= (int)((long long)j->n * (b + 1) / j->parts)) return;
        j->fn(j->arg, i);
        atomic_fetch_add(&j->done, 1);
    }
}

/* Thread me's own block first, then the others'. */
static void pool__take_tasks(int me, int parts) {
    for (int k = 0; k < parts; k++) pool__take_block((me + k) % parts);
}

static void *pool__worker(void *arg) {
    int me = (int)(intptr_t)arg;
    uint32_t seen = 0;           /* generation of the last job looked at */
    for (;;) {
        for (int spin = 0; atomic_load(&pool__state.gen) == seen; spin++) {
            if (spin < 20000) { pool__relax(); continue; }
            pthread_mutex_lock(&pool__state.mu);
            atomic_fetch_add(&pool__state.sleepers, 1);
            while (atomic_load(&pool__state.gen) == seen) pthread_cond_wait(&pool__state.wake, &pool__state.mu);
            atomic_fetch_sub(&pool__state.sleepers, 1);
            pthread_mutex_unlock(&pool__state.mu);
        }
        seen = atomic_load(&pool__state.gen);
        int parts = pool__state.jobs[seen & 1].parts;
        if (me < parts) pool__take_tasks(me, parts);
    }
    return NULL;
}

void pool_set_threads(int n) {
    if (n < 1) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores < 1 ? 1 : (int)cores;
    }
    if (n > POOL_MAX_THREADS) n = POOL_MAX_THREADS;
    while (pool__state.started + 1 < n) {
        pthread_t t;
        if (pthread_create(&t, NULL, pool__worker, (void *)(intptr_t)(pool__state.started + 1)) != 0) break;
        pthread_detach(t);
        pool__state.started++;
    }
    pool__state.active = pool__state.started + 1 < n ? pool__state.started + 1 : n;
}

int pool_threads(void) {
    if (!pool__state.active) pool_set_threads(0);
    return pool__state.active;
}

void pool_for(int n, pool_task_fn fn, void *arg) {
    if (n <= 1 || n > POOL_MAX_TASKS || pool_threads() == 1) {
        for (int i = 0; i < n; i++) fn(arg, i);
        return;
    }
    uint32_t gen = atomic_load(&pool__state.gen) + 1;
    pool__job *j = &pool__state.jobs[gen & 1];
    j->fn = fn, j->arg = arg, j->n = n, j->parts = pool__state.active < n ? pool__state.active : n;
    atomic_store(&j->done, 0);
    for (int b = 0; b < j->parts; b++)   /* block b starts at its first task */
        atomic_store(&pool__state.next[b], (uint64_t)gen << 32 | (uint32_t)((long long)n * b / j->parts));
    atomic_store(&pool__state.gen, gen);    /* publish */
    if (atomic_load(&pool__state.sleepers)) {
        pthread_mutex_lock(&pool__state.mu);
        pthread_cond_broadcast(&pool__state.wake);
        pthread_mutex_unlock(&pool__state.mu);
    }
    pool__take_tasks(0, j->parts);
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

void pool_rows(int n, void (*fn)(void *arg, int lo, int hi), void *arg) {
    pool__rows_job j = {fn, arg, n, pool_threads() * 4};   /* a few bands per thread: loads vary */
    if (j.bands > n) j.bands = n;
    if (j.bands <= 1) {
        if (n > 0) fn(arg, 0, n);
        return;
    }
    pool_for(j.bands, pool__rows_task, &j);
}
