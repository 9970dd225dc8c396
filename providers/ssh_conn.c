/* providers/ssh_conn.c — connecting the ssh channel: TCP with a time limit, the
 * host key against known_hosts, public-key authentication, and the watchdog that
 * bounds libssh's blocking calls (providers/ssh_conn.h, docs/channels.md). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "providers/ssh_conn.h"

/* ------------------------------------------------------------------ paths */

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (h && *h)
        return h;
    struct passwd *pw = getpwuid(geteuid());
    return pw && pw->pw_dir ? pw->pw_dir : "/";
}

char *cp__ssh_expand_home(const char *path)
{
    if (path[0] == '~' && (path[1] == '\0' || path[1] == '/'))
        return cp__strdup_printf("%s%s", home_dir(), path + 1);
    return strdup(path);
}

/* ------------------------------------------------------------------ watchdog */

static void *wd_main(void *arg)
{
    struct cp__ssh_conn *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        if (c->deadline <= 0) {
            pthread_cond_wait(&c->cv, &c->mu);
            continue;
        }
        double left = c->deadline - cp__mono();
        if (left <= 0) {
            /* shutdown, not close: the descriptor stays libssh's, and its
             * blocked poll wakes up to an end of stream. */
            if (c->fd >= 0)
                shutdown(c->fd, SHUT_RDWR);
            c->fired = true;
            c->deadline = 0;
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long ns = ts.tv_nsec + (long)((left - (long)left) * 1e9);
        ts.tv_sec += (time_t)left + ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

void cp__ssh_wd_arm(struct cp__ssh_conn *c, double seconds)
{
    pthread_mutex_lock(&c->mu);
    c->deadline = cp__mono() + seconds;
    c->fired = false;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

bool cp__ssh_wd_disarm(struct cp__ssh_conn *c)
{
    pthread_mutex_lock(&c->mu);
    c->deadline = 0;
    bool f = c->fired;
    pthread_mutex_unlock(&c->mu);
    return f;
}

bool cp__ssh_wd_fired(struct cp__ssh_conn *c)
{
    pthread_mutex_lock(&c->mu);
    bool f = c->fired;
    pthread_mutex_unlock(&c->mu);
    return f;
}

static void wd_set_fd(struct cp__ssh_conn *c, int fd)
{
    pthread_mutex_lock(&c->mu);
    c->fd = fd;
    pthread_mutex_unlock(&c->mu);
}

/* ------------------------------------------------------------------ set-up */

int cp__ssh_conn_init(struct cp__ssh_conn *c, const struct cp__channel_config *cfg,
                      cp_err *err)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    if (cp__channel_config_copy(cfg, &c->cfg, err) < 0)
        return -1;
    if (!c->cfg.user) {
        struct passwd *pw = getpwuid(geteuid());
        if (!pw || !pw->pw_name) {
            cp__errf(err, ENOENT, "ssh to %s: no user given and this process's user id %u has "
                                  "no name; set user", c->cfg.host, (unsigned)geteuid());
            goto fail;
        }
        if (!(c->cfg.user = strdup(pw->pw_name)))
            goto oom;
    }
    c->known_hosts_given = c->cfg.known_hosts != NULL;
    char *kh = cp__ssh_expand_home(c->cfg.known_hosts ? c->cfg.known_hosts : "~/.ssh/known_hosts");
    if (!kh)
        goto oom;
    free(c->cfg.known_hosts);
    c->cfg.known_hosts = kh;
    if (c->cfg.identity && !(c->identity = cp__ssh_expand_home(c->cfg.identity)))
        goto oom;
    if (c->cfg.connect_timeout <= 0)
        c->cfg.connect_timeout = 30;
    snprintf(c->desc, sizeof c->desc, "%s@%s:%d", c->cfg.user, c->cfg.host, c->cfg.port);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->mu, NULL);
    int rc = pthread_create(&c->wd_thread, NULL, wd_main, c);
    if (rc != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        cp__errf(err, rc, "ssh to %s: cannot start its watchdog thread: %s", c->desc,
                 strerror(rc));
        goto fail;
    }
    c->wd_started = true;
    return 0;
oom:
    cp__errf(err, ENOMEM, "out of memory");
fail:
    free(c->identity);
    c->identity = NULL;
    cp__channel_config_fini(&c->cfg);
    return -1;
}

void cp__ssh_conn_fini(struct cp__ssh_conn *c)
{
    cp__ssh_conn_drop(c);
    if (c->wd_started) {
        pthread_mutex_lock(&c->mu);
        c->stop = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->wd_thread, NULL);
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        c->wd_started = false;
    }
    free(c->identity);
    c->identity = NULL;
    cp__channel_config_fini(&c->cfg);
}

