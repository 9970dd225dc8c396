/* Allocation-failure ("torture") test, after curl's torture runs (STYLE.md §3):
 * the library promises never to abort on out-of-memory, so every allocation of a
 * small but complete workload is made to fail in turn, in a child process each
 * time, and each child must end without a crash or a hang, with every API call
 * giving either the right result or a clean failure (a failed future with an
 * error text, -1 with cp_last_error(), a documented NULL).
 *
 * How. malloc, calloc and realloc are defined here and forward to glibc's
 * __libc_* allocator; free forwards to __libc_free. glibc sends its own internal
 * allocations (strdup, vasprintf, open_memstream, fopen, pthread_create's TLS, …)
 * through the interposed malloc (checked on glibc 2.36), and so do libuv and
 * msgpack-c, so those fail too, as they would for real. strdup, strndup,
 * vasprintf and asprintf are interposed as well, only so that a leak is charged
 * to the code that called them. memalign and friends are not interposed; they
 * come from the same glibc heap, so __libc_free handles them. Injection is armed
 * only inside the child's workload: "fail the n-th allocation after arming", and
 * a variant "fail the n-th and every later one". The parent (TAP output, fork,
 * waitpid) never runs armed.
 *
 * What counts. A crash (the child's fatal-signal handler leaves a backtrace in a
 * shared page), a hang (no report within 5 s: the child is killed), an
 * inconsistency found by the workload's own checks, and a leak: a task record
 * (cp__live_tasks), a file descriptor, or a block allocated while armed and still
 * allocated after cp_shutdown by a caller that a run without injection leaves
 * nothing from. An abort inside libuv (1.44 aborts when it cannot grow a loop's
 * watcher array) is counted apart: a failure where pidfds work (no loop is made),
 * a TODO where they do not.
 *
 * Coverage. Three runs without injection count the allocations (about 130) and
 * check the checker. Then allocation n alone fails, then every allocation from n
 * on, each for n = 1, 2, … until a run ends without reaching n allocations (at most
 * MAX_N; every n up to DENSE_UPTO, every SPARSE_STEP-th after, so all of them at
 * today's size). Allocations come from several threads, so the n-th is not the
 * same call in every run: each sweep is repeated (at most MAX_ROUNDS, within a
 * time budget per phase) to meet other interleavings. About 15 s in all. A
 * problem found here is reproduced with
 *     gdb -batch -ex run -ex bt --args build/tests/oom.t --child N [--after]
 * which runs the workload in-process (several tries may be needed).
 *
 * Under AddressSanitizer or ThreadSanitizer this interposition fights the
 * sanitizer's own allocator, so the test skips there.
 */
#include <cparsl.h>
#include <sys/syscall.h>

#include "tap.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define OOM_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OOM_SANITIZED 1
#endif

#ifdef OOM_SANITIZED

int main(void)
{
    printf("1..1\nok 1 # SKIP allocation interposition conflicts with the sanitizer's "
           "allocator\n");
    return 0;
}

#else

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <uv.h>

#include "engine/task.h"

/* ------------------------------------------------------------ interposition */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static atomic_bool armed;
static atomic_long alloc_count;     /* allocations seen while armed */
static atomic_long injected;        /* of which made to fail */
static long fail_at;                /* n */
static bool fail_after;             /* and every later one */
/* Who asked for the last allocation made to fail, per thread and overall: a crash
 * report names it (see on_fatal). */
static __thread void *last_caller;
static void *_Atomic any_caller;

static bool inject(void *caller)
{
    if (!atomic_load_explicit(&armed, memory_order_relaxed))
        return false;
    long k = atomic_fetch_add(&alloc_count, 1) + 1;
    if (k == fail_at || (fail_after && k > fail_at)) {
        atomic_fetch_add(&injected, 1);
        last_caller = caller;
        atomic_store(&any_caller, caller);
        errno = ENOMEM;
        return true;
    }
    return false;
}

/* Blocks allocated while armed and not freed yet, with who asked for them: what is
 * left after cp_shutdown, beyond what a run without injection leaves (glibc's
 * time-zone data, thread-stack caches), is a leak. Open addressing under a spin
 * lock; each child makes a few hundred allocations, far below the table size. */
#define TRACK_BITS 15
#define TRACK_SLOTS (1u << TRACK_BITS)
#define TOMB ((void *)1)
struct slot {
    void *p, *caller;
};
static struct slot track[TRACK_SLOTS];
static atomic_flag track_lock = ATOMIC_FLAG_INIT;
static atomic_bool tracking;        /* set at the first arming, never cleared */

static size_t slot_of(const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> (64 - TRACK_BITS));
}

static void track_lock_take(void)
{
    while (atomic_flag_test_and_set_explicit(&track_lock, memory_order_acquire))
        ;
}

static void track_add(void *p, void *caller)
{
    if (!p || !atomic_load_explicit(&armed, memory_order_relaxed))
        return;
    track_lock_take();
    for (size_t i = slot_of(p), k = 0; k < TRACK_SLOTS; k++, i = (i + 1) % TRACK_SLOTS)
        if (!track[i].p || track[i].p == TOMB) {
            track[i] = (struct slot){p, caller};
            break;
        }
    atomic_flag_clear_explicit(&track_lock, memory_order_release);
}

static void track_del(void *p)
{
    if (!p || !atomic_load_explicit(&tracking, memory_order_relaxed))
        return;
    track_lock_take();
    for (size_t i = slot_of(p), k = 0; k < TRACK_SLOTS && track[i].p; k++,
         i = (i + 1) % TRACK_SLOTS)
        if (track[i].p == p) {
            track[i].p = TOMB;
            break;
        }
    atomic_flag_clear_explicit(&track_lock, memory_order_release);
}

