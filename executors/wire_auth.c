/* executors/wire_auth.c — the per-run secret, the handshake's proofs and keys,
 * and the connection object that drives the handshake and seals frames (see
 * wire.h, docs/wire.md "Handshake", "Keys and proofs", "Sealed frames").
 *
 * Locking. A connection has an rx lock (the reader, the receive key and counter)
 * and a tx lock (the send key and counter). The handshake state, the nonces, the
 * transcript and the failure are written only with both held (rx first, then tx)
 * and read with either. Data frames touch one half only, so a reader thread and a
 * writer thread never wait on each other's work, only on handshake steps.
 */
#include "executors/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

/* Domain-separation labels and the KDF context (docs/wire.md "Keys and proofs"). */
static const char KDF_CTX[crypto_kdf_CONTEXTBYTES + 1] = "cpwire01";
#define KDF_AUTH 1
#define KDF_ENC 2
static const char LABEL_PROOF_POOL[] = "cparsl-wire/1 proof pool";
static const char LABEL_PROOF_IC[] = "cparsl-wire/1 proof interchange";
static const char LABEL_WELCOME[] = "cparsl-wire/1 welcome";
static const char LABEL_KEY_TO_IC[] = "cparsl-wire/1 key pool->interchange";
static const char LABEL_KEY_TO_POOL[] = "cparsl-wire/1 key interchange->pool";

#define KEY_LEN 32

enum state {
    ST_C_START, ST_C_WAIT_SHELLO, ST_C_SEND_REGISTER, ST_C_WAIT_WELCOME,
    ST_S_WAIT_HELLO, ST_S_SEND_SHELLO, ST_S_WAIT_REGISTER, ST_S_SEND_WELCOME,
    ST_READY, ST_FAILED, ST_CLOSED,
};

static const char *const state_texts[] = {
    [ST_C_START] = "before this pool sent CLIENT_HELLO",
    [ST_C_WAIT_SHELLO] = "before authentication (expecting SERVER_HELLO)",
    [ST_C_SEND_REGISTER] = "before this pool sent REGISTER",
    [ST_C_WAIT_WELCOME] = "before the handshake completed (expecting WELCOME)",
    [ST_S_WAIT_HELLO] = "before authentication (expecting CLIENT_HELLO)",
    [ST_S_SEND_SHELLO] = "before authentication (the interchange owes SERVER_HELLO)",
    [ST_S_WAIT_REGISTER] = "before authentication (expecting REGISTER)",
    [ST_S_SEND_WELCOME] = "before the handshake completed (the interchange owes WELCOME)",
    [ST_READY] = "after the handshake",
    [ST_FAILED] = "on a failed connection",
    [ST_CLOSED] = "on a closed connection",
};

struct cp__wire_conn {
    pthread_mutex_t rx_mu, tx_mu;
    enum cp__wire_role role;
    bool encrypt;               /* pool: wants sealing; interchange: requires it */
    /* Both locks to write, either to read. */
    enum state state;
    bool agreed;                /* interchange: sealing was agreed (sent WELCOME sealed) */
    unsigned char k_auth[KEY_LEN], k_enc[KEY_LEN];
    unsigned char cn[CP_WIRE_NONCE_LEN], sn[CP_WIRE_NONCE_LEN];
    /* The transcript: a BLAKE2b-256 of each handshake body so far. Hashing as the
     * bodies pass keeps a connection small (10,000 pools are 10,000 of these). */
    unsigned char ts[3][32];
    unsigned ts_n;
    int why, peer_version;      /* the failure, 0 while none */
    char fail_text[CP_ERR_TEXT_MAX];
    /* rx half. */
    struct cp__wire_reader rd;
    bool rx_sealed;
    uint64_t rx_ctr;
    unsigned char k_rx[KEY_LEN];
    /* tx half. */
    bool tx_sealed;
    uint64_t tx_ctr;
    unsigned char k_tx[KEY_LEN];
};

/* ------------------------------------------------------------------ keys */

static int sodium_ready(cp_err *err)
{
    if (sodium_init() < 0)
        return cp__errf(err, EIO, "libsodium failed to initialise");
    return 0;
}

static void derive_base(const unsigned char secret[CP_WIRE_SECRET_LEN],
                        unsigned char k_auth[KEY_LEN], unsigned char k_enc[KEY_LEN])
{
    crypto_kdf_derive_from_key(k_auth, KEY_LEN, KDF_AUTH, KDF_CTX, secret);
    crypto_kdf_derive_from_key(k_enc, KEY_LEN, KDF_ENC, KDF_CTX, secret);
}

