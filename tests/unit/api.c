/* The C API on the embedded default: native, shell and join apps, futures of every
 * type, DataFutures, gather, type errors. */
#include <cparsl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "tap.h"
#include "testutil.h"

CP_APP(double, area, (double, w), (double, h)) { return w * h; }
CP_APP(long, add, (long, a), (long, b)) { return a + b; }
CP_APP(long, answer) { return 42; }
CP_APP(int, small, (int, x)) { return x * 2; }
CP_APP(bool, negate, (bool, b)) { return !b; }
CP_APP(const char *, shout, (const char *, s))
{
    static __thread char buf[64];
    snprintf(buf, sizeof buf, "%s!", s ? s : "(nil)");
    return buf;
}
CP_APP(long, blen, (cp_bytes, y)) { return (long)y.len; }
CP_APP(const char *, fpath, (cp_file *, f)) { return cp_file_path(f); }
CP_APP(cp_value *, pair, (long, a), (const char *, b))
{
    cp_value *l = cp_list_new();
    cp_list_push(l, cp_int(a));
    cp_list_push(l, cp_str(b));
    return l;
}
CP_APP(long, count_items, (const cp_value *, v)) { return (long)cp_value_list_len(v); }
CP_APP(long, eight, (long, a), (long, b), (long, c), (long, d), (long, e), (long, f),
       (long, g), (long, h))
{
    return a + b + c + d + e + f + g + h;
}
CP_APP(long, refuse, (long, x))
{
    cp_fail("refusing %ld", x);
    return x;
}
CP_SHELL_APP(greet, (const char *, who)) { return cp_fmt("echo hello %s", cp_q(who)); }
CP_SHELL_APP(writefile, (const char *, text), (cp_file *, out))
{
    return cp_fmt("printf %%s %s > %s", cp_q(text), cp_q(cp_file_path(out)));
}
CP_SHELL_APP(catfile, (cp_file *, in)) { return cp_fmt("cat %s", cp_q(cp_file_path(in))); }
CP_SHELL_APP(nocmd) { return NULL; }
CP_SHELL_APP(showenv) { return cp_fmt("echo \"$PARSL_CORES $PARSL_MEMORY_MB $PARSL_DISK_MB $PARSL_RUNNING_TIME\""); }
CP_JOIN_APP(fib, (long, n))
{
    if (n < 2)
        return cp_value_future(cp_int(n));
    return cp_call(add, cp_call(fib, n - 1), cp_call(fib, n - 2));
}
CP_JOIN_APP(badjoin, (long, n)) { return cp_call(refuse, n); }
CP_JOIN_APP(countdown, (long, n))
{
    if (n == 0)
        return cp_value_future(cp_str("liftoff"));
    return cp_call(countdown, n - 1);
}
CP_APP(long, stopper, (long, x))
{
    if (cp_shutdown() != -1)
        return -1;
    return strstr(cp_last_error(), "inside app 'stopper'") ? x : -2;
}
CP_JOIN_APP(fanjoin, (long, n))
{
    cp_future *fs[16];
    for (long i = 0; i < n; i++)
        fs[i] = cp_call(add, i, i);
    return cp_gather(fs, (size_t)n);
}


static cp_future *parts_dummy[1];

