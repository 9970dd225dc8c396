/* bench/floor.c — the physical floor beside cparsl's numbers: what this machine
 * costs for the things a task engine does, with no engine at all.
 *
 *   floor spawn KIND N PAR    KIND: true | sh | bash | bash_sleep | spawn_true
 *       N fork/exec/wait of /bin/true (true), `/bin/sh -c true` (sh),
 *       `/bin/bash -c /bin/true` (bash, what cparsl's shell apps run), or
 *       `/bin/bash -c "sleep 0.01"` (bash_sleep, the floor of B6's shell
 *       variant), or posix_spawn of /bin/true (spawn_true), split over PAR processes each
 *       running its own loop. Prints per-spawn mean/median/p99 µs (as seen by one
 *       loop) and the aggregate spawns per second.
 *   floor pingpong N MODE      MODE: free | same | split
 *       N round trips of a 64-byte message over TCP loopback between two
 *       processes; free = the scheduler places both, same = both pinned to CPU 0,
 *       split = CPU 0 and CPU 1. Prints mean/median/p99 µs per round trip.
 *
 * Output: one JSON object per run on stdout. Same shapes as peers.md's floor rows.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v in place; fills mean, median and p99 (nearest rank). */
static void stats(double *v, size_t n, double *mean, double *med, double *p99)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    qsort(v, n, sizeof *v, cmp_dbl);
    *mean = s / (double)n;
    *med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    size_t r = (size_t)((double)n * 0.99 + 0.999999);
    *p99 = v[(r ? r : 1) - 1];
}

/* ------------------------------------------------------------ spawn */

static void one_spawn(const char *kind)
{
    pid_t pid;
    if (strcmp(kind, "spawn_true") == 0) {
        char *argv[] = {"/bin/true", NULL};
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0)
            die("posix_spawn");
    } else {
        pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            if (strcmp(kind, "true") == 0)
                execl("/bin/true", "true", (char *)NULL);
            else if (strcmp(kind, "sh") == 0)
                execl("/bin/sh", "sh", "-c", "true", (char *)NULL);
            else if (strcmp(kind, "bash") == 0)
                execl("/bin/bash", "bash", "-c", "/bin/true", (char *)NULL);
            else
                execl("/bin/bash", "bash", "-c", "sleep 0.01", (char *)NULL);
            _exit(127);
        }
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "floor: %s exited with status %d\n", kind, st);
        exit(2);
    }
}

static int run_spawn(const char *kind, long n, int par)
{
    if (strcmp(kind, "true") && strcmp(kind, "sh") && strcmp(kind, "bash") &&
        strcmp(kind, "bash_sleep") && strcmp(kind, "spawn_true")) {
        fprintf(stderr, "floor: unknown spawn kind %s\n", kind);
        return 2;
    }
    if (par < 1)
        par = 1;
    long per = n / par;
    /* Loop 0's per-spawn latencies, shared so the parent can read them. */
    double *lat = mmap(NULL, (size_t)per * sizeof *lat, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (lat == MAP_FAILED)
        die("mmap");
    for (int k = 0; k < 3; k++)         /* warm the page cache and the binaries */
        one_spawn(kind);
    double t0 = mono();
    pid_t kids[64];
    for (int p = 0; p < par && p < 64; p++) {
        kids[p] = fork();
        if (kids[p] < 0)
            die("fork");
        if (kids[p] == 0) {
            for (long i = 0; i < per; i++) {
                double a = mono();
                one_spawn(kind);
                if (p == 0)
                    lat[i] = (mono() - a) * 1e6;
            }
            _exit(0);
        }
    }
    for (int p = 0; p < par && p < 64; p++) {
        int st;
        if (waitpid(kids[p], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "floor: spawn loop %d failed\n", p);
            return 2;
        }
    }
    double secs = mono() - t0;
    double mean, med, p99;
    stats(lat, (size_t)per, &mean, &med, &p99);
    printf("{\"bench\":\"floor_spawn\",\"kind\":\"%s\",\"n\":%ld,\"par\":%d,\"seconds\":%.4f,"
           "\"per_s\":%.1f,\"mean_us\":%.1f,\"median_us\":%.1f,\"p99_us\":%.1f}\n",
           kind, per * par, par, secs, (double)(per * par) / secs, mean, med, p99);
    munmap(lat, (size_t)per * sizeof *lat);
    return 0;
}

/* ------------------------------------------------------------ ping-pong */

static void pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        die("sched_setaffinity");
}

static void full_io(int fd, char *buf, size_t n, int writing)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = writing ? write(fd, buf + done, n - done) : read(fd, buf + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die(writing ? "write" : "read");
        done += (size_t)r;
    }
}

static int run_pingpong(long n, const char *mode)
{
    int cpu_a = -1, cpu_b = -1;
    if (strcmp(mode, "same") == 0)
        cpu_a = cpu_b = 0;
    else if (strcmp(mode, "split") == 0)
        cpu_a = 0, cpu_b = 1;
    else if (strcmp(mode, "free") != 0) {
        fprintf(stderr, "floor: unknown ping-pong mode %s\n", mode);
        return 2;
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0)
        die("socket");
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) != 0)
        die("bind/listen");
    long warm = n / 10 + 10;
    pid_t kid = fork();
    if (kid < 0)
        die("fork");
    if (kid == 0) {                     /* the echo end */
        pin(cpu_b);
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            die("accept");
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char buf[64];
        for (long i = 0; i < n + warm; i++) {
            full_io(c, buf, sizeof buf, 0);
            full_io(c, buf, sizeof buf, 1);
        }
        _exit(0);
    }
    close(ls);
    pin(cpu_a);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("connect");
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    double *lat = malloc((size_t)n * sizeof *lat);
    if (!lat)
        die("malloc");
    char buf[64];
    memset(buf, 'x', sizeof buf);
    for (long i = 0; i < n + warm; i++) {
        double a = mono();
        full_io(s, buf, sizeof buf, 1);
        full_io(s, buf, sizeof buf, 0);
        if (i >= warm)
            lat[i - warm] = (mono() - a) * 1e6;
    }
    close(s);
    int st;
    waitpid(kid, &st, 0);
    double mean, med, p99;
    stats(lat, (size_t)n, &mean, &med, &p99);
    printf("{\"bench\":\"floor_pingpong\",\"mode\":\"%s\",\"n\":%ld,\"mean_us\":%.1f,"
           "\"median_us\":%.1f,\"p99_us\":%.1f}\n", mode, n, mean, med, p99);
    free(lat);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 4 && strcmp(argv[1], "spawn") == 0)
        return run_spawn(argv[2], atol(argv[3]), argc > 4 ? atoi(argv[4]) : 1);
    if (argc >= 4 && strcmp(argv[1], "pingpong") == 0)
        return run_pingpong(atol(argv[2]), argv[3]);
    fprintf(stderr, "usage: floor spawn true|sh|bash|bash_sleep|spawn_true N [PAR]\n"
                    "       floor pingpong N free|same|split\n");
    return 2;
}