/* label || cn || sn, the message of a proof and of a session key. */
static size_t bind_nonces(unsigned char *buf, const char *label, const unsigned char *cn,
                          const unsigned char *sn)
{
    size_t n = strlen(label);
    memcpy(buf, label, n);
    memcpy(buf + n, cn, CP_WIRE_NONCE_LEN);
    memcpy(buf + n + CP_WIRE_NONCE_LEN, sn, CP_WIRE_NONCE_LEN);
    return n + 2 * CP_WIRE_NONCE_LEN;
}

static const char *proof_label(enum cp__wire_role prover)
{
    return prover == CP_WIRE_POOL ? LABEL_PROOF_POOL : LABEL_PROOF_IC;
}

static void make_proof(const unsigned char k_auth[KEY_LEN], enum cp__wire_role prover,
                       const unsigned char *cn, const unsigned char *sn, unsigned char *out)
{
    unsigned char msg[64 + 2 * CP_WIRE_NONCE_LEN];
    size_t n = bind_nonces(msg, proof_label(prover), cn, sn);
    crypto_auth(out, msg, n, k_auth);
}

static bool proof_ok(const unsigned char k_auth[KEY_LEN], enum cp__wire_role prover,
                     const unsigned char *cn, const unsigned char *sn, const unsigned char *tag)
{
    unsigned char msg[64 + 2 * CP_WIRE_NONCE_LEN];
    size_t n = bind_nonces(msg, proof_label(prover), cn, sn);
    return crypto_auth_verify(tag, msg, n, k_auth) == 0;     /* constant time */
}

static void make_keys(const unsigned char k_enc[KEY_LEN], const unsigned char *cn,
                      const unsigned char *sn, unsigned char to_ic[KEY_LEN],
                      unsigned char to_pool[KEY_LEN])
{
    unsigned char msg[64 + 2 * CP_WIRE_NONCE_LEN];
    size_t n = bind_nonces(msg, LABEL_KEY_TO_IC, cn, sn);
    crypto_generichash(to_ic, KEY_LEN, msg, n, k_enc, KEY_LEN);
    n = bind_nonces(msg, LABEL_KEY_TO_POOL, cn, sn);
    crypto_generichash(to_pool, KEY_LEN, msg, n, k_enc, KEY_LEN);
}

int cp__wire_proof(const unsigned char secret[CP_WIRE_SECRET_LEN], enum cp__wire_role prover,
                   const unsigned char client_nonce[CP_WIRE_NONCE_LEN],
                   const unsigned char server_nonce[CP_WIRE_NONCE_LEN],
                   unsigned char out[CP_WIRE_PROOF_LEN])
{
    unsigned char k_auth[KEY_LEN], k_enc[KEY_LEN];
    if (sodium_ready(NULL) < 0)
        return -1;
    derive_base(secret, k_auth, k_enc);
    make_proof(k_auth, prover, client_nonce, server_nonce, out);
    sodium_memzero(k_auth, sizeof k_auth);
    sodium_memzero(k_enc, sizeof k_enc);
    return 0;
}

int cp__wire_session_keys(const unsigned char secret[CP_WIRE_SECRET_LEN],
                          const unsigned char client_nonce[CP_WIRE_NONCE_LEN],
                          const unsigned char server_nonce[CP_WIRE_NONCE_LEN],
                          unsigned char to_interchange[32], unsigned char to_pool[32])
{
    unsigned char k_auth[KEY_LEN], k_enc[KEY_LEN];
    if (sodium_ready(NULL) < 0)
        return -1;
    derive_base(secret, k_auth, k_enc);
    make_keys(k_enc, client_nonce, server_nonce, to_interchange, to_pool);
    sodium_memzero(k_auth, sizeof k_auth);
    sodium_memzero(k_enc, sizeof k_enc);
    return 0;
}

/* The WELCOME's confirm tag: label || T under k_auth, where T is the BLAKE2b-256
 * of the three body hashes. */
static void make_confirm(const struct cp__wire_conn *c, unsigned char out[CP_WIRE_PROOF_LEN])
{
    unsigned char msg[sizeof LABEL_WELCOME - 1 + 32];
    memcpy(msg, LABEL_WELCOME, sizeof LABEL_WELCOME - 1);
    crypto_generichash(msg + sizeof LABEL_WELCOME - 1, 32, &c->ts[0][0], 32u * c->ts_n, NULL, 0);
    crypto_auth(out, msg, sizeof msg, c->k_auth);
}

static void transcript_add(struct cp__wire_conn *c, const unsigned char *body, size_t len)
{
    if (c->ts_n < 3)            /* the state machine adds exactly three */
        crypto_generichash(c->ts[c->ts_n++], 32, body, len, NULL, 0);
}

/* The secretbox nonce of the frame number ctr: it binds the header's version,
 * type and flags too, so a frame whose header was changed does not open. */
