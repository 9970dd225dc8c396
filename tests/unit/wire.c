/* tests/unit/wire.c — the wire protocol (executors/wire.h): golden bytes pinned
 * here and in docs/wire.md, every message's round trip and shape checks, the
 * handshake (plain and sealed, fed whole and one byte at a time), wrong secrets,
 * sealed-frame attacks, every refusal of the frame reader, the 64 MiB cap without
 * 64 MiB, secret files, and one connection used by two threads. */
#include "executors/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

/* ------------------------------------------------------------------ helpers */

static const unsigned char SECRET_A[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char SECRET_B[32] = "fedcba9876543210fedcba9876543210";

static void hexdump(const char *label, const void *p, size_t n)
{
    char line[3 * 32 + 1];
    diag("%s (%zu bytes):", label, n);
    for (size_t i = 0; i < n; i += 32) {
        size_t o = 0;
        for (size_t j = i; j < n && j < i + 32; j++)
            o += (size_t)snprintf(line + o, sizeof line - o, "%02x ",
                                  ((const unsigned char *)p)[j]);
        diag("  %s", line);
    }
}

static bool same_bytes(const void *got, size_t glen, const void *want, size_t wlen,
                       const char *label)
{
    if (glen == wlen && memcmp(got, want, wlen) == 0)
        return true;
    hexdump("got", got, glen);
    hexdump("want", want, wlen);
    (void)label;
    return false;
}

/* Feeds every byte of b into c, step bytes at a time, collecting messages into
 * msgs (up to max; later ones are dropped). Returns the count, or -1 (err set). */
static int deliver(struct cp__wire_conn *c, struct cp__wire_buf *b, size_t step,
                   struct cp__wire_msg *msgs, int max, cp_err *err)
{
    size_t off = 0;
    int n = 0;
    while (off < b->len) {
        size_t len = b->len - off < step ? b->len - off : step;
        while (len) {
            struct cp__wire_msg m;
            size_t used;
            int rc = cp__wire_conn_recv(c, b->data + off, len, &used, &m, err);
            if (rc < 0) {
                b->len = 0;
                return -1;
            }
            off += used;
            len -= used;
            if (rc == 1) {
                if (n < max)
                    msgs[n] = m;
                else
                    cp__wire_msg_clear(&m);
                n++;
            }
        }
    }
    b->len = 0;
    return n;
}

static void clear_msgs(struct cp__wire_msg *m, int n)
{
    for (int i = 0; i < n; i++)
        cp__wire_msg_clear(&m[i]);
}

static const char *const ACCS[] = {"0", "1"};

static struct cp__wire_msg sample_register(void)
{
    struct cp__wire_msg m = {.type = CP_WIRE_REGISTER};
    m.u.reg = (struct cp__wire_register){
        .pool_id = "pool-7f3a", .hostname = "node01.cluster", .block_id = "3", .pid = 4242,
        .cores = 64, .memory_gb = 251.5, .accelerators = ACCS, .naccelerators = 2,
        .worker_count = 16, .max_capacity = 20, .software = "cparsl 0.1.0"};
    return m;
}

static struct cp__wire_msg sample_welcome(void)
{
    struct cp__wire_msg m = {.type = CP_WIRE_WELCOME};
    m.u.welcome = (struct cp__wire_welcome){.heartbeat_period = 30, .heartbeat_threshold = 120,
                                            .software = "cparsl 0.1.0"};
    return m;
}

/* Runs the four-message handshake between two fresh connections, feeding step
 * bytes at a time. reg_out (optional) receives the REGISTER the interchange saw. */
static bool handshake(struct cp__wire_conn *pool, struct cp__wire_conn *ic, size_t step,
                      cp_err *err)
{
    struct cp__wire_buf b = {0};
    struct cp__wire_msg in[2];
    struct cp__wire_msg hello = {.type = CP_WIRE_CLIENT_HELLO};
    struct cp__wire_msg shello = {.type = CP_WIRE_SERVER_HELLO};
    struct cp__wire_msg reg = sample_register(), wel = sample_welcome();
    bool okay = cp__wire_conn_send(pool, &hello, &b, err) == 0 &&
                deliver(ic, &b, step, in, 2, err) == 1 && in[0].type == CP_WIRE_CLIENT_HELLO;
    if (okay)
        cp__wire_msg_clear(&in[0]);
    okay = okay && cp__wire_conn_send(ic, &shello, &b, err) == 0 &&
           deliver(pool, &b, step, in, 2, err) == 1 && in[0].type == CP_WIRE_SERVER_HELLO;
    if (okay)
        cp__wire_msg_clear(&in[0]);
    okay = okay && cp__wire_conn_send(pool, &reg, &b, err) == 0 &&
           deliver(ic, &b, step, in, 2, err) == 1 && in[0].type == CP_WIRE_REGISTER;
    if (okay) {
        /* The interchange sees the facts as sent, and the pool's wish. */
        okay = strcmp(in[0].u.reg.hostname, "node01.cluster") == 0 &&
               in[0].u.reg.naccelerators == 2 && in[0].u.reg.max_capacity == 20;
        cp__wire_msg_clear(&in[0]);
    }
    okay = okay && cp__wire_conn_send(ic, &wel, &b, err) == 0 &&
           deliver(pool, &b, step, in, 2, err) == 1 && in[0].type == CP_WIRE_WELCOME;
    if (okay) {
        okay = in[0].u.welcome.heartbeat_threshold == 120;
        cp__wire_msg_clear(&in[0]);
    }
    cp__wire_buf_free(&b);
    return okay && cp__wire_conn_ready(pool) && cp__wire_conn_ready(ic);
}

static void pair(struct cp__wire_conn **pool, struct cp__wire_conn **ic, bool pool_enc,
                 bool ic_enc)
{
    *pool = cp__wire_conn_create(CP_WIRE_POOL, SECRET_A, pool_enc, NULL);
    *ic = cp__wire_conn_create(CP_WIRE_INTERCHANGE, SECRET_A, ic_enc, NULL);
}

static void unpair(struct cp__wire_conn *pool, struct cp__wire_conn *ic)
{
    cp__wire_conn_destroy(pool);
    cp__wire_conn_destroy(ic);
}

/* A packed body of m, or NULL. */
static char *pack(const struct cp__wire_msg *m, size_t *len)
{
    struct cp__wire_buf b = {0};
    cp_err err = {0};
    if (cp__wire_msg_pack(m, &b, &err) < 0) {
        diag("pack %s: %s", cp__wire_type_name(m->type), err.text);
        free(b.data);
        return NULL;
    }
    *len = b.len;
    return b.data;
}

static void roundtrip(const struct cp__wire_msg *m, const char *name)
{
    size_t len = 0;
    char *body = pack(m, &len);
    struct cp__wire_msg back;
    cp_err err = {0};
    int rc = body ? cp__wire_msg_decode(m->type, body, len, &back, &err) : -1;
    if (!ok(rc == 0 && cp__wire_msg_equal(m, &back), "round trip: %s", name))
        diag("rc %d: %s", rc, err.text);
    if (rc == 0)
        cp__wire_msg_clear(&back);
    free(body);
}

/* ------------------------------------------------------------------ goldens */

/* A small REGISTER (proof 00..1f) and a one-task TASKS body; the same bytes are
 * printed in docs/wire.md ("Golden bytes") and compared there too. */
static const unsigned char GOLDEN_HEADER[] = {
    0x43, 0x50, 0x57, 0x52, 0x03, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a};
static const unsigned char GOLDEN_REGISTER[] = {
    0x9c, 0xc4, 0x20, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14,
    0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0xa2,
    0x70, 0x31, 0xa2, 0x68, 0x31, 0xa1, 0x30, 0x2a, 0x04, 0xcb, 0x40, 0x20,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x91, 0xa1, 0x30, 0x04, 0x06, 0xc3,
    0xac, 0x63, 0x70, 0x61, 0x72, 0x73, 0x6c, 0x20, 0x30, 0x2e, 0x31, 0x2e,
    0x30,
};
static const unsigned char GOLDEN_TASKS[] = {
    0x91, 0x91, 0xdc, 0x00, 0x11, 0x07, 0x00, 0x01, 0xa3, 0x69, 0x6e, 0x63,
    0xc0, 0x91, 0x29, 0xc0, 0xc0, 0xc0, 0xc2, 0xc2, 0xcb, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x90, 0x90, 0x00, 0x00, 0x00,
};
static const unsigned char GOLDEN_PROOF[] = {
    0xc3, 0xaf, 0x0a, 0x06, 0xf7, 0xa4, 0xa2, 0xc8, 0xee, 0x4f, 0xc3, 0x5d,
    0xdb, 0x97, 0x08, 0xc2, 0x08, 0x60, 0x9b, 0x92, 0x67, 0x89, 0x1d, 0xc9,
    0xa6, 0x7a, 0x14, 0x9e, 0x62, 0x22, 0x21, 0xf5,
};

static struct cp__wire_msg golden_register_msg(void)
{
    static const char *const acc[] = {"0"};
    struct cp__wire_msg m = {.type = CP_WIRE_REGISTER};
    for (int i = 0; i < 32; i++)
        m.u.reg.proof[i] = (unsigned char)i;
    m.u.reg.pool_id = "p1";
    m.u.reg.hostname = "h1";
    m.u.reg.block_id = "0";
    m.u.reg.pid = 42;
    m.u.reg.cores = 4;
    m.u.reg.memory_gb = 8.0;
    m.u.reg.accelerators = acc;
    m.u.reg.naccelerators = 1;
    m.u.reg.worker_count = 4;
    m.u.reg.max_capacity = 6;
    m.u.reg.wants_encryption = true;
    m.u.reg.software = "cparsl 0.1.0";
    return m;
}

static struct cp__wire_msg golden_tasks_msg(struct cp__wire_task *t, struct cp_value *arg)
{
    cp__value_int(arg, 41);
    *t = (struct cp__wire_task){.task_id = 7, .try_id = 0, .kind = CP_WIRE_TASK_NATIVE,
                                .app = "inc", .args = arg, .nargs = 1};
    struct cp__wire_msg m = {.type = CP_WIRE_TASKS};
    m.u.tasks = (struct cp__wire_tasks){t, 1};
    return m;
}

/* The hex block after "<!-- golden:NAME -->" in docs/wire.md, as bytes. */
static size_t doc_golden(const char *name, unsigned char *out, size_t max)
{
    FILE *fp = fopen("docs/wire.md", "r");
    char line[512], marker[64];
    size_t n = 0;
    int phase = 0;
    snprintf(marker, sizeof marker, "<!-- golden:%s -->", name);
    while (fp && fgets(line, sizeof line, fp)) {
        if (phase == 0 && strstr(line, marker))
            phase = 1;
        else if (phase == 1 && strncmp(line, "```", 3) == 0)
            phase = 2;
        else if (phase == 2 && strncmp(line, "```", 3) == 0)
            break;
        else if (phase == 2) {
            unsigned v;
            int k;
            for (char *p = line; sscanf(p, "%2x%n", &v, &k) == 1 && n < max; p += k)
                out[n++] = (unsigned char)v;
        }
    }
    if (fp)
        fclose(fp);
    return n;
}

static void test_goldens(void)
{
    unsigned char h[CP_WIRE_HEADER_LEN], doc[1024];
    cp__wire_header_put(h, CP_WIRE_VERSION, CP_WIRE_REGISTER, 0, 42);
    ok(same_bytes(h, sizeof h, GOLDEN_HEADER, sizeof GOLDEN_HEADER, "header"),
       "golden: a REGISTER header of 42 bytes");
    size_t dn = doc_golden("header", doc, sizeof doc);
    ok(same_bytes(doc, dn, GOLDEN_HEADER, sizeof GOLDEN_HEADER, "doc header"),
       "golden: docs/wire.md shows the same header");

    struct cp__wire_buf fb = {0};
    ok(cp__wire_frame_encode(&fb, CP_WIRE_REGISTER, 0, "x", 1, NULL) == 0 && fb.len == 13 &&
       memcmp(fb.data, GOLDEN_HEADER, 11) == 0 && fb.data[11] == 1 && fb.data[12] == 'x',
       "frame_encode writes the same header");
    cp__wire_buf_free(&fb);

    struct cp__wire_msg reg = golden_register_msg();
    size_t len = 0;
    char *body = pack(&reg, &len);
    if (getenv("WIRE_DUMP"))
        hexdump("register", body, len);
    ok(body && same_bytes(body, len, GOLDEN_REGISTER, sizeof GOLDEN_REGISTER, "register"),
       "golden: REGISTER body");
    dn = doc_golden("register", doc, sizeof doc);
    ok(body && same_bytes(doc, dn, body, len, "doc register"),
       "golden: docs/wire.md shows the same REGISTER body");
    free(body);

    struct cp__wire_task t;
    struct cp_value arg;
    struct cp__wire_msg tasks = golden_tasks_msg(&t, &arg);
    body = pack(&tasks, &len);
    if (getenv("WIRE_DUMP"))
        hexdump("tasks", body, len);
    ok(body && same_bytes(body, len, GOLDEN_TASKS, sizeof GOLDEN_TASKS, "tasks"),
       "golden: TASKS body");
    dn = doc_golden("tasks", doc, sizeof doc);
    ok(body && same_bytes(doc, dn, body, len, "doc tasks"),
       "golden: docs/wire.md shows the same TASKS body");
    free(body);

    /* The proof's test vector: secret 00..1f, client nonce 20..3f, server 40..5f. */
    unsigned char s[32], cn[32], sn[32], proof[32], k1[32], k2[32];
    for (int i = 0; i < 32; i++)
        s[i] = (unsigned char)i, cn[i] = (unsigned char)(0x20 + i), sn[i] = (unsigned char)(0x40 + i);
    ok(cp__wire_proof(s, CP_WIRE_POOL, cn, sn, proof) == 0, "proof computes");
    if (getenv("WIRE_DUMP"))
        hexdump("proof", proof, 32);
    ok(same_bytes(proof, 32, GOLDEN_PROOF, sizeof GOLDEN_PROOF, "proof"),
       "golden: the pool's proof for the test vector");
    dn = doc_golden("proof", doc, sizeof doc);
    ok(same_bytes(doc, dn, proof, 32, "doc proof"), "golden: docs/wire.md shows the same proof");
    unsigned char p2[32];
    ok(cp__wire_proof(s, CP_WIRE_INTERCHANGE, cn, sn, p2) == 0 && memcmp(p2, proof, 32) != 0,
       "the two roles' proofs differ (no reflection)");
    ok(cp__wire_session_keys(s, cn, sn, k1, k2) == 0 && memcmp(k1, k2, 32) != 0,
       "the two directions' keys differ");
    if (getenv("WIRE_DUMP"))
        hexdump("key to interchange", k1, 32);
    dn = doc_golden("key-to-interchange", doc, sizeof doc);
    ok(same_bytes(doc, dn, k1, 32, "doc key"), "golden: docs/wire.md shows the same key");
}

/* ------------------------------------------------------------------ table */

static void test_table(void)
{
    static const unsigned all[] = {1, 2, 3, 4, 5, 16, 17, 18, 19, 20, 21};
    bool okay = true;
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        const struct cp__wire_type_info *t = cp__wire_type_info(all[i]);
        okay = okay && t && t->type == all[i] && t->name && t->cap && t->senders;
        okay = okay && (!t->preauth || t->cap <= 4096);
    }
    ok(okay, "every type has a row, and pre-auth caps are at most 4 KiB");
    is_int(cp__wire_type_info(CP_WIRE_TASKS)->cap, 64 << 20, "TASKS cap is 64 MiB");
    is_int(cp__wire_type_info(CP_WIRE_HEARTBEAT)->cap, 256, "HEARTBEAT cap is small");
    ok(!cp__wire_type_info(0) && !cp__wire_type_info(6) && !cp__wire_type_info(99),
       "unknown types have no row");
    is_str(cp__wire_type_name(99), "unknown", "unknown type name");
}