#define CALLER __builtin_return_address(0)

/* Allocations are charged to the caller of the interposed function. */
static void *alloc_for(void *caller, size_t n, size_t size, bool zero)
{
    if (inject(caller))
        return NULL;
    void *p = zero ? __libc_calloc(n, size) : __libc_malloc(n);
    track_add(p, caller);
    return p;
}

void *malloc(size_t n) { return alloc_for(CALLER, n, 1, false); }
void *calloc(size_t n, size_t size) { return alloc_for(CALLER, n, size, true); }

void free(void *p)
{
    track_del(p);
    __libc_free(p);
}

void *realloc(void *p, size_t n)
{
    /* realloc(p, 0) frees, which must not fail. */
    if (n && inject(CALLER))
        return NULL;
    void *q = __libc_realloc(p, n);
    if (q || !n)
        track_del(p);
    track_add(q, CALLER);
    return q;
}

/* glibc's own strdup and vasprintf do come through the malloc above, but then
 * the caller would be glibc; these put the blame for a leak on the real caller.
 * (glibc's internal uses still go to its own copies.) */
char *strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = alloc_for(CALLER, n, 1, false);
    return p ? memcpy(p, s, n) : NULL;
}

char *strndup(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *p = alloc_for(CALLER, n + 1, 1, false);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static int vasprintf_for(void *caller, char **out, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    char *p = n < 0 ? NULL : alloc_for(caller, (size_t)n + 1, 1, false);
    if (!p)
        return -1;
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    *out = p;
    return n;
}

int vasprintf(char **out, const char *fmt, va_list ap)
{
    return vasprintf_for(CALLER, out, fmt, ap);
}

int asprintf(char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf_for(CALLER, out, fmt, ap);
    va_end(ap);
    return n;
}

static void arm(long n, bool after)
{
    fail_at = n;
    fail_after = after;
    atomic_store(&alloc_count, 0);
    atomic_store(&injected, 0);
    atomic_store(&tracking, true);
    atomic_store(&armed, true);
}

static void disarm(void) { atomic_store(&armed, false); }

/* ------------------------------------------------------------ apps */

CP_APP(long, add, (long, a), (long, b)) { return a + b; }
CP_APP(long, slen, (const char *, s)) { return s ? (long)strlen(s) : -1; }
CP_APP(long, lsum, (const cp_value *, v))
{
    long sum = 0;
    for (size_t i = 0; i < cp_value_list_len(v); i++)
        sum += cp_value_int(cp_value_list_at(v, i));
    return sum;
}
CP_APP(const char *, greet, (const char *, s))
{
    static __thread char buf[64];
    snprintf(buf, sizeof buf, "hi %s", s ? s : "(nil)");
    return buf;
}
/* User code under the same shortage: a list it cannot build fails the try. */
CP_APP(cp_value *, mklist, (long, n))
{
    cp_value *l = cp_list_new();
    for (long i = 0; l && i < n; i++)
        if (cp_list_push(l, cp_int(i)) != 0) {
            cp_value_free(l);
            l = NULL;
        }
    if (!l)
        cp_fail("mklist: out of memory");
    return l;
}
CP_APP(long, refuse, (long, x))
{
    cp_fail("refusing %ld", x);
    return x;
}
CP_JOIN_APP(twice, (long, x)) { return cp_call(add, x, x); }
CP_SHELL_APP(writer, (const char *, text), (cp_file *, out))
{
    const char *qt = cp_q(text), *qo = cp_q(cp_file_path(out));
    if (!qt || !qo) {
        cp_fail("writer: out of memory quoting");
        return NULL;
    }
    return cp_fmt("echo %s \"$PARSL_CORES\"; printf %%s %s > %s", qt, qt, qo);
}

/* Reads a small file with plain system calls (no allocation); -1 on error. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

CP_APP(const char *, readback, (cp_file *, f))
{
    static __thread char buf[64];
    if (read_small(cp_file_path(f), buf, sizeof buf) < 0) {
        cp_fail("readback: cannot read %s: %s", cp_file_path(f), strerror(errno));
        return NULL;
    }
    return buf;
}

/* ------------------------------------------------------------ the child's report */

struct report {
    long allocs, injected;      /* allocations seen armed, failures injected */
    int loaded;                 /* cp_load_config succeeded */
    int succeeded;              /* futures with the right value */
    int expected_fails;         /* futures that must fail and did */
    int clean;                  /* clean failures caused by the shortage */
    int nulls;                  /* NULL futures (documented for no memory) */
    int nbad;                   /* inconsistencies */
    long leaked_tasks;          /* cp__live_tasks at the end */
    int leaked_fds;             /* descriptors open at the end, not at the start */
    int nblocks;                /* blocks allocated armed and never freed */
    struct {
        void *caller;
        int count;
    } blocks[12];               /* by who allocated them */
    char text[1536];            /* the first inconsistencies */
};

static struct report rep;

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
    size_t len = strlen(rep.text);
    rep.nbad++;
    if (len + 8 >= sizeof rep.text)
        return;
    /* One per line: the parent reports each distinct one. */
    if (len)
        rep.text[len++] = '\n';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep.text + len, sizeof rep.text - len, fmt, ap);
    va_end(ap);
}

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
}

/* What a child leaves behind for the parent, in a page shared with it: the step
 * of the workload it is in (a string literal, at the same address in the parent),
 * and when it dies of a signal, the backtrace and which allocation made to fail
 * came last, on the dying thread and overall. */
