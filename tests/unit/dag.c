/* Dependency order: a diamond, a 10,000-task random DAG, and failure propagation
 * (dep_fail downstream, nothing runs that should not). */
#include <cparsl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "tap.h"

#define N 10000

static atomic_long clock_;
static long started[N], finished[N];
static atomic_int runs[N];

/* A node records when it starts and ends on a shared logical clock, and returns a
 * checksum of its inputs so the values passed along the edges are checked too. */
CP_APP(long, node, (long, id), (long, a), (long, b), (long, c))
{
    started[id] = atomic_fetch_add(&clock_, 1);
    atomic_fetch_add(&runs[id], 1);
    long v = (id * 7 + a + 3 * b + 5 * c) % 1000003;
    finished[id] = atomic_fetch_add(&clock_, 1);
    return v;
}

static atomic_int bad_runs, after_runs;
CP_APP(long, boom, (long, x))
{
    atomic_fetch_add(&bad_runs, 1);
    cp_fail("boom at %ld", x);
    return 0;
}
CP_APP(long, after, (long, x))
{
    atomic_fetch_add(&after_runs, 1);
    return x + 1;
}

static unsigned long long rng = 88172645463325252ull;
static unsigned long long next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(void)
{
    tap_start(120);
    char tmpl[] = "/tmp/cparsl-dag-XXXXXX";
    ok(mkdtemp(tmpl) && chdir(tmpl) == 0, "work dir");
    ok(cp_load_config(&(cp_config){.max_threads = 4, .log_level = "warning"}) == 0, "load");

    /* Diamond: a -> (b, c) -> d */
    cp_future *a = cp_call(node, 0, 1, 0, 0);
    cp_future *b = cp_call(node, 1, a, 0, 0);
    cp_future *c = cp_call(node, 2, a, 1, 0);
    cp_future *d = cp_call(node, 3, b, c, 0);
    long va = 1, vb = 7 + va, vc = 14 + va + 3, vd = 21 + vb + 3 * vc;
    is_int(cp_future_int(d), vd, "diamond value flows along every edge");
    ok(finished[0] < started[1] && finished[0] < started[2], "a before b and c");
    ok(finished[1] < started[3] && finished[2] < started[3], "b and c before d");
    cp_future_release(a), cp_future_release(b), cp_future_release(c), cp_future_release(d);

    /* Random DAG: node i depends on up to 3 random earlier nodes. */
    static cp_future *f[N];
    static long want[N];
    static int parent[N][3];
    for (int i = 0; i < N; i++) {
        atomic_store(&runs[i], 0);
        long vals[3] = {0, 0, 0};
        for (int k = 0; k < 3; k++) {
            parent[i][k] = (i > 0 && next_rand() % 4 != 0) ? (int)(next_rand() % (unsigned)i) : -1;
            if (parent[i][k] >= 0)
                vals[k] = want[parent[i][k]];
        }
        /* Modular, as in the app, so deep paths cannot overflow. */
        want[i] = ((long)i * 7 + vals[0] + 3 * vals[1] + 5 * vals[2]) % 1000003;
    }
    for (int i = 0; i < N; i++) {
        cp_future *p0 = parent[i][0] >= 0 ? f[parent[i][0]] : NULL;
        cp_future *p1 = parent[i][1] >= 0 ? f[parent[i][1]] : NULL;
        cp_future *p2 = parent[i][2] >= 0 ? f[parent[i][2]] : NULL;
        /* A literal 0 where there is no parent: the same arity either way. */
        if (p0 && p1 && p2) f[i] = cp_call(node, i, p0, p1, p2);
        else if (p0 && p1) f[i] = cp_call(node, i, p0, p1, 0);
        else if (p0 && p2) f[i] = cp_call(node, i, p0, 0, p2);
        else if (p1 && p2) f[i] = cp_call(node, i, 0, p1, p2);
        else if (p0) f[i] = cp_call(node, i, p0, 0, 0);
        else if (p1) f[i] = cp_call(node, i, 0, p1, 0);
        else if (p2) f[i] = cp_call(node, i, 0, 0, p2);
        else f[i] = cp_call(node, i, 0, 0, 0);
    }
    int bad_order = 0, bad_value = 0, bad_runs_n = 0;
    for (int i = 0; i < N; i++) {
        if (cp_future_wait(f[i]) != 0 || cp_future_int(f[i]) != want[i])
            bad_value++;
    }
    for (int i = 0; i < N; i++) {
        if (atomic_load(&runs[i]) != 1)
            bad_runs_n++;
        for (int k = 0; k < 3; k++)
            if (parent[i][k] >= 0 && !(finished[parent[i][k]] < started[i]))
                bad_order++;
    }
    is_int(bad_value, 0, "10,000-task random DAG: every value right");
    is_int(bad_order, 0, "every task started after all its parents finished");
    is_int(bad_runs_n, 0, "every task ran exactly once");
    for (int i = 0; i < N; i++)
        cp_future_release(f[i]);

    /* A failure three levels up: root -> l1 -> l2 -> l3, and a healthy sibling. */
    cp_future *root = cp_call_opts(boom, CP_OPTS(.retries = CP_NONE), 1);
    cp_future *l1 = cp_call(after, root);
    cp_future *l2 = cp_call(after, l1);
    cp_future *l3 = cp_call(after, l2);
    cp_future *ok1 = cp_call(after, 10);
    cp_future *ok2 = cp_call(after, ok1);
    ok(cp_future_wait(l3) == -1, "grandchild of a failure fails");
    is_int(cp_future_state(root), CP_FAILED, "root failed");
    is_int(cp_future_state(l1), CP_DEP_FAIL, "level 1 dep_fail");
    is_int(cp_future_state(l2), CP_DEP_FAIL, "level 2 dep_fail");
    is_int(cp_future_state(l3), CP_DEP_FAIL, "level 3 dep_fail");
    char want_parent[64];
    snprintf(want_parent, sizeof want_parent, "task %ld (app 'after') dep_fail", cp_future_id(l2));
    like(cp_future_error(l3), want_parent, "dep_fail names the failed parent's id and app");
    like(cp_future_error(l3), "boom at 1", "and carries the root cause");
    is_int(cp_future_int(ok2), 12, "an independent branch still runs");
    is_int(atomic_load(&after_runs), 2, "no task downstream of the failure ran");
    is_int(atomic_load(&bad_runs), 1, "the failing task ran once (no retries)");

    /* A long failing chain does not recurse: 100,000 dep_fails in a row. */
    cp_future *head = cp_call_opts(boom, CP_OPTS(.retries = CP_NONE), 2);
    cp_future *prev = head;
    cp_future *blocker = cp_call(after, 0);
    for (int i = 0; i < 100000; i++) {
        cp_future *nx = cp_call(after, prev);
        if (prev != head)
            cp_future_release(prev);
        prev = nx;
    }
    ok(cp_future_wait(prev) == -1 && cp_future_state(prev) == CP_DEP_FAIL,
       "the end of a 100,000-task failing chain is dep_fail");
    ok(strlen(cp_future_error(prev)) < 400, "its error stays one short line (%zu bytes)",
       strlen(cp_future_error(prev)));
    like(cp_future_error(prev), "root cause: task", "and still names the root cause");
    like(cp_future_error(prev), "boom at 2", "with the root's message");
    cp_future_release(prev);
    cp_future_release(head);
    cp_future_release(blocker);

    cp_future *all[] = {root, l1, l2, l3, ok1, ok2};
    for (size_t i = 0; i < 6; i++)
        cp_future_release(all[i]);
    is_int(cp_shutdown(), 1, "shutdown reports failures");
    int rc = system("rm -rf \"$PWD\"");
    (void)rc;
    return done_testing();
}