/* ------------------------------------------------------------------ messages */

static void test_roundtrips(void)
{
    struct cp__wire_msg m = {.type = CP_WIRE_CLIENT_HELLO};
    m.u.client_hello.version = CP_WIRE_VERSION;
    memset(m.u.client_hello.nonce, 0xab, 32);
    roundtrip(&m, "CLIENT_HELLO");

    m = (struct cp__wire_msg){.type = CP_WIRE_SERVER_HELLO};
    memset(m.u.server_hello.nonce, 1, 32);
    memset(m.u.server_hello.proof, 2, 32);
    roundtrip(&m, "SERVER_HELLO");

    m = sample_register();
    roundtrip(&m, "REGISTER");
    m.u.reg.naccelerators = 0;
    m.u.reg.accelerators = NULL;
    m.u.reg.block_id = "";
    roundtrip(&m, "REGISTER without accelerators, empty block id");

    m = sample_welcome();
    roundtrip(&m, "WELCOME");

    m = (struct cp__wire_msg){.type = CP_WIRE_REFUSE};
    m.u.refuse = (struct cp__wire_refuse){CP_WIRE_WHY_POLICY, "shutting down", 1};
    roundtrip(&m, "REFUSE");

    /* Every kind of value as an argument, a shell task with everything set. */
    struct cp_value args[7], inner;
    cp__value_nil(&args[0]);
    cp__value_bool(&args[1], true);
    cp__value_int(&args[2], INT64_MIN);
    cp__value_double(&args[3], -2.5);
    (void)cp__value_str(&args[4], "héllo", strlen("héllo"));
    (void)cp__value_bytes(&args[5], "\0\1\2", 3);
    (void)cp__value_list(&args[6], 2);
    (void)cp__value_file(&inner, "data/in.txt", 11);
    (void)cp__value_list_add(&args[6], &inner);
    static const char *const env[] = {"A=1", "PATH=/bin:/usr/bin", "EMPTY="};
    static const char *const outs[] = {"out/a.txt", "out/b.txt"};
    struct cp__wire_task t[3] = {
        {.task_id = 0, .try_id = 0, .kind = CP_WIRE_TASK_NATIVE, .app = "f", .args = args,
         .nargs = 7, .priority = -5},
        {.task_id = INT64_MAX, .try_id = 3, .kind = CP_WIRE_TASK_SHELL, .app = "sim",
         .cmd = "echo 'hi' > out/a.txt", .stdout_path = "logs/sim.out",
         .stderr_path = "logs/sim.err", .stdout_append = true, .walltime = 12.5, .env = env,
         .nenv = 3, .outputs = outs, .noutputs = 2, .priority = 7, .cores = 4,
         .memory_mb = 2048},
        {.task_id = 9, .kind = CP_WIRE_TASK_NATIVE, .app = "g", .library = "/opt/lib/libg.so"},
    };
    m = (struct cp__wire_msg){.type = CP_WIRE_TASKS};
    m.u.tasks = (struct cp__wire_tasks){t, 3};
    roundtrip(&m, "TASKS (native with every value type, shell with everything, library)");
    m.u.tasks.n = 0;
    roundtrip(&m, "TASKS, empty batch");

    struct cp_value val;
    (void)cp__value_str(&val, "done", 4);
    struct cp__wire_result r[3] = {
        {.task_id = 1, .try_id = 0, .ok = true, .value = &val, .t_start = 1.7e9,
         .t_end = 1.7e9 + 0.25, .worker_rank = 3},
        {.task_id = 2, .try_id = 1, .ok = false, .error = "boom: exit 1", .timed_out = true,
         .t_start = 5, .t_end = 6, .worker_rank = -1},
        {.task_id = 3, .ok = true},
    };
    m = (struct cp__wire_msg){.type = CP_WIRE_RESULTS};
    m.u.results = (struct cp__wire_results){r, 3};
    roundtrip(&m, "RESULTS (ok with value, failed with error, ok with nil)");

    m = (struct cp__wire_msg){.type = CP_WIRE_HEARTBEAT};
    m.u.heartbeat = (struct cp__wire_heartbeat){3, 13, 4};
    roundtrip(&m, "HEARTBEAT");
    m = (struct cp__wire_msg){.type = CP_WIRE_DRAIN};
    roundtrip(&m, "DRAIN");
    m = (struct cp__wire_msg){.type = CP_WIRE_SHUTDOWN};
    m.u.shutdown = (struct cp__wire_shutdown){CP_WIRE_SHUTDOWN_DRAINED, NULL};
    roundtrip(&m, "SHUTDOWN drained");
    m.u.shutdown = (struct cp__wire_shutdown){CP_WIRE_SHUTDOWN_NOW, "executor shut down"};
    roundtrip(&m, "SHUTDOWN now");
    m = (struct cp__wire_msg){.type = CP_WIRE_HOLD};
    m.u.hold.held = true;
    roundtrip(&m, "HOLD");
    m = (struct cp__wire_msg){.type = CP_WIRE_INTERRUPT};
    m.u.interrupt.reason = "interrupted by SIGINT";
    roundtrip(&m, "INTERRUPT");
    struct cp__wire_sample smp[2] = {
        {.task_id = 7, .try_id = 1, .time = 1.7e9, .pid = 4242, .children = 3, .user = 1.5,
         .system = 0.25, .rss = 1048576, .vms = 8e6, .read_bytes = 4096, .write_bytes = 2e7},
        {.task_id = 8},
    };
    m = (struct cp__wire_msg){.type = CP_WIRE_RESOURCES};
    m.u.resources = (struct cp__wire_resources){smp, 2};
    roundtrip(&m, "RESOURCES (a busy sample, a zero one)");

    for (int i = 0; i < 7; i++)
        cp__value_clear(&args[i]);
    cp__value_clear(&val);
}

