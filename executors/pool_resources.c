/* executors/pool_resources.c — resource samples of the tries a pool runs
 * (docs/monitoring.md, "Resource samples"), for the monitoring database's
 * `resource` table.
 *
 * A try runs in its worker process: a native app in the worker itself (or in the
 * app host it became, the same pid), a shell command in a process group below
 * it. A sample adds up the worker and every process below it, read from /proc:
 * CPU time (user, system, and what reaped children used), resident and virtual
 * memory, and storage bytes read and written. CPU and I/O are counted from the
 * try's start: the worker's totals when it began the try are the baseline,
 * since a worker runs many tries. A try is sampled when it starts, every
 * resource_interval seconds while it runs (one /proc scan serves every worker),
 * and when its result arrives (its children are reaped by then, so the worker's
 * own counters hold everything). Samples go to the interchange in one RESOURCES
 * frame per loop turn, ahead of the RESULTS frame, so the end sample of a try
 * never arrives after its result.
 */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "executors/pool_int.h"

struct proc {
    int pid, ppid;
    double cpu_user, cpu_system;        /* own + reaped children's, seconds */
    double rss, vms;                    /* bytes */
};

static double tick_s, page_b;

static void units(void)
{
    if (tick_s > 0)
        return;
    long t = sysconf(_SC_CLK_TCK), pg = sysconf(_SC_PAGESIZE);
    tick_s = 1.0 / (t > 0 ? (double)t : 100.0);
    page_b = pg > 0 ? (double)pg : 4096.0;
}

static ssize_t read_small(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, buf, n - 1);
    close(fd);
    if (r >= 0)
        buf[r] = '\0';
    return r;
}

/* /proc/<pid>/stat: fields after the command name, which may hold anything:
 * state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
 * stime cutime cstime priority nice threads itrealvalue starttime vsize rss. */
static int parse_stat(int pid, char *buf, struct proc *o)
{
    const char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    long long f[23];
    char *e = (char *)p + 1;
    for (int i = 1; i <= 22; i++) {
        while (*e == ' ')
            e++;
        if (i == 1) {               /* the state letter */
            if (!*e)
                return -1;
            e++;
            continue;
        }
        char *end;
        f[i] = strtoll(e, &end, 10);
        if (end == e)
            return -1;
        e = end;
    }
    o->pid = pid;
    o->ppid = (int)f[2];
    o->cpu_user = (double)(f[12] + f[14]) * tick_s;
    o->cpu_system = (double)(f[13] + f[15]) * tick_s;
    o->vms = (double)f[21];
    o->rss = f[22] > 0 ? (double)f[22] * page_b : 0;
    return 0;
}

static int read_proc(int pid, struct proc *o)
{
    char path[48], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (read_small(path, buf, sizeof buf) <= 0)
        return -1;
    return parse_stat(pid, buf, o);
}

static void parse_io(const char *buf, double *rd, double *wr)
{
    const char *r = strstr(buf, "\nread_bytes:"), *w = strstr(buf, "\nwrite_bytes:");
    if (r)
        *rd = strtod(r + 12, NULL);
    if (w)
        *wr = strtod(w + 13, NULL);
}

/* Storage bytes of one process (0 when /proc/<pid>/io is not readable). */
static void read_io(int pid, double *rd, double *wr)
{
    char path[48], buf[512];
    snprintf(path, sizeof path, "/proc/%d/io", pid);
    *rd = *wr = 0;
    if (read_small(path, buf, sizeof buf) > 0)
        parse_io(buf, rd, wr);
}

/* A worker's own /proc files stay open: a no-op try is sampled twice, and
 * opening them each time cost more than reading them (path lookup and access
 * check per open). pread at 0 reads them afresh. Files of a pid that has gone
 * fail to read (ESRCH); they are reopened for the worker's next pid. */
static void worker_files_close(struct worker *w)
{
    if (w->res_pid == 0)
        return;
    if (w->res_stat_fd >= 0)
        close(w->res_stat_fd);
    if (w->res_io_fd >= 0)
        close(w->res_io_fd);
    w->res_pid = 0;
}

