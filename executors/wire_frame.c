/* executors/wire_frame.c — frame headers, the per-type caps, the growable
 * buffer and the resumable frame reader (see wire.h, docs/wire.md "Frames").
 *
 * The reader never reads ahead: it consumes bytes only up to the end of the
 * current frame, so the caller can change its policy (or the connection can
 * switch to sealed frames) exactly between two frames, and the only memory it
 * holds is one header and one body.
 */
#include "executors/wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one table of message types and their caps (STYLE.md §4, "Wire frames"). */
#define P CP_WIRE_POOL
#define I CP_WIRE_INTERCHANGE
static const struct cp__wire_type_info types[] = {
    {CP_WIRE_CLIENT_HELLO, "CLIENT_HELLO", CP_WIRE_CAP_HELLO, P, true},
    {CP_WIRE_SERVER_HELLO, "SERVER_HELLO", CP_WIRE_CAP_HELLO, I, true},
    {CP_WIRE_REGISTER, "REGISTER", CP_WIRE_CAP_REGISTER, P, true},
    {CP_WIRE_WELCOME, "WELCOME", CP_WIRE_CAP_CONTROL, I, true},
    {CP_WIRE_REFUSE, "REFUSE", CP_WIRE_CAP_CONTROL, P | I, true},
    {CP_WIRE_TASKS, "TASKS", CP_WIRE_CAP_BATCH, I, false},
    {CP_WIRE_RESULTS, "RESULTS", CP_WIRE_CAP_BATCH, P, false},
    {CP_WIRE_HEARTBEAT, "HEARTBEAT", CP_WIRE_CAP_HEARTBEAT, P | I, false},
    {CP_WIRE_DRAIN, "DRAIN", CP_WIRE_CAP_HEARTBEAT, P, false},
    {CP_WIRE_SHUTDOWN, "SHUTDOWN", CP_WIRE_CAP_CONTROL, I, false},
    {CP_WIRE_HOLD, "HOLD", CP_WIRE_CAP_CONTROL, I, false},
    {CP_WIRE_INTERRUPT, "INTERRUPT", CP_WIRE_CAP_CONTROL, I, false},
    {CP_WIRE_RESOURCES, "RESOURCES", CP_WIRE_CAP_RESOURCES, P, false},
};
#undef P
#undef I

/* A body is allocated at most this far ahead of the bytes that arrived. */
#define BODY_AHEAD (1u << 20)

const struct cp__wire_type_info *cp__wire_type_info(unsigned type)
{
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (types[i].type == type)
            return &types[i];
    return NULL;
}

const char *cp__wire_type_name(unsigned type)
{
    const struct cp__wire_type_info *t = cp__wire_type_info(type);
    return t ? t->name : "unknown";
}

/* ------------------------------------------------------------------ buffers */

void cp__wire_buf_free(struct cp__wire_buf *b)
{
    if (!b)
        return;
    free(b->data);
    *b = (struct cp__wire_buf){0};
}

int cp__wire_buf_reserve(struct cp__wire_buf *b, size_t n, cp_err *err)
{
    if (n <= b->cap - b->len)
        return 0;
    if (n > SIZE_MAX / 2 - b->len)
        return cp__errf(err, ENOMEM, "frame buffer of %zu + %zu bytes is too large", b->len, n);
    size_t want = b->len + n, ncap = b->cap ? b->cap : 256;
    while (ncap < want)
        ncap *= 2;
    char *nd = realloc(b->data, ncap);
    if (!nd)
        return cp__errf(err, ENOMEM, "out of memory growing a frame buffer to %zu bytes", ncap);
    b->data = nd;
    b->cap = ncap;
    return 0;
}