static void seal_nonce(unsigned char n[crypto_secretbox_NONCEBYTES], uint64_t ctr,
                       uint8_t version, uint8_t type, uint16_t flags)
{
    memset(n, 0, crypto_secretbox_NONCEBYTES);
    for (int i = 0; i < 8; i++)
        n[i] = (unsigned char)(ctr >> (56 - 8 * i));
    n[8] = version;
    n[9] = type;
    n[10] = (unsigned char)(flags >> 8);
    n[11] = (unsigned char)flags;
}

/* ------------------------------------------------------------------ secrets */

int cp__wire_secret_new(unsigned char secret[CP_WIRE_SECRET_LEN], cp_err *err)
{
    if (sodium_ready(err) < 0)
        return -1;
    randombytes_buf(secret, CP_WIRE_SECRET_LEN);
    return 0;
}

void cp__wire_secret_hex(const unsigned char secret[CP_WIRE_SECRET_LEN], char hex[65])
{
    sodium_bin2hex(hex, 65, secret, CP_WIRE_SECRET_LEN);
}

int cp__wire_secret_parse(const char *hex, unsigned char secret[CP_WIRE_SECRET_LEN],
                          cp_err *err)
{
    size_t n = strspn(hex, "0123456789abcdefABCDEF"), got = 0;
    if (n != 2 * CP_WIRE_SECRET_LEN)
        return cp__errf(err, EINVAL, "a wire secret is %d hex digits; this one has %zu%s",
                        2 * CP_WIRE_SECRET_LEN, n, hex[n] && n < 64 ? " before a non-hex byte" : "");
    if (hex[n + strspn(hex + n, " \t\r\n")])
        return cp__errf(err, EINVAL, "a wire secret has something after its %d hex digits",
                        2 * CP_WIRE_SECRET_LEN);
    if (sodium_hex2bin(secret, CP_WIRE_SECRET_LEN, hex, n, NULL, &got, NULL) != 0 ||
        got != CP_WIRE_SECRET_LEN)
        return cp__errf(err, EINVAL, "a wire secret did not parse as hex");
    return 0;
}

int cp__wire_secret_write(const char *path, const unsigned char secret[CP_WIRE_SECRET_LEN],
                          cp_err *err)
{
    char text[2 * CP_WIRE_SECRET_LEN + 2];
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return cp__errf(err, errno, "cannot create secret file %s: %s", path, strerror(errno));
    cp__wire_secret_hex(secret, text);
    text[2 * CP_WIRE_SECRET_LEN] = '\n';
    size_t off = 0, len = sizeof text - 1;
    int rc = fchmod(fd, 0600);
    while (rc == 0 && off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = -1;
        else
            off += (size_t)w;
    }
    if (close(fd) != 0)
        rc = -1;
    sodium_memzero(text, sizeof text);
    if (rc != 0) {
        int e = errno ? errno : EIO;
        unlink(path);
        return cp__errf(err, e, "cannot write secret file %s: %s", path, strerror(e));
    }
    return 0;
}