struct crash_note {
    const char *step;
    int sig;
    void *thread_caller, *any_caller;
    int nframes;
    void *frames[24];           /* on_fatal, the signal frame, then the crash */
};
static struct crash_note *g_note;   /* NULL in --child mode */

static void step(const char *what)
{
    if (g_note)
        g_note->step = what;
}

/* ------------------------------------------------------------ checking futures */

enum want { MUST_FAIL, MAY_SUCCEED, MUST_SUCCEED };

static const char *show(const char *s) { return s ? s : "(NULL)"; }

/* The contract every final future keeps, whatever its task: returns true when it
 * succeeded (and was allowed to), so the caller checks the value. */
static bool settled(const char *what, cp_future *f, enum want want)
{
    if (!f) {
        if (want == MUST_SUCCEED)
            bad("%s: NULL future", what);
        rep.nulls++;
        return false;
    }
    step(what);
    int wf = cp_future_wait_for(f, 60.0);
    int w = cp_future_wait(f);
    if (wf != w)
        bad("%s: cp_future_wait_for gave %d, cp_future_wait %d", what, wf, w);
    const char *e = cp_future_error(f);
    cp_state st = cp_future_state(f);
    if (!cp_future_done(f))
        bad("%s: not done after cp_future_wait", what);
    if (w == 0) {
        if (e)
            bad("%s: succeeded, yet cp_future_error is \"%s\"", what, e);
        if (st != CP_EXEC_DONE && st != CP_MEMO_DONE)
            bad("%s: succeeded in state %s", what, cp_state_name(st));
        if (!cp_future_value(f))
            bad("%s: succeeded, yet cp_future_value is NULL", what);
        if (want == MUST_FAIL) {
            bad("%s: succeeded, but it must fail", what);
            return false;
        }
        return true;
    }
    if (w != -1)
        bad("%s: cp_future_wait gave %d", what, w);
    if (!e || !*e)
        bad("%s: failed in state %s with error \"%s\"", what, cp_state_name(st), show(e));
    if (st != CP_FAILED && st != CP_DEP_FAIL)
        bad("%s: failed in state %s", what, cp_state_name(st));
    if (cp_future_value(f))
        bad("%s: failed, yet cp_future_value is not NULL", what);
    if (want == MUST_SUCCEED)
        bad("%s: failed, but it cannot fail: %s", what, show(e));
    else if (want == MUST_FAIL)
        rep.expected_fails++;
    else
        rep.clean++;
    return false;
}

static bool check_int(const char *what, cp_future *f, enum want want, long value)
{
    if (!settled(what, f, want))
        return false;
    const cp_value *v = cp_future_value(f);
    if (cp_value_type(v) != CP_INT || cp_value_int(v) != value) {
        bad("%s: succeeded with %s %ld, want int %ld", what, cp_type_name(cp_value_type(v)),
            cp_value_int(v), value);
        return false;
    }
    rep.succeeded++;
    return true;
}

static bool check_str(const char *what, cp_future *f, enum want want, const char *value)
{
    if (!settled(what, f, want))
        return false;
    const char *s = cp_future_str(f);
    if (!s || strcmp(s, value) != 0) {
        bad("%s: succeeded with \"%s\", want \"%s\"", what, show(s), value);
        return false;
    }
    rep.succeeded++;
    return true;
}

/* A list of ints equal to want[0..n). */
static bool check_list(const char *what, cp_future *f, enum want want, const long *vals,
                       size_t n)
{
    if (!settled(what, f, want))
        return false;
    const cp_value *v = cp_future_value(f);
    bool same = cp_value_type(v) == CP_LIST && cp_value_list_len(v) == n;
    for (size_t i = 0; same && i < n; i++)
        same = cp_value_type(cp_value_list_at(v, i)) == CP_INT &&
               cp_value_int(cp_value_list_at(v, i)) == vals[i];
    if (!same) {
        bad("%s: succeeded with a %s of %zu items, not the list wanted", what,
            cp_type_name(cp_value_type(v)), cp_value_list_len(v));
        return false;
    }
    rep.succeeded++;
    return true;
}

static enum want may(bool can) { return can ? MAY_SUCCEED : MUST_FAIL; }

/* ------------------------------------------------------------ the workload */

enum { F_ADD, F_SLEN, F_LSUM, F_GREET, F_MKLIST, F_WALL, F_BADEX, F_CHAIN, F_CHAIN2, F_REFUSE,
       F_DEP, F_JOIN, F_GATHER, F_GATHER_BAD, F_SHELL, F_READ, F_VALUE, NF };

struct run {
    const char *dir;            /* this child's own directory */
    cp_future *f[NF];
    bool ok[NF];
    cp_value *list;
    cp_file *out;
    char out_path[512], stdout_path[512];
};

/* The argument list for lsum, built by user code that may itself run short: the
 * sum wanted is that of whatever the list holds. */
static long build_list(struct run *r)
{
    r->list = cp_list_new();
    for (long i = 1; i <= 3; i++)
        (void)cp_list_push(r->list, cp_int(i));
    long sum = 0;
    for (size_t i = 0; i < cp_value_list_len(r->list); i++)
        sum += cp_value_int(cp_value_list_at(r->list, i));
    return sum;
}

