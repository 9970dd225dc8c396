/* common/value.c — see value.h.
 *
 * Encoding goes through msgpack-c's packer. Decoding does not use msgpack-c's
 * unpacker: in 4.0.0 msgpack_unpack_next() allocates room for an array's declared
 * item count before reading any item, so the 5 bytes dd ff ff ff ff make it ask
 * for 128 GiB (a smaller count such as 2^26 succeeds and costs 1.5 GiB). Its
 * nesting limit is a compile-time 32 (MSGPACK_EMBED_STACK_SIZE), below our 64,
 * and its errors say neither what was wrong nor where. The decoder below is
 * bounded instead: every declared length is checked against CP_VALUE_MAX_LEN and
 * against the bytes actually left before anything is allocated, so memory stays
 * within a small multiple of the input size, and recursion stops at
 * CP_VALUE_MAX_DEPTH.
 */
#include "common/value.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

static const struct cp_value nil_value;

/* A NULL value reads as nil everywhere it is only read, as cp_str(NULL) gives nil. */
static const struct cp_value *or_nil(const struct cp_value *v)
{
    return v ? v : &nil_value;
}

/* ------------------------------------------------------------------ buffers */

static bool has_buf(const struct cp_value *v)
{
    return v->type == CP_STR || v->type == CP_BYTES || v->type == CP_FILE ||
           v->type == CP_LIST;
}

static struct cp_value *list_items(const struct cp_value *v)
{
    return v->u.buf ? (struct cp_value *)(void *)v->u.buf->data : NULL;
}

static struct cp__vbuf *vbuf_new(size_t payload)
{
    struct cp__vbuf *b = malloc(sizeof *b + payload);
    if (!b) {
        errno = ENOMEM;
        return NULL;
    }
    atomic_init(&b->rc, 1);
    b->cap = 0;
    return b;
}

static int blob_new(struct cp_value *out, cp_type type, const void *p, size_t len)
{
    cp__value_nil(out);
    /* Nothing we build may be something our own decoder would refuse. */
    if (len > CP_VALUE_MAX_LEN) {
        errno = E2BIG;
        return -1;
    }
    struct cp__vbuf *b = NULL;
    if (len) {
        if (!(b = vbuf_new(len + 1)))
            return -1;
        memcpy(b->data, p, len);
        b->data[len] = '\0';
    }
    *out = (struct cp_value){.type = type, .len = (uint32_t)len, .u.buf = b};
    return 0;
}

int cp__value_str(struct cp_value *out, const char *s, size_t len)
{ return blob_new(out, CP_STR, s, len); }
int cp__value_bytes(struct cp_value *out, const void *p, size_t len)
{ return blob_new(out, CP_BYTES, p, len); }
int cp__value_file(struct cp_value *out, const char *url, size_t len)
{ return blob_new(out, CP_FILE, url, len); }

int cp__value_list(struct cp_value *out, size_t cap)
{
    cp__value_nil(out);
    if (cap > CP_VALUE_MAX_LEN) {
        errno = E2BIG;
        return -1;
    }
    struct cp__vbuf *b = NULL;
    if (cap) {
        if (!(b = vbuf_new(cap * sizeof(struct cp_value))))
            return -1;
        b->cap = (uint32_t)cap;
    }
    *out = (struct cp_value){.type = CP_LIST, .u.buf = b};
    return 0;
}

void cp__value_copy(struct cp_value *dst, const struct cp_value *src)
{
    *dst = *src;
    if (has_buf(src) && src->u.buf)
        atomic_fetch_add_explicit(&src->u.buf->rc, 1, memory_order_relaxed);
}

void cp__value_clear(struct cp_value *v)
{
    if (!v)
        return;
    struct cp__vbuf *b = has_buf(v) ? v->u.buf : NULL;
    /* acq_rel: the last owner must see every other owner's writes before freeing. */
    if (b && atomic_fetch_sub_explicit(&b->rc, 1, memory_order_acq_rel) == 1) {
        if (v->type == CP_LIST) {
            struct cp_value *it = list_items(v);
            for (uint32_t i = 0; i < v->len; i++)
                cp__value_clear(&it[i]);
        }
        free(b);
    }
    cp__value_nil(v);
}