/* Decodes the packed body of m, then lets edit change the decoded value tree,
 * re-encodes it and decodes that: the refusal must contain needle. */
typedef void (*edit_fn)(struct cp_value *root);

static struct cp_value *at(struct cp_value *list, unsigned i)
{
    return (struct cp_value *)&cp__value_items(list)[i];
}

static void set_int(struct cp_value *v, int64_t i) { cp__value_clear(v); cp__value_int(v, i); }
static void set_str(struct cp_value *v, const char *s, size_t n)
{
    cp__value_clear(v);
    (void)cp__value_str(v, s, n);
}

static void refuse_edit(const struct cp__wire_msg *m, edit_fn edit, const char *needle,
                        const char *name)
{
    size_t len = 0;
    char *body = pack(m, &len);
    struct cp_value root;
    cp_err err = {0};
    struct cp__wire_msg back;
    int rc = -2;
    if (body && cp__value_decode(body, len, &root, &err) == 0) {
        edit(&root);
        struct cp__wire_buf b = {0};
        if (cp__value_encode(&root, &b.data, &b.len, &b.cap, &err) == 0)
            rc = cp__wire_msg_decode(m->type, b.data, b.len, &back, &err);
        cp__wire_buf_free(&b);
        cp__value_clear(&root);
    }
    if (rc == 0)
        cp__wire_msg_clear(&back);
    ok(rc == -1 && strstr(err.text, needle) && back.type == 0, "refused: %s", name);
    if (rc != -1 || !strstr(err.text, needle))
        diag("rc %d, text \"%s\", want \"%s\"", rc, err.text, needle);
    free(body);
}

static void e_hostname_int(struct cp_value *r) { set_int(at(r, 2), 5); }
static void e_short(struct cp_value *r) { r->len = 5; }  /* items 5.. leak-free: cleared below */
static void e_proof_short(struct cp_value *r)
{
    cp__value_clear(at(r, 0));
    (void)cp__value_bytes(at(r, 0), "abc", 3);
}
static void e_nul(struct cp_value *r) { set_str(at(r, 1), "p\0ol", 4); }
static void e_capacity(struct cp_value *r) { set_int(at(r, 9), 3); }
static void e_acc_int(struct cp_value *r) { set_int(at(at(r, 7), 1), 1); }
static void e_task_kind(struct cp_value *r) { set_int(at(at(at(r, 0), 0), 2), 4); }
static void e_task_hosted_nil(struct cp_value *r) { set_int(at(at(at(r, 0), 0), 2), 3); }
static void e_task_hosted_rel(struct cp_value *r)
{
    set_int(at(at(at(r, 0), 0), 2), 3);
    set_str(at(at(at(r, 0), 0), 4), "bin/prog", 8);
}
static void e_task_env(struct cp_value *r)
{
    struct cp_value *env = at(at(at(r, 0), 0), 12);
    cp__value_clear(env);
    (void)cp__value_list(env, 1);
    struct cp_value s;
    (void)cp__value_str(&s, "=x", 2);
    (void)cp__value_list_add(env, &s);
}
static void e_task_not_list(struct cp_value *r) { set_int(at(at(r, 0), 0), 1); }
static void e_task_short(struct cp_value *r)
{
    struct cp_value *t = at(at(r, 0), 0);
    for (uint32_t i = 10; i < t->len; i++)
        cp__value_clear(at(t, i));
    t->len = 10;
}
static void e_task_walltime(struct cp_value *r)
{
    struct cp_value *w = at(at(at(r, 0), 0), 11);
    cp__value_double(w, NAN);
}
static void e_root_int(struct cp_value *r) { cp__value_clear(r); cp__value_int(r, 1); }
static void e_result_value(struct cp_value *r)
{
    struct cp_value *x = at(at(r, 0), 0);
    cp__value_clear(at(x, 2));
    cp__value_bool(at(x, 2), false);
}
static void e_extra(struct cp_value *r)
{
    struct cp_value v;
    cp__value_int(&v, 99);
    (void)cp__value_list_add(r, &v);
}
static void e_task_extra(struct cp_value *r)
{
    struct cp_value v;
    (void)cp__value_str(&v, "future", 6);
    (void)cp__value_list_add(at(at(r, 0), 0), &v);
}

/* e_short cuts the list's length without clearing: clear the cut items first. */
static void e_short_clean(struct cp_value *r)
{
    for (uint32_t i = 5; i < r->len; i++)
        cp__value_clear(at(r, i));
    e_short(r);
}

static void e_sample_negative(struct cp_value *r) { cp__value_double(at(at(at(r, 0), 0), 5), -1); }