static void call_plain(struct run *r, bool loaded)
{
    long sum = build_list(r);
    r->f[F_ADD] = cp_call(add, 2, 3);
    r->f[F_SLEN] = cp_call_opts(slen, CP_OPTS(.priority = 1), "hello");  /* the heap */
    r->f[F_LSUM] = cp_call(lsum, (const cp_value *)r->list);
    r->f[F_GREET] = cp_call(greet, "bob");
    r->f[F_MKLIST] = cp_call(mklist, 3);
    /* A walltime runs the body under the pool's watcher thread. */
    r->f[F_WALL] = cp_call_opts(add, CP_OPTS(.walltime = 60), 20, 22);
    r->f[F_BADEX] = cp_call_opts(add, CP_OPTS(.executor = "gpu"), 1, 1);
    r->ok[F_ADD] = check_int("add(2, 3)", r->f[F_ADD], may(loaded), 5);
    r->ok[F_SLEN] = check_int("slen(\"hello\")", r->f[F_SLEN], may(loaded), 5);
    r->ok[F_LSUM] = check_int("lsum(list)", r->f[F_LSUM], may(loaded), sum);
    r->ok[F_GREET] = check_str("greet(\"bob\")", r->f[F_GREET], may(loaded), "hi bob");
    static const long l3[] = {0, 1, 2};
    r->ok[F_MKLIST] = check_list("mklist(3)", r->f[F_MKLIST], may(loaded), l3, 3);
    r->ok[F_WALL] = check_int("add(20, 22) with a walltime", r->f[F_WALL], may(loaded), 42);
    check_int("add on an unknown executor", r->f[F_BADEX], MUST_FAIL, 0);
}

static void call_chains(struct run *r, bool loaded)
{
    r->f[F_CHAIN] = cp_call(add, r->f[F_ADD], 10);
    r->f[F_CHAIN2] = cp_call(add, r->f[F_CHAIN], r->f[F_ADD]);
    r->f[F_REFUSE] = cp_call_opts(refuse, CP_OPTS(.retries = 1), 7);
    r->f[F_DEP] = cp_call(add, r->f[F_REFUSE], 1);
    r->f[F_JOIN] = cp_call(twice, 21);
    r->ok[F_CHAIN] = check_int("add(add, 10)", r->f[F_CHAIN], may(r->ok[F_ADD]), 15);
    r->ok[F_CHAIN2] = check_int("add(chain, add)", r->f[F_CHAIN2], may(r->ok[F_CHAIN]), 20);
    check_int("refuse(7)", r->f[F_REFUSE], MUST_FAIL, 0);
    check_int("add(refuse, 1)", r->f[F_DEP], MUST_FAIL, 0);
    if (r->f[F_REFUSE] && cp_future_state(r->f[F_REFUSE]) != CP_FAILED)
        bad("refuse(7): ended %s, not failed", cp_state_name(cp_future_state(r->f[F_REFUSE])));
    r->ok[F_JOIN] = check_int("twice(21) (join)", r->f[F_JOIN], may(loaded), 42);

    cp_future *members[] = {r->f[F_ADD], r->f[F_SLEN], r->f[F_CHAIN], r->f[F_JOIN]};
    bool all = r->ok[F_ADD] && r->ok[F_SLEN] && r->ok[F_CHAIN] && r->ok[F_JOIN];
    r->f[F_GATHER] = cp_gather(members, 4);
    static const long want[] = {5, 5, 15, 42};
    r->ok[F_GATHER] = check_list("cp_gather(4)", r->f[F_GATHER], may(all), want, 4);
    cp_future *with_bad[] = {r->f[F_ADD], r->f[F_REFUSE]};
    r->f[F_GATHER_BAD] = cp_gather(with_bad, 2);
    check_list("cp_gather(add, refuse)", r->f[F_GATHER_BAD], MUST_FAIL, NULL, 0);
}

/* A successful shell task wrote both its stdout file and its declared output. */
static void check_shell_files(struct run *r)
{
    char buf[64];
    if (read_small(r->stdout_path, buf, sizeof buf) < 0 || strcmp(buf, "payload 2\n") != 0)
        bad("writer: succeeded, but its stdout file is missing or wrong (PARSL_CORES?)");
    if (read_small(r->out_path, buf, sizeof buf) < 0 || strcmp(buf, "payload") != 0)
        bad("writer: succeeded, but its output file is missing or wrong");
}

static void call_shell(struct run *r, bool loaded)
{
    snprintf(r->out_path, sizeof r->out_path, "%s/out/data.txt", r->dir);
    snprintf(r->stdout_path, sizeof r->stdout_path, "%s/out/writer.stdout", r->dir);
    r->out = cp_file_new(r->out_path);
    if (r->out) {
        r->f[F_SHELL] = cp_call_opts(writer, CP_OPTS(.stdout_path = r->stdout_path,
                                                     .outputs = CP_FILES(r->out), .cores = 2),
                                     "payload", r->out);
    }
    r->ok[F_SHELL] = check_int("writer (shell)", r->f[F_SHELL], may(loaded), 0);
    if (r->ok[F_SHELL])
        check_shell_files(r);
    /* A call refused before its options were copied (not loaded, no memory) has
     * no output; the consumer is then given NULL, which must fail it cleanly. */
    cp_file *df = cp_future_output(r->f[F_SHELL], 0);
    if (r->ok[F_SHELL] && !df)
        bad("writer: succeeded, yet cp_future_output(0) is NULL");
    r->f[F_READ] = cp_call(readback, df);
    r->ok[F_READ] = check_str("readback(output)", r->f[F_READ], may(r->ok[F_SHELL]), "payload");

    cp_value *nine = cp_int(9);
    bool have = nine != NULL;
    r->f[F_VALUE] = cp_value_future(nine);
    /* It cannot fail, but it may be NULL for want of memory. */
    if (!r->f[F_VALUE])
        rep.nulls++;
    else if (have)
        r->ok[F_VALUE] = check_int("cp_value_future(9)", r->f[F_VALUE], MUST_SUCCEED, 9);
    else if (settled("cp_value_future(NULL)", r->f[F_VALUE], MUST_SUCCEED) &&
             cp_value_type(cp_future_value(r->f[F_VALUE])) != CP_NIL)
        bad("cp_value_future(NULL) is not nil");
}

