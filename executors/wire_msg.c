/* executors/wire_msg.c — message bodies: C structs to and from msgpack lists
 * with fixed positions, through the value codec (see wire.h, docs/wire.md
 * "Messages").
 *
 * Each type is one row of ops[]: how many positions it has, how to build its list,
 * how to read the list back, a check of the rules its fields obey, and equality.
 * The check runs on both paths — before packing and after parsing — so the sender
 * refuses exactly what the receiver would, with the same words. Parsing checks
 * only each item's type; ranges and cross-field rules are the check's. Decoded
 * strings and values are borrowed from the decoded root value, so a decoded
 * message costs one value tree plus one array block.
 */
#include "executors/wire.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest REFUSE / SHUTDOWN reason (the rest of the 1 KiB cap is the list around it). */
#define REASON_MAX 900
#define SOFTWARE_MAX 64
#define PATH_MAX_LEN 4096
#define MAX_ACCELERATORS 1024
#define MAX_WORKERS (1 << 20)

/* ------------------------------------------------------------------ errors */

/* What is being read or written: "REGISTER", "TASKS task 3". */
struct ctx {
    char what[48];
    cp_err *err;
};

static int bad(const struct ctx *c, unsigned pos, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(const struct ctx *c, unsigned pos, const char *name, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cp__errf(c->err, EPROTO, "%s item %u (%s): %s", c->what, pos, name, msg);
}

static int chk_str(const struct ctx *c, unsigned pos, const char *name, const char *s,
                   size_t lo, size_t hi, bool nullable)
{
    if (!s)
        return nullable ? 0 : bad(c, pos, name, "want str, got nil");
    size_t n = strlen(s);
    if (n < lo || n > hi)
        return lo == 1 && n == 0 ? bad(c, pos, name, "must not be empty")
                                 : bad(c, pos, name, "%zu bytes, want %zu..%zu", n, lo, hi);
    return 0;
}

static int chk_int(const struct ctx *c, unsigned pos, const char *name, int64_t v,
                   int64_t lo, int64_t hi)
{
    if (v < lo || v > hi)
        return bad(c, pos, name, "%" PRId64 " is out of range %" PRId64 "..%" PRId64, v, lo, hi);
    return 0;
}

/* Finite and lo <= v (and v <= hi when hi is not infinite); positive: v > lo. */
static int chk_num(const struct ctx *c, unsigned pos, const char *name, double v, double lo,
                   bool positive)
{
    if (!isfinite(v) || v < lo || (positive && v <= lo))
        return bad(c, pos, name, "%g is not a finite number %s %g", v, positive ? ">" : ">=", lo);
    return 0;
}

static int chk_strs(const struct ctx *c, unsigned pos, const char *name,
                    const char *const *a, size_t n, size_t max_n, size_t hi)
{
    if (n > max_n)
        return bad(c, pos, name, "%zu entries, at most %zu", n, max_n);
    if (n && !a)
        return bad(c, pos, name, "%zu entries but no array", n);
    for (size_t i = 0; i < n; i++)
        if (!a[i] || strlen(a[i]) > hi || (hi && !a[i][0]))
            return bad(c, pos, name, "entry %zu is %s", i,
                       !a[i] ? "nil" : a[i][0] ? "too long" : "empty");
    return 0;
}

/* ------------------------------------------------------------------ building */

static int add(struct cp_value *list, struct cp_value *item, cp_err *err)
{
    if (cp__value_list_add(list, item) < 0)
        return cp__errf(err, errno ? errno : ENOMEM, "out of memory building a message");
    return 0;
}

static int put_int(struct cp_value *l, int64_t i, cp_err *err)
{
    struct cp_value v;
    cp__value_int(&v, i);
    return add(l, &v, err);
}

static int put_num(struct cp_value *l, double d, cp_err *err)
{
    struct cp_value v;
    cp__value_double(&v, d);
    return add(l, &v, err);
}

static int put_bool(struct cp_value *l, bool b, cp_err *err)
{
    struct cp_value v;
    cp__value_bool(&v, b);
    return add(l, &v, err);
}

static int put_str(struct cp_value *l, const char *s, cp_err *err)
{
    struct cp_value v = {0};
    if (s && cp__value_str(&v, s, strlen(s)) < 0)
        return cp__errf(err, ENOMEM, "out of memory building a message");
    return add(l, &v, err);
}

static int put_bin(struct cp_value *l, const unsigned char *p, size_t n, cp_err *err)
{
    struct cp_value v;
    if (cp__value_bytes(&v, p, n) < 0)
        return cp__errf(err, ENOMEM, "out of memory building a message");
    return add(l, &v, err);
}

static int put_val(struct cp_value *l, const struct cp_value *x, cp_err *err)
{
    struct cp_value v = {0};
    if (x)
        cp__value_copy(&v, x);
    return add(l, &v, err);
}

/* Appends a new list of n items, filled by the caller through *sub (borrowed from l). */
static int put_list(struct cp_value *l, size_t n, struct cp_value **sub, cp_err *err)
{
    struct cp_value v;
    if (cp__value_list(&v, n) < 0)
        return cp__errf(err, ENOMEM, "out of memory building a message");
    if (add(l, &v, err) < 0)
        return -1;
    *sub = (struct cp_value *)&cp__value_items(l)[l->len - 1];
    return 0;
}

static int put_strs(struct cp_value *l, const char *const *a, size_t n, cp_err *err)
{
    struct cp_value *sub;
    if (put_list(l, n, &sub, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (put_str(sub, a[i], err) < 0)
            return -1;
    return 0;
}

static int put_vals(struct cp_value *l, const struct cp_value *a, size_t n, cp_err *err)
{
    struct cp_value *sub;
    if (put_list(l, n, &sub, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (put_val(sub, &a[i], err) < 0)
            return -1;
    return 0;
}

/* ------------------------------------------------------------------ reading */

struct rd {
    struct ctx c;
    const struct cp_value *it;
    uint32_t n;
};

static const struct cp_value *item(const struct rd *r, unsigned pos)
{
    return &r->it[pos];         /* pos < r->n: the row's item count was checked */
}

static int want(const struct rd *r, unsigned pos, const char *name, const char *type)
{
    return bad(&r->c, pos, name, "want %s, got %s", type, cp_type_name(item(r, pos)->type));
}

static int rd_int(const struct rd *r, unsigned pos, const char *name, int64_t *out)
{
    const struct cp_value *v = item(r, pos);
    if (v->type != CP_INT)
        return want(r, pos, name, "int");
    *out = v->u.i;
    return 0;
}

/* A number: float64, or an int (read as a double). */
static int rd_num(const struct rd *r, unsigned pos, const char *name, double *out)
{
    const struct cp_value *v = item(r, pos);
    if (v->type == CP_DOUBLE)
        *out = v->u.d;
    else if (v->type == CP_INT)
        *out = (double)v->u.i;
    else
        return want(r, pos, name, "number");
    return 0;
}

static int rd_bool(const struct rd *r, unsigned pos, const char *name, bool *out)
{
    const struct cp_value *v = item(r, pos);
    if (v->type != CP_BOOL)
        return want(r, pos, name, "bool");
    *out = v->u.b;
    return 0;
}

/* A C string from a str item (nil gives NULL); a NUL inside is refused, since
 * the receiver would silently see less than was sent. */
static int str_of(const struct ctx *c, unsigned pos, const char *name,
                  const struct cp_value *v, const char **out)
{
    if (v->type == CP_NIL) {
        *out = NULL;
        return 0;
    }
    if (v->type != CP_STR)
        return bad(c, pos, name, "want str, got %s", cp_type_name(v->type));
    const char *s = cp__value_strp(v);
    if (memchr(s, '\0', v->len))
        return bad(c, pos, name, "holds a NUL byte");
    *out = s;
    return 0;
}

static int rd_str(const struct rd *r, unsigned pos, const char *name, const char **out)
{
    return str_of(&r->c, pos, name, item(r, pos), out);
}

static int rd_bin(const struct rd *r, unsigned pos, const char *name, unsigned char *out,
                  size_t n)
{
    const struct cp_value *v = item(r, pos);
    if (v->type != CP_BYTES)
        return want(r, pos, name, "bytes");
    if (v->len != n)
        return bad(&r->c, pos, name, "%" PRIu32 " bytes, want %zu", v->len, n);
    memcpy(out, cp__value_strp(v), n);
    return 0;
}

static int rd_list(const struct rd *r, unsigned pos, const char *name,
                   const struct cp_value **items, size_t *n)
{
    const struct cp_value *v = item(r, pos);
    if (v->type != CP_LIST)
        return want(r, pos, name, "list");
    *items = cp__value_items(v);
    *n = v->len;
    return 0;
}

/* A list of strings into slots (room for its length, counted beforehand). */
static int rd_strs(const struct rd *r, unsigned pos, const char *name, const char **slots,
                   size_t *n)
{
    const struct cp_value *items = NULL;
    if (rd_list(r, pos, name, &items, n) < 0)
        return -1;
    for (size_t i = 0; i < *n; i++) {
        if (items[i].type != CP_STR)
            return bad(&r->c, pos, name, "entry %zu: want str, got %s", i,
                       cp_type_name(items[i].type));
        if (str_of(&r->c, pos, name, &items[i], &slots[i]) < 0)
            return -1;
    }
    return 0;
}

/* A nested record (a task, a result): must be a list of at least need items. */
static int rd_record(struct rd *sub, const struct cp_value *v, const char *kind, size_t idx,
                     const char *msg, unsigned need, cp_err *err)
{
    snprintf(sub->c.what, sizeof sub->c.what, "%s %s %zu", msg, kind, idx);
    sub->c.err = err;
    if (v->type != CP_LIST)
        return cp__errf(err, EPROTO, "%s: want list, got %s", sub->c.what,
                        cp_type_name(v->type));
    if (v->len < need)
        return cp__errf(err, EPROTO, "%s has %" PRIu32 " items, needs %u", sub->c.what,
                        v->len, need);
    sub->it = cp__value_items(v);
    sub->n = v->len;
    return 0;
}

/* ------------------------------------------------------------------ handshake */

static int check_client_hello(const struct cp__wire_msg *m, struct ctx *c)
{
    return chk_int(c, 0, "version", m->u.client_hello.version, 0, 255);
}

static int build_client_hello(const struct cp__wire_msg *m, struct cp_value *l, cp_err *e)
{
    const struct cp__wire_client_hello *h = &m->u.client_hello;
    return put_int(l, h->version, e) || put_bin(l, h->nonce, sizeof h->nonce, e) ? -1 : 0;
}

static int parse_client_hello(const struct rd *r, struct cp__wire_msg *m)
{
    struct cp__wire_client_hello *h = &m->u.client_hello;
    return rd_int(r, 0, "version", &h->version) ||
           rd_bin(r, 1, "client_nonce", h->nonce, sizeof h->nonce) ? -1 : 0;
}

static bool equal_client_hello(const struct cp__wire_msg *a, const struct cp__wire_msg *b)
{
    return a->u.client_hello.version == b->u.client_hello.version &&
           !memcmp(a->u.client_hello.nonce, b->u.client_hello.nonce, CP_WIRE_NONCE_LEN);
}

static int check_none(const struct cp__wire_msg *m, struct ctx *c)
{
    (void)m;
    (void)c;
    return 0;
}

static int build_server_hello(const struct cp__wire_msg *m, struct cp_value *l, cp_err *e)
{
    const struct cp__wire_server_hello *h = &m->u.server_hello;
    return put_bin(l, h->nonce, sizeof h->nonce, e) || put_bin(l, h->proof, sizeof h->proof, e)
           ? -1 : 0;
}

static int parse_server_hello(const struct rd *r, struct cp__wire_msg *m)
{
    struct cp__wire_server_hello *h = &m->u.server_hello;
    return rd_bin(r, 0, "server_nonce", h->nonce, sizeof h->nonce) ||
           rd_bin(r, 1, "server_proof", h->proof, sizeof h->proof) ? -1 : 0;
}

static bool equal_server_hello(const struct cp__wire_msg *a, const struct cp__wire_msg *b)
{
    return !memcmp(&a->u.server_hello, &b->u.server_hello, sizeof a->u.server_hello);
}

static bool streq(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

static bool strs_eq(const char *const *a, size_t na, const char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!streq(a[i], b[i]))
            return false;
    return true;
}

static int check_register(const struct cp__wire_msg *m, struct ctx *c)
{
    const struct cp__wire_register *g = &m->u.reg;
    if (chk_str(c, 1, "pool_id", g->pool_id, 1, 128, false) ||
        chk_str(c, 2, "hostname", g->hostname, 1, 255, false) ||
        chk_str(c, 3, "block_id", g->block_id, 0, 64, false) ||
        chk_int(c, 4, "pid", g->pid, 1, INT32_MAX) ||
        chk_int(c, 5, "cores", g->cores, 1, INT32_MAX) ||
        chk_num(c, 6, "memory_gb", g->memory_gb, 0, false) ||
        chk_strs(c, 7, "accelerators", g->accelerators, g->naccelerators, MAX_ACCELERATORS, 256) ||
        chk_int(c, 8, "worker_count", g->worker_count, 0, MAX_WORKERS) ||
        chk_int(c, 9, "max_capacity", g->max_capacity, g->worker_count, INT32_MAX) ||
        chk_str(c, 11, "software", g->software, 0, SOFTWARE_MAX, false))
        return -1;
    return 0;
}

static int build_register(const struct cp__wire_msg *m, struct cp_value *l, cp_err *e)
{
    const struct cp__wire_register *g = &m->u.reg;
    return put_bin(l, g->proof, sizeof g->proof, e) || put_str(l, g->pool_id, e) ||
           put_str(l, g->hostname, e) || put_str(l, g->block_id, e) || put_int(l, g->pid, e) ||
           put_int(l, g->cores, e) || put_num(l, g->memory_gb, e) ||
           put_strs(l, g->accelerators, g->naccelerators, e) ||
           put_int(l, g->worker_count, e) || put_int(l, g->max_capacity, e) ||
           put_bool(l, g->wants_encryption, e) || put_str(l, g->software, e) ? -1 : 0;
}

static int parse_register(const struct rd *r, struct cp__wire_msg *m)
{
    struct cp__wire_register *g = &m->u.reg;
    const struct cp_value *acc = NULL;
    size_t nacc = 0;
    if (rd_list(r, 7, "accelerators", &acc, &nacc) < 0)
        return -1;
    if (nacc > MAX_ACCELERATORS)
        return bad(&r->c, 7, "accelerators", "%zu entries, at most %d", nacc, MAX_ACCELERATORS);
    const char **slots = NULL;
    if (nacc && !(slots = calloc(nacc, sizeof *slots)))
        return cp__errf(r->c.err, ENOMEM, "out of memory decoding REGISTER");
    m->mem_ = slots;
    g->accelerators = slots;
    return rd_bin(r, 0, "client_proof", g->proof, sizeof g->proof) ||
           rd_str(r, 1, "pool_id", &g->pool_id) || rd_str(r, 2, "hostname", &g->hostname) ||
           rd_str(r, 3, "block_id", &g->block_id) || rd_int(r, 4, "pid", &g->pid) ||
           rd_int(r, 5, "cores", &g->cores) || rd_num(r, 6, "memory_gb", &g->memory_gb) ||
           rd_strs(r, 7, "accelerators", slots, &g->naccelerators) ||
           rd_int(r, 8, "worker_count", &g->worker_count) ||
           rd_int(r, 9, "max_capacity", &g->max_capacity) ||
           rd_bool(r, 10, "wants_encryption", &g->wants_encryption) ||
           rd_str(r, 11, "software", &g->software) ? -1 : 0;
}

static bool equal_register(const struct cp__wire_msg *a, const struct cp__wire_msg *b)
{
    const struct cp__wire_register *x = &a->u.reg, *y = &b->u.reg;
    return !memcmp(x->proof, y->proof, sizeof x->proof) && streq(x->pool_id, y->pool_id) &&
           streq(x->hostname, y->hostname) && streq(x->block_id, y->block_id) &&
           x->pid == y->pid && x->cores == y->cores && x->memory_gb == y->memory_gb &&
           strs_eq(x->accelerators, x->naccelerators, y->accelerators, y->naccelerators) &&
           x->worker_count == y->worker_count && x->max_capacity == y->max_capacity &&
           x->wants_encryption == y->wants_encryption && streq(x->software, y->software);
}

static int check_welcome(const struct cp__wire_msg *m, struct ctx *c)
{
    const struct cp__wire_welcome *w = &m->u.welcome;
    return chk_num(c, 1, "heartbeat_period", w->heartbeat_period, 0, true) ||
           chk_num(c, 2, "heartbeat_threshold", w->heartbeat_threshold, 0, true) ||
           chk_str(c, 3, "software", w->software, 0, SOFTWARE_MAX, false) ? -1 : 0;
}

static int build_welcome(const struct cp__wire_msg *m, struct cp_value *l, cp_err *e)
{
    const struct cp__wire_welcome *w = &m->u.welcome;
    return put_bin(l, w->confirm, sizeof w->confirm, e) || put_num(l, w->heartbeat_period, e) ||
           put_num(l, w->heartbeat_threshold, e) || put_str(l, w->software, e) ? -1 : 0;
}

static int parse_welcome(const struct rd *r, struct cp__wire_msg *m)
{
    struct cp__wire_welcome *w = &m->u.welcome;
    return rd_bin(r, 0, "confirm", w->confirm, sizeof w->confirm) ||
           rd_num(r, 1, "heartbeat_period", &w->heartbeat_period) ||
           rd_num(r, 2, "heartbeat_threshold", &w->heartbeat_threshold) ||
           rd_str(r, 3, "software", &w->software) ? -1 : 0;
}

static bool equal_welcome(const struct cp__wire_msg *a, const struct cp__wire_msg *b)
{
    const struct cp__wire_welcome *x = &a->u.welcome, *y = &b->u.welcome;
    return !memcmp(x->confirm, y->confirm, sizeof x->confirm) &&
           x->heartbeat_period == y->heartbeat_period &&
           x->heartbeat_threshold == y->heartbeat_threshold && streq(x->software, y->software);
}

/* ------------------------------------------------------------------ control */

static int check_refuse(const struct cp__wire_msg *m, struct ctx *c)
{
    const struct cp__wire_refuse *f = &m->u.refuse;
    return chk_int(c, 0, "code", f->code, 0, 255) ||
           chk_str(c, 1, "reason", f->reason, 0, REASON_MAX, false) ||
           chk_int(c, 2, "version", f->version, 0, 255) ? -1 : 0;
}

static int build_refuse(const struct cp__wire_msg *m, struct cp_value *l, cp_err *e)
{
    const struct cp__wire_refuse *f = &m->u.refuse;
    return put_int(l, f->code, e) || put_str(l, f->reason, e) || put_int(l, f->version, e)
           ? -1 : 0;
}

static int parse_refuse(const struct rd *r, struct cp__wire_msg *m)
{
    struct cp__wire_refuse *f = &m->u.refuse;
    return rd_int(r, 0, "code", &f->code) || rd_str(r, 1, "reason", &f->reason) ||
           rd_int(r, 2, "version", &f->version) ? -1 : 0;
}

static bool equal_refuse(const struct cp__wire_msg *a, const struct cp__wire_msg *b)
{
    const struct cp__wire_refuse *x = &a->u.refuse, *y = &b->u.refuse;
    return x->code == y->code && streq(x->reason, y->reason) && x->version == y->version;
}

static int check_heartbeat(const struct cp__wire_msg *m, struct ctx *c)
{
    const struct cp__wire_heartbeat *h = &m->u.heartbeat;
    return chk_int(c, 0, "free_slots", h->free_slots, 0, INT64_MAX) ||
           chk_int(c, 1, "running", h->running, 0, INT64_MAX) ||
           chk_int(c, 2, "queued", h->queued, 0, INT64_MAX) ? -1 : 0;
}

static int build_heartbeat(const struct cp__wire_msg *m, struct cp_value *l, cp_err *e)
{
    const struct cp__wire_heartbeat *h = &m->u.heartbeat;
    return put_int(l, h->free_slots, e) || put_int(l, h->running, e) ||
           put_int(l, h->queued, e) ? -1 : 0;
}

static int parse_heartbeat(const struct rd *r, struct cp__wire_msg *m)
{
    struct cp__wire_heartbeat *h = &m->u.heartbeat;
    return rd_int(r, 0, "free_slots", &h->free_slots) || rd_int(r, 1, "running", &h->running) ||
           rd_int(r, 2, "queued", &h->queued) ? -1 : 0;
}

static bool equal_heartbeat(const struct cp__wire_msg *a, const struct cp__wire_msg *b)
{
    return !memcmp(&a->u.heartbeat, &b->u.heartbeat, sizeof a->u.heartbeat);
}

static int build_drain(const struct cp__wire_msg *m, struct cp_value *l, cp_err *e)
{
    (void)m, (void)l, (void)e;
    return 0;
}

static int parse_drain(const struct rd *r, struct cp__wire_msg *m)
{
    (void)r, (void)m;
    return 0;
}

static bool equal_drain(const struct cp__wire_msg *a, const struct cp__wire_msg *b)
{
    (void)a, (void)b;
    return true;
}

static int check_shutdown(const struct cp__wire_msg *m, struct ctx *c)
{
    const struct cp__wire_shutdown *s = &m->u.shutdown;
    return chk_int(c, 0, "mode", s->mode, CP_WIRE_SHUTDOWN_NOW, CP_WIRE_SHUTDOWN_DRAINED) ||
           chk_str(c, 1, "reason", s->reason, 0, REASON_MAX, true) ? -1 : 0;
}

static int build_shutdown(const struct cp__wire_msg *m, struct cp_value *l, cp_err *e)
{
    return put_int(l, m->u.shutdown.mode, e) || put_str(l, m->u.shutdown.reason, e) ? -1 : 0;
}

static int parse_shutdown(const struct rd *r, struct cp__wire_msg *m)
{
    return rd_int(r, 0, "mode", &m->u.shutdown.mode) ||
           rd_str(r, 1, "reason", &m->u.shutdown.reason) ? -1 : 0;
}

static bool equal_shutdown(const struct cp__wire_msg *a, const struct cp__wire_msg *b)
{
    return a->u.shutdown.mode == b->u.shutdown.mode &&
           streq(a->u.shutdown.reason, b->u.shutdown.reason);
}

static int build_hold(const struct cp__wire_msg *m, struct cp_value *l, cp_err *e)
{
    return put_bool(l, m->u.hold.held, e);
}

static int parse_hold(const struct rd *r, struct cp__wire_msg *m)
{
    return rd_bool(r, 0, "held", &m->u.hold.held);
}

static bool equal_hold(const struct cp__wire_msg *a, const struct cp__wire_msg *b)
{
    return a->u.hold.held == b->u.hold.held;
}

static int check_interrupt(const struct cp__wire_msg *m, struct ctx *c)
{
    return chk_str(c, 0, "reason", m->u.interrupt.reason, 1, REASON_MAX, false);
}

static int build_interrupt(const struct cp__wire_msg *m, struct cp_value *l, cp_err *e)
{
    return put_str(l, m->u.interrupt.reason, e);
}

static int parse_interrupt(const struct rd *r, struct cp__wire_msg *m)
{
    return rd_str(r, 0, "reason", &m->u.interrupt.reason);
}

static bool equal_interrupt(const struct cp__wire_msg *a, const struct cp__wire_msg *b)
{
    return streq(a->u.interrupt.reason, b->u.interrupt.reason);
}

/* ------------------------------------------------------------------ TASKS */

#define TASK_ITEMS 17u

static int check_task(const struct cp__wire_task *t, struct ctx *c)
{
    bool shell = t->kind == CP_WIRE_TASK_SHELL;
    if (chk_int(c, 0, "task_id", t->task_id, 0, INT64_MAX) ||
        chk_int(c, 1, "try_id", t->try_id, 0, INT32_MAX) ||
        chk_int(c, 2, "kind", t->kind, CP_WIRE_TASK_NATIVE, CP_WIRE_TASK_HOSTED) ||
        chk_str(c, 3, "app", t->app, 1, 1024, false) ||
        chk_str(c, 4, "library", t->library, 1, PATH_MAX_LEN, t->kind != CP_WIRE_TASK_HOSTED) ||
        (t->kind == CP_WIRE_TASK_HOSTED && t->library[0] != '/' &&
         bad(c, 4, "library", "a hosted task's program must be an absolute path")) ||
        (t->nargs && !t->args && bad(c, 5, "args", "%zu args but no array", t->nargs)) ||
        (t->nargs > CP_VALUE_MAX_LEN && bad(c, 5, "args", "too many")) ||
        chk_str(c, 6, "cmd", t->cmd, 0, SIZE_MAX, !shell) ||
        (!shell && t->cmd && bad(c, 6, "cmd", "a native task has no command")) ||
        chk_str(c, 7, "stdout", t->stdout_path, 1, PATH_MAX_LEN, true) ||
        chk_str(c, 8, "stderr", t->stderr_path, 1, PATH_MAX_LEN, true) ||
        chk_num(c, 11, "walltime", t->walltime, 0, false) ||
        chk_strs(c, 12, "env", t->env, t->nenv, CP_VALUE_MAX_LEN, SIZE_MAX) ||
        chk_strs(c, 13, "outputs", t->outputs, t->noutputs, CP_VALUE_MAX_LEN, PATH_MAX_LEN) ||
        chk_int(c, 14, "priority", t->priority, INT32_MIN, INT32_MAX) ||
        chk_int(c, 15, "cores", t->cores, 0, INT32_MAX) ||
        chk_int(c, 16, "memory_mb", t->memory_mb, 0, INT64_MAX))
        return -1;
    for (size_t i = 0; i < t->nenv; i++) {
        const char *eq = strchr(t->env[i], '=');
        if (!eq || eq == t->env[i])
            return bad(c, 12, "env", "entry %zu is not NAME=value", i);
    }
    return 0;
}

static int check_tasks(const struct cp__wire_msg *m, struct ctx *c)
{
    const struct cp__wire_tasks *b = &m->u.tasks;
    if (b->n && !b->tasks)
        return bad(c, 0, "tasks", "%zu tasks but no array", b->n);
    for (size_t i = 0; i < b->n; i++) {
        struct ctx tc = {.err = c->err};
        snprintf(tc.what, sizeof tc.what, "TASKS task %zu", i);
        if (check_task(&b->tasks[i], &tc) < 0)
            return -1;
    }
    return 0;
}

static int build_task(const struct cp__wire_task *t, struct cp_value *l, cp_err *e)
{
    return put_int(l, t->task_id, e) || put_int(l, t->try_id, e) || put_int(l, t->kind, e) ||
           put_str(l, t->app, e) || put_str(l, t->library, e) ||
           put_vals(l, t->args, t->nargs, e) || put_str(l, t->cmd, e) ||
           put_str(l, t->stdout_path, e) || put_str(l, t->stderr_path, e) ||
           put_bool(l, t->stdout_append, e) || put_bool(l, t->stderr_append, e) ||
           put_num(l, t->walltime, e) || put_strs(l, t->env, t->nenv, e) ||
           put_strs(l, t->outputs, t->noutputs, e) || put_int(l, t->priority, e) ||
           put_int(l, t->cores, e) || put_int(l, t->memory_mb, e) ? -1 : 0;
}

static int build_tasks(const struct cp__wire_msg *m, struct cp_value *l, cp_err *e)
{
    struct cp_value *list, *one;
    if (put_list(l, m->u.tasks.n, &list, e) < 0)
        return -1;
    for (size_t i = 0; i < m->u.tasks.n; i++)
        if (put_list(list, TASK_ITEMS, &one, e) < 0 || build_task(&m->u.tasks.tasks[i], one, e) < 0)
            return -1;
    return 0;
}

static int parse_task(const struct rd *r, struct cp__wire_task *t, const char ***slots)
{
    const struct cp_value *args = NULL;
    if (rd_int(r, 0, "task_id", &t->task_id) || rd_int(r, 1, "try_id", &t->try_id) ||
        rd_int(r, 2, "kind", &t->kind) || rd_str(r, 3, "app", &t->app) ||
        rd_str(r, 4, "library", &t->library) || rd_list(r, 5, "args", &args, &t->nargs) ||
        rd_str(r, 6, "cmd", &t->cmd) || rd_str(r, 7, "stdout", &t->stdout_path) ||
        rd_str(r, 8, "stderr", &t->stderr_path) ||
        rd_bool(r, 9, "stdout_append", &t->stdout_append) ||
        rd_bool(r, 10, "stderr_append", &t->stderr_append) ||
        rd_num(r, 11, "walltime", &t->walltime))
        return -1;
    t->args = args;
    t->env = *slots;
    if (rd_strs(r, 12, "env", *slots, &t->nenv) < 0)
        return -1;
    *slots += t->nenv;
    t->outputs = *slots;
    if (rd_strs(r, 13, "outputs", *slots, &t->noutputs) < 0)
        return -1;
    *slots += t->noutputs;
    return rd_int(r, 14, "priority", &t->priority) || rd_int(r, 15, "cores", &t->cores) ||
           rd_int(r, 16, "memory_mb", &t->memory_mb) ? -1 : 0;
}

/* Reads the batch list at position 0 and checks each record's shape, so the one
 * allocation below is bounded by the body's size. */
static int batch_list(const struct rd *r, const char *name, const char *record, unsigned need,
                      const struct cp_value **items, size_t *n)
{
    if (rd_list(r, 0, name, items, n) < 0)
        return -1;
    for (size_t i = 0; i < *n; i++) {
        struct rd sub;
        if (rd_record(&sub, &(*items)[i], record, i, r->c.what, need, r->c.err) < 0)
            return -1;
    }
    return 0;
}

static int parse_tasks(const struct rd *r, struct cp__wire_msg *m)
{
    const struct cp_value *items = NULL;
    size_t n = 0, nstr = 0;
    if (batch_list(r, "tasks", "task", TASK_ITEMS, &items, &n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct cp_value *f = cp__value_items(&items[i]);
        for (unsigned pos = 12; pos <= 13; pos++)
            if (f[pos].type == CP_LIST)
                nstr += f[pos].len;
    }
    size_t bytes = n * sizeof(struct cp__wire_task) + nstr * sizeof(char *);
    void *mem = bytes ? calloc(1, bytes) : NULL;
    if (bytes && !mem)
        return cp__errf(r->c.err, ENOMEM, "out of memory decoding %zu tasks", n);
    m->mem_ = mem;
    m->u.tasks.tasks = mem;
    m->u.tasks.n = n;
    const char **slots = (const char **)(void *)((struct cp__wire_task *)mem + n);
    for (size_t i = 0; i < n; i++) {
        struct rd sub;
        if (rd_record(&sub, &items[i], "task", i, "TASKS", TASK_ITEMS, r->c.err) < 0 ||
            parse_task(&sub, &m->u.tasks.tasks[i], &slots) < 0)
            return -1;
    }
    return 0;
}

static bool vals_eq(const struct cp_value *a, size_t na, const struct cp_value *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!cp__value_equal(&a[i], &b[i]))
            return false;
    return true;
}

static bool equal_task(const struct cp__wire_task *x, const struct cp__wire_task *y)
{
    return x->task_id == y->task_id && x->try_id == y->try_id && x->kind == y->kind &&
           streq(x->app, y->app) && streq(x->library, y->library) &&
           vals_eq(x->args, x->nargs, y->args, y->nargs) && streq(x->cmd, y->cmd) &&
           streq(x->stdout_path, y->stdout_path) && streq(x->stderr_path, y->stderr_path) &&
           x->stdout_append == y->stdout_append && x->stderr_append == y->stderr_append &&
           x->walltime == y->walltime && strs_eq(x->env, x->nenv, y->env, y->nenv) &&
           strs_eq(x->outputs, x->noutputs, y->outputs, y->noutputs) &&
           x->priority == y->priority && x->cores == y->cores && x->memory_mb == y->memory_mb;
}

static bool equal_tasks(const struct cp__wire_msg *a, const struct cp__wire_msg *b)
{
    if (a->u.tasks.n != b->u.tasks.n)
        return false;
    for (size_t i = 0; i < a->u.tasks.n; i++)
        if (!equal_task(&a->u.tasks.tasks[i], &b->u.tasks.tasks[i]))
            return false;
    return true;
}

/* ------------------------------------------------------------------ RESULTS */

#define RESULT_ITEMS 9u

static int check_result(const struct cp__wire_result *x, struct ctx *c)
{
    bool nil_value = !x->value || x->value->type == CP_NIL;
    return chk_int(c, 0, "task_id", x->task_id, 0, INT64_MAX) ||
           chk_int(c, 1, "try_id", x->try_id, 0, INT32_MAX) ||
           (!x->ok && !nil_value && bad(c, 3, "value", "a failed try has no value")) ||
           (x->ok && x->error && bad(c, 4, "error", "a successful try has no error")) ||
           chk_num(c, 6, "t_start", x->t_start, -INFINITY, false) ||
           chk_num(c, 7, "t_end", x->t_end, -INFINITY, false) ||
           chk_int(c, 8, "worker_rank", x->worker_rank, -1, INT32_MAX) ? -1 : 0;
}

static int check_results(const struct cp__wire_msg *m, struct ctx *c)
{
    const struct cp__wire_results *b = &m->u.results;
    if (b->n && !b->results)
        return bad(c, 0, "results", "%zu results but no array", b->n);
    for (size_t i = 0; i < b->n; i++) {
        struct ctx rc = {.err = c->err};
        snprintf(rc.what, sizeof rc.what, "RESULTS result %zu", i);
        if (check_result(&b->results[i], &rc) < 0)
            return -1;
    }
    return 0;
}

static int build_results(const struct cp__wire_msg *m, struct cp_value *l, cp_err *e)
{
    struct cp_value *list, *one;
    if (put_list(l, m->u.results.n, &list, e) < 0)
        return -1;
    for (size_t i = 0; i < m->u.results.n; i++) {
        const struct cp__wire_result *x = &m->u.results.results[i];
        if (put_list(list, RESULT_ITEMS, &one, e) < 0 || put_int(one, x->task_id, e) ||
            put_int(one, x->try_id, e) || put_bool(one, x->ok, e) || put_val(one, x->value, e) ||
            put_str(one, x->error, e) || put_bool(one, x->timed_out, e) ||
            put_num(one, x->t_start, e) || put_num(one, x->t_end, e) ||
            put_int(one, x->worker_rank, e))
            return -1;
    }
    return 0;
}

static int parse_results(const struct rd *r, struct cp__wire_msg *m)
{
    const struct cp_value *items = NULL;
    size_t n = 0;
    if (batch_list(r, "results", "result", RESULT_ITEMS, &items, &n) < 0)
        return -1;
    struct cp__wire_result *res = n ? calloc(n, sizeof *res) : NULL;
    if (n && !res)
        return cp__errf(r->c.err, ENOMEM, "out of memory decoding %zu results", n);
    m->mem_ = res;
    m->u.results.results = res;
    m->u.results.n = n;
    for (size_t i = 0; i < n; i++) {
        struct rd s;
        struct cp__wire_result *x = &res[i];
        if (rd_record(&s, &items[i], "result", i, "RESULTS", RESULT_ITEMS, r->c.err) < 0 ||
            rd_int(&s, 0, "task_id", &x->task_id) || rd_int(&s, 1, "try_id", &x->try_id) ||
            rd_bool(&s, 2, "ok", &x->ok) || rd_str(&s, 4, "error", &x->error) ||
            rd_bool(&s, 5, "timed_out", &x->timed_out) ||
            rd_num(&s, 6, "t_start", &x->t_start) || rd_num(&s, 7, "t_end", &x->t_end) ||
            rd_int(&s, 8, "worker_rank", &x->worker_rank))
            return -1;
        x->value = item(&s, 3);
    }
    return 0;
}

static bool equal_results(const struct cp__wire_msg *a, const struct cp__wire_msg *b)
{
    static const struct cp_value nil;
    if (a->u.results.n != b->u.results.n)
        return false;
    for (size_t i = 0; i < a->u.results.n; i++) {
        const struct cp__wire_result *x = &a->u.results.results[i], *y = &b->u.results.results[i];
        if (x->task_id != y->task_id || x->try_id != y->try_id || x->ok != y->ok ||
            !cp__value_equal(x->value ? x->value : &nil, y->value ? y->value : &nil) ||
            !streq(x->error, y->error) || x->timed_out != y->timed_out ||
            x->t_start != y->t_start || x->t_end != y->t_end || x->worker_rank != y->worker_rank)
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------ RESOURCES */

#define SAMPLE_ITEMS 11u

static int check_resources(const struct cp__wire_msg *m, struct ctx *c)
{
    const struct cp__wire_resources *b = &m->u.resources;
    if (b->n && !b->samples)
        return bad(c, 0, "samples", "%zu samples but no array", b->n);
    for (size_t i = 0; i < b->n; i++) {
        const struct cp__wire_sample *x = &b->samples[i];
        struct ctx sc = {.err = c->err};
        snprintf(sc.what, sizeof sc.what, "RESOURCES sample %zu", i);
        if (chk_int(&sc, 0, "task_id", x->task_id, 0, INT64_MAX) ||
            chk_int(&sc, 1, "try_id", x->try_id, 0, INT32_MAX) ||
            chk_num(&sc, 2, "time", x->time, -INFINITY, false) ||
            chk_int(&sc, 3, "pid", x->pid, 0, INT64_MAX) ||
            chk_int(&sc, 4, "children", x->children, 0, INT64_MAX) ||
            chk_num(&sc, 5, "user", x->user, 0, false) ||
            chk_num(&sc, 6, "system", x->system, 0, false) ||
            chk_num(&sc, 7, "rss", x->rss, 0, false) || chk_num(&sc, 8, "vms", x->vms, 0, false) ||
            chk_num(&sc, 9, "read_bytes", x->read_bytes, 0, false) ||
            chk_num(&sc, 10, "write_bytes", x->write_bytes, 0, false))
            return -1;
    }
    return 0;
}

static int build_resources(const struct cp__wire_msg *m, struct cp_value *l, cp_err *e)
{
    struct cp_value *list, *one;
    if (put_list(l, m->u.resources.n, &list, e) < 0)
        return -1;
    for (size_t i = 0; i < m->u.resources.n; i++) {
        const struct cp__wire_sample *x = &m->u.resources.samples[i];
        if (put_list(list, SAMPLE_ITEMS, &one, e) < 0 || put_int(one, x->task_id, e) ||
            put_int(one, x->try_id, e) || put_num(one, x->time, e) || put_int(one, x->pid, e) ||
            put_int(one, x->children, e) || put_num(one, x->user, e) ||
            put_num(one, x->system, e) || put_num(one, x->rss, e) || put_num(one, x->vms, e) ||
            put_num(one, x->read_bytes, e) || put_num(one, x->write_bytes, e))
            return -1;
    }
    return 0;
}

static int parse_resources(const struct rd *r, struct cp__wire_msg *m)
{
    const struct cp_value *items = NULL;
    size_t n = 0;
    if (batch_list(r, "samples", "sample", SAMPLE_ITEMS, &items, &n) < 0)
        return -1;
    struct cp__wire_sample *v = n ? calloc(n, sizeof *v) : NULL;
    if (n && !v)
        return cp__errf(r->c.err, ENOMEM, "out of memory decoding %zu samples", n);
    m->mem_ = v;
    m->u.resources.samples = v;
    m->u.resources.n = n;
    for (size_t i = 0; i < n; i++) {
        struct rd s;
        struct cp__wire_sample *x = &v[i];
        if (rd_record(&s, &items[i], "sample", i, "RESOURCES", SAMPLE_ITEMS, r->c.err) < 0 ||
            rd_int(&s, 0, "task_id", &x->task_id) || rd_int(&s, 1, "try_id", &x->try_id) ||
            rd_num(&s, 2, "time", &x->time) || rd_int(&s, 3, "pid", &x->pid) ||
            rd_int(&s, 4, "children", &x->children) || rd_num(&s, 5, "user", &x->user) ||
            rd_num(&s, 6, "system", &x->system) || rd_num(&s, 7, "rss", &x->rss) ||
            rd_num(&s, 8, "vms", &x->vms) || rd_num(&s, 9, "read_bytes", &x->read_bytes) ||
            rd_num(&s, 10, "write_bytes", &x->write_bytes))
            return -1;
    }
    return 0;
}

static bool equal_resources(const struct cp__wire_msg *a, const struct cp__wire_msg *b)
{
    if (a->u.resources.n != b->u.resources.n)
        return false;
    for (size_t i = 0; i < a->u.resources.n; i++)
        if (memcmp(&a->u.resources.samples[i], &b->u.resources.samples[i],
                   sizeof(struct cp__wire_sample)) != 0)
            return false;
    return true;
}

/* ------------------------------------------------------------------ the table */

struct msg_ops {
    uint8_t type;
    unsigned nitems;            /* positions this version knows */
    int (*check)(const struct cp__wire_msg *m, struct ctx *c);
    int (*build)(const struct cp__wire_msg *m, struct cp_value *list, cp_err *err);
    int (*parse)(const struct rd *r, struct cp__wire_msg *m);
    bool (*equal)(const struct cp__wire_msg *a, const struct cp__wire_msg *b);
};

#define OPS(T, n, chk, name) \
    {CP_WIRE_##T, n, chk, build_##name, parse_##name, equal_##name}
static const struct msg_ops ops[] = {
    OPS(CLIENT_HELLO, 2, check_client_hello, client_hello),
    OPS(SERVER_HELLO, 2, check_none, server_hello),
    OPS(REGISTER, 12, check_register, register),
    OPS(WELCOME, 4, check_welcome, welcome),
    OPS(REFUSE, 3, check_refuse, refuse),
    OPS(TASKS, 1, check_tasks, tasks),
    OPS(RESULTS, 1, check_results, results),
    OPS(HEARTBEAT, 3, check_heartbeat, heartbeat),
    OPS(DRAIN, 0, check_none, drain),
    OPS(SHUTDOWN, 2, check_shutdown, shutdown),
    OPS(HOLD, 1, check_none, hold),
    OPS(INTERRUPT, 1, check_interrupt, interrupt),
    OPS(RESOURCES, 1, check_resources, resources),
};
#undef OPS

static const struct msg_ops *find_ops(unsigned type)
{
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (ops[i].type == type)
            return &ops[i];
    return NULL;
}

int cp__wire_msg_pack(const struct cp__wire_msg *m, struct cp__wire_buf *out, cp_err *err)
{
    const struct msg_ops *o = find_ops(m->type);
    if (!o)
        return cp__errf(err, EINVAL, "cannot pack unknown message type %u", m->type);
    struct ctx c = {.err = err};
    snprintf(c.what, sizeof c.what, "%s", cp__wire_type_name(m->type));
    if (o->check(m, &c) < 0)
        return -1;
    struct cp_value root;
    if (cp__value_list(&root, o->nitems) < 0)
        return cp__errf(err, ENOMEM, "out of memory building %s", c.what);
    int rc = o->build(m, &root, err);
    if (rc == 0)
        rc = cp__value_encode(&root, &out->data, &out->len, &out->cap, err);
    cp__value_clear(&root);
    return rc;
}

int cp__wire_msg_decode(unsigned type, const void *body, size_t len, struct cp__wire_msg *out,
                        cp_err *err)
{
    *out = (struct cp__wire_msg){.type = (uint8_t)type};
    const struct msg_ops *o = find_ops(type);
    if (!o)
        return cp__errf(err, EPROTO, "cannot decode unknown message type %u", type);
    const char *name = cp__wire_type_name(type);
    if (cp__value_decode(body, len, &out->root_, err) < 0) {
        cp__err_prefix(err, "bad %s body", name);
        goto error;
    }
    if (out->root_.type != CP_LIST) {
        cp__errf(err, EPROTO, "%s body is a %s, not a list", name,
                 cp_type_name(out->root_.type));
        goto error;
    }
    if (out->root_.len < o->nitems) {
        cp__errf(err, EPROTO, "%s body has %" PRIu32 " items, needs %u", name,
                 out->root_.len, o->nitems);
        goto error;
    }
    struct rd r = {.c.err = err, .it = cp__value_items(&out->root_), .n = out->root_.len};
    snprintf(r.c.what, sizeof r.c.what, "%s", name);
    if (o->parse(&r, out) < 0 || o->check(out, &r.c) < 0)
        goto error;
    return 0;
error:
    cp__wire_msg_clear(out);
    return -1;
}

void cp__wire_msg_clear(struct cp__wire_msg *m)
{
    if (!m)
        return;
    cp__value_clear(&m->root_);
    free(m->mem_);
    *m = (struct cp__wire_msg){0};
}

bool cp__wire_msg_equal(const struct cp__wire_msg *a, const struct cp__wire_msg *b)
{
    const struct msg_ops *o = find_ops(a->type);
    return a->type == b->type && o && o->equal(a, b);
}