static ssize_t pread_small(int fd, char *buf, size_t n)
{
    ssize_t r = fd >= 0 ? pread(fd, buf, n - 1, 0) : -1;
    if (r >= 0)
        buf[r] = '\0';
    return r;
}

/* The worker's counters (CPU, memory, I/O); 0 or -1. */
static int read_worker(struct worker *w, struct proc *me, double *rd, double *wr)
{
    char buf[1024];
    *rd = *wr = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (w->res_pid != w->pid) {
            char path[48];
            worker_files_close(w);
            snprintf(path, sizeof path, "/proc/%d/stat", w->pid);
            w->res_stat_fd = open(path, O_RDONLY | O_CLOEXEC);
            snprintf(path, sizeof path, "/proc/%d/io", w->pid);
            w->res_io_fd = open(path, O_RDONLY | O_CLOEXEC);
            w->res_pid = w->pid;
        }
        if (pread_small(w->res_stat_fd, buf, sizeof buf) <= 0 ||
            parse_stat(w->pid, buf, me) != 0) {
            worker_files_close(w);      /* a stale pid, or files never opened */
            continue;
        }
        if (pread_small(w->res_io_fd, buf, 512) > 0)
            parse_io(buf, rd, wr);
        return 0;
    }
    return -1;
}

/* Every process on the machine (pid and parent), for finding workers' trees. */
static struct proc *scan_all(size_t *n)
{
    DIR *d = opendir("/proc");
    struct proc *v = NULL;
    size_t nv = 0, cap = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        if (nv == cap) {
            size_t nc = cap ? cap * 2 : 256;
            struct proc *nvp = realloc(v, nc * sizeof *nvp);
            if (!nvp)
                break;
            v = nvp;
            cap = nc;
        }
        if (read_proc(atoi(e->d_name), &v[nv]) == 0)
            nv++;
    }
    if (d)
        closedir(d);
    *n = nv;
    return v;
}

static void add_sample(struct pool *p, const struct cp__wire_sample *s)
{
    if (p->nres == p->capres) {
        size_t nc = p->capres ? p->capres * 2 : 64;
        struct cp__wire_sample *n = realloc(p->res, nc * sizeof *n);
        if (!n)
            return;         /* a sample lost to memory is not worth failing a try */
        p->res = n;
        p->capres = nc;
    }
    p->res[p->nres++] = *s;
}

static double nonneg(double x)
{
    return x > 0 ? x : 0;
}

/* A sample of w's try from the worker's own counters and, when all is given,
 * every process below it. */
static void sample(struct pool *p, struct worker *w, const struct proc *all, size_t nall)
{
    struct proc me;
    double rd, wr;
    if (!w->cur || w->pid <= 0 || read_worker(w, &me, &rd, &wr) != 0)
        return;
    if (!all) {                         /* the end of a try: the next may start from it */
        w->res_last = (struct cp__wire_sample){.pid = w->pid, .user = me.cpu_user,
                                               .system = me.cpu_system, .rss = me.rss,
                                               .vms = me.vms, .read_bytes = rd,
                                               .write_bytes = wr};
        w->res_last_at = cp__mono();
    }
    struct cp__wire_sample s = {
        .task_id = w->cur->task_id, .try_id = w->cur->try_id, .time = cp__now(),
        .pid = w->pid, .user = me.cpu_user, .system = me.cpu_system, .rss = me.rss,
        .vms = me.vms, .read_bytes = rd, .write_bytes = wr,
    };
    /* Descendants, breadth first over the parent links. */
    int *queue = all && nall ? malloc(nall * sizeof *queue) : NULL;
    size_t qh = 0, qt = 0;
    if (queue)
        queue[qt++] = w->pid;
    while (queue && qh < qt) {
        int parent = queue[qh++];
        for (size_t i = 0; i < nall && qt < nall; i++) {
            if (all[i].ppid != parent)
                continue;
            queue[qt++] = all[i].pid;
            s.children++;
            s.user += all[i].cpu_user;
            s.system += all[i].cpu_system;
            s.rss += all[i].rss;
            s.vms += all[i].vms;
            read_io(all[i].pid, &rd, &wr);
            s.read_bytes += rd;
            s.write_bytes += wr;
        }
    }
    free(queue);
    s.user = nonneg(s.user - w->res_base.user);
    s.system = nonneg(s.system - w->res_base.system);
    s.read_bytes = nonneg(s.read_bytes - w->res_base.read_bytes);
    s.write_bytes = nonneg(s.write_bytes - w->res_base.write_bytes);
    add_sample(p, &s);
}