/* A second, small run after the first: nothing of the first may be left behind. */
static void second_run(const cp_config *cfg)
{
    step("second cp_load_config");
    if (cp_load_config(cfg) != 0) {
        if (!cp_last_error()[0])
            bad("second cp_load_config: -1 with an empty cp_last_error()");
        return;
    }
    cp_future *f = cp_call(add, 1, 2);
    bool ok = check_int("second run add(1, 2)", f, MAY_SUCCEED, 3);
    cp_future_release(f);
    step("second cp_shutdown");
    int rc = cp_shutdown();
    if (rc != (ok ? 0 : 1))
        bad("second cp_shutdown gave %d, want %d (%s)", rc, ok ? 0 : 1, cp_last_error());
}

static void workload(const char *dir)
{
    char root[512];
    snprintf(root, sizeof root, "%s/runinfo", dir);
    cp_config cfg = {.max_threads = 2, .internal_threads = 2, .run_dir = root};
    struct run r = {.dir = dir};

    step("cp_load_config");
    bool loaded = cp_load_config(&cfg) == 0;
    rep.loaded = loaded;
    if (!loaded && !cp_last_error()[0])
        bad("cp_load_config: -1 with an empty cp_last_error()");
    if (loaded && !cp_run_dir())
        bad("cp_run_dir() is NULL while loaded");
    call_plain(&r, loaded);
    call_chains(&r, loaded);
    call_shell(&r, loaded);

    /* Half the futures go before cp_shutdown, half after (still readable). */
    step("cp_future_release");
    for (int i = 0; i < NF / 2; i++)
        cp_future_release(r.f[i]);
    step("cp_shutdown");
    int rc = cp_shutdown();
    if (loaded && rc != 1)
        bad("cp_shutdown gave %d, want 1 (refuse failed): %s", rc, cp_last_error());
    if (!loaded && (rc != -1 || !cp_last_error()[0]))
        bad("cp_shutdown with nothing loaded gave %d (\"%s\")", rc, cp_last_error());
    if (cp_run_dir())
        bad("cp_run_dir() is not NULL after cp_shutdown");
    check_int("join after shutdown", r.f[F_JOIN], r.ok[F_JOIN] ? MUST_SUCCEED : MUST_FAIL, 42);
    step("cp_future_release after cp_shutdown");
    for (int i = NF / 2; i < NF; i++)
        cp_future_release(r.f[i]);
    cp_value_free(r.list);
    cp_file_free(r.out);
    if (loaded)
        second_run(&cfg);
}

/* Groups the blocks still allocated by caller, into the report. */
static void collect_blocks(void)
{
    const size_t max = sizeof rep.blocks / sizeof rep.blocks[0];
    for (size_t i = 0; i < TRACK_SLOTS; i++) {
        if (!track[i].p || track[i].p == TOMB)
            continue;
        rep.nblocks++;
        size_t j = 0;
        while (j < max && rep.blocks[j].count && rep.blocks[j].caller != track[i].caller)
            j++;
        if (j < max) {
            rep.blocks[j].caller = track[i].caller;
            rep.blocks[j].count++;
        }
    }
}

/* Runs the workload armed; the report is filled in disarmed. */
static void run_armed(long n, bool after, const char *dir)
{
    memset(&rep, 0, sizeof rep);
    /* libuv keeps one pipe for the whole process, made by the first loop: make it
     * now, so that it does not count as a leak. */
    uv_loop_t loop;
    if (uv_loop_init(&loop) == 0)
        uv_loop_close(&loop);
    int fds = count_fds();
    arm(n, after);
    workload(dir);
    disarm();
    rep.allocs = atomic_load(&alloc_count);
    rep.injected = atomic_load(&injected);
    rep.leaked_tasks = atomic_load(&cp__live_tasks);
    rep.leaked_fds = count_fds() - fds;
    collect_blocks();
}

/* ------------------------------------------------------------ the parent */

#define DENSE_UPTO 600
#define SPARSE_STEP 7
#define MAX_N 3000
#define MAX_ROUNDS 20
#define MAX_DIAGS 20

static char g_tmp[256];
static double g_mult = 1.0;

static void on_fatal(int sig)
{
    g_note->sig = sig;
    g_note->thread_caller = last_caller;
    g_note->any_caller = atomic_load(&any_caller);
    g_note->nframes = backtrace(g_note->frames, 24);
    signal(sig, SIG_DFL);
    raise(sig);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Function and line of an offset in this program, from addr2line (the parent
 * only, for diagnostics). */
static bool exe_line(unsigned long off, char *buf, size_t cap)
{
    char exe[300], cmd[400], fn[160] = "", line[160] = "";
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0)
        return false;
    exe[k] = '\0';
    snprintf(cmd, sizeof cmd, "addr2line -f -s -e '%s' %#lx 2>/dev/null", exe, off);
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    bool got = fgets(fn, sizeof fn, p) && fgets(line, sizeof line, p);
    pclose(p);
    fn[strcspn(fn, "\n")] = line[strcspn(line, "\n")] = '\0';
    if (!got || fn[0] == '?')
        return false;
    char *disc = strstr(line, " (discriminator");
    if (disc)
        *disc = '\0';
    snprintf(buf, cap, "%s (%s)", fn, line);
    return true;
}

/* "function (file.c:12)" in this program, "symbol+0x12 (libfoo.so)" or
 * "libfoo.so+0x1234" elsewhere. A return address is moved back into its call. */
