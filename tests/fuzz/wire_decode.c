/* libFuzzer target for the wire protocol's receiving side (executors/wire.h):
 * arbitrary bytes, split arbitrarily, through the frame reader and the message
 * decoder, or through a whole connection.
 *
 * Input: byte 0 chooses the mode, byte 1 seeds the piece sizes, the rest is the
 * byte stream a peer sent.
 *   mode % 3 == 0  a bare reader that allows every type (unsealed); each frame is
 *                  decoded as a message
 *   mode % 3 == 1  an interchange connection, answering CLIENT_HELLO with
 *                  SERVER_HELLO so REGISTER bodies are reached
 *   mode % 3 == 2  a pool connection that has sent its CLIENT_HELLO
 * Properties: a refusal always has text; a decoded message packs, and the packed
 * body decodes to an equal message that frames within its type's cap; the
 * connection can always refuse after failing. Build and run: make fuzz.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "executors/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char SECRET[CP_WIRE_SECRET_LEN] = "fuzz-secret-fuzz-secret-fuzz-sec";

/* Whatever was accepted packs again and decodes to the same message. */
static void check_message(const struct cp__wire_msg *m)
{
    struct cp__wire_buf body = {0}, frame = {0};
    struct cp__wire_msg again;
    cp_err err = {0};
    if (cp__wire_msg_pack(m, &body, &err) != 0)
        abort();
    if (cp__wire_msg_decode(m->type, body.data, body.len, &again, &err) != 0)
        abort();
    if (!cp__wire_msg_equal(m, &again))
        abort();
    if (cp__wire_frame_encode(&frame, m->type, 0, body.data, body.len, &err) != 0)
        abort();
    cp__wire_msg_clear(&again);
    cp__wire_buf_free(&body);
    cp__wire_buf_free(&frame);
}

struct pieces {
    uint32_t x;
    size_t max;
};

static size_t next_piece(struct pieces *p, size_t left)
{
    p->x ^= p->x << 13;
    p->x ^= p->x >> 17;
    p->x ^= p->x << 5;
    size_t n = p->max ? 1 + p->x % p->max : left;
    return n < left ? n : left;
}

static void fuzz_reader(const uint8_t *s, size_t len, struct pieces *p)
{
    struct cp__wire_reader r;
    cp__wire_reader_init(&r, ~0u, CP_WIRE_SEAL_NO);
    size_t off = 0;
    while (off < len) {
        size_t piece = next_piece(p, len - off);
        while (piece) {
            struct cp__wire_frame f;
            size_t used;
            cp_err err = {0};
            int rc = cp__wire_reader_feed(&r, s + off, piece, &used, &f, &err);
            if (used > piece)
                abort();
            off += used;
            piece -= used;
            if (rc < 0) {
                if (!err.text[0] || !r.why)
                    abort();
                cp__wire_reader_clear(&r);
                return;
            }
            if (rc == 1) {
                struct cp__wire_msg m;
                if (cp__wire_msg_decode(f.type, f.body, f.len, &m, &err) == 0) {
                    check_message(&m);
                    cp__wire_msg_clear(&m);
                } else if (!err.text[0]) {
                    abort();
                }
                cp__wire_frame_clear(&f);
            }
        }
    }
    cp_err err = {0};
    if (cp__wire_reader_eof(&r, &err) < 0 && !err.text[0])
        abort();
    cp__wire_reader_clear(&r);
}

static void fuzz_conn(const uint8_t *s, size_t len, struct pieces *p, enum cp__wire_role role)
{
    struct cp__wire_conn *c = cp__wire_conn_create(role, SECRET, false, NULL);
    struct cp__wire_buf out = {0};
    cp_err err = {0};
    if (!c)
        abort();
    if (role == CP_WIRE_POOL) {
        struct cp__wire_msg hello = {.type = CP_WIRE_CLIENT_HELLO};
        if (cp__wire_conn_send(c, &hello, &out, &err) != 0)
            abort();
    }
    size_t off = 0;
    bool failed = false;
    while (off < len && !failed) {
        size_t piece = next_piece(p, len - off);
        while (piece && !failed) {
            struct cp__wire_msg m;
            size_t used;
            int rc = cp__wire_conn_recv(c, s + off, piece, &used, &m, &err);
            off += used;
            piece -= used;
            if (rc < 0) {
                if (!err.text[0])
                    abort();
                failed = true;
            } else if (rc == 1) {
                check_message(&m);
                if (m.type == CP_WIRE_CLIENT_HELLO) {
                    struct cp__wire_msg sh = {.type = CP_WIRE_SERVER_HELLO};
                    if (cp__wire_conn_send(c, &sh, &out, &err) != 0)
                        abort();
                }
                if (m.type == CP_WIRE_REFUSE)
                    failed = true;      /* closed: nothing more is read */
                cp__wire_msg_clear(&m);
            }
        }
    }
    if (!failed && cp__wire_conn_eof(c, &err) < 0 && !err.text[0])
        abort();
    /* A connection that failed can always say so. */
    if (cp__wire_conn_failure(c) && cp__wire_conn_failure(c) != CP_WIRE_WHY_TRUNCATED &&
        cp__wire_conn_refuse(c, 0, NULL, &out, &err) != 0)
        abort();
    cp__wire_buf_free(&out);
    cp__wire_conn_destroy(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct pieces p = {.x = 0x9e3779b9u ^ data[1], .max = data[1] >= 192 ? 0 : 1 + data[1] % 64};
    switch (data[0] % 3) {
    case 0: fuzz_reader(data + 2, size - 2, &p); break;
    case 1: fuzz_conn(data + 2, size - 2, &p, CP_WIRE_INTERCHANGE); break;
    default: fuzz_conn(data + 2, size - 2, &p, CP_WIRE_POOL); break;
    }
    return 0;
}