/* How recent the end reading of a worker's last try must be to serve as the
 * next try's start: a worker that waited longer may have changed. */
#define REUSE_S 0.05

/* The start sample is the baseline itself (no CPU or I/O yet): one reading
 * serves both. A worker that starts a try right after ending one (short tasks
 * back to back) is not read again: the end reading of its last try is its state
 * now, to the few microseconds of work in between — which then count to the new
 * try. That halves what sampling costs a pool of sub-millisecond tasks. */
void cp__pool_res_begin(struct pool *p, struct worker *w)
{
    if (p->o->resource_interval < 0 || !w->cur || w->pid <= 0)
        return;
    units();
    w->res_base = (struct cp__wire_sample){0};
    if (!(w->res_last_at > 0 && w->res_last.pid == w->pid &&
          cp__mono() - w->res_last_at < REUSE_S)) {
        struct proc me;
        double rd, wr;
        if (read_worker(w, &me, &rd, &wr) != 0)
            return;
        w->res_last = (struct cp__wire_sample){.pid = w->pid, .user = me.cpu_user,
                                               .system = me.cpu_system, .rss = me.rss,
                                               .vms = me.vms, .read_bytes = rd,
                                               .write_bytes = wr};
    }
    w->res_last_at = 0;                 /* one try's start only */
    w->res_base.user = w->res_last.user;
    w->res_base.system = w->res_last.system;
    w->res_base.read_bytes = w->res_last.read_bytes;
    w->res_base.write_bytes = w->res_last.write_bytes;
    add_sample(p, &(struct cp__wire_sample){
        .task_id = w->cur->task_id, .try_id = w->cur->try_id, .time = cp__now(),
        .pid = w->pid, .rss = w->res_last.rss, .vms = w->res_last.vms});
}

void cp__pool_res_end(struct pool *p, struct worker *w)
{
    if (p->o->resource_interval >= 0 && w->cur)
        sample(p, w, NULL, 0);
}

double cp__pool_res_timer(struct pool *p, double now)
{
    double iv = p->o->resource_interval;
    if (iv <= 0)
        return 0;
    if (p->res_next == 0)
        p->res_next = now + iv;
    if (now < p->res_next)
        return p->res_next;
    p->res_next = now + iv;
    bool busy = false;
    for (int i = 0; i < p->nworkers && !busy; i++)
        busy = p->workers[i].cur && p->workers[i].pid > 0;
    if (!busy)
        return p->res_next;
    units();
    size_t nall = 0;
    struct proc *all = scan_all(&nall);
    for (int i = 0; i < p->nworkers; i++)
        if (p->workers[i].cur && p->workers[i].pid > 0 && !p->workers[i].interrupted)
            sample(p, &p->workers[i], all, nall);
    free(all);
    return p->res_next;
}

void cp__pool_res_flush(struct pool *p)
{
    if (!p->nres || p->state != ST_READY)
        return;
    /* One frame per 4 MiB cap: a sample packs to about 100 bytes. */
    size_t per = 30000, off = 0;
    while (off < p->nres) {
        size_t n = p->nres - off < per ? p->nres - off : per;
        struct cp__wire_msg m = {.type = CP_WIRE_RESOURCES,
                                 .u.resources = {p->res + off, n}};
        cp__pool_send(p, &m);
        off += n;
    }
    p->nres = 0;
}