static void name_addr(void *a, bool ret, char *buf, size_t cap)
{
    static struct {
        void *a;
        char text[200];
    } cache[128];
    static size_t ncache;
    for (size_t i = 0; i < ncache; i++)
        if (cache[i].a == a) {
            snprintf(buf, cap, "%s", cache[i].text);
            return;
        }
    Dl_info di, self;
    char text[200];
    const char *base = NULL;
    if (a && dladdr(a, &di) && di.dli_fname) {
        base = strrchr(di.dli_fname, '/');
        base = base ? base + 1 : di.dli_fname;
    }
    unsigned long off = base ? (unsigned long)((char *)a - (char *)di.dli_fbase) - ret : 0;
    if (!base)
        snprintf(text, sizeof text, "%p", a);
    else if (dladdr((void *)name_addr, &self) && self.dli_fbase == di.dli_fbase &&
             exe_line(off, text, sizeof text))
        ;
    else if (di.dli_sname)
        snprintf(text, sizeof text, "%s+%#lx (%s)", di.dli_sname,
                 (unsigned long)((char *)a - (char *)di.dli_saddr), base);
    else
        snprintf(text, sizeof text, "%s+%#lx", base, off);
    if (ncache < sizeof cache / sizeof cache[0]) {
        cache[ncache].a = a;
        snprintf(cache[ncache++].text, sizeof cache[0].text, "%s", text);
    }
    snprintf(buf, cap, "%s", text);
}

static bool in_libuv(void *a)
{
    Dl_info di;
    return a && dladdr(a, &di) && di.dli_fname && strstr(di.dli_fname, "libuv");
}

enum outcome { O_OK, O_BAD, O_CRASH, O_HANG, O_LOST };

struct child {
    enum outcome how;
    int sig;
    struct crash_note note;
    struct report rep;
    char stderr_head[160];
};

/* Reads the child's report until EOF or the deadline; true on EOF. */
static bool read_report(int fd, struct report *out, size_t *got, double deadline)
{
    for (;;) {
        double left = deadline - mono();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        ssize_t k = read(fd, (char *)out + *got, *got < sizeof *out ? sizeof *out - *got : 0);
        if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN))
            return true;
        if (k > 0)
            *got += (size_t)k;
        if (*got == sizeof *out)
            return true;
    }
}

static void child_main(long n, bool after, int fd, const char dir[400])
{
    char path[512];
    snprintf(path, sizeof path, "%s/stderr", dir);
    int e = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (e >= 0 && e != 2) {
        dup2(e, 2);
        close(e);
    }
    void *warm[1];
    backtrace(warm, 1);         /* loads libgcc_s now, not in the handler */
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        signal(fatal[i], on_fatal);
    run_armed(n, after, dir);
    ssize_t w = write(fd, &rep, sizeof rep);
    _exit(w == (ssize_t)sizeof rep ? 0 : 2);
}

static void read_stderr(const char dir[400], struct child *c)
{
    char path[512];
    snprintf(path, sizeof path, "%s/stderr", dir);
    if (read_small(path, c->stderr_head, sizeof c->stderr_head) <= 0)
        c->stderr_head[0] = '\0';
    char *nl = strchr(c->stderr_head, '\n');
    if (nl)
        *nl = '\0';
}

static void run_child(long n, bool after, double timeout, struct child *c)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/c%ld%s", g_tmp, n, after ? "a" : "");
    memset(c, 0, sizeof *c);
    memset(g_note, 0, sizeof *g_note);
    int p[2];
    if ((mkdir(dir, 0755) != 0 && errno != EEXIST) || pipe2(p, O_CLOEXEC) != 0) {
        c->how = O_LOST;
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        child_main(n, after, p[1], dir);
    }
    close(p[1]);
    size_t got = 0;
    bool eof = pid > 0 && read_report(p[0], &c->rep, &got, mono() + timeout);
    close(p[0]);
    if (pid > 0 && !eof)
        kill(pid, SIGKILL);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        c->how = O_LOST;
    else if (!eof)
        c->how = O_HANG;
    else if (WIFSIGNALED(status))
        c->how = O_CRASH, c->sig = WTERMSIG(status);
    else if (got != sizeof c->rep || WEXITSTATUS(status) != 0)
        c->how = O_LOST;
    else
        c->how = c->rep.nbad ? O_BAD : O_OK;
    c->note = *g_note;
    if (c->how == O_CRASH || c->how == O_LOST)
        read_stderr(dir, c);
    rm_tree(dir);
}

/* ------------------------------------------------------------ tallies */

/* Distinct problems, each with the first n that showed it and how often. */
enum severity { S_CRASH, S_WRONG, S_LEAK, S_LIBUV, NSEV };

struct problem {
    char text[400];
    long first_n;
    bool after;
    int count;
    enum severity sev;
};
static struct problem g_probs[64];
static int g_nprobs, g_diags;