const char *cp__value_strp(const struct cp_value *v)
{
    if (!v || (v->type != CP_STR && v->type != CP_BYTES && v->type != CP_FILE))
        return NULL;
    return v->u.buf ? (const char *)v->u.buf->data : "";
}

const struct cp_value *cp__value_items(const struct cp_value *v)
{
    return v && v->type == CP_LIST ? list_items(v) : NULL;
}

/* Nesting depth of v (0 for a scalar), exact up to budget and something larger
 * than budget beyond it; the recursion never goes deeper than budget. */
static unsigned list_depth(const struct cp_value *v, unsigned budget)
{
    if (v->type != CP_LIST)
        return 0;
    if (budget == 0)
        return 1;
    const struct cp_value *it = list_items(v);
    unsigned m = 0;
    for (uint32_t i = 0; i < v->len && m < budget; i++) {
        unsigned d = list_depth(&it[i], budget - 1);
        if (d > m)
            m = d;
    }
    return m + 1;
}

/* Makes room for one more item. A buffer we alone hold may be realloc'd in
 * place; a shared one is immutable (another thread may be reading it), so the
 * list gets a private copy first. Either way the list is unchanged on failure. */
static int list_reserve(struct cp_value *l)
{
    struct cp__vbuf *b = l->u.buf;
    bool shared = b && atomic_load_explicit(&b->rc, memory_order_acquire) > 1;
    if (b && !shared && l->len < b->cap)
        return 0;
    size_t ncap = l->len < 4 ? 4 : (size_t)l->len * 2;
    if (ncap > CP_VALUE_MAX_LEN)
        ncap = CP_VALUE_MAX_LEN;
    size_t size = sizeof *b + ncap * sizeof(struct cp_value);
    if (b && !shared) {
        struct cp__vbuf *nb = realloc(b, size);
        if (!nb) {
            errno = ENOMEM;
            return -1;
        }
        nb->cap = (uint32_t)ncap;
        l->u.buf = nb;
        return 0;
    }
    struct cp__vbuf *nb = vbuf_new(ncap * sizeof(struct cp_value));
    if (!nb)
        return -1;
    nb->cap = (uint32_t)ncap;
    struct cp_value *dst = (struct cp_value *)(void *)nb->data, old = *l;
    for (uint32_t i = 0; i < l->len; i++)
        cp__value_copy(&dst[i], &list_items(l)[i]);
    l->u.buf = nb;
    cp__value_clear(&old);
    return 0;
}

/* Meant for building a list that has a single owner: appending to a list whose
 * buffer is shared still works, but costs a copy of the item array. Checking the
 * item's depth walks its lists (not its scalars), so appending a big list of
 * lists costs a pass over it. */
int cp__value_list_add(struct cp_value *list, struct cp_value *item)
{
    if (!list || list->type != CP_LIST) {
        errno = EINVAL;
        goto error;
    }
    if (list->len >= CP_VALUE_MAX_LEN ||
        list_depth(item, CP_VALUE_MAX_DEPTH - 1) > CP_VALUE_MAX_DEPTH - 1) {
        errno = E2BIG;
        goto error;
    }
    if (list_reserve(list) < 0)
        goto error;
    list_items(list)[list->len++] = *item;
    cp__value_nil(item);
    return 0;
error:
    cp__value_clear(item);
    return -1;
}

/* ------------------------------------------------------------------ public API */

/* Moves *v (just built, rc its constructor's result) into a malloc'd box; on
 * failure *v is cleared. */
static cp_value *boxed(int rc, struct cp_value *v)
{
    if (rc < 0)
        return NULL;            /* the constructor set errno and left *v nil */
    cp_value *p = malloc(sizeof *p);
    if (!p) {
        cp__value_clear(v);
        errno = ENOMEM;
        return NULL;
    }
    *p = *v;
    return p;
}