static void test_shapes(void)
{
    struct cp__wire_msg reg = sample_register();
    refuse_edit(&reg, e_hostname_int, "REGISTER item 2 (hostname): want str, got int",
                "a wrong type names the position and field");
    refuse_edit(&reg, e_short_clean, "REGISTER body has 5 items, needs 12", "too few items");
    refuse_edit(&reg, e_proof_short, "item 0 (client_proof): 3 bytes, want 32",
                "a proof of the wrong length");
    refuse_edit(&reg, e_nul, "item 1 (pool_id): holds a NUL byte", "a NUL inside a string");
    refuse_edit(&reg, e_capacity, "item 9 (max_capacity): 3 is out of range 16..",
                "max_capacity below worker_count");
    refuse_edit(&reg, e_acc_int, "item 7 (accelerators): entry 1: want str, got int",
                "an accelerator that is not a string");
    refuse_edit(&reg, e_root_int, "REGISTER body is a int, not a list", "a body that is not a list");

    struct cp_value arg;
    struct cp__wire_task t;
    struct cp__wire_msg tasks = golden_tasks_msg(&t, &arg);
    refuse_edit(&tasks, e_task_kind, "TASKS task 0 item 2 (kind): 4 is out of range 1..3",
                "an unknown task kind");
    refuse_edit(&tasks, e_task_hosted_nil, "TASKS task 0 item 4 (library): want str, got nil",
                "a hosted task without its program");
    refuse_edit(&tasks, e_task_hosted_rel, "TASKS task 0 item 4 (library): a hosted task's "
                "program must be an absolute path", "a hosted task with a relative program");
    refuse_edit(&tasks, e_task_env, "TASKS task 0 item 12 (env): entry 0 is not NAME=value",
                "an env entry without a name");
    refuse_edit(&tasks, e_task_not_list, "TASKS task 0: want list, got int",
                "a task that is not a list");
    refuse_edit(&tasks, e_task_short, "TASKS task 0 has 10 items, needs 17", "a short task");
    refuse_edit(&tasks, e_task_walltime, "item 11 (walltime): nan is not a finite number",
                "a NaN walltime");

    struct cp__wire_result r = {.task_id = 1, .ok = true};
    struct cp_value v;
    cp__value_int(&v, 5);
    r.value = &v;
    struct cp__wire_msg res = {.type = CP_WIRE_RESULTS};
    res.u.results = (struct cp__wire_results){&r, 1};
    refuse_edit(&res, e_result_value, "item 3 (value): a failed try has no value",
                "a failed result that carries a value");

    struct cp__wire_sample smp = {.task_id = 1, .user = 1};
    struct cp__wire_msg rs = {.type = CP_WIRE_RESOURCES};
    rs.u.resources = (struct cp__wire_resources){&smp, 1};
    refuse_edit(&rs, e_sample_negative, "RESOURCES sample 0 item 5 (user): -1 is not a finite number >= 0",
                "a negative CPU time in a sample");

    /* Items after the known positions are ignored (docs/wire.md "Compatibility"). */
    size_t len = 0;
    char *body = pack(&reg, &len);
    struct cp_value root;
    struct cp__wire_buf b = {0};
    struct cp__wire_msg back;
    cp_err err = {0};
    bool okay = body && cp__value_decode(body, len, &root, &err) == 0;
    if (okay) {
        e_extra(&root);
        okay = cp__value_encode(&root, &b.data, &b.len, &b.cap, &err) == 0 &&
               cp__wire_msg_decode(CP_WIRE_REGISTER, b.data, b.len, &back, &err) == 0;
        cp__value_clear(&root);
    }
    ok(okay && cp__wire_msg_equal(&reg, &back), "an extra trailing item is ignored: REGISTER");
    if (okay)
        cp__wire_msg_clear(&back);
    free(body);
    cp__wire_buf_free(&b);

    body = pack(&tasks, &len);
    okay = body && cp__value_decode(body, len, &root, &err) == 0;
    if (okay) {
        e_task_extra(&root);
        okay = cp__value_encode(&root, &b.data, &b.len, &b.cap, &err) == 0 &&
               cp__wire_msg_decode(CP_WIRE_TASKS, b.data, b.len, &back, &err) == 0;
        cp__value_clear(&root);
    }
    ok(okay && cp__wire_msg_equal(&tasks, &back), "an extra trailing item is ignored: a task");
    if (okay)
        cp__wire_msg_clear(&back);
    free(body);
    cp__wire_buf_free(&b);

    /* The sender refuses what a receiver would, in the same words. */
    struct cp__wire_buf out = {0};
    reg.u.reg.hostname = NULL;
    ok(cp__wire_msg_pack(&reg, &out, &err) < 0 && out.len == 0 &&
       strstr(err.text, "REGISTER item 2 (hostname): want str, got nil"),
       "pack refuses a missing hostname");
    t.kind = CP_WIRE_TASK_SHELL;
    ok(cp__wire_msg_pack(&tasks, &out, &err) < 0 &&
       strstr(err.text, "TASKS task 0 item 6 (cmd): want str, got nil"),
       "pack refuses a shell task without a command");
    t.kind = CP_WIRE_TASK_NATIVE;
    t.cmd = "ls";
    ok(cp__wire_msg_pack(&tasks, &out, &err) < 0 &&
       strstr(err.text, "a native task has no command"), "pack refuses a native task with a command");
    struct cp__wire_msg unk = {.type = 77};
    ok(cp__wire_msg_pack(&unk, &out, &err) < 0 && cp__wire_msg_decode(77, "\x90", 1, &back, &err) < 0,
       "unknown types are neither packed nor decoded");
    ok(cp__wire_msg_decode(CP_WIRE_HEARTBEAT, "\x93\x01\x02", 3, &back, &err) < 0 &&
       strstr(err.text, "bad HEARTBEAT body: truncated"), "a truncated body names the message");
    cp__wire_buf_free(&out);
}

/* ------------------------------------------------------------------ handshake */

static void exchange(struct cp__wire_conn *pool, struct cp__wire_conn *ic, size_t step,
                     const char *name)
{
    struct cp__wire_buf b = {0};
    struct cp__wire_msg in[4];
    cp_err err = {0};
    struct cp_value arg;
    struct cp__wire_task t;
    struct cp__wire_msg tasks = golden_tasks_msg(&t, &arg);
    struct cp__wire_msg hb = {.type = CP_WIRE_HEARTBEAT};
    hb.u.heartbeat = (struct cp__wire_heartbeat){1, 2, 3};
    struct cp__wire_msg hold = {.type = CP_WIRE_HOLD}, sd = {.type = CP_WIRE_SHUTDOWN};
    sd.u.shutdown.mode = CP_WIRE_SHUTDOWN_NOW;
    int n = -1;
    if (cp__wire_conn_send(ic, &tasks, &b, &err) == 0 && cp__wire_conn_send(ic, &hb, &b, &err) == 0 &&
        cp__wire_conn_send(ic, &hold, &b, &err) == 0 && cp__wire_conn_send(ic, &sd, &b, &err) == 0)
        n = deliver(pool, &b, step, in, 4, &err);
    ok(n == 4 && cp__wire_msg_equal(&in[0], &tasks) && cp__wire_msg_equal(&in[1], &hb) &&
       in[2].type == CP_WIRE_HOLD && in[3].type == CP_WIRE_SHUTDOWN,
       "%s: TASKS, HEARTBEAT, HOLD, SHUTDOWN reach the pool", name);
    if (n < 0)
        diag("%s", err.text);
    clear_msgs(in, n > 4 ? 4 : n);

    struct cp__wire_result r = {.task_id = 7, .ok = true, .value = &arg, .t_start = 1, .t_end = 2};
    struct cp__wire_msg res = {.type = CP_WIRE_RESULTS}, dr = {.type = CP_WIRE_DRAIN};
    res.u.results = (struct cp__wire_results){&r, 1};
    n = -1;
    if (cp__wire_conn_send(pool, &res, &b, &err) == 0 && cp__wire_conn_send(pool, &hb, &b, &err) == 0 &&
        cp__wire_conn_send(pool, &dr, &b, &err) == 0)
        n = deliver(ic, &b, step, in, 4, &err);
    ok(n == 3 && cp__wire_msg_equal(&in[0], &res) && cp__wire_msg_equal(&in[1], &hb) &&
       in[2].type == CP_WIRE_DRAIN, "%s: RESULTS, HEARTBEAT, DRAIN reach the interchange", name);
    if (n < 0)
        diag("%s", err.text);
    clear_msgs(in, n > 4 ? 4 : n);
    cp__wire_buf_free(&b);
}