int cp__wire_secret_read(const char *path, unsigned char secret[CP_WIRE_SECRET_LEN],
                         cp_err *err)
{
    char text[160];
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return cp__errf(err, errno, "cannot open secret file %s: %s", path, strerror(errno));
    int rc = -1;
    if (fstat(fd, &st) != 0)
        cp__errf(err, errno, "cannot stat secret file %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        cp__errf(err, EINVAL, "secret file %s is not a regular file", path);
    else if (st.st_uid != geteuid())
        cp__errf(err, EACCES, "secret file %s belongs to uid %u, not to this user (uid %u)",
                 path, (unsigned)st.st_uid, (unsigned)geteuid());
    else if (st.st_mode & 077)
        cp__errf(err, EACCES, "secret file %s may be read by others (mode %04o); it must be "
                 "0600", path, (unsigned)(st.st_mode & 07777));
    else {
        ssize_t n = read(fd, text, sizeof text - 1);
        if (n < 0)
            cp__errf(err, errno, "cannot read secret file %s: %s", path, strerror(errno));
        else {
            text[n] = '\0';
            rc = cp__wire_secret_parse(text, secret, err);
            if (rc < 0)
                cp__err_prefix(err, "secret file %s", path);
        }
    }
    close(fd);
    sodium_memzero(text, sizeof text);
    return rc;
}

/* ------------------------------------------------------------------ state */

static void lock_both(struct cp__wire_conn *c)
{
    pthread_mutex_lock(&c->rx_mu);
    pthread_mutex_lock(&c->tx_mu);
}

static void unlock_both(struct cp__wire_conn *c)
{
    pthread_mutex_unlock(&c->tx_mu);
    pthread_mutex_unlock(&c->rx_mu);
}

#define BIT(t) (1u << (t))

/* Sets the reader's policy for the current state (both locks held). */
static void apply_policy(struct cp__wire_conn *c)
{
    static const uint32_t allow[] = {
        [ST_C_START] = 0,
        [ST_C_WAIT_SHELLO] = BIT(CP_WIRE_SERVER_HELLO),
        [ST_C_SEND_REGISTER] = 0,
        [ST_C_WAIT_WELCOME] = BIT(CP_WIRE_WELCOME),
        [ST_S_WAIT_HELLO] = BIT(CP_WIRE_CLIENT_HELLO),
        [ST_S_SEND_SHELLO] = 0,
        [ST_S_WAIT_REGISTER] = BIT(CP_WIRE_REGISTER),
        [ST_S_SEND_WELCOME] = 0,
        /* The reader's direction check sorts out which of these the peer may send. */
        [ST_READY] = BIT(CP_WIRE_TASKS) | BIT(CP_WIRE_RESULTS) | BIT(CP_WIRE_HEARTBEAT) |
                     BIT(CP_WIRE_DRAIN) | BIT(CP_WIRE_SHUTDOWN) | BIT(CP_WIRE_HOLD) |
                     BIT(CP_WIRE_INTERRUPT) | BIT(CP_WIRE_RESOURCES),
    };
    struct cp__wire_reader *r = &c->rd;
    bool dead = c->state == ST_FAILED || c->state == ST_CLOSED;
    r->allow = dead ? 0 : allow[c->state] | BIT(CP_WIRE_REFUSE);
    r->seal = c->rx_sealed ? CP_WIRE_SEAL_YES
              : c->state == ST_C_WAIT_WELCOME ? CP_WIRE_SEAL_EITHER : CP_WIRE_SEAL_NO;
    r->peer = c->role == CP_WIRE_POOL ? CP_WIRE_INTERCHANGE : CP_WIRE_POOL;
    r->state_text = state_texts[c->state];
}

static void set_state(struct cp__wire_conn *c, enum state st)
{
    c->state = st;
    apply_policy(c);
}

/* Records the connection's failure (both locks held); err already says why. */
static int fail(struct cp__wire_conn *c, int why, cp_err *err)
{
    c->why = why;
    snprintf(c->fail_text, sizeof c->fail_text, "%s", err ? err->text : "");
    set_state(c, ST_FAILED);
    return -1;
}

/* As fail, with the text made here. */
static int failf(struct cp__wire_conn *c, int why, int code, cp_err *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int failf(struct cp__wire_conn *c, int why, int code, cp_err *err, const char *fmt, ...)
{
    cp_err local;
    va_list ap;
    va_start(ap, fmt);
    cp__verrf(&local, code, fmt, ap);
    va_end(ap);
    if (err)
        *err = local;
    fail(c, why, &local);
    errno = code;
    return -1;
}

static const char *role_name(enum cp__wire_role r)
{
    return r == CP_WIRE_POOL ? "pool" : "interchange";
}

struct cp__wire_conn *cp__wire_conn_create(enum cp__wire_role role,
                                           const unsigned char secret[CP_WIRE_SECRET_LEN],
                                           bool encrypt, cp_err *err)
{
    if (role != CP_WIRE_POOL && role != CP_WIRE_INTERCHANGE) {
        cp__errf(err, EINVAL, "a wire connection is a pool's or an interchange's");
        return NULL;
    }
    if (sodium_ready(err) < 0)
        return NULL;
    struct cp__wire_conn *c = calloc(1, sizeof *c);
    if (!c) {
        cp__errf(err, ENOMEM, "out of memory for a wire connection");
        return NULL;
    }
    pthread_mutex_init(&c->rx_mu, NULL);
    pthread_mutex_init(&c->tx_mu, NULL);
    c->role = role;
    c->encrypt = encrypt;
    derive_base(secret, c->k_auth, c->k_enc);
    cp__wire_reader_init(&c->rd, 0, CP_WIRE_SEAL_NO);
    set_state(c, role == CP_WIRE_POOL ? ST_C_START : ST_S_WAIT_HELLO);
    return c;
}

void cp__wire_conn_destroy(struct cp__wire_conn *c)
{
    if (!c)
        return;
    cp__wire_reader_clear(&c->rd);
    pthread_mutex_destroy(&c->rx_mu);
    pthread_mutex_destroy(&c->tx_mu);
    sodium_memzero(c, sizeof *c);
    free(c);
}

int cp__wire_conn_failure(struct cp__wire_conn *c)
{
    pthread_mutex_lock(&c->tx_mu);
    int why = c->why;
    pthread_mutex_unlock(&c->tx_mu);
    return why;
}

bool cp__wire_conn_ready(struct cp__wire_conn *c)
{
    pthread_mutex_lock(&c->tx_mu);
    bool ready = c->state == ST_READY;
    pthread_mutex_unlock(&c->tx_mu);
    return ready;
}

bool cp__wire_conn_sealed(struct cp__wire_conn *c)
{
    pthread_mutex_lock(&c->tx_mu);
    bool sealed = c->tx_sealed;
    pthread_mutex_unlock(&c->tx_mu);
    return sealed;
}

/* ------------------------------------------------------------------ receiving */

/* Checks a handshake message or REFUSE against the state and moves the state on
 * (both locks held). f is the frame as received (body still there, plaintext). */
static int on_handshake(struct cp__wire_conn *c, const struct cp__wire_frame *f,
                        const struct cp__wire_msg *m, cp_err *err)
{
    switch (m->type) {
    case CP_WIRE_REFUSE:
        snprintf(c->fail_text, sizeof c->fail_text, "the %s refused the connection: %s",
                 role_name(c->rd.peer), m->u.refuse.reason);
        set_state(c, ST_CLOSED);
        return 0;
    case CP_WIRE_CLIENT_HELLO:
        if (m->u.client_hello.version != CP_WIRE_VERSION) {
            c->peer_version = (int)m->u.client_hello.version;
            return failf(c, CP_WIRE_WHY_VERSION, EPROTONOSUPPORT, err,
                         "peer speaks wire protocol %d, this side %d", c->peer_version,
                         CP_WIRE_VERSION);
        }
        memcpy(c->cn, m->u.client_hello.nonce, CP_WIRE_NONCE_LEN);
        transcript_add(c, f->body, f->len);
        set_state(c, ST_S_SEND_SHELLO);
        return 0;
    case CP_WIRE_SERVER_HELLO:
        memcpy(c->sn, m->u.server_hello.nonce, CP_WIRE_NONCE_LEN);
        if (!proof_ok(c->k_auth, CP_WIRE_INTERCHANGE, c->cn, c->sn, m->u.server_hello.proof))
            return failf(c, CP_WIRE_WHY_AUTH, EACCES, err,
                         "the interchange failed authentication: its proof does not match "
                         "this pool's secret (a secret from another run?)");
        make_keys(c->k_enc, c->cn, c->sn, c->k_tx, c->k_rx);
        transcript_add(c, f->body, f->len);
        set_state(c, ST_C_SEND_REGISTER);
        return 0;
    case CP_WIRE_REGISTER:
        if (!proof_ok(c->k_auth, CP_WIRE_POOL, c->cn, c->sn, m->u.reg.proof))
            return failf(c, CP_WIRE_WHY_AUTH, EACCES, err,
                         "pool failed authentication: its proof does not match this "
                         "interchange's secret (a pool of another run, or a wrong secret?)");
        c->agreed = c->encrypt || m->u.reg.wants_encryption;
        transcript_add(c, f->body, f->len);
        set_state(c, ST_S_SEND_WELCOME);
        return 0;
    case CP_WIRE_WELCOME: {
        bool sealed = f->flags & CP_WIRE_FLAG_SEALED;
        unsigned char want[CP_WIRE_PROOF_LEN];
        if (c->encrypt && !sealed)
            return failf(c, CP_WIRE_WHY_POLICY, EPROTO, err,
                         "the interchange did not seal WELCOME, but this pool asked for "
                         "encryption");
        make_confirm(c, want);
        if (sodium_memcmp(want, m->u.welcome.confirm, sizeof want) != 0)
            return failf(c, CP_WIRE_WHY_AUTH, EACCES, err,
                         "WELCOME does not confirm this handshake: the exchange was "
                         "altered in transit");
        c->rx_sealed = c->tx_sealed = sealed;
        set_state(c, ST_READY);
        return 0;
    }
    default:
        return 0;
    }
}

/* Opens a sealed frame in place (rx lock held). */
static int open_frame(struct cp__wire_conn *c, struct cp__wire_frame *f, cp_err *err)
{
    unsigned char n[crypto_secretbox_NONCEBYTES];
    seal_nonce(n, c->rx_ctr, f->version, f->type, f->flags);
    if (c->rx_ctr == UINT64_MAX ||
        crypto_secretbox_open_easy(f->body, f->body, f->len, n, c->k_rx) != 0)
        return cp__errf(err, EBADMSG, "sealed %s frame #%llu failed authentication (tampered "
                        "with, replayed, reordered, or sealed with another key)",
                        cp__wire_type_name(f->type), (unsigned long long)c->rx_ctr);
    c->rx_ctr++;
    f->len -= CP_WIRE_SEAL_OVERHEAD;
    return 0;
}

/* Reports a receive-side failure: takes the tx lock to record it. */
static int rx_fail(struct cp__wire_conn *c, int why, cp_err *err, cp_err *local)
{
    pthread_mutex_lock(&c->tx_mu);
    if (why == CP_WIRE_WHY_VERSION)
        c->peer_version = c->rd.peer_version;
    fail(c, why, local);
    pthread_mutex_unlock(&c->tx_mu);
    if (err)
        *err = *local;
    errno = local->code ? local->code : EPROTO;
    return -1;
}

static int dead_error(struct cp__wire_conn *c, cp_err *err)
{
    if (c->state == ST_CLOSED && c->fail_text[0])
        return cp__errf(err, ECONNRESET, "%s", c->fail_text);
    if (c->state == ST_CLOSED)
        return cp__errf(err, ECONNRESET, "the connection is closed");
    return cp__errf(err, EPROTO, "the connection already failed: %s", c->fail_text);
}

int cp__wire_conn_recv(struct cp__wire_conn *c, const void *data, size_t len, size_t *used,
                       struct cp__wire_msg *msg, cp_err *err)
{
    struct cp__wire_msg scratch, *m = msg ? msg : &scratch;
    struct cp__wire_frame f = {0};
    cp_err local = {0};
    *m = (struct cp__wire_msg){0};
    *used = 0;
    pthread_mutex_lock(&c->rx_mu);
    int rc;
    if (c->state == ST_FAILED || c->state == ST_CLOSED) {
        rc = dead_error(c, err);
        goto out;
    }
    rc = cp__wire_reader_feed(&c->rd, data, len, used, &f, &local);
    if (rc < 0) {
        rc = rx_fail(c, c->rd.why, err, &local);
        goto out;
    }
    if (rc == 0)
        goto out;
    if ((f.flags & CP_WIRE_FLAG_SEALED) && open_frame(c, &f, &local) < 0) {
        rc = rx_fail(c, CP_WIRE_WHY_SEAL, err, &local);
        goto out;
    }
    if (cp__wire_msg_decode(f.type, f.body, f.len, m, &local) < 0) {
        rc = rx_fail(c, CP_WIRE_WHY_PROTOCOL, err, &local);
        goto out;
    }
    rc = 1;
    if (cp__wire_type_info(f.type)->preauth) {
        pthread_mutex_lock(&c->tx_mu);
        if (on_handshake(c, &f, m, err) < 0) {
            cp__wire_msg_clear(m);
            rc = -1;
        }
        pthread_mutex_unlock(&c->tx_mu);
    }
out:
    cp__wire_frame_clear(&f);
    if (m == &scratch)
        cp__wire_msg_clear(m);
    pthread_mutex_unlock(&c->rx_mu);
    return rc;
}

int cp__wire_conn_eof(struct cp__wire_conn *c, cp_err *err)
{
    cp_err local = {0};
    lock_both(c);
    int rc = 0;
    if (c->state == ST_FAILED || c->state == ST_CLOSED)
        rc = c->state == ST_FAILED ? dead_error(c, err) : 0;
    else if (cp__wire_reader_eof(&c->rd, &local) < 0) {
        fail(c, CP_WIRE_WHY_TRUNCATED, &local);
        if (err)
            *err = local;
        rc = -1;
    }
    if (c->state != ST_FAILED || rc == 0)
        set_state(c, ST_CLOSED);
    unlock_both(c);
    return rc;
}

/* ------------------------------------------------------------------ sending */

/* May this side send type now? (the lock that guards the check is held) */
static int can_send(struct cp__wire_conn *c, const struct cp__wire_type_info *t, cp_err *err)
{
    static const enum state need[] = {
        [CP_WIRE_CLIENT_HELLO] = ST_C_START, [CP_WIRE_SERVER_HELLO] = ST_S_SEND_SHELLO,
        [CP_WIRE_REGISTER] = ST_C_SEND_REGISTER, [CP_WIRE_WELCOME] = ST_S_SEND_WELCOME,
    };
    if (c->state == ST_CLOSED)
        return cp__errf(err, EPIPE, "cannot send %s: the connection is closed", t->name);
    if (t->type == CP_WIRE_REFUSE)
        return 0;
    if (!(t->senders & c->role))
        return cp__errf(err, EINVAL, "cannot send %s: a %s never sends it", t->name,
                        role_name(c->role));
    if (c->state == ST_FAILED)
        return cp__errf(err, EPIPE, "cannot send %s on a failed connection (only REFUSE): %s",
                        t->name, c->fail_text);
    if (t->preauth ? c->state != need[t->type] : c->state != ST_READY)
        return cp__errf(err, EINVAL, "cannot send %s %s", t->name, state_texts[c->state]);
    return 0;
}

/* Finishes the frame whose body sits in out from start + header: checks the cap,
 * seals it when asked, writes the header (tx lock held). */
static int finish_frame(struct cp__wire_conn *c, struct cp__wire_buf *out, size_t start,
                        const struct cp__wire_type_info *t, bool seal, cp_err *err)
{
    size_t len = out->len - start - CP_WIRE_HEADER_LEN;
    uint16_t flags = seal ? CP_WIRE_FLAG_SEALED : 0;
    if (len > t->cap) {
        out->len = start;
        return cp__errf(err, EMSGSIZE, "%s body of %zu bytes is over its cap of %u bytes; "
                        "send fewer per frame", t->name, len, (unsigned)t->cap);
    }
    if (seal) {
        unsigned char n[crypto_secretbox_NONCEBYTES];
        if (c->tx_ctr == UINT64_MAX) {
            out->len = start;
            return cp__errf(err, EOVERFLOW, "frame counter exhausted; reconnect");
        }
        if (cp__wire_buf_reserve(out, CP_WIRE_SEAL_OVERHEAD, err) < 0) {
            out->len = start;
            return -1;
        }
        unsigned char *body = (unsigned char *)out->data + start + CP_WIRE_HEADER_LEN;
        seal_nonce(n, c->tx_ctr++, CP_WIRE_VERSION, t->type, flags);
        crypto_secretbox_easy(body, body, len, n, c->k_tx);   /* in place (libsodium allows) */
        len += CP_WIRE_SEAL_OVERHEAD;
        out->len += CP_WIRE_SEAL_OVERHEAD;
    }
    cp__wire_header_put((unsigned char *)out->data + start, CP_WIRE_VERSION, t->type, flags,
                        (uint32_t)len);
    return 0;
}

/* Fills the fields a connection owns into m (both locks held for handshake types). */
static void fill_conn_fields(struct cp__wire_conn *c, struct cp__wire_msg *m)
{
    switch (m->type) {
    case CP_WIRE_CLIENT_HELLO:
        randombytes_buf(c->cn, sizeof c->cn);
        m->u.client_hello.version = CP_WIRE_VERSION;
        memcpy(m->u.client_hello.nonce, c->cn, sizeof c->cn);
        break;
    case CP_WIRE_SERVER_HELLO:
        randombytes_buf(c->sn, sizeof c->sn);
        memcpy(m->u.server_hello.nonce, c->sn, sizeof c->sn);
        make_proof(c->k_auth, CP_WIRE_INTERCHANGE, c->cn, c->sn, m->u.server_hello.proof);
        break;
    case CP_WIRE_REGISTER:
        make_proof(c->k_auth, CP_WIRE_POOL, c->cn, c->sn, m->u.reg.proof);
        m->u.reg.wants_encryption = c->encrypt;
        break;
    case CP_WIRE_WELCOME:
        make_confirm(c, m->u.welcome.confirm);
        break;
    case CP_WIRE_REFUSE:
        m->u.refuse.version = CP_WIRE_VERSION;
        break;
    }
}

/* The state after this side sent a handshake message or REFUSE (both locks). */
static void after_send(struct cp__wire_conn *c, unsigned type, const char *body, size_t len,
                       bool sealed)
{
    switch (type) {
    case CP_WIRE_CLIENT_HELLO:
        transcript_add(c, (const unsigned char *)body, len);
        set_state(c, ST_C_WAIT_SHELLO);
        break;
    case CP_WIRE_SERVER_HELLO:
        transcript_add(c, (const unsigned char *)body, len);
        make_keys(c->k_enc, c->cn, c->sn, c->k_rx, c->k_tx);
        set_state(c, ST_S_WAIT_REGISTER);
        break;
    case CP_WIRE_REGISTER:
        transcript_add(c, (const unsigned char *)body, len);
        set_state(c, ST_C_WAIT_WELCOME);
        break;
    case CP_WIRE_WELCOME:
        c->rx_sealed = c->tx_sealed = sealed;
        set_state(c, ST_READY);
        break;
    case CP_WIRE_REFUSE:
        set_state(c, ST_CLOSED);
        break;
    }
}

int cp__wire_conn_send(struct cp__wire_conn *c, const struct cp__wire_msg *msg,
                       struct cp__wire_buf *out, cp_err *err)
{
    const struct cp__wire_type_info *t = cp__wire_type_info(msg->type);
    if (!t)
        return cp__errf(err, EINVAL, "cannot send unknown message type %u", msg->type);
    bool hs = t->preauth;
    if (hs)
        pthread_mutex_lock(&c->rx_mu);
    pthread_mutex_lock(&c->tx_mu);
    size_t start = out->len;
    int rc = can_send(c, t, err);
    if (rc < 0)
        goto out;
    struct cp__wire_msg m = *msg;
    m.root_ = (struct cp_value){0};
    m.mem_ = NULL;
    fill_conn_fields(c, &m);
    if ((rc = cp__wire_buf_reserve(out, CP_WIRE_HEADER_LEN, err)) < 0)
        goto out;
    out->len += CP_WIRE_HEADER_LEN;
    if ((rc = cp__wire_msg_pack(&m, out, err)) < 0) {
        out->len = start;
        goto out;
    }
    bool seal = c->tx_sealed || (t->type == CP_WIRE_WELCOME && c->agreed);
    if ((rc = finish_frame(c, out, start, t, seal, err)) < 0)
        goto out;
    /* CLIENT_HELLO, SERVER_HELLO and REGISTER are never sealed, so the body in
     * out is still the plaintext the transcript wants. */
    if (hs)
        after_send(c, t->type, out->data + start + CP_WIRE_HEADER_LEN,
                   out->len - start - CP_WIRE_HEADER_LEN, seal);
out:
    pthread_mutex_unlock(&c->tx_mu);
    if (hs)
        pthread_mutex_unlock(&c->rx_mu);
    return rc;
}

int cp__wire_conn_write(struct cp__wire_conn *c, uint8_t type, const void *body, size_t len,
                        struct cp__wire_buf *out, cp_err *err)
{
    const struct cp__wire_type_info *t = cp__wire_type_info(type);
    if (!t)
        return cp__errf(err, EINVAL, "cannot send unknown message type %u", type);
    if (t->preauth)
        return cp__errf(err, EINVAL, "cannot write a raw %s body: its fields come from the "
                        "connection (use cp__wire_conn_send)", t->name);
    if (len > t->cap)
        return cp__errf(err, EMSGSIZE, "%s body of %zu bytes is over its cap of %u bytes; "
                        "send fewer per frame", t->name, len, (unsigned)t->cap);
    pthread_mutex_lock(&c->tx_mu);
    size_t start = out->len;
    int rc = can_send(c, t, err);
    if (rc == 0 && (rc = cp__wire_buf_reserve(out, CP_WIRE_HEADER_LEN + len, err)) == 0) {
        if (len)
            memcpy(out->data + start + CP_WIRE_HEADER_LEN, body, len);
        out->len += CP_WIRE_HEADER_LEN + len;
        rc = finish_frame(c, out, start, t, c->tx_sealed, err);
    }
    pthread_mutex_unlock(&c->tx_mu);
    return rc;
}

/* Copies at most max bytes of s into buf (size > max), not splitting a UTF-8
 * sequence. */
static const char *clip_utf8(const char *s, char *buf, size_t max)
{
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

int cp__wire_conn_refuse(struct cp__wire_conn *c, int why, const char *reason,
                         struct cp__wire_buf *out, cp_err *err)
{
    char text[CP_ERR_TEXT_MAX], clipped[901];
    lock_both(c);
    int rc = -1;
    if (why == 0 && c->why == 0) {
        cp__errf(err, EINVAL, "nothing to refuse: the connection has not failed");
        goto out;
    }
    if (why == 0)
        why = c->why;
    if (!reason && why == c->why && why == CP_WIRE_WHY_VERSION) {
        enum cp__wire_role peer = c->role == CP_WIRE_POOL ? CP_WIRE_INTERCHANGE : CP_WIRE_POOL;
        snprintf(text, sizeof text, "%s speaks wire protocol %d, %s speaks %d", role_name(peer),
                 c->peer_version, role_name(c->role), CP_WIRE_VERSION);
        reason = text;
    } else if (!reason) {
        reason = c->why ? c->fail_text : "";
    }
    struct cp__wire_msg m = {.type = CP_WIRE_REFUSE};
    m.u.refuse.code = why < 0 || why > 255 ? CP_WIRE_WHY_PROTOCOL : why;
    m.u.refuse.reason = clip_utf8(reason, clipped, sizeof clipped - 1);
    const struct cp__wire_type_info *t = cp__wire_type_info(CP_WIRE_REFUSE);
    size_t start = out->len;
    if (can_send(c, t, err) < 0)
        goto out;
    fill_conn_fields(c, &m);
    if (cp__wire_buf_reserve(out, CP_WIRE_HEADER_LEN, err) < 0)
        goto out;
    out->len += CP_WIRE_HEADER_LEN;
    if (cp__wire_msg_pack(&m, out, err) < 0 ||
        finish_frame(c, out, start, t, c->tx_sealed, err) < 0) {
        out->len = start;
        goto out;
    }
    after_send(c, CP_WIRE_REFUSE, NULL, 0, c->tx_sealed);
    rc = 0;
out:
    unlock_both(c);
    return rc;
}