cp_value *cp_nil(void) { struct cp_value v = {0}; return boxed(0, &v); }
cp_value *cp_bool(bool b) { struct cp_value v; cp__value_bool(&v, b); return boxed(0, &v); }
cp_value *cp_int(long i) { struct cp_value v; cp__value_int(&v, i); return boxed(0, &v); }
cp_value *cp_double(double d)
{ struct cp_value v; cp__value_double(&v, d); return boxed(0, &v); }
cp_value *cp_list_new(void) { struct cp_value v; return boxed(cp__value_list(&v, 0), &v); }

cp_value *cp_str(const char *s)
{
    struct cp_value v = {0};
    return boxed(s ? cp__value_str(&v, s, strlen(s)) : 0, &v);
}

cp_value *cp_bytes_value(const void *data, size_t len)
{
    struct cp_value v;
    return boxed(cp__value_bytes(&v, data, len), &v);
}

cp_value *cp_file_value(const char *url)
{
    struct cp_value v;
    if (!url) {
        errno = EINVAL;
        return NULL;
    }
    return boxed(cp__value_file(&v, url, strlen(url)), &v);
}

int cp_list_push(cp_value *list, cp_value *item)
{
    /* Taking the list into itself would free the caller's list; refuse. */
    if (!item || item == list) {
        errno = EINVAL;
        return -1;
    }
    int rc = cp__value_list_add(list, item);
    free(item);
    return rc;
}

cp_value *cp_value_copy(const cp_value *v)
{
    struct cp_value c;
    cp__value_copy(&c, or_nil(v));
    return boxed(0, &c);
}

void cp_value_free(cp_value *v)
{
    cp__value_clear(v);
    free(v);
}

cp_type cp_value_type(const cp_value *v) { return (cp_type)or_nil(v)->type; }

const char *cp_type_name(cp_type t)
{
    static const char *const names[] = {
        [CP_NIL] = "nil", [CP_BOOL] = "bool", [CP_INT] = "int", [CP_DOUBLE] = "double",
        [CP_STR] = "str", [CP_BYTES] = "bytes", [CP_LIST] = "list", [CP_FILE] = "file",
    };
    return (unsigned)t < sizeof names / sizeof *names ? names[t] : "unknown";
}

bool cp_value_bool(const cp_value *v) { return v && v->type == CP_BOOL && v->u.b; }
long cp_value_int(const cp_value *v) { return v && v->type == CP_INT ? v->u.i : 0; }

double cp_value_double(const cp_value *v)
{
    if (v && v->type == CP_DOUBLE)
        return v->u.d;
    return v && v->type == CP_INT ? (double)v->u.i : 0.0;
}

const char *cp_value_str(const cp_value *v)
{
    return v && (v->type == CP_STR || v->type == CP_FILE) ? cp__value_strp(v) : NULL;
}

cp_bytes cp_value_bytes(const cp_value *v)
{
    if (!v || (v->type != CP_STR && v->type != CP_BYTES))
        return (cp_bytes){NULL, 0};
    return (cp_bytes){cp__value_strp(v), v->len};
}

size_t cp_value_list_len(const cp_value *v) { return v && v->type == CP_LIST ? v->len : 0; }

const cp_value *cp_value_list_at(const cp_value *v, size_t i)
{
    return i < cp_value_list_len(v) ? &list_items(v)[i] : NULL;
}

bool cp_value_equal(const cp_value *a, const cp_value *b)
{
    return cp__value_equal(a, b);
}

char *cp_value_repr(const cp_value *v) { return cp__value_repr(v, 4096); }

/* ------------------------------------------------------------------ encoding */

struct sink {
    char **buf;
    size_t *len, *cap;
};