static void test_handshake(void)
{
    static const struct { bool pool, ic, sealed; size_t step; const char *name; } cases[] = {
        {false, false, false, 1 << 20, "plain, whole frames"},
        {false, false, false, 1, "plain, one byte at a time"},
        {true, false, true, 1 << 20, "pool asks for encryption"},
        {false, true, true, 7, "interchange requires encryption, 7-byte pieces"},
        {true, true, true, 1, "both encrypt, one byte at a time"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct cp__wire_conn *pool, *ic;
        cp_err err = {0};
        pair(&pool, &ic, cases[i].pool, cases[i].ic);
        bool hs = handshake(pool, ic, cases[i].step, &err);
        ok(hs, "handshake: %s", cases[i].name);
        if (!hs)
            diag("%s", err.text);
        ok(cp__wire_conn_sealed(pool) == cases[i].sealed && cp__wire_conn_sealed(ic) == cases[i].sealed,
           "handshake: %s: sealed is %d on both sides", cases[i].name, cases[i].sealed);
        exchange(pool, ic, cases[i].step, cases[i].name);
        unpair(pool, ic);
    }
}

static void test_wrong_secret(void)
{
    struct cp__wire_conn *pool = cp__wire_conn_create(CP_WIRE_POOL, SECRET_B, false, NULL);
    struct cp__wire_conn *ic = cp__wire_conn_create(CP_WIRE_INTERCHANGE, SECRET_A, false, NULL);
    struct cp__wire_buf b = {0};
    struct cp__wire_msg in[2], hello = {.type = CP_WIRE_CLIENT_HELLO};
    struct cp__wire_msg sh = {.type = CP_WIRE_SERVER_HELLO};
    cp_err err = {0};
    (void)cp__wire_conn_send(pool, &hello, &b, &err);
    size_t cn_off = CP_WIRE_HEADER_LEN + 4;      /* 92 01 c4 20 | nonce */
    unsigned char cn[32], sn[32];
    memcpy(cn, b.data + cn_off, 32);
    (void)deliver(ic, &b, 1 << 20, in, 2, &err);
    cp__wire_msg_clear(&in[0]);
    (void)cp__wire_conn_send(ic, &sh, &b, &err);
    memcpy(sn, b.data + CP_WIRE_HEADER_LEN + 3, 32);   /* 92 c4 20 | nonce */
    int n = deliver(pool, &b, 1 << 20, in, 2, &err);
    ok(n == -1 && strstr(err.text, "the interchange failed authentication"),
       "wrong secret: the pool refuses the interchange's proof");
    is_int(cp__wire_conn_failure(pool), CP_WIRE_WHY_AUTH, "wrong secret: the pool's failure is AUTH");
    struct cp__wire_msg reg = sample_register();
    ok(cp__wire_conn_send(pool, &reg, &b, &err) < 0 && strstr(err.text, "failed connection"),
       "a failed pool cannot register");
    ok(cp__wire_conn_refuse(pool, 0, NULL, &b, &err) == 0, "the pool can still refuse");
    n = deliver(ic, &b, 1 << 20, in, 2, &err);
    ok(n == 1 && in[0].type == CP_WIRE_REFUSE && in[0].u.refuse.code == CP_WIRE_WHY_AUTH &&
       strstr(in[0].u.refuse.reason, "failed authentication"),
       "the interchange reads the pool's REFUSE with its reason");
    if (n == 1)
        cp__wire_msg_clear(&in[0]);
    cp__wire_conn_destroy(ic);
    cp__wire_conn_destroy(pool);

    /* The interchange's side: a REGISTER whose proof was made with another secret. */
    ic = cp__wire_conn_create(CP_WIRE_INTERCHANGE, SECRET_A, false, NULL);
    pool = cp__wire_conn_create(CP_WIRE_POOL, SECRET_A, false, NULL);
    (void)cp__wire_conn_send(pool, &hello, &b, &err);
    memcpy(cn, b.data + cn_off, 32);
    (void)deliver(ic, &b, 1 << 20, in, 2, &err);
    cp__wire_msg_clear(&in[0]);
    (void)cp__wire_conn_send(ic, &sh, &b, &err);
    memcpy(sn, b.data + CP_WIRE_HEADER_LEN + 3, 32);
    b.len = 0;
    (void)cp__wire_proof(SECRET_B, CP_WIRE_POOL, cn, sn, reg.u.reg.proof);
    struct cp__wire_buf body = {0};
    (void)cp__wire_msg_pack(&reg, &body, &err);
    (void)cp__wire_frame_encode(&b, CP_WIRE_REGISTER, 0, body.data, body.len, &err);
    n = deliver(ic, &b, 1 << 20, in, 2, &err);
    ok(n == -1 && strstr(err.text, "pool failed authentication"),
       "wrong secret: the interchange refuses the pool's proof");
    ok(cp__wire_conn_refuse(ic, 0, NULL, &b, &err) == 0 && b.len > 0,
       "the interchange answers with a REFUSE");
    n = deliver(pool, &b, 1 << 20, in, 2, &err);
    ok(n == 1 && in[0].u.refuse.code == CP_WIRE_WHY_AUTH, "the pool reads it");
    if (n == 1)
        cp__wire_msg_clear(&in[0]);
    cp__wire_buf_free(&body);
    cp__wire_buf_free(&b);
    unpair(pool, ic);
}

/* Changes REGISTER in transit (through a re-encoded body). */
static void mitm_register(struct cp__wire_buf *b, void (*edit)(struct cp_value *))
{
    struct cp_value root;
    struct cp__wire_buf body = {0};
    if (cp__value_decode(b->data + CP_WIRE_HEADER_LEN, b->len - CP_WIRE_HEADER_LEN, &root, NULL) < 0)
        return;
    edit(&root);
    (void)cp__value_encode(&root, &body.data, &body.len, &body.cap, NULL);
    cp__value_clear(&root);
    b->len = 0;
    (void)cp__wire_frame_encode(b, CP_WIRE_REGISTER, 0, body.data, body.len, NULL);
    cp__wire_buf_free(&body);
}

static void e_no_encrypt(struct cp_value *r) { cp__value_bool(at(r, 10), false); }
static void e_hostname(struct cp_value *r) { set_str(at(r, 2), "evil", 4); }

/* Runs the handshake with REGISTER edited in transit; returns the pool's error. */
static int tampered_handshake(bool pool_enc, void (*edit)(struct cp_value *), cp_err *err)
{
    struct cp__wire_conn *pool, *ic;
    pair(&pool, &ic, pool_enc, false);
    struct cp__wire_buf b = {0};
    struct cp__wire_msg in[2], hello = {.type = CP_WIRE_CLIENT_HELLO};
    struct cp__wire_msg sh = {.type = CP_WIRE_SERVER_HELLO}, reg = sample_register(),
                        wel = sample_welcome();
    int n = -9;
    if (cp__wire_conn_send(pool, &hello, &b, err) == 0 && deliver(ic, &b, 64, in, 2, err) == 1) {
        cp__wire_msg_clear(&in[0]);
        if (cp__wire_conn_send(ic, &sh, &b, err) == 0 && deliver(pool, &b, 64, in, 2, err) == 1) {
            cp__wire_msg_clear(&in[0]);
            if (cp__wire_conn_send(pool, &reg, &b, err) == 0) {
                mitm_register(&b, edit);
                if (deliver(ic, &b, 64, in, 2, err) == 1) {
                    cp__wire_msg_clear(&in[0]);
                    if (cp__wire_conn_send(ic, &wel, &b, err) == 0)
                        n = deliver(pool, &b, 64, in, 2, err);
                    if (n == 1)
                        cp__wire_msg_clear(&in[0]);
                }
            }
        }
    }
    cp__wire_buf_free(&b);
    unpair(pool, ic);
    return n;
}

static void test_tamper_handshake(void)
{
    cp_err err = {0};
    int n = tampered_handshake(true, e_no_encrypt, &err);
    ok(n == -1 && strstr(err.text, "did not seal WELCOME, but this pool asked for encryption"),
       "downgrade: flipping wants_encryption in transit makes the pool refuse");
    n = tampered_handshake(false, e_hostname, &err);
    ok(n == -1 && strstr(err.text, "WELCOME does not confirm this handshake"),
       "an altered REGISTER is caught by the WELCOME's transcript tag");
}

/* Three sealed TASKS frames from a fresh encrypted pair; the pool is still unread. */
static void sealed_setup(struct cp__wire_conn **pool, struct cp__wire_conn **ic,
                         struct cp__wire_buf *frames, size_t off[4])
{
    pair(pool, ic, true, true);
    (void)handshake(*pool, *ic, 1 << 20, NULL);
    struct cp_value arg;
    struct cp__wire_task t;
    struct cp__wire_msg tasks = golden_tasks_msg(&t, &arg);
    for (int i = 0; i < 3; i++) {
        off[i] = frames->len;
        t.task_id = i;
        (void)cp__wire_conn_send(*ic, &tasks, frames, NULL);
    }
    off[3] = frames->len;
}

static int feed_bytes(struct cp__wire_conn *c, const void *p, size_t n, int *msgs, cp_err *err)
{
    struct cp__wire_buf b = {0};
    struct cp__wire_msg in[8];
    (void)cp__wire_buf_reserve(&b, n, NULL);
    memcpy(b.data, p, n);
    b.len = n;
    int k = deliver(c, &b, 1 << 20, in, 8, err);
    if (k > 0)
        clear_msgs(in, k > 8 ? 8 : k);
    *msgs = k;
    cp__wire_buf_free(&b);
    return k;
}

static void test_sealed_attacks(void)
{
    static const char *const names[] = {
        "a flipped body byte", "a replayed frame", "frames out of order",
        "a header type changed", "the sealed flag cleared", "a sealed frame from another connection"};
    for (int k = 0; k < 6; k++) {
        struct cp__wire_conn *pool, *ic;
        struct cp__wire_buf f = {0};
        size_t off[4];
        cp_err err = {0};
        int msgs = 0;
        sealed_setup(&pool, &ic, &f, off);
        size_t l0 = off[1] - off[0];
        int rc = 0;
        switch (k) {
        case 0:
            f.data[off[0] + CP_WIRE_HEADER_LEN + 20] ^= 1;
            rc = feed_bytes(pool, f.data, f.len, &msgs, &err);
            break;
        case 1:
            rc = feed_bytes(pool, f.data, l0, &msgs, &err);
            rc = rc == 1 ? feed_bytes(pool, f.data, l0, &msgs, &err) : -2;
            break;
        case 2:
            rc = feed_bytes(pool, f.data + off[1], off[2] - off[1], &msgs, &err);
            break;
        case 3:
            f.data[off[0] + 5] = CP_WIRE_HOLD;
            rc = feed_bytes(pool, f.data, l0, &msgs, &err);
            break;
        case 4:
            f.data[off[0] + 7] = 0;
            rc = feed_bytes(pool, f.data, l0, &msgs, &err);
            break;
        case 5: {
            struct cp__wire_conn *p2, *i2;
            struct cp__wire_buf f2 = {0};
            size_t o2[4];
            sealed_setup(&p2, &i2, &f2, o2);
            rc = feed_bytes(pool, f2.data, o2[1], &msgs, &err);
            cp__wire_buf_free(&f2);
            unpair(p2, i2);
            break;
        }
        }
        const char *want = k == 4 ? "unsealed TASKS frame on an encrypted connection"
                                  : "failed authentication (tampered with, replayed";
        ok(rc == -1 && strstr(err.text, want), "sealed frames: %s is refused", names[k]);
        if (rc != -1 || !strstr(err.text, want))
            diag("rc %d: %s", rc, err.text);
        if (k != 4)
            is_int(cp__wire_conn_failure(pool), CP_WIRE_WHY_SEAL, "  … as a SEAL failure");
        cp__wire_buf_free(&f);
        unpair(pool, ic);
    }
}

/* ------------------------------------------------------------------ refusals */

/* Feeds raw bytes to a fresh interchange connection; the refusal text. */
static int raw_to_ic(const void *p, size_t n, size_t step, cp_err *err)
{
    struct cp__wire_conn *ic = cp__wire_conn_create(CP_WIRE_INTERCHANGE, SECRET_A, false, NULL);
    struct cp__wire_buf b = {0};
    struct cp__wire_msg in[4];
    (void)cp__wire_buf_reserve(&b, n, NULL);
    memcpy(b.data, p, n);
    b.len = n;
    int k = deliver(ic, &b, step, in, 4, err);
    if (k > 0)
        clear_msgs(in, k > 4 ? 4 : k);
    if (k >= 0 && cp__wire_conn_eof(ic, err) < 0)
        k = -1;
    cp__wire_buf_free(&b);
    cp__wire_conn_destroy(ic);
    return k;
}

static void test_refusals(void)
{
    cp_err err = {0};
    unsigned char h[64];
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ok(raw_to_ic(http, sizeof http - 1, 1, &err) == -1 &&
       strstr(err.text, "not a cparsl wire frame: it starts 47 45 54 20 (\"GET \"), a frame "
                        "starts 43 50 57 52 (\"CPWR\")"),
       "bad magic: an HTTP request is refused after 4 bytes, both magics shown");
    unsigned char junk[256];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof junk; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        junk[i] = (unsigned char)x;
    }
    ok(raw_to_ic(junk, sizeof junk, 3, &err) == -1 && strstr(err.text, "not a cparsl wire frame"),
       "garbage bytes are refused");

    /* Version: header 4, and a hello whose body says 4. */
    cp__wire_header_put(h, 4, CP_WIRE_CLIENT_HELLO, 0, 36);
    ok(raw_to_ic(h, 12, 1, &err) == -1 && strstr(err.text, "peer speaks wire protocol 4, this side 3"),
       "a version-4 header: 'peer speaks wire protocol 4, this side 3'");
    is_int(err.code, EPROTONOSUPPORT, "  … with EPROTONOSUPPORT");
    {
        struct cp__wire_msg hello = {.type = CP_WIRE_CLIENT_HELLO};
        hello.u.client_hello.version = 4;
        struct cp__wire_buf body = {0}, b = {0};
        (void)cp__wire_msg_pack(&hello, &body, NULL);
        (void)cp__wire_frame_encode(&b, CP_WIRE_CLIENT_HELLO, 0, body.data, body.len, NULL);
        ok(raw_to_ic(b.data, b.len, 5, &err) == -1 &&
           strstr(err.text, "peer speaks wire protocol 4, this side 3"),
           "a hello body saying version 4 is refused the same way");
        cp__wire_buf_free(&body);
        cp__wire_buf_free(&b);
    }
    {
        /* The interchange words its REFUSE by role; a pool of any version reads it,
         * here a version-3 pool reading a REFUSE framed as version 7. */
        struct cp__wire_conn *ic = cp__wire_conn_create(CP_WIRE_INTERCHANGE, SECRET_A, false, NULL);
        struct cp__wire_buf b = {0};
        struct cp__wire_msg in[2];
        size_t used;
        cp__wire_header_put(h, 4, CP_WIRE_CLIENT_HELLO, 0, 36);
        (void)cp__wire_conn_recv(ic, h, 12, &used, NULL, &err);
        ok(cp__wire_conn_refuse(ic, 0, NULL, &b, &err) == 0, "the interchange refuses the version");
        struct cp__wire_msg back;
        bool okay = b.len > 12 && cp__wire_msg_decode(CP_WIRE_REFUSE, b.data + 12, b.len - 12, &back, &err) == 0;
        ok(okay && back.u.refuse.code == CP_WIRE_WHY_VERSION && back.u.refuse.version == 3 &&
           strcmp(back.u.refuse.reason, "pool speaks wire protocol 4, interchange speaks 3") == 0,
           "REFUSE: 'pool speaks wire protocol 4, interchange speaks 3', code VERSION");
        if (okay)
            cp__wire_msg_clear(&back);
        b.data[4] = 7;
        struct cp__wire_conn *pool = cp__wire_conn_create(CP_WIRE_POOL, SECRET_A, false, NULL);
        struct cp__wire_msg hello = {.type = CP_WIRE_CLIENT_HELLO};
        struct cp__wire_buf hb = {0};
        (void)cp__wire_conn_send(pool, &hello, &hb, NULL);
        int n = deliver(pool, &b, 1, in, 2, &err);
        ok(n == 1 && in[0].type == CP_WIRE_REFUSE &&
           strstr(in[0].u.refuse.reason, "pool speaks wire protocol 4"),
           "a pool reads a REFUSE framed in another protocol version");
        if (n == 1)
            cp__wire_msg_clear(&in[0]);
        size_t u;
        ok(cp__wire_conn_recv(pool, "x", 1, &u, NULL, &err) == -1 &&
           strstr(err.text, "the interchange refused the connection: pool speaks"),
           "after a REFUSE the pool's connection says who refused and why");
        cp__wire_header_put(h, 7, CP_WIRE_HEARTBEAT, 0, 1);
        struct cp__wire_reader r;
        cp__wire_reader_init(&r, ~0u, CP_WIRE_SEAL_NO);
        struct cp__wire_frame f;
        ok(cp__wire_reader_feed(&r, h, 12, &u, &f, &err) == -1 &&
           strstr(err.text, "peer speaks wire protocol 7, this side 3"),
           "only REFUSE is read across versions");
        cp__wire_buf_free(&b);
        cp__wire_buf_free(&hb);
        unpair(pool, ic);
    }

    cp__wire_header_put(h, CP_WIRE_VERSION, 99, 0, 0);
    ok(raw_to_ic(h, 12, 1, &err) == -1 && strstr(err.text, "unknown frame type 99"), "unknown type");
    cp__wire_header_put(h, CP_WIRE_VERSION, CP_WIRE_CLIENT_HELLO, 0x8000, 0);
    ok(raw_to_ic(h, 12, 1, &err) == -1 && strstr(err.text, "unknown flag bits 0x8000"),
       "unknown flag bits");
    cp__wire_header_put(h, CP_WIRE_VERSION, CP_WIRE_CLIENT_HELLO, CP_WIRE_FLAG_SEALED, 52);
    ok(raw_to_ic(h, 12, 1, &err) == -1 &&
       strstr(err.text, "sealed CLIENT_HELLO frame before encryption was agreed"),
       "a sealed frame before the handshake");

    /* Out of state. */
    cp__wire_header_put(h, CP_WIRE_VERSION, CP_WIRE_RESULTS, 0, 2);
    ok(raw_to_ic(h, 12, 1, &err) == -1 &&
       strstr(err.text, "RESULTS frame not allowed before authentication (expecting CLIENT_HELLO)"),
       "RESULTS before authentication");
    cp__wire_header_put(h, CP_WIRE_VERSION, CP_WIRE_HEARTBEAT, 0, 4);
    ok(raw_to_ic(h, 12, 1, &err) == -1 && strstr(err.text, "HEARTBEAT frame not allowed before"),
       "HEARTBEAT before authentication");
    cp__wire_header_put(h, CP_WIRE_VERSION, CP_WIRE_TASKS, 0, 2);
    ok(raw_to_ic(h, 12, 1, &err) == -1 &&
       strstr(err.text, "TASKS frame refused: only the interchange sends TASKS"),
       "TASKS sent to an interchange");
    {
        struct cp__wire_conn *pool = cp__wire_conn_create(CP_WIRE_POOL, SECRET_A, false, NULL);
        struct cp__wire_msg hello = {.type = CP_WIRE_CLIENT_HELLO};
        struct cp__wire_buf hb = {0};
        size_t u;
        (void)cp__wire_conn_send(pool, &hello, &hb, NULL);
        ok(cp__wire_conn_recv(pool, h, 12, &u, NULL, &err) == -1 &&
           strstr(err.text, "TASKS frame not allowed before authentication (expecting SERVER_HELLO)"),
           "TASKS before authentication, at a pool");
        ok(cp__wire_conn_recv(pool, h, 12, &u, NULL, &err) == -1 &&
           strstr(err.text, "already failed: TASKS frame not allowed"),
           "a failed connection repeats its failure");
        cp__wire_buf_free(&hb);
        cp__wire_conn_destroy(pool);
    }
    {
        struct cp__wire_conn *pool, *ic;
        pair(&pool, &ic, false, false);
        (void)handshake(pool, ic, 1 << 20, NULL);
        struct cp__wire_msg hello = {.type = CP_WIRE_CLIENT_HELLO};
        struct cp__wire_buf b = {0};
        ok(cp__wire_conn_send(pool, &hello, &b, &err) < 0 &&
           strstr(err.text, "cannot send CLIENT_HELLO after the handshake"),
           "a second hello cannot be sent");
        cp__wire_header_put(h, CP_WIRE_VERSION, CP_WIRE_CLIENT_HELLO, 0, 36);
        size_t u;
        ok(cp__wire_conn_recv(ic, h, 12, &u, NULL, &err) == -1 &&
           strstr(err.text, "CLIENT_HELLO frame not allowed after the handshake"),
           "nor received");
        cp__wire_buf_free(&b);
        unpair(pool, ic);
    }

    /* Oversize, refused on the header alone. */
    cp__wire_header_put(h, CP_WIRE_VERSION, CP_WIRE_CLIENT_HELLO, 0, CP_WIRE_CAP_HELLO + 1);
    memset(h + 12, 0, 52);
    {
        struct cp__wire_reader r;
        struct cp__wire_frame f;
        size_t u;
        cp__wire_reader_init(&r, ~0u, CP_WIRE_SEAL_NO);
        ok(cp__wire_reader_feed(&r, h, 64, &u, &f, &err) == -1 && u == 12 && r.bcap == 0 &&
           strstr(err.text, "CLIENT_HELLO frame of 257 bytes is over its cap of 256 bytes"),
           "oversize before authentication: refused at the header, no body read");
        is_int(r.why, CP_WIRE_WHY_TOO_BIG, "  … as TOO_BIG");
        is_int(err.code, EMSGSIZE, "  … with EMSGSIZE");
    }

    /* Truncation. */
    struct cp__wire_msg hello = {.type = CP_WIRE_CLIENT_HELLO};
    struct cp__wire_buf b = {0};
    struct cp__wire_conn *pool = cp__wire_conn_create(CP_WIRE_POOL, SECRET_A, false, NULL);
    (void)cp__wire_conn_send(pool, &hello, &b, NULL);
    ok(raw_to_ic(b.data, 7, 1, &err) == -1 &&
       strstr(err.text, "connection closed mid-frame: got 7 of 12 header bytes"),
       "truncated in the header");
    ok(raw_to_ic(b.data, 20, 3, &err) == -1 &&
       strstr(err.text, "connection closed mid-frame: got 8 of 36 body bytes of a CLIENT_HELLO frame"),
       "truncated in the body");
    ok(raw_to_ic(b.data, b.len, 1, &err) == 1, "a whole frame, then a close, is clean");
    cp__wire_buf_free(&b);
    cp__wire_conn_destroy(pool);

    /* A pool's REFUSE before anything else (the interchange is full, say). */
    {
        struct cp__wire_conn *ic = cp__wire_conn_create(CP_WIRE_INTERCHANGE, SECRET_A, false, NULL);
        struct cp__wire_conn *p = cp__wire_conn_create(CP_WIRE_POOL, SECRET_A, false, NULL);
        struct cp__wire_msg in[2], tasks = {.type = CP_WIRE_TASKS};
        ok(cp__wire_conn_send(ic, &tasks, &b, &err) < 0 &&
           strstr(err.text, "cannot send TASKS before authentication (expecting CLIENT_HELLO)"),
           "no TASKS can be sent before the handshake");
        ok(cp__wire_conn_refuse(ic, 0, NULL, &b, &err) < 0 && strstr(err.text, "nothing to refuse"),
           "refuse needs a reason when nothing failed");
        ok(cp__wire_conn_refuse(ic, CP_WIRE_WHY_POLICY, "too many pools", &b, &err) == 0,
           "an interchange may refuse at once");
        int n = deliver(p, &b, 2, in, 2, &err);
        ok(n == 1 && in[0].u.refuse.code == CP_WIRE_WHY_POLICY &&
           strcmp(in[0].u.refuse.reason, "too many pools") == 0, "the pool reads it before its hello");
        if (n == 1)
            cp__wire_msg_clear(&in[0]);
        ok(cp__wire_conn_refuse(ic, CP_WIRE_WHY_POLICY, "again", &b, &err) < 0 &&
           strstr(err.text, "closed"), "nothing is sent after a REFUSE");
        cp__wire_buf_free(&b);
        unpair(p, ic);
    }
}