int main(void)
{
    tap_start(60);
    char tmpl[] = "/tmp/cparsl-api-XXXXXX";
    char *dir = mkdtemp(tmpl);
    ok(dir && chdir(dir) == 0, "work in %s", dir);
    ok(cp_init(NULL, NULL) == 0, "cp_init with NULLs");
    ok(cp_load(NULL) == 0, "cp_load(NULL) loads the local default");
    ok(cp_run_dir() != NULL, "run dir %s", cp_run_dir());
    struct stat st;
    ok(stat("runinfo/000/parsl.log", &st) == 0, "runinfo/000/parsl.log exists");

    cp_future *a = cp_call(area, 2.0, 3.5);
    is_dbl(cp_future_double(a), 7.0, "area(2.0, 3.5) = 7");
    is_int(cp_future_id(a), 0, "first task id is 0");
    is_int(cp_future_state(a), CP_EXEC_DONE, "state exec_done");
    ok(cp_future_error(a) == NULL, "no error");
    cp_future *ai = cp_call(area, 2, 3);
    is_dbl(cp_future_double(ai), 6.0, "int literals widen to double parameters");
    cp_future *s = cp_call(add, 40, 2);
    is_int(cp_future_int(s), 42, "add(40, 2)");
    cp_future *z = cp_call(answer);
    is_int(cp_future_int(z), 42, "zero-parameter app");
    cp_future *sm = cp_call(small, 21);
    is_int(cp_future_int(sm), 42, "int parameter and result");
    cp_future *ng = cp_call(negate, true);
    ok(cp_future_wait(ng) == 0 && cp_future_bool(ng) == false, "bool parameter and result");
    cp_future *sh = cp_call(shout, "hi");
    is_str(cp_future_str(sh), "hi!", "string result is copied");
    cp_future *bl = cp_call(blen, ((cp_bytes){"a\0b", 3}));
    is_int(cp_future_int(bl), 3, "cp_bytes with a NUL inside");
    cp_file *fl = cp_file_new("file:///tmp/x.dat");
    cp_future *fp = cp_call(fpath, fl);
    is_str(cp_future_str(fp), "/tmp/x.dat", "cp_file parameter sees the local path");
    cp_future *pr = cp_call(pair, 7, "seven");
    const cp_value *pv = cp_future_value(pr);
    ok(cp_value_type(pv) == CP_LIST && cp_value_list_len(pv) == 2, "list result");
    is_int(cp_value_int(cp_value_list_at(pv, 0)), 7, "list item 0");
    is_str(cp_value_str(cp_value_list_at(pv, 1)), "seven", "list item 1");
    cp_future *ci = cp_call(count_items, pr);
    is_int(cp_future_int(ci), 2, "a list future as a const cp_value * parameter");
    cp_future *e8 = cp_call(eight, 1, 2, 3, 4, 5, 6, 7, 8);
    is_int(cp_future_int(e8), 36, "eight parameters");
    cp_future *inner = cp_call(add, 1, 2);
    cp_future *chain = cp_call(add, inner, s);
    is_int(cp_future_int(chain), 45, "futures as arguments in any position");

    /* Failures of one try */
    cp_future *rf = cp_call_opts(refuse, CP_OPTS(.retries = CP_NONE), 5);
    ok(cp_future_wait(rf) == -1, "cp_fail fails the task");
    like(cp_future_error(rf), "refusing 5", "error carries the cp_fail message");
    like(cp_future_error(rf), "app 'refuse'", "error names the app");
    like(cp_future_error(rf), "try 0", "error names the try");
    is_int(cp_future_int(rf), 0, "reading a failed future as int gives 0");

    /* Type errors: a future's value that does not fit the parameter */
    cp_future *tm = cp_call(add, sh, 1);
    ok(cp_future_wait(tm) == -1, "str future into a long parameter fails");
    like(cp_future_error(tm), "type error: argument 1 ('a') of app 'add' expects long, got str",
         "type error names argument, parameter and types");
    cp_future *tm2 = cp_call(small, 1L << 40);
    like(cp_future_error((cp_future_wait(tm2), tm2)), "does not fit in int", "int overflow");
    cp_future *tm3 = cp_call(negate, "yes");
    ok(cp_future_wait(tm3) == -1, "a string is not a bool");
    cp_future *tm4 = cp_call(add, (cp_future *)NULL, 1);
    like(cp_future_error(tm4), "argument 1 is a NULL future", "NULL future argument");

    /* Shell apps */
    cp_future *g = cp_call_opts(greet, CP_OPTS(.stdout_path = "out/hi.txt"), "ada; rm -rf /");
    int gw = cp_future_wait(g);
    ok(gw == 0, "shell app succeeds: %s", cp_future_error(g) ? cp_future_error(g) : "");
    is_int(cp_future_int(g), 0, "shell app value is 0");
    is_str(slurp("out/hi.txt"), "hello ada; rm -rf /\n", "stdout file holds the quoted argument");
    cp_future *g2 = cp_call(greet, "bob");
    ok(cp_future_wait(g2) == 0, "shell app with default stdout");
    char path[256];
    snprintf(path, sizeof path, "%s/task_logs/task_%ld_greet.stdout", cp_run_dir(),
             cp_future_id(g2));
    is_str(slurp(path), "hello bob\n", "default stdout is runinfo/NNN/task_logs/task_<id>_<app>.stdout");
    cp_future *ev = cp_call_opts(showenv, CP_OPTS(.stdout_path = "env.txt", .cores = 4,
                                                  .memory_mb = 512, .disk_mb = 100,
                                                  .running_time = 1.5));
    ok(cp_future_wait(ev) == 0, "shell app with a resource specification");
    is_str(slurp("env.txt"), "4 512 100 1.5\n", "it sees PARSL_CORES/MEMORY_MB/DISK_MB/RUNNING_TIME");
    cp_future *nc = cp_call(nocmd);
    like((cp_future_wait(nc), cp_future_error(nc)), "returned no command", "NULL command fails");

    /* DataFutures: an output file of one task is the input of another */
    cp_file *outf = cp_file_new("data/msg.txt");
    cp_future *w = cp_call_opts(writefile, CP_OPTS(.outputs = CP_FILES(outf)), "it's here", outf);
    cp_file *df = cp_future_output(w, 0);
    ok(df != NULL && strcmp(cp_file_path(df), "data/msg.txt") == 0, "output DataFuture");
    cp_future *rd = cp_call_opts(catfile, CP_OPTS(.stdout_path = "data/cat.txt"), df);
    int rdw = cp_future_wait(rd);
    ok(rdw == 0, "reader waits for writer: %s", cp_future_error(rd) ? cp_future_error(rd) : "");
    is_str(slurp("data/cat.txt"), "it's here", "reader saw the writer's file");
    cp_file *missing = cp_file_new("data/never.txt");
    cp_future *mo = cp_call_opts(greet, CP_OPTS(.outputs = CP_FILES(missing), .retries = CP_NONE), "x");
    ok(cp_future_wait(mo) == -1, "missing declared output fails the try");
    like(cp_future_error(mo), "missing outputs: data/never.txt", "names the missing file");

    /* A call that fails at once still has its outputs: consumers end dep_fail. */
    cp_file *gout = cp_file_new("data/gpu.txt");
    cp_future *bad = cp_call_opts(greet, CP_OPTS(.executor = "gpu", .outputs = CP_FILES(gout)), "x");
    ok(cp_future_wait(bad) == -1, "unknown executor fails the call");
    cp_future *cons = cp_call(catfile, cp_future_output(bad, 0));
    ok(cp_future_wait(cons) == -1 && cp_future_state(cons) == CP_DEP_FAIL,
       "a consumer of a failed call's output is dep_fail");
    like(cp_future_error(cons), "unknown executor 'gpu'", "and names the cause");
    cp_future *huge = cp_gather(parts_dummy, (size_t)1 << 40);
    like((cp_future_wait(huge), cp_future_error(huge)), "more than", "an impossible gather fails");

    cp_future *stp = cp_call(stopper, 7);
    is_int(cp_future_int(stp), 7, "cp_shutdown inside an app refuses (no deadlock) and says why");

    /* Join apps and gather */
    cp_future *fb = cp_call(fib, 15);
    is_int(cp_future_int(fb), 610, "fib(15) through join apps");
    cp_future *bj = cp_call(badjoin, 3);
    ok(cp_future_wait(bj) == -1, "a join returning a failing future fails");
    like(cp_future_error(bj), "refusing 3", "join error carries the inner error");
    like(cp_future_error(bj), "joined task", "join error names the joined task");
    cp_future *cd = cp_call(countdown, 1000000);
    is_str(cp_future_str(cd), "liftoff", "a chain of 1,000,000 nested joins resolves");
    cp_future_release(cd);
    ok(1, "and releasing it does not recurse through the chain");
    cp_future *fj = cp_call(fanjoin, 5);
    const cp_value *fv = cp_future_value(fj);
    ok(cp_value_list_len(fv) == 5 && cp_value_int(cp_value_list_at(fv, 4)) == 8,
       "join fans out and in with cp_gather");
    cp_future *parts[3] = {cp_call(add, 1, 1), cp_call(refuse, 9), cp_call(refuse, 10)};
    cp_future *ga = cp_gather(parts, 3);
    ok(cp_future_wait(ga) == -1, "gather fails when a member fails");
    like(cp_future_error(ga), "2 of 3 members failed", "gather counts failed members");
    like(cp_future_error(ga), "refusing 10", "gather lists every failed member");
    cp_future *ge = cp_gather(NULL, 0);
    ok(cp_future_wait(ge) == 0 && cp_value_list_len(cp_future_value(ge)) == 0, "empty gather");
    cp_future *vf = cp_value_future(cp_str("ready"));
    ok(cp_future_done(vf), "value future is done at once");
    is_str(cp_future_str(vf), "ready", "value future value");

    cp_future *all[] = {a, ai, s, z, sm, ng, sh, bl, fp, pr, ci, e8, inner, chain, rf, tm, tm2, tm3,
                        tm4, g, g2, nc, w, rd, mo, fb, bj, fj, parts[0], parts[1], parts[2],
                        ga, ge, vf, bad, cons, huge, stp, ev};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        cp_future_release(all[i]);
    cp_file_free(fl);
    cp_file_free(outf);
    cp_file_free(missing);
    cp_file_free(gout);
    is_int(cp_shutdown(), 1, "cp_shutdown returns 1 when some task failed");
    int rc = system("rm -rf \"$PWD\"");
    (void)rc;
    return done_testing();
}
