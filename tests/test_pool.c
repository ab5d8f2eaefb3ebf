/* test_pool.c — the thread pool as an object: every task runs once, bands cover the range
 * once, NULL runs on the caller's thread, pools are freed (their workers joined) and two
 * pools work at the same time from two threads, as two runtimes would. */
#include "pool.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define N 1000

typedef struct {
    atomic_int hits[N];
    pthread_t caller;
    atomic_int elsewhere;         /* tasks run on a thread other than the caller */
} counts;

static void count_task(void *arg, int i) {
    counts *c = arg;
    atomic_fetch_add(&c->hits[i], 1);
    if (!pthread_equal(pthread_self(), c->caller)) atomic_fetch_add(&c->elsewhere, 1);
}

static void count_rows(void *arg, int lo, int hi) {
    for (int i = lo; i < hi; i++) count_task(arg, i);
}

/* Tasks of one loop on p: how many ran other than exactly once; *elsewhere gets how many ran
 * off the caller's thread. rows: pool_rows instead of pool_for. */
static int loop_once(pool *p, int n, int rows, int *elsewhere) {
    static counts c;
    for (int i = 0; i < N; i++) atomic_store(&c.hits[i], 0);
    atomic_store(&c.elsewhere, 0);
    c.caller = pthread_self();
    if (rows) pool_rows(p, n, count_rows, &c);
    else pool_for(p, n, count_task, &c);
    int wrong = 0;
    for (int i = 0; i < N; i++) wrong += atomic_load(&c.hits[i]) != (i < n);
    *elsewhere = atomic_load(&c.elsewhere);
    return wrong;
}

/* The caller's task waits (up to 5 s) until a task has run on another thread: a worker must
 * take one, however busy the machine. */
static pthread_t waiter;
static atomic_int taken_elsewhere;

static void wait_task(void *arg, int i) {
    (void)arg, (void)i;
    if (!pthread_equal(pthread_self(), waiter)) atomic_store(&taken_elsewhere, 1);
    else
        for (int ms = 0; ms < 5000 && !atomic_load(&taken_elsewhere); ms++) usleep(1000);
}

/* One of two threads, each with its own pool, each running loops and checking them. */
typedef struct {
    pool *p;
    int wrong;
    atomic_int hits[N];
} owner;

static void owner_task(void *arg, int i) { atomic_fetch_add(&((owner *)arg)->hits[i], 1); }

static void *owner_run(void *arg) {
    owner *o = arg;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < N; i++) atomic_store(&o->hits[i], 0);
        pool_for(o->p, N, owner_task, o);
        for (int i = 0; i < N; i++) o->wrong += atomic_load(&o->hits[i]) != 1;
    }
    return NULL;
}

int main(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    pool *p = pool_new(3);
    CHECK(p && pool_threads(p) == 3 && pool_threads(NULL) == 1, "a pool of 3 has 3 threads, NULL 1");
    int off = 0, wrong = 0;
    for (int n = 0; p && n <= N; n += n < 20 ? 1 : 97) wrong += loop_once(p, n, 0, &off) + loop_once(p, n, 1, &off);
    CHECK(wrong == 0, "pool_for and pool_rows on 3 threads run every task of 0..1000 once (%d wrong)", wrong);
    waiter = pthread_self();
    if (p) pool_for(p, 2, wait_task, NULL);
    CHECK(atomic_load(&taken_elsewhere), "a worker takes a task while the caller is busy with its own");
    wrong = loop_once(NULL, N, 0, &off) + loop_once(NULL, N, 1, &off);
    CHECK(wrong == 0 && off == 0, "NULL: every task once, all on the caller's thread (%d wrong, %d elsewhere)", wrong, off);
    pool_set_threads(p, 1);
    wrong = loop_once(p, N, 0, &off);
    CHECK(wrong == 0 && off == 0 && pool_threads(p) == 1,
          "set to 1 thread: the started workers stay out of the loops (%d wrong, %d elsewhere)", wrong, off);
    pool_free(p);

    pool *d = pool_new(0);
    CHECK(d && pool_threads(d) == (cores < 1 ? 1 : cores > 64 ? 64 : cores), "pool_new(0): the %ld online cores (%d)",
          cores, pool_threads(d));
    pool_free(d);
    pool_free(NULL);

    int freed = 0;   /* made, used, freed: a hang here is a worker not joined */
    for (int i = 0; i < 50; i++) {
        pool *q = pool_new(2 + i % 3);
        if (q && loop_once(q, 64, i % 2, &off) == 0) freed++;
        pool_free(q);
    }
    CHECK(freed == 50, "50 pools made, used and freed (%d ran right)", freed);

    static owner a, b;
    a.p = pool_new(2), b.p = pool_new(2);
    pthread_t ta, tb;
    int ok = a.p && b.p && pthread_create(&ta, NULL, owner_run, &a) == 0;
    ok = ok && pthread_create(&tb, NULL, owner_run, &b) == 0;
    if (ok) pthread_join(ta, NULL), pthread_join(tb, NULL);
    CHECK(ok && a.wrong == 0 && b.wrong == 0, "two pools used at once from two threads: every task once (%d, %d wrong)",
          a.wrong, b.wrong);
    pool_free(a.p), pool_free(b.p);
    return test_done();
}