/* ------------------------------------------------------------------ feeding */

static void test_splits(void)
{
    /* A stream of many frames fed in every piece size from 1 to 40. */
    struct cp__wire_buf s = {0};
    struct cp__wire_msg reg = sample_register(), hb = {.type = CP_WIRE_HEARTBEAT};
    struct cp__wire_msg dr = {.type = CP_WIRE_DRAIN};
    int nframes = 0;
    for (int i = 0; i < 10; i++) {
        struct cp__wire_buf body = {0};
        const struct cp__wire_msg *m = i % 3 == 0 ? &reg : i % 3 == 1 ? &hb : &dr;
        (void)cp__wire_msg_pack(m, &body, NULL);
        (void)cp__wire_frame_encode(&s, m->type, 0, body.data, body.len, NULL);
        cp__wire_buf_free(&body);
        nframes++;
    }
    bool all = true;
    for (size_t step = 1; step <= 40 && all; step++) {
        struct cp__wire_reader r;
        cp__wire_reader_init(&r, ~0u, CP_WIRE_SEAL_NO);
        int got = 0;
        for (size_t off = 0; off < s.len;) {
            size_t len = s.len - off < step ? s.len - off : step;
            while (len) {
                struct cp__wire_frame f;
                size_t used;
                int rc = cp__wire_reader_feed(&r, s.data + off, len, &used, &f, NULL);
                off += used;
                len -= used;
                if (rc < 0) {
                    all = false;
                    len = 0;
                    off = s.len;
                } else if (rc == 1) {
                    struct cp__wire_msg m;
                    const struct cp__wire_msg *want = got % 3 == 0 ? &reg : got % 3 == 1 ? &hb : &dr;
                    if (cp__wire_msg_decode(f.type, f.body, f.len, &m, NULL) == 0) {
                        all = all && cp__wire_msg_equal(&m, want);
                        cp__wire_msg_clear(&m);
                    } else {
                        all = false;
                    }
                    cp__wire_frame_clear(&f);
                    got++;
                }
            }
        }
        all = all && got == nframes && cp__wire_reader_eof(&r, NULL) == 0;
        cp__wire_reader_clear(&r);
    }
    ok(all, "a stream of %d frames reads the same in pieces of every size from 1 to 40", nframes);
    cp__wire_buf_free(&s);
}

