/* executors/pool_start.c — how a parsl-worker pool gets going: its node's facts
 * and worker layout, its ids and log, the self-pipe its signals write to, and
 * the connection to the first interchange address that answers (pool_int.h).
 */
#include "executors/pool_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

volatile sig_atomic_t cp__pool_stop_signal;
static int sig_wfd = -1;

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
        cp__pool_stop_signal = sig;
    char c = 0;
    if (write(sig_wfd, &c, 1) < 0) {
        /* full pipe: a wake-up is already pending */
    }
    errno = saved;
}

/* ------------------------------------------------------------ start-up */

static int connect_one(const char *host, int port, double timeout, char *why, size_t cap)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    /* A numeric address (what launchers usually pass) skips the resolver, which
     * would otherwise stay mapped in the pool for nothing (~0.2 MB of RSS). */
    struct sockaddr_in6 six = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    struct sockaddr_in four = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct addrinfo numeric = {.ai_socktype = SOCK_STREAM};
    if (inet_pton(AF_INET, host, &four.sin_addr) == 1) {
        numeric.ai_family = AF_INET;
        numeric.ai_addr = (struct sockaddr *)&four;
        numeric.ai_addrlen = sizeof four;
    } else if (inet_pton(AF_INET6, host, &six.sin6_addr) == 1) {
        numeric.ai_family = AF_INET6;
        numeric.ai_addr = (struct sockaddr *)&six;
        numeric.ai_addrlen = sizeof six;
    } else {
        int rc = getaddrinfo(host, service, &hints, &res);
        if (rc != 0) {
            snprintf(why, cap, "%s: %s", host, gai_strerror(rc));
            return -1;
        }
    }
    int fd = -1;
    for (struct addrinfo *a = res ? res : &numeric; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0)
            continue;
        int e = 0;
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            e = errno;
            if (e == EINPROGRESS) {
                struct pollfd pf = {.fd = fd, .events = POLLOUT};
                int n;
                while ((n = poll(&pf, 1, (int)(timeout * 1000))) < 0 && errno == EINTR)
                    ;
                socklen_t sl = sizeof e;
                if (n == 0)
                    e = ETIMEDOUT;
                else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) != 0)
                    e = errno;
            }
        }
        if (!e)
            break;
        snprintf(why, cap, "%s port %d: %s", host, port, strerror(e));
        close(fd);
        fd = -1;
    }
    if (res)
        freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

int cp__pool_connect(struct pool *p)
{
    char why[2048] = "", one[300];
    double timeout = p->o->connect_timeout > 0 ? p->o->connect_timeout : 10;
    for (size_t i = 0; i < p->o->naddresses; i++) {
        one[0] = '\0';
        p->sock = connect_one(p->o->addresses[i], p->o->port, timeout, one, sizeof one);
        if (p->sock >= 0) {
            CP_INFO(SUBSYS, "connected to %s port %d", p->o->addresses[i], p->o->port);
            return 0;
        }
        size_t l = strlen(why);
        snprintf(why + l, sizeof why - l, "%s%s", l ? "; " : "", one);
    }
    cp__pool_fail(p, "cannot reach the interchange: %s", why);
    return -1;
}

int cp__pool_setup(struct pool *p)
{
    cp_err err = {0};
    if (gethostname(p->hostname, sizeof p->hostname - 1) != 0 || !p->hostname[0])
        strcpy(p->hostname, "localhost");
    p->self_pid = (int)getpid();
    if (p->o->pool_id)
        snprintf(p->pool_id, sizeof p->pool_id, "%s", p->o->pool_id);
    else
        snprintf(p->pool_id, sizeof p->pool_id, "%.100s-%d-%08x", p->hostname, p->self_pid,
                 (unsigned)randombytes_random());
    if (p->o->logdir) {
        char *path = cp__strdup_printf("%s/pool-%s.log", p->o->logdir, p->pool_id);
        int rc = path ? cp__mkdir_p(p->o->logdir, &err) : -1;
        if (rc == 0)
            rc = cp__log_open(path, getenv("CPARSL_LOG_LEVEL"), &err);
        free(path);
        if (rc != 0) {
            fprintf(stderr, "parsl-worker: cannot open the log in %s: %s\n", p->o->logdir,
                    err.text);
            return CP_POOL_EXIT_USAGE;
        }
    }
    if (cp__node_facts_detect(&p->facts, &err) != 0 ||
        !(p->layout = cp__pool_layout_make(&p->o->settings, &p->facts, p->pool_id,
                                           p->o->block_id, &err))) {
        fprintf(stderr, "parsl-worker: %s\n", err.text);
        CP_ERROR(SUBSYS, "%s", err.text);
        return CP_POOL_EXIT_USAGE;
    }
    p->nworkers = cp__pool_layout_workers(p->layout);
    p->max_capacity = p->nworkers + p->o->prefetch_capacity;
    CP_INFO(SUBSYS, "pool %s on %s, block '%s': %s", p->pool_id, p->hostname, p->o->block_id,
            cp__pool_layout_describe(p->layout));
    p->workers = calloc((size_t)p->nworkers, sizeof *p->workers);
    if (!p->workers) {
        fprintf(stderr, "parsl-worker: out of memory\n");
        return CP_POOL_EXIT_FAIL;
    }
    for (int i = 0; i < p->nworkers; i++)
        p->workers[i] = (struct worker){.rank = i, .fd = -1, .ewma = -1};
    return 0;
}

int cp__pool_signals_setup(struct pool *p)
{
    if (pipe2(p->sigpipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    sig_wfd = p->sigpipe[1];
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

void cp__pool_signals_reset(struct pool *p)
{
    if (p->sigpipe[0] < 0)
        return;
    signal(SIGCHLD, SIG_DFL);
    close(p->sigpipe[0]);
    close(p->sigpipe[1]);
    sig_wfd = -1;
}