static void record(long n, bool after, enum severity sev, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void record(long n, bool after, enum severity sev, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    for (int i = 0; i < g_nprobs; i++)
        if (strcmp(g_probs[i].text, text) == 0) {
            g_probs[i].count++;
            return;
        }
    if (g_nprobs == (int)(sizeof g_probs / sizeof g_probs[0]))
        return;
    struct problem *p = &g_probs[g_nprobs++];
    snprintf(p->text, sizeof p->text, "%s", text);
    p->first_n = n;
    p->after = after;
    p->count = 1;
    p->sev = sev;
}

/* Prints this phase's problems, worst first, at most MAX_DIAGS in the whole test. */
static void show_problems(void)
{
    for (int sev = 0; sev < NSEV; sev++)
        for (int i = 0; i < g_nprobs; i++) {
            struct problem *p = &g_probs[i];
            if (p->sev != (enum severity)sev)
                continue;
            if (g_diags++ == MAX_DIAGS)
                diag("(further problems left out)");
            if (g_diags <= MAX_DIAGS)
                diag("%d run(s), first n=%ld%s: %s", p->count, p->first_n,
                     p->after ? " and after" : "", p->text);
        }
    g_nprobs = 0;               /* each phase lists its own */
}

struct tally {
    long runs, rounds, max_n, clean, nulls, unloaded;
    int problems, leaks, libuv_aborts;
    bool finished;              /* a whole round ended with a run that never reached n */
};

/* The crash site: the frames after the signal frame, down to the test's own
 * code or out of the program (a thread's start). */
static void crash_stack(const struct crash_note *note, char *buf, size_t cap)
{
    size_t len = 0;
    bool seen_exe = false;
    buf[0] = '\0';
    for (int i = 2; i < note->nframes && i < 10 && len + 2 < cap; i++) {
        char at[200];
        name_addr(note->frames[i], i > 2, at, sizeof at);
        bool exe = strstr(at, ".c:") != NULL;
        if (strstr(at, "(oom.c:") || (seen_exe && !exe))
            break;
        seen_exe = seen_exe || exe;
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i > 2 ? " < " : "", at);
    }
    if (!buf[0])
        snprintf(buf, cap, "no backtrace");
}

static void judge_crash(struct tally *t, long n, bool after, const struct child *c)
{
    char at[200], stack[600];
    void *caller = c->note.thread_caller ? c->note.thread_caller : c->note.any_caller;
    name_addr(caller, true, at, sizeof at);
    /* libuv 1.44 aborts when it cannot grow a loop's watcher array (maybe_resize
     * under uv__io_start): not cparsl's code, so counted apart. */
    if (c->sig == SIGABRT && in_libuv(c->note.thread_caller)) {
        t->libuv_aborts++;
        record(n, after, S_LIBUV, "abort() inside libuv after its allocation from %s failed",
               at);
        return;
    }
    t->problems++;
    crash_stack(&c->note, stack, sizeof stack);
    record(n, after, S_CRASH, "%s at %s; the last allocation made to fail %s was from %s "
           "[stderr: %s]", strsignal(c->sig), stack,
           c->note.thread_caller ? "on that thread" : "(on another thread)", at,
           c->stderr_head);
}

/* Callers whose blocks a run without injection also leaves allocated (glibc's
 * time-zone data, thread-stack caches in ld.so). */
static void *g_allowed[32];
static size_t g_nallowed;

static bool allowed(void *caller)
{
    for (size_t i = 0; i < g_nallowed; i++)
        if (g_allowed[i] == caller)
            return true;
    return false;
}

static void allow_residue(const struct report *r)
{
    for (size_t i = 0; i < sizeof r->blocks / sizeof r->blocks[0] && r->blocks[i].count; i++)
        if (!allowed(r->blocks[i].caller) &&
            g_nallowed < sizeof g_allowed / sizeof g_allowed[0])
            g_allowed[g_nallowed++] = r->blocks[i].caller;
}

/* Blocks left allocated by callers a clean run does not leave any from. */
static bool judge_blocks(long n, bool after, const struct report *r)
{
    bool leaked = false;
    for (size_t i = 0; i < sizeof r->blocks / sizeof r->blocks[0] && r->blocks[i].count; i++) {
        if (allowed(r->blocks[i].caller))
            continue;
        char at[200];
        name_addr(r->blocks[i].caller, true, at, sizeof at);
        record(n, after, S_LEAK, "leaked %d block(s) allocated from %s", r->blocks[i].count,
               at);
        leaked = true;
    }
    return leaked;
}

static void judge(struct tally *t, long n, bool after, const struct child *c)
{
    const struct report *r = &c->rep;
    switch (c->how) {
    case O_CRASH:
        judge_crash(t, n, after, c);
        return;
    case O_HANG:
        t->problems++;
        record(n, after, S_CRASH, "hung in %s (no report within the time-out)",
               show(c->note.step));
        return;
    case O_LOST:
        t->problems++;
        record(n, after, S_CRASH, "ended without a report, in %s [stderr: %s]",
               show(c->note.step), c->stderr_head);
        return;
    case O_BAD:
        t->problems++;
        for (const char *line = r->text; *line;) {
            size_t len = strcspn(line, "\n");
            record(n, after, S_WRONG, "%.*s", (int)len, line);
            line += len + (line[len] == '\n');
        }
        break;
    case O_OK:
        break;
    }
    bool leaked = judge_blocks(n, after, r);
    if (r->leaked_tasks || r->leaked_fds) {
        leaked = true;
        record(n, after, S_LEAK, "leaked %ld task record(s) (cp__live_tasks), %d file "
               "descriptor(s)", r->leaked_tasks, r->leaked_fds);
    }
    t->leaks += leaked;
    t->clean += r->clean;
    t->nulls += r->nulls;
    t->unloaded += !r->loaded;
}

static long next_n(long n) { return n < DENSE_UPTO ? n + 1 : n + SPARSE_STEP; }

/* One sweep n = 1, 2, … until a run never reaches n; false when cut short. */
static bool sweep(bool after, double end, struct tally *t)
{
    int hangs = 0;
    for (long n = 1; n <= MAX_N; n = next_n(n)) {
        if (mono() >= end)
            return false;
        struct child c;
        /* A hang costs its whole time-out; after a few, a shorter one will do. */
        run_child(n, after, (hangs < 3 ? 5.0 : 1.5) * g_mult, &c);
        hangs += c.how == O_HANG;
        t->runs++;
        if (n > t->max_n)
            t->max_n = n;
        judge(t, n, after, &c);
        if ((c.how == O_OK || c.how == O_BAD) && c.rep.injected == 0)
            return true;
    }
    return false;
}