/* ------------------------------------------------------------------ headers */

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void cp__wire_header_put(unsigned char h[CP_WIRE_HEADER_LEN], uint8_t version, uint8_t type,
                         uint16_t flags, uint32_t len)
{
    put32(h, CP_WIRE_MAGIC);
    h[4] = version;
    h[5] = type;
    h[6] = (unsigned char)(flags >> 8);
    h[7] = (unsigned char)flags;
    put32(h + 8, len);
}

/* The largest body a frame of type t with these flags may carry. */
static uint32_t frame_cap(const struct cp__wire_type_info *t, uint16_t flags)
{
    return t->cap + (flags & CP_WIRE_FLAG_SEALED ? CP_WIRE_SEAL_OVERHEAD : 0);
}

int cp__wire_frame_encode(struct cp__wire_buf *out, uint8_t type, uint16_t flags,
                          const void *body, size_t len, cp_err *err)
{
    const struct cp__wire_type_info *t = cp__wire_type_info(type);
    if (!t)
        return cp__errf(err, EINVAL, "cannot frame unknown message type %u", type);
    if (flags & ~CP_WIRE_FLAGS_KNOWN)
        return cp__errf(err, EINVAL, "cannot frame %s with unknown flag bits 0x%04x", t->name,
                        (unsigned)(flags & ~CP_WIRE_FLAGS_KNOWN));
    if (len > frame_cap(t, flags))
        return cp__errf(err, EMSGSIZE, "%s body of %zu bytes is over its cap of %u bytes",
                        t->name, len, (unsigned)frame_cap(t, flags));
    if (cp__wire_buf_reserve(out, CP_WIRE_HEADER_LEN + len, err) < 0)
        return -1;
    cp__wire_header_put((unsigned char *)out->data + out->len, CP_WIRE_VERSION, type, flags,
                        (uint32_t)len);
    if (len)
        memcpy(out->data + out->len + CP_WIRE_HEADER_LEN, body, len);
    out->len += CP_WIRE_HEADER_LEN + len;
    return 0;
}

void cp__wire_frame_clear(struct cp__wire_frame *f)
{
    if (!f)
        return;
    free(f->body);
    *f = (struct cp__wire_frame){0};
}

/* ------------------------------------------------------------------ reader */

void cp__wire_reader_init(struct cp__wire_reader *r, uint32_t allow, int seal)
{
    *r = (struct cp__wire_reader){.allow = allow, .seal = (uint8_t)seal};
}

void cp__wire_reader_clear(struct cp__wire_reader *r)
{
    if (!r)
        return;
    cp__wire_frame_clear(&r->cur);
    r->hlen = r->have = 0;
    r->bcap = 0;
}