static int sink_write(void *data, const char *p, size_t n)
{
    struct sink *s = data;
    if (n == 0)
        return 0;
    if (n > *s->cap - *s->len) {
        size_t want = *s->len + n, ncap = *s->cap ? *s->cap : 256;
        while (ncap < want)
            ncap *= 2;
        char *nb = realloc(*s->buf, ncap);
        if (!nb)
            return -1;
        *s->buf = nb;
        *s->cap = ncap;
    }
    memcpy(*s->buf + *s->len, p, n);
    *s->len += n;
    return 0;
}

static int encode_value(msgpack_packer *pk, const struct cp_value *v, unsigned depth,
                        cp_err *err)
{
    const char *p = cp__value_strp(v);
    int rc = 0;
    if (has_buf(v) && v->len > CP_VALUE_MAX_LEN)
        return cp__errf(err, E2BIG, "cannot encode a %s of length %" PRIu32
                        " (limit %u)", cp_type_name(v->type), v->len, CP_VALUE_MAX_LEN);
    switch (v->type) {
    case CP_NIL: rc = msgpack_pack_nil(pk); break;
    case CP_BOOL: rc = v->u.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
    case CP_INT: rc = msgpack_pack_int64(pk, v->u.i); break;
    case CP_DOUBLE: rc = msgpack_pack_double(pk, v->u.d); break;
    case CP_STR:
        rc = msgpack_pack_str(pk, v->len) || msgpack_pack_str_body(pk, p, v->len);
        break;
    case CP_BYTES:
        rc = msgpack_pack_bin(pk, v->len) || msgpack_pack_bin_body(pk, p, v->len);
        break;
    case CP_FILE:
        rc = msgpack_pack_ext(pk, v->len, CP_VALUE_EXT_FILE) ||
             msgpack_pack_ext_body(pk, p, v->len);
        break;
    case CP_LIST:
        if (depth >= CP_VALUE_MAX_DEPTH)
            return cp__errf(err, E2BIG, "cannot encode lists nested deeper than %d",
                            CP_VALUE_MAX_DEPTH);
        if (msgpack_pack_array(pk, v->len))
            break;
        for (uint32_t i = 0; i < v->len; i++)
            if (encode_value(pk, &list_items(v)[i], depth + 1, err) < 0)
                return -1;
        return 0;
    default:
        return cp__errf(err, EINVAL, "cannot encode a value of unknown type %d", v->type);
    }
    if (rc)
        return cp__errf(err, ENOMEM, "out of memory encoding a %s", cp_type_name(v->type));
    return 0;
}