/* Sweeps again and again within the budget: allocations come from several
 * threads, so each round makes a different interleaving fail. */
static void phase(bool after, double budget, struct tally *t)
{
    double end = mono() + budget * g_mult;
    memset(t, 0, sizeof *t);
    t->finished = true;
    while (t->rounds < MAX_ROUNDS && mono() < end) {
        if (!sweep(after, end, t)) {
            /* Cut short: by the budget (fine after a whole round) or by MAX_N. */
            t->finished = t->rounds > 0 && mono() >= end;
            break;
        }
        t->rounds++;
    }
}

static void report_phase(const char *name, const struct tally *t, double secs)
{
    ok(t->problems == 0, "%s: no crash, hang or inconsistency in %ld runs: %ld whole round(s) "
       "of n = 1..%ld%s (%.1f s; %ld clean failures, %ld NULL futures, %ld runs where "
       "cp_load_config failed)", name, t->runs, t->rounds, t->max_n,
       t->finished ? ", each up to a run that never reached n" : ", cut short", secs,
       t->clean, t->nulls, t->unloaded);
    ok(t->leaks == 0, "%s: no memory, task record or descriptor leaked (%d runs leaked)", name,
       t->leaks);
    show_problems();
}

static int repro(long n, bool after)
{
    char tmpl[] = "/tmp/cparsl-oom-XXXXXX";
    if (!mkdtemp(tmpl))
        return 2;
    run_armed(n, after, tmpl);
    printf("n=%ld%s: %ld allocations, %ld injected, loaded %d, %d ok, %d clean, %d NULL, "
           "%d bad, %ld tasks and %d fds leaked\n%s\n", n, after ? " and after" : "",
           rep.allocs, rep.injected, rep.loaded, rep.succeeded, rep.clean, rep.nulls,
           rep.nbad, rep.leaked_tasks, rep.leaked_fds, rep.text);
    for (size_t i = 0; i < sizeof rep.blocks / sizeof rep.blocks[0] && rep.blocks[i].count;
         i++) {
        char at[200];
        name_addr(rep.blocks[i].caller, true, at, sizeof at);
        printf("still allocated: %d block(s) from %s\n", rep.blocks[i].count, at);
    }
    rm_tree(tmpl);
    return rep.nbad || rep.leaked_tasks || rep.leaked_fds ? 1 : 0;
}

/* Three runs without injection: the workload must come out right, and what
 * they leave allocated is the residue later runs are compared with. */
static void baseline(void)
{
    struct child c;
    bool right = true;
    double t0 = mono();
    for (int i = 0; i < 3; i++) {
        run_child(1000000, false, 10.0 * g_mult, &c);
        bool good = c.how == O_OK && c.rep.loaded && c.rep.clean == 0 && c.rep.nulls == 0 &&
                    c.rep.leaked_tasks == 0 && c.rep.leaked_fds == 0;
        if (!good)
            diag("outcome %d, signal %d, %d clean, %ld tasks and %d fds leaked: %s [%s]",
                 c.how, c.sig, c.rep.clean, c.rep.leaked_tasks, c.rep.leaked_fds, c.rep.text,
                 c.stderr_head);
        right = right && good;
        allow_residue(&c.rep);
    }
    ok(right, "without injection the workload is right: %ld allocations, %d values right, "
       "%d failures as expected (%.2f s for 3 runs)", c.rep.allocs, c.rep.succeeded,
       c.rep.expected_fails, mono() - t0);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--child") == 0)
        return repro(atol(argv[2]), argc >= 4 && strcmp(argv[3], "--after") == 0);
    tap_start(170);
    const char *m = getenv("CP_TEST_TIMEOUT_MULTIPLIER");
    if (m && atof(m) > 0)
        g_mult = atof(m);
    g_note = mmap(NULL, sizeof *g_note, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                  -1, 0);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/cparsl-oom-XXXXXX");
    if (!ok(g_note != MAP_FAILED && mkdtemp(g_tmp) != NULL, "scratch directory %s", g_tmp))
        return done_testing();
    baseline();

    struct tally one, rest;
    double t0 = mono();
    phase(false, 15.0, &one);
    report_phase("allocation n fails", &one, mono() - t0);
    t0 = mono();
    phase(true, 10.0, &rest);
    report_phase("allocation n and every later one fail", &rest, mono() - t0);

    /* With pidfds the thread pool's shell path never makes a libuv loop, so an
     * abort inside libuv is a regression. Without them the runner needs a loop
     * for SIGCHLD, and libuv 1.44 aborts when it cannot grow its watcher array:
     * not cparsl's code, so a TODO there (see judge_crash). */
    int aborts = one.libuv_aborts + rest.libuv_aborts;
#ifdef SYS_pidfd_open
    int pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
#else
    int pfd = -1;
#endif
    if (pfd >= 0) {
        close(pfd);
        ok(aborts == 0, "libuv never aborted (%d runs did): the thread pool makes no loop", aborts);
    } else {
        printf("%s %d - libuv never aborted (%d runs did) # TODO without pidfds the runner "
               "needs a libuv loop, and libuv 1.44 aborts when uv__io_start cannot grow "
               "its watcher array\n", aborts ? "not ok" : "ok", ++tap_n, aborts);
    }
    rm_tree(g_tmp);
    return done_testing();
}

#endif /* OOM_SANITIZED */