bool cp__ssh_conn_broken(struct cp__ssh_conn *c)
{
    if (!c->s)
        return true;
    if (cp__ssh_wd_fired(c) || !ssh_is_connected(c->s))
        return true;
    return (ssh_get_status(c->s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0;
}

void cp__ssh_conn_drop(struct cp__ssh_conn *c)
{
    if (!c->s)
        return;
    bool broken = cp__ssh_conn_broken(c);
    /* libssh closes the socket in ssh_disconnect/ssh_free; the watchdog must
     * not touch that number afterwards. A broken session gets no goodbye: the
     * write could wait on a peer that no longer reads. */
    pthread_mutex_lock(&c->mu);
    if (broken && c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
    c->fd = -1;
    c->deadline = 0;
    pthread_mutex_unlock(&c->mu);
    if (!broken)
        ssh_disconnect(c->s);
    ssh_free(c->s);
    c->s = NULL;
}

/* ------------------------------------------------------------------ TCP */

static int tcp_connect(struct cp__ssh_conn *c, int *out, cp_err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", c->cfg.port);
    int rc = getaddrinfo(c->cfg.host, port, &hints, &res);
    if (rc != 0)
        return cp__errf(err, EHOSTUNREACH, "ssh to %s: cannot resolve host '%s': %s", c->desc,
                        c->cfg.host, gai_strerror(rc));
    double deadline = cp__mono() + c->cfg.connect_timeout;
    int fd = -1, last = ETIMEDOUT;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
            last = errno;
            close(fd);
            fd = -1;
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int left = (int)((deadline - cp__mono()) * 1000);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (left <= 0 || poll(&p, 1, left) <= 0)
            soerr = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr) {
            last = soerr;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return last == ETIMEDOUT
                   ? cp__errf(err, ETIMEDOUT, "ssh to %s: no connection within %g s "
                                              "(connect_timeout)", c->desc, c->cfg.connect_timeout)
                   : cp__errf(err, last, "ssh to %s: cannot connect: %s", c->desc, strerror(last));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    *out = fd;
    return 0;
}

/* ------------------------------------------------------------------ host key */

static const char *keyscan_type(enum ssh_keytypes_e t)
{
    switch (t) {
    case SSH_KEYTYPE_ED25519:
        return "ed25519";
    case SSH_KEYTYPE_RSA:
        return "rsa";
    case SSH_KEYTYPE_ECDSA_P256:
    case SSH_KEYTYPE_ECDSA_P384:
    case SSH_KEYTYPE_ECDSA_P521:
        return "ecdsa";
    default:
        return NULL;
    }
}

/* known_hosts writes a non-22 port as [host]:port (so must ssh-keygen -R). */
static void host_pattern(const struct cp__ssh_conn *c, char *buf, size_t n)
{
    if (c->cfg.port == 22)
        snprintf(buf, n, "%s", c->cfg.host);
    else
        snprintf(buf, n, "[%s]:%d", c->cfg.host, c->cfg.port);
}

static void keyscan_cmd(const struct cp__ssh_conn *c, const char *type, char *buf, size_t n)
{
    char port[24] = "";
    if (c->cfg.port != 22)
        snprintf(port, sizeof port, "-p %d ", c->cfg.port);
    char tflag[24] = "";
    if (type)
        snprintf(tflag, sizeof tflag, "-t %s ", type);
    snprintf(buf, n, "ssh-keyscan %s%s%s >> %s", port, tflag, c->cfg.host, c->cfg.known_hosts);
}

static int check_host_key(struct cp__ssh_conn *c, cp_err *err)
{
    ssh_key key = NULL;
    unsigned char *hash = NULL;
    size_t hlen = 0;
    char *fp = NULL;
    int rc = -1;
    if (ssh_get_server_publickey(c->s, &key) != SSH_OK ||
        ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != 0 ||
        !(fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen))) {
        cp__errf(err, EPROTO, "ssh to %s: cannot read the server's host key: %s", c->desc,
                 ssh_get_error(c->s));
        goto done;
    }
    enum ssh_keytypes_e kt = ssh_key_type(key);
    const char *tname = ssh_key_type_to_char(kt);
    char pat[300], scan[700];
    host_pattern(c, pat, sizeof pat);
    keyscan_cmd(c, keyscan_type(kt), scan, sizeof scan);
    switch (ssh_session_is_known_server(c->s)) {
    case SSH_KNOWN_HOSTS_OK:
        rc = 0;
        break;
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
        if (!c->cfg.accept_new_host_key) {
            cp__errf(err, EACCES,
                     "ssh to %s: host %s is not in %s; it offers %s key %s. If that is the "
                     "host's key, add it: %s (or set accept_new_host_key: true to trust it "
                     "on first use)", c->desc, pat, c->cfg.known_hosts, tname, fp, scan);
            break;
        }
        if (ssh_session_update_known_hosts(c->s) != SSH_OK) {
            cp__errf(err, EIO, "ssh to %s: cannot add the host key to %s: %s", c->desc,
                     c->cfg.known_hosts, ssh_get_error(c->s));
            break;
        }
        CP_INFO("ssh", "%s: trusted on first use (accept_new_host_key): added %s %s key %s "
                       "to %s", c->desc, pat, tname, fp, c->cfg.known_hosts);
        rc = 0;
        break;
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
        cp__errf(err, EACCES,
                 "ssh to %s: HOST KEY CHANGED: %s now offers %s key %s, not the key %s "
                 "holds for it (an attack, or a reinstalled host); refused, also with "
                 "accept_new_host_key. If the new key is right: ssh-keygen -R '%s' -f %s; "
                 "then %s", c->desc, pat, tname, fp, c->cfg.known_hosts, pat,
                 c->cfg.known_hosts, scan);
        CP_ERROR("ssh", "%s: host key changed: %s offers %s key %s; refused", c->desc, pat,
                 tname, fp);
        break;
    case SSH_KNOWN_HOSTS_ERROR:
    default:
        cp__errf(err, EIO, "ssh to %s: cannot check the host key against %s: %s", c->desc,
                 c->cfg.known_hosts, ssh_get_error(c->s));
        break;
    }
done:
    ssh_string_free_char(fp);
    ssh_clean_pubkey_hash(&hash);
    ssh_key_free(key);
    return rc;
}

/* ------------------------------------------------------------------ authentication */

/* libssh asks this for passphrases: we never prompt, so an encrypted key fails
 * to load (and the error says to use an agent). */
static int no_passphrase(const char *prompt, char *buf, size_t len, int echo, int verify,
                         void *userdata)
{
    (void)prompt, (void)buf, (void)len, (void)echo, (void)verify, (void)userdata;
    return -1;
}

static void add_tried(char *tried, size_t n, const char *fmt, const char *a, const char *b)
{
    size_t used = strlen(tried);
    if (used + 3 >= n)
        return;
    if (used)
        used += (size_t)snprintf(tried + used, n - used, "; ");
    snprintf(tried + used, n - used, fmt, a, b);
}

/* Tries one key file: 1 accepted, 0 not (tried says why), -1 connection error. */
static int try_key_file(struct cp__ssh_conn *c, const char *path, const char *label,
                        char *tried, size_t n)
{
    if (access(path, R_OK) != 0) {
        add_tried(tried, n, "key %s (%s)", label, strerror(errno));
        return 0;
    }
    ssh_key key = NULL;
    if (ssh_pki_import_privkey_file(path, NULL, no_passphrase, NULL, &key) != SSH_OK) {
        add_tried(tried, n, "key %s (%s)", label, "unreadable, or it has a passphrase: load it "
                                                  "with ssh-add and use the agent");
        return 0;
    }
    int rc = ssh_userauth_publickey(c->s, NULL, key);
    ssh_key_free(key);
    if (rc == SSH_AUTH_SUCCESS)
        return 1;
    if (rc == SSH_AUTH_ERROR)
        return -1;
    add_tried(tried, n, "key %s (%s)", label,
              rc == SSH_AUTH_PARTIAL ? "accepted, but the server wants a second method"
                                     : "refused");
    return 0;
}

static int authenticate(struct cp__ssh_conn *c, cp_err *err)
{
    char tried[400] = "";
    int rc = 0;
    if (c->identity) {
        rc = try_key_file(c, c->identity, c->identity, tried, sizeof tried);
    } else {
        const char *sock = getenv("SSH_AUTH_SOCK");
        if (sock && *sock) {
            int a = ssh_userauth_agent(c->s, NULL);
            if (a == SSH_AUTH_SUCCESS)
                rc = 1;
            else if (a == SSH_AUTH_ERROR && !ssh_is_connected(c->s))
                rc = -1;
            else
                add_tried(tried, sizeof tried, "agent at %s%s", sock,
                          " (no key it holds was accepted)");
        } else {
            add_tried(tried, sizeof tried, "%s%s", "agent", " (SSH_AUTH_SOCK is not set)");
        }
        static const char *const names[] = {"id_ed25519", "id_ecdsa", "id_rsa", NULL};
        bool any = false;
        for (int i = 0; rc == 0 && names[i]; i++) {
            char *p = cp__strdup_printf("%s/.ssh/%s", home_dir(), names[i]);
            if (!p)
                return cp__errf(err, ENOMEM, "out of memory");
            if (access(p, F_OK) == 0) {
                any = true;
                char label[64];
                snprintf(label, sizeof label, "~/.ssh/%s", names[i]);
                rc = try_key_file(c, p, label, tried, sizeof tried);
            }
            free(p);
        }
        if (rc == 0 && !any)
            add_tried(tried, sizeof tried, "%s%s", "~/.ssh/id_ed25519, id_ecdsa, id_rsa",
                      " (none exists)");
    }
    if (rc > 0)
        return 0;
    if (rc < 0)
        return cp__errf(err, ECONNRESET, "ssh to %s: the connection failed during "
                                         "authentication: %s", c->desc, ssh_get_error(c->s));
    int m = ssh_userauth_list(c->s, NULL);
    if (!m && ssh_userauth_none(c->s, NULL) != SSH_AUTH_ERROR)
        m = ssh_userauth_list(c->s, NULL);      /* nothing was tried: ask */
    char methods[80] = "";
    snprintf(methods, sizeof methods, "%s%s%s%s", m & SSH_AUTH_METHOD_PUBLICKEY ? " publickey" : "",
             m & SSH_AUTH_METHOD_PASSWORD ? " password" : "",
             m & SSH_AUTH_METHOD_INTERACTIVE ? " keyboard-interactive" : "",
             m & SSH_AUTH_METHOD_GSSAPI_MIC ? " gssapi" : "");
    return cp__errf(err, EACCES, "ssh to %s: authentication failed; tried: %s. The server "
                                 "offers:%s (cparsl uses keys only: set identity, or add the "
                                 "key to an agent)", c->desc, tried, *methods ? methods : " none");
}

/* ------------------------------------------------------------------ connect */

int cp__ssh_conn_connect(struct cp__ssh_conn *c, cp_err *err)
{
    cp__ssh_conn_drop(c);
    int fd = -1;
    if (tcp_connect(c, &fd, err) < 0)
        return -1;
    ssh_session s = ssh_new();
    if (!s) {
        close(fd);
        return cp__errf(err, ENOMEM, "out of memory");
    }
    /* Only this mapping decides: no ~/.ssh/config, no /etc/ssh/ssh_config. The
     * system-wide known_hosts counts only when known_hosts was not given. */
    int no = 0;
    long tmo = (long)c->cfg.connect_timeout + 1;
    const char *global = c->known_hosts_given ? "/dev/null" : "/etc/ssh/ssh_known_hosts";
    if (ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_HOST, c->cfg.host) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_PORT, &c->cfg.port) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_USER, c->cfg.user) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, c->cfg.known_hosts) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, global) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &tmo) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_FD, &fd) < 0) {
        cp__errf(err, EINVAL, "ssh to %s: %s", c->desc, ssh_get_error(s));
        ssh_free(s);
        close(fd);
        return -1;
    }
    c->s = s;
    wd_set_fd(c, fd);
    cp__ssh_wd_arm(c, c->cfg.connect_timeout);
    int rc = -1;
    if (ssh_connect(s) != SSH_OK) {
        cp__errf(err, ECONNREFUSED, "ssh to %s: the SSH handshake failed: %s", c->desc,
                 ssh_get_error(s));
        goto done;
    }
    if (check_host_key(c, err) < 0 || authenticate(c, err) < 0)
        goto done;
    rc = 0;
done:
    if (cp__ssh_wd_disarm(c)) {
        cp__errf(err, ETIMEDOUT, "ssh to %s: connecting and authenticating took more than "
                                 "%g s (connect_timeout)", c->desc, c->cfg.connect_timeout);
        rc = -1;
    }
    if (rc < 0)
        cp__ssh_conn_drop(c);
    else
        CP_INFO("ssh", "%s: connected", c->desc);
    return rc;
}