int cp__value_encode(const struct cp_value *v, char **buf, size_t *len, size_t *cap,
                     cp_err *err)
{
    struct sink s = {buf, len, cap};
    size_t start = *len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, sink_write);
    if (encode_value(&pk, v, 0, err) < 0) {
        *len = start;           /* no half-written value for the caller to send */
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ decoding */

struct dec {
    const unsigned char *p;
    size_t len, off;
    cp_err *err;
};

/* Consumes n bytes (at *out) of the item that started at byte `at`. */
static int take(struct dec *d, size_t n, const char *what, size_t at,
                const unsigned char **out)
{
    if (n > d->len - d->off)
        return cp__errf(d->err, EPROTO, "truncated input: %s at byte %zu needs %zu more "
                        "bytes, %zu left", what, at, n, d->len - d->off);
    *out = d->p + d->off;
    d->off += n;
    return 0;
}

/* Reads an n-byte big-endian unsigned number (n <= 8). */
static int take_uint(struct dec *d, size_t n, const char *what, size_t at, uint64_t *u)
{
    const unsigned char *q = NULL;
    if (take(d, n, what, at, &q) < 0)
        return -1;
    *u = 0;
    for (size_t i = 0; i < n; i++)
        *u = *u << 8 | q[i];
    return 0;
}

static int check_len(struct dec *d, uint64_t n, const char *what, size_t at)
{
    if (n > CP_VALUE_MAX_LEN)
        return cp__errf(d->err, EPROTO, "%s at byte %zu declares length %" PRIu64
                        ", over the limit of %u", what, at, n, CP_VALUE_MAX_LEN);
    return 0;
}

static int decode_blob(struct dec *d, struct cp_value *out, cp_type type, uint64_t n,
                       size_t at)
{
    const char *what = cp_type_name(type);
    const unsigned char *q = NULL;
    if (check_len(d, n, what, at) < 0 || take(d, n, what, at, &q) < 0)
        return -1;
    if (blob_new(out, type, q, n) < 0)
        return cp__errf(d->err, ENOMEM, "out of memory decoding a %s of %" PRIu64
                        " bytes at byte %zu", what, n, at);
    return 0;
}

static int decode_ext(struct dec *d, struct cp_value *out, uint64_t n, size_t at)
{
    const unsigned char *t = NULL;
    if (take(d, 1, "ext", at, &t) < 0)
        return -1;
    if ((int8_t)*t != CP_VALUE_EXT_FILE)
        return cp__errf(d->err, EPROTO, "ext type %d at byte %zu is not supported "
                        "(only %d, a file)", (int8_t)*t, at, CP_VALUE_EXT_FILE);
    return decode_blob(d, out, CP_FILE, n, at);
}

static int decode_value(struct dec *d, struct cp_value *out, unsigned depth);

static int decode_array(struct dec *d, struct cp_value *out, uint64_t n, size_t at,
                        unsigned depth)
{
    if (depth >= CP_VALUE_MAX_DEPTH)
        return cp__errf(d->err, EPROTO, "array at byte %zu is nested deeper than %d",
                        at, CP_VALUE_MAX_DEPTH);
    if (check_len(d, n, "array", at) < 0)
        return -1;
    /* Every item takes at least one byte, so this bounds the allocation below. */
    if (n > d->len - d->off)
        return cp__errf(d->err, EPROTO, "truncated input: array at byte %zu declares %"
                        PRIu64 " items, %zu bytes left", at, n, d->len - d->off);
    if (cp__value_list(out, n) < 0)
        return cp__errf(d->err, ENOMEM, "out of memory decoding an array of %" PRIu64
                        " items at byte %zu", n, at);
    /* Items go straight into the slots reserved above; out->len counts the ones
     * decoded so far, so clearing on failure frees exactly those. */
    struct cp_value *it = list_items(out);
    for (; out->len < n; out->len++)
        if (decode_value(d, &it[out->len], depth + 1) < 0) {
            cp__value_clear(out);
            return -1;
        }
    return 0;
}

static int decode_value(struct dec *d, struct cp_value *out, unsigned depth)
{
    size_t at = d->off;
    uint64_t u;
    cp__value_nil(out);
    if (at >= d->len)
        return cp__errf(d->err, EPROTO, "truncated input: expected a value at byte %zu",
                        at);
    unsigned b = d->p[d->off++];
    if (b <= 0x7f || b >= 0xe0) {
        cp__value_int(out, (int8_t)b);
        return 0;
    }
    if (b >= 0xa0 && b <= 0xbf)
        return decode_blob(d, out, CP_STR, b & 0x1f, at);
    if (b >= 0x90 && b <= 0x9f)
        return decode_array(d, out, b & 0x0f, at, depth);
    if (b <= 0x8f || b == 0xde || b == 0xdf)
        return cp__errf(d->err, EPROTO, "map at byte %zu: maps are not supported", at);
    switch (b) {
    case 0xc0: return 0;
    case 0xc2: case 0xc3: cp__value_bool(out, b == 0xc3); return 0;
    case 0xc4: case 0xc5: case 0xc6:
        return take_uint(d, 1u << (b - 0xc4), "bytes", at, &u) < 0 ? -1 :
               decode_blob(d, out, CP_BYTES, u, at);
    case 0xd9: case 0xda: case 0xdb:
        return take_uint(d, 1u << (b - 0xd9), "str", at, &u) < 0 ? -1 :
               decode_blob(d, out, CP_STR, u, at);
    case 0xc7: case 0xc8: case 0xc9:
        return take_uint(d, 1u << (b - 0xc7), "ext", at, &u) < 0 ? -1 :
               decode_ext(d, out, u, at);
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        return decode_ext(d, out, 1u << (b - 0xd4), at);
    case 0xdc: case 0xdd:
        return take_uint(d, 2u << (b - 0xdc), "array", at, &u) < 0 ? -1 :
               decode_array(d, out, u, at, depth);
    case 0xca: case 0xcb: {
        if (take_uint(d, b == 0xca ? 4 : 8, "float", at, &u) < 0)
            return -1;
        uint32_t u32 = (uint32_t)u;
        float f;
        double x;
        memcpy(&f, &u32, sizeof f);
        memcpy(&x, &u, sizeof x);
        cp__value_double(out, b == 0xca ? f : x);
        return 0;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        if (take_uint(d, 1u << (b - 0xcc), "uint", at, &u) < 0)
            return -1;
        if (u > INT64_MAX)
            return cp__errf(d->err, EPROTO, "uint %" PRIu64 " at byte %zu is over "
                            "INT64_MAX", u, at);
        cp__value_int(out, (int64_t)u);
        return 0;
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        unsigned n = 1u << (b - 0xd0);
        if (take_uint(d, n, "int", at, &u) < 0)
            return -1;
        /* Sign-extend from n bytes without shifting a negative number. */
        uint64_t sign = (uint64_t)1 << (8 * n - 1);
        int64_t i = u & sign ? -(int64_t)(~u & (sign - 1)) - 1 : (int64_t)u;
        cp__value_int(out, i);
        return 0;
    }
    default:
        return cp__errf(d->err, EPROTO, "invalid msgpack type byte 0x%02x at byte %zu",
                        b, at);
    }
}

int cp__value_decode(const void *data, size_t len, struct cp_value *out, cp_err *err)
{
    struct dec d = {data, len, 0, err};
    if (decode_value(&d, out, 0) < 0)
        return -1;
    if (d.off != len) {
        cp__value_clear(out);
        return cp__errf(err, EPROTO, "trailing bytes: %zu after the value that ends at "
                        "byte %zu", len - d.off, d.off);
    }
    return 0;
}

/* ------------------------------------------------------------------ equality */

bool cp__value_equal(const struct cp_value *a, const struct cp_value *b)
{
    a = or_nil(a), b = or_nil(b);
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case CP_NIL: return true;
    case CP_BOOL: return a->u.b == b->u.b;
    case CP_INT: return a->u.i == b->u.i;
    case CP_DOUBLE: return a->u.d == b->u.d || (isnan(a->u.d) && isnan(b->u.d));
    case CP_STR: case CP_BYTES: case CP_FILE:
        return a->len == b->len && (a->len == 0 || a->u.buf == b->u.buf ||
                                    memcmp(a->u.buf->data, b->u.buf->data, a->len) == 0);
    case CP_LIST:
        if (a->len != b->len)
            return false;
        if (a->u.buf == b->u.buf)
            return true;
        for (uint32_t i = 0; i < a->len; i++)
            if (!cp__value_equal(&list_items(a)[i], &list_items(b)[i]))
                return false;
        return true;
    default:
        return false;
    }
}