/* ------------------------------------------------------------------ caps */

static void test_big_cap(void)
{
    unsigned char h[CP_WIRE_HEADER_LEN + 100] = {0};
    struct cp__wire_reader r;
    struct cp__wire_frame f;
    size_t u;
    cp_err err = {0};
    cp__wire_header_put(h, CP_WIRE_VERSION, CP_WIRE_TASKS, 0, CP_WIRE_CAP_BATCH);
    cp__wire_reader_init(&r, ~0u, CP_WIRE_SEAL_NO);
    ok(cp__wire_reader_feed(&r, h, sizeof h, &u, &f, &err) == 0 && u == sizeof h,
       "a TASKS header of exactly 64 MiB is accepted");
    ok(r.bcap > 0 && r.bcap <= (1u << 20), "  … and 100 body bytes cost %zu bytes, not 64 MiB", r.bcap);
    ok(cp__wire_reader_eof(&r, &err) == -1 &&
       strstr(err.text, "got 100 of 67108864 body bytes of a TASKS frame"), "  … then closing is truncation");
    cp__wire_reader_clear(&r);

    cp__wire_header_put(h, CP_WIRE_VERSION, CP_WIRE_TASKS, 0, CP_WIRE_CAP_BATCH + 1);
    cp__wire_reader_init(&r, ~0u, CP_WIRE_SEAL_NO);
    ok(cp__wire_reader_feed(&r, h, sizeof h, &u, &f, &err) == -1 && u == 12 &&
       strstr(err.text, "TASKS frame of 67108865 bytes is over its cap of 67108864 bytes"),
       "64 MiB + 1 is refused at the header");
    cp__wire_reader_init(&r, ~0u, CP_WIRE_SEAL_EITHER);
    cp__wire_header_put(h, CP_WIRE_VERSION, CP_WIRE_RESULTS, CP_WIRE_FLAG_SEALED, CP_WIRE_CAP_BATCH + 16);
    ok(cp__wire_reader_feed(&r, h, 12, &u, &f, &err) == 0, "a sealed 64 MiB body may carry its 16-byte tag");
    cp__wire_reader_clear(&r);
    cp__wire_reader_init(&r, ~0u, CP_WIRE_SEAL_EITHER);
    cp__wire_header_put(h, CP_WIRE_VERSION, CP_WIRE_RESULTS, CP_WIRE_FLAG_SEALED, CP_WIRE_CAP_BATCH + 17);
    ok(cp__wire_reader_feed(&r, h, 12, &u, &f, &err) == -1, "  … and not a byte more");

    /* The writers refuse before reading the body: the pointer covers 100 bytes. */
    struct cp__wire_buf b = {0};
    ok(cp__wire_frame_encode(&b, CP_WIRE_TASKS, 0, h, (size_t)CP_WIRE_CAP_BATCH + 1, &err) < 0 &&
       err.code == EMSGSIZE && b.len == 0 && b.data == NULL, "frame_encode refuses 64 MiB + 1 unread");
    struct cp__wire_conn *pool, *ic;
    pair(&pool, &ic, false, false);
    (void)handshake(pool, ic, 1 << 20, NULL);
    ok(cp__wire_conn_write(ic, CP_WIRE_TASKS, h, (size_t)CP_WIRE_CAP_BATCH + 1, &b, &err) < 0 &&
       strstr(err.text, "send fewer per frame") && b.len == 0,
       "conn_write refuses 64 MiB + 1 unread");
    struct cp__wire_msg hb = {.type = CP_WIRE_HEARTBEAT};
    struct cp__wire_buf body = {0};
    (void)cp__wire_msg_pack(&hb, &body, NULL);
    ok(cp__wire_conn_write(ic, CP_WIRE_HEARTBEAT, body.data, body.len, &b, &err) == 0,
       "conn_write frames a body packed elsewhere");
    struct cp__wire_msg in[2];
    ok(deliver(pool, &b, 3, in, 2, &err) == 1 && in[0].type == CP_WIRE_HEARTBEAT, "  … and the pool reads it");
    cp__wire_msg_clear(&in[0]);
    ok(cp__wire_conn_write(ic, CP_WIRE_WELCOME, body.data, body.len, &b, &err) < 0 &&
       strstr(err.text, "use cp__wire_conn_send"), "conn_write refuses handshake types");
    cp__wire_buf_free(&body);
    cp__wire_buf_free(&b);
    unpair(pool, ic);
}