/* Latches a refusal: every later call repeats it. */
static int refuse(struct cp__wire_reader *r, cp_err *err, int why, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int refuse(struct cp__wire_reader *r, cp_err *err, int why, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cp__verrf(&r->fail, code, fmt, ap);
    va_end(ap);
    r->why = why;
    cp__wire_reader_clear(r);
    if (err)
        *err = r->fail;
    errno = code;
    return -1;
}

/* "47 45 54 20 ("GET ")": the first bytes as hex and, where printable, text. */
static void show_bytes(const unsigned char *p, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < size; i++)
        o += (size_t)snprintf(out + o, size - o, "%s%02x", i ? " " : "", p[i]);
    if (o + 5 < size) {
        o += (size_t)snprintf(out + o, size - o, " (\"");
        for (size_t i = 0; i < n && o + 4 < size; i++)
            out[o++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
        snprintf(out + o, size - o, "\")");
    }
}

static const char *who(uint8_t senders)
{
    switch (senders) {
    case CP_WIRE_POOL: return "pools send";
    case CP_WIRE_INTERCHANGE: return "the interchange sends";
    default: return "either side sends";
    }
}

/* Checks every header field whose last byte arrived between old and r->hlen. */
static int check_header(struct cp__wire_reader *r, uint32_t old, cp_err *err)
{
    const unsigned char *h = r->hdr;
    if (old < 4 && r->hlen >= 4 && get32(h) != CP_WIRE_MAGIC) {
        char got[48], want[48];
        unsigned char m[4];
        put32(m, CP_WIRE_MAGIC);
        show_bytes(h, 4, got, sizeof got);
        show_bytes(m, 4, want, sizeof want);
        return refuse(r, err, CP_WIRE_WHY_PROTOCOL, EPROTO,
                      "not a cparsl wire frame: it starts %s, a frame starts %s", got, want);
    }
    if (old < 6 && r->hlen >= 6) {
        const struct cp__wire_type_info *t = cp__wire_type_info(h[5]);
        /* A REFUSE reads the same in every version, so an older or newer peer's
         * refusal still reaches the user; anything else must be our version. */
        if (h[4] != CP_WIRE_VERSION && !(h[5] == CP_WIRE_REFUSE && r->seal != CP_WIRE_SEAL_YES)) {
            r->peer_version = h[4];
            return refuse(r, err, CP_WIRE_WHY_VERSION, EPROTONOSUPPORT,
                          "peer speaks wire protocol %u, this side %d", h[4], CP_WIRE_VERSION);
        }
        if (!t)
            return refuse(r, err, CP_WIRE_WHY_PROTOCOL, EPROTO, "unknown frame type %u", h[5]);
        if (r->peer && !(t->senders & r->peer))
            return refuse(r, err, CP_WIRE_WHY_PROTOCOL, EPROTO,
                          "%s frame refused: only %s %s", t->name, who(t->senders), t->name);
        if (!(r->allow & (1u << (h[5] & 31))))
            return refuse(r, err, CP_WIRE_WHY_PROTOCOL, EPROTO, "%s frame not allowed %s",
                          t->name, r->state_text ? r->state_text : "here");
    }
    if (old < 8 && r->hlen >= 8) {
        unsigned flags = (unsigned)h[6] << 8 | h[7];
        const char *name = cp__wire_type_name(h[5]);
        if (flags & ~CP_WIRE_FLAGS_KNOWN)
            return refuse(r, err, CP_WIRE_WHY_PROTOCOL, EPROTO,
                          "%s frame has unknown flag bits 0x%04x", name,
                          flags & ~CP_WIRE_FLAGS_KNOWN);
        if (h[4] != CP_WIRE_VERSION && flags)
            return refuse(r, err, CP_WIRE_WHY_PROTOCOL, EPROTO,
                          "a REFUSE from protocol %u must not be sealed", h[4]);
        bool sealed = flags & CP_WIRE_FLAG_SEALED;
        if (sealed && r->seal == CP_WIRE_SEAL_NO)
            return refuse(r, err, CP_WIRE_WHY_PROTOCOL, EPROTO,
                          "sealed %s frame before encryption was agreed", name);
        if (!sealed && r->seal == CP_WIRE_SEAL_YES)
            return refuse(r, err, CP_WIRE_WHY_PROTOCOL, EPROTO,
                          "unsealed %s frame on an encrypted connection", name);
    }
    if (old < 12 && r->hlen >= 12) {
        const struct cp__wire_type_info *t = cp__wire_type_info(h[5]);
        uint16_t flags = (uint16_t)(h[6] << 8 | h[7]);
        uint32_t len = get32(h + 8), cap = frame_cap(t, flags);
        if (len > cap)
            return refuse(r, err, CP_WIRE_WHY_TOO_BIG, EMSGSIZE,
                          "%s frame of %u bytes is over its cap of %u bytes", t->name, len, cap);
        if ((flags & CP_WIRE_FLAG_SEALED) && len < CP_WIRE_SEAL_OVERHEAD)
            return refuse(r, err, CP_WIRE_WHY_PROTOCOL, EPROTO,
                          "sealed %s frame of %u bytes is shorter than its %d-byte tag",
                          t->name, len, CP_WIRE_SEAL_OVERHEAD);
        r->cur = (struct cp__wire_frame){.version = h[4], .type = h[5], .flags = flags,
                                         .len = len};
        r->have = 0;
        r->bcap = 0;
    }
    return 0;
}

/* Makes room for the body bytes about to arrive. The allocation doubles, starting
 * at BODY_AHEAD, and never passes the frame's length: it stays within 1 MiB or
 * twice the bytes that actually came, whatever the header promised. */
static int grow_body(struct cp__wire_reader *r, size_t incoming, cp_err *err)
{
    size_t need = (size_t)r->have + incoming;
    if (need <= r->bcap)
        return 0;
    size_t ncap = r->bcap * 2;
    if (ncap < BODY_AHEAD)
        ncap = BODY_AHEAD;
    if (ncap < need)
        ncap = need;
    if (ncap > r->cur.len)
        ncap = r->cur.len;
    unsigned char *nb = realloc(r->cur.body, ncap);
    if (!nb)
        return refuse(r, err, CP_WIRE_WHY_PROTOCOL, ENOMEM,
                      "out of memory reading a %s frame of %u bytes",
                      cp__wire_type_name(r->cur.type), r->cur.len);
    r->cur.body = nb;
    r->bcap = ncap;
    return 0;
}

/* Hands the finished frame to the caller and starts the next. */
static int yield(struct cp__wire_reader *r, struct cp__wire_frame *out)
{
    *out = r->cur;
    r->cur = (struct cp__wire_frame){0};
    r->hlen = r->have = 0;
    r->bcap = 0;
    return 1;
}

int cp__wire_reader_feed(struct cp__wire_reader *r, const void *data, size_t len,
                         size_t *used, struct cp__wire_frame *out, cp_err *err)
{
    const unsigned char *p = data;
    size_t u = 0;
    *used = 0;
    *out = (struct cp__wire_frame){0};
    if (r->why) {
        if (err)
            *err = r->fail;
        errno = r->fail.code;
        return -1;
    }
    for (;;) {
        if (r->hlen < CP_WIRE_HEADER_LEN) {
            if (u == len)
                break;
            size_t n = CP_WIRE_HEADER_LEN - r->hlen;
            uint32_t old = r->hlen;
            if (n > len - u)
                n = len - u;
            memcpy(r->hdr + r->hlen, p + u, n);
            r->hlen += (uint32_t)n;
            /* On a refusal, *used counts the header bytes up to the one refused
             * (an approximation: the whole chunk just copied). */
            u += n;
            *used = u;
            if (check_header(r, old, err) < 0)
                return -1;
            if (r->hlen < CP_WIRE_HEADER_LEN)
                break;
        }
        if (r->have == r->cur.len)
            return yield(r, out);
        if (u == len)
            break;
        size_t n = r->cur.len - r->have;
        if (n > len - u)
            n = len - u;
        if (grow_body(r, n, err) < 0)
            return -1;
        memcpy(r->cur.body + r->have, p + u, n);
        r->have += (uint32_t)n;
        u += n;
        *used = u;
        if (r->have == r->cur.len)
            return yield(r, out);
    }
    *used = u;
    return 0;
}

int cp__wire_reader_eof(struct cp__wire_reader *r, cp_err *err)
{
    if (r->why) {
        if (err)
            *err = r->fail;
        errno = r->fail.code;
        return -1;
    }
    if (r->hlen == 0)
        return 0;
    if (r->hlen < CP_WIRE_HEADER_LEN)
        return refuse(r, err, CP_WIRE_WHY_TRUNCATED, EPROTO,
                      "connection closed mid-frame: got %u of %d header bytes", r->hlen,
                      CP_WIRE_HEADER_LEN);
    return refuse(r, err, CP_WIRE_WHY_TRUNCATED, EPROTO,
                  "connection closed mid-frame: got %u of %u body bytes of a %s frame",
                  r->have, r->cur.len, cp__wire_type_name(r->cur.type));
}