/* ------------------------------------------------------------------ repr */

/* Output is cut at `max` bytes, but only between whole pieces (an escape, a UTF-8
 * sequence, a number), so the repr is valid UTF-8 even when truncated. */
struct rbuf {
    char *p;
    size_t len, cap, max;
    bool full, oom;
};

static void put(struct rbuf *r, const char *s, size_t n)
{
    if (r->full || r->oom)
        return;
    if (n > r->max - r->len) {
        r->full = true;
        return;
    }
    if (r->len + n + 1 > r->cap) {
        size_t ncap = r->cap * 2 > r->len + n + 1 ? r->cap * 2 : r->len + n + 1;
        char *np = realloc(r->p, ncap);
        if (!np) {
            r->oom = true;
            return;
        }
        r->p = np;
        r->cap = ncap;
    }
    memcpy(r->p + r->len, s, n);
    r->len += n;
    r->p[r->len] = '\0';
}

static void puts_(struct rbuf *r, const char *s) { put(r, s, strlen(s)); }

static void put_quoted(struct rbuf *r, const unsigned char *s, size_t n, bool bytes)
{
    char esc[8];
    put(r, "\"", 1);
    for (size_t i = 0; i < n && !r->full; i++) {
        unsigned c = s[i];
        const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" :
                        c == '\t' ? "\\t" : c == '\r' ? "\\r" : NULL;
        if (e) {
            puts_(r, e);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, bytes ? "\\x%02x" : "\\u%04x", c);
            puts_(r, esc);
        } else if (c < 0x80) {
            put(r, (const char *)s + i, 1);
        } else {
            /* A whole UTF-8 sequence is one piece; a byte that does not start
             * one (or any high byte in bytes) is shown as \xNN. */
            size_t want = bytes ? 0 : c >= 0xf5 ? 0 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 :
                          c >= 0xc2 ? 2 : 0, k = 1;
            while (k < want && i + k < n && (s[i + k] & 0xc0) == 0x80)
                k++;
            if (want && k == want) {
                put(r, (const char *)s + i, k);
                i += k - 1;
            } else {
                snprintf(esc, sizeof esc, "\\x%02x", c);
                puts_(r, esc);
            }
        }
    }
    put(r, "\"", 1);
}