/* ------------------------------------------------------------------ secrets */

static void test_secrets(void)
{
    unsigned char s[32], back[32];
    char hex[65], dir[] = "/tmp/cp-wire-XXXXXX", path[64], link[80];
    cp_err err = {0};
    ok(cp__wire_secret_new(s, &err) == 0, "a new secret");
    cp__wire_secret_hex(s, hex);
    ok(strlen(hex) == 64 && cp__wire_secret_parse(hex, back, &err) == 0 && !memcmp(s, back, 32),
       "hex form round trip");
    ok(cp__wire_secret_parse("abc", back, &err) < 0 && strstr(err.text, "64 hex digits; this one has 3"),
       "a short secret is refused");
    char junk[80];
    snprintf(junk, sizeof junk, "%s x", hex);
    ok(cp__wire_secret_parse(junk, back, &err) < 0 && strstr(err.text, "something after"),
       "junk after the secret is refused");
    if (!mkdtemp(dir)) {
        ok(0, "scratch directory");
        return;
    }
    snprintf(path, sizeof path, "%s/wire.secret", dir);
    struct stat st;
    ok(cp__wire_secret_write(path, s, &err) == 0 && stat(path, &st) == 0 &&
       (st.st_mode & 0777) == 0600, "the secret file is written with mode 0600");
    memset(back, 0, 32);
    ok(cp__wire_secret_read(path, back, &err) == 0 && !memcmp(s, back, 32), "and reads back");
    ok(cp__wire_secret_write(path, s, &err) < 0 && err.code == EEXIST, "an existing file is not overwritten");
    chmod(path, 0644);
    ok(cp__wire_secret_read(path, back, &err) < 0 && strstr(err.text, "may be read by others (mode 0644)"),
       "a file others may read is refused");
    chmod(path, 0600);
    snprintf(link, sizeof link, "%s/link", dir);
    ok(symlink(path, link) == 0 && cp__wire_secret_read(link, back, &err) < 0,
       "a symlink is not followed");
    unlink(link);
    unlink(path);
    rmdir(dir);
}

/* ------------------------------------------------------------------ threads */

#define NFRAMES 2000

struct rx_job {
    struct cp__wire_conn *pool;
    struct cp__wire_buf *in;
    int got;
};

static void *rx_thread(void *arg)
{
    struct rx_job *j = arg;
    struct cp__wire_msg m;
    size_t off = 0;
    while (off < j->in->len) {
        size_t used, len = j->in->len - off < 1000 ? j->in->len - off : 1000;
        int rc = cp__wire_conn_recv(j->pool, j->in->data + off, len, &used, &m, NULL);
        if (rc < 0)
            break;
        off += used;
        if (rc == 1) {
            j->got += m.type == CP_WIRE_TASKS && m.u.tasks.tasks[0].task_id == j->got;
            cp__wire_msg_clear(&m);
        }
    }
    return NULL;
}

static void test_threads(void)
{
    struct cp__wire_conn *pool, *ic;
    pair(&pool, &ic, true, false);
    ok(handshake(pool, ic, 1 << 20, NULL), "threads: sealed handshake");
    struct cp__wire_buf tasks = {0}, results = {0};
    struct cp_value arg;
    struct cp__wire_task t;
    struct cp__wire_msg tm = golden_tasks_msg(&t, &arg);
    for (int i = 0; i < NFRAMES; i++) {
        t.task_id = i;
        (void)cp__wire_conn_send(ic, &tm, &tasks, NULL);
    }
    struct rx_job j = {pool, &tasks, 0};
    pthread_t th;
    pthread_create(&th, NULL, rx_thread, &j);
    struct cp__wire_result r = {.ok = true, .value = &arg, .t_start = 1, .t_end = 2};
    struct cp__wire_msg rm = {.type = CP_WIRE_RESULTS};
    rm.u.results = (struct cp__wire_results){&r, 1};
    int sent = 0;
    for (int i = 0; i < NFRAMES; i++) {
        r.task_id = i;
        sent += cp__wire_conn_send(pool, &rm, &results, NULL) == 0;
    }
    pthread_join(th, NULL);
    is_int(j.got, NFRAMES, "threads: one thread read every sealed TASKS frame in order");
    is_int(sent, NFRAMES, "threads: while another sealed RESULTS on the same connection");
    struct cp__wire_msg m;
    size_t off = 0;
    int got = 0;
    while (off < results.len) {
        size_t used;
        int rc = cp__wire_conn_recv(ic, results.data + off, results.len - off, &used, &m, NULL);
        if (rc < 0)
            break;
        off += used;
        if (rc == 1) {
            got += m.u.results.results[0].task_id == got;
            cp__wire_msg_clear(&m);
        }
    }
    is_int(got, NFRAMES, "threads: the interchange opens them all, in order");
    cp__wire_buf_free(&tasks);
    cp__wire_buf_free(&results);
    unpair(pool, ic);
}

int main(void)
{
    tap_start(120);
    test_table();
    test_goldens();
    test_roundtrips();
    test_shapes();
    test_handshake();
    test_wrong_secret();
    test_tamper_handshake();
    test_sealed_attacks();
    test_refusals();
    test_splits();
    test_big_cap();
    test_secrets();
    test_threads();
    return done_testing();
}