static void put_double(struct rbuf *r, double x)
{
    char num[40];
    if (isnan(x) || isinf(x)) {
        puts_(r, isnan(x) ? "nan" : x < 0 ? "-inf" : "inf");
        return;
    }
    snprintf(num, sizeof num, "%.15g", x);
    if (strtod(num, NULL) != x)
        snprintf(num, sizeof num, "%.17g", x);
    if (!strpbrk(num, ".e"))
        strcat(num, ".0");      /* so 1.0 does not read as the int 1 */
    puts_(r, num);
}

static void put_value(struct rbuf *r, const struct cp_value *v)
{
    char num[32];
    const unsigned char *s = (const unsigned char *)cp__value_strp(v);
    switch (v->type) {
    case CP_NIL: puts_(r, "null"); break;
    case CP_BOOL: puts_(r, v->u.b ? "true" : "false"); break;
    case CP_INT:
        snprintf(num, sizeof num, "%" PRId64, v->u.i);
        puts_(r, num);
        break;
    case CP_DOUBLE: put_double(r, v->u.d); break;
    case CP_STR: put_quoted(r, s, v->len, false); break;
    case CP_BYTES:
        put(r, "b", 1);
        put_quoted(r, s, v->len, true);
        break;
    case CP_FILE:
        puts_(r, "file(");
        put_quoted(r, s, v->len, false);
        put(r, ")", 1);
        break;
    case CP_LIST:
        put(r, "[", 1);
        for (uint32_t i = 0; i < v->len && !r->full; i++) {
            if (i)
                put(r, ", ", 2);
            put_value(r, &list_items(v)[i]);
        }
        put(r, "]", 1);
        break;
    default:
        snprintf(num, sizeof num, "<type %d>", v->type);
        puts_(r, num);
    }
}

char *cp__value_repr(const struct cp_value *v, size_t max)
{
    static const char ellipsis[] = "\u2026";
    struct rbuf r = {.max = max};
    r.cap = (max < 64 ? max : 64) + sizeof ellipsis;
    if (!(r.p = malloc(r.cap)))
        goto error;
    r.p[0] = '\0';
    put_value(&r, or_nil(v));
    if (r.full) {
        r.full = false;
        r.max = SIZE_MAX;
        put(&r, ellipsis, sizeof ellipsis - 1);
    }
    if (r.oom)
        goto error;
    return r.p;
error:
    free(r.p);
    errno = ENOMEM;
    return NULL;
}
