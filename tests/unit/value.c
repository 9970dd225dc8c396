/* tests/unit/value.c — cp_value: constructors, accessors, sharing, msgpack wire
 * format (golden bytes), decoder refusals, equality and repr. */
#include "common/value.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>

#include "tap.h"

/* Encodes v into a fresh buffer; NULL on failure. */
static char *encode(const struct cp_value *v, size_t *len)
{
    char *buf = NULL;
    size_t cap = 0;
    cp_err err = {0};
    *len = 0;
    if (cp__value_encode(v, &buf, len, &cap, &err) < 0) {
        diag("encode failed: %s", err.text);
        free(buf);
        return NULL;
    }
    return buf;
}

static void roundtrip(const struct cp_value *v, const char *name)
{
    size_t len;
    char *buf = encode(v, &len);
    struct cp_value back;
    cp_err err = {0};
    int rc = buf ? cp__value_decode(buf, len, &back, &err) : -1;
    if (!ok(rc == 0 && cp__value_equal(v, &back), "round trip: %s", name)) {
        char *r = cp__value_repr(v, 200);
        diag("rc %d err \"%s\" value %s", rc, err.text, r);
        free(r);
    }
    if (rc == 0)
        cp__value_clear(&back);
    free(buf);
}

static void golden(const struct cp_value *v, const char *want, size_t wlen, const char *name)
{
    size_t len;
    char *buf = encode(v, &len);
    if (!ok(buf && len == wlen && memcmp(buf, want, wlen) == 0, "golden bytes: %s", name)) {
        char hex[200] = "";
        for (size_t i = 0; buf && i < len && i < 60; i++)
            snprintf(hex + strlen(hex), sizeof hex - strlen(hex), "%02x ",
                     (unsigned char)buf[i]);
        diag("got %s", hex);
    }
    free(buf);
}
#define GOLDEN(v, lit, name) golden((v), (lit), sizeof(lit) - 1, (name))

/* The decoder must fail with a message containing needle and leave out nil. */
static void refuse(const char *data, size_t len, const char *needle, const char *name)
{
    struct cp_value out;
    cp_err err = {0};
    int rc = cp__value_decode(data, len, &out, &err);
    ok(rc == -1 && out.type == CP_NIL && err.code == EPROTO, "decoder refuses %s", name);
    like(err.text, needle, "  message for %s", name);
    if (rc == 0)
        cp__value_clear(&out);
}
#define REFUSE(lit, needle, name) refuse((lit), sizeof(lit) - 1, (needle), (name))

static void test_public_scalars(void)
{
    cp_value *i = cp_int(42), *d = cp_double(2.5), *b = cp_bool(true), *n = cp_nil();
    cp_value *s = cp_str("héllo"), *f = cp_file_value("file:///tmp/x");
    cp_value *y = cp_bytes_value("a\0b", 3), *ns = cp_str(NULL);
    ok(i && d && b && n && s && f && y && ns, "constructors succeed");
    is_int(cp_value_type(i), CP_INT, "int type");
    is_int(cp_value_int(i), 42, "int value");
    is_dbl(cp_value_double(i), 42.0, "int widens to double");
    is_dbl(cp_value_double(d), 2.5, "double value");
    ok(cp_value_bool(b), "bool value");
    is_int(cp_value_type(n), CP_NIL, "nil type");
    is_int(cp_value_type(ns), CP_NIL, "cp_str(NULL) is nil");
    is_str(cp_value_str(s), "héllo", "str value");
    is_str(cp_value_str(f), "file:///tmp/x", "file URL via cp_value_str");
    cp_bytes by = cp_value_bytes(y);
    ok(by.len == 3 && memcmp(by.data, "a\0b", 3) == 0, "bytes keep an inner NUL");
    cp_bytes sb = cp_value_bytes(s);
    ok(sb.len == strlen("héllo") && memcmp(sb.data, "héllo", sb.len) == 0,
       "cp_value_bytes gives a string's bytes");
    is_str(cp_type_name(CP_LIST), "list", "type name list");
    is_str(cp_type_name(CP_FILE), "file", "type name file");
    is_str(cp_type_name((cp_type)99), "unknown", "type name of a bad type");
    cp_value *e = cp_bytes_value(NULL, 0);
    ok(e && cp_value_bytes(e).data && cp_value_bytes(e).len == 0, "empty bytes are not NULL");
    cp_value_free(e);
    cp_value *big = cp_int(LONG_MIN);
    is_int(cp_value_int(big), LONG_MIN, "LONG_MIN survives");
    cp_value_free(big);
    cp_value_free(i), cp_value_free(d), cp_value_free(b), cp_value_free(n);
    cp_value_free(s), cp_value_free(f), cp_value_free(y), cp_value_free(ns);
    cp_value_free(NULL);
    ok(1, "cp_value_free(NULL) is fine");
}

static void test_wrong_types(void)
{
    cp_value *i = cp_int(1), *s = cp_str("x"), *l = cp_list_new(), *y = cp_bytes_value("z", 1);
    is_int(cp_value_type(NULL), CP_NIL, "NULL has type nil");
    is_int(cp_value_int(NULL), 0, "int of NULL");
    is_int(cp_value_int(s), 0, "int of str");
    ok(!cp_value_bool(i), "bool of int 1 is false");
    is_dbl(cp_value_double(s), 0.0, "double of str");
    ok(cp_value_str(i) == NULL && cp_value_str(NULL) == NULL, "str of int / NULL");
    ok(cp_value_str(y) == NULL, "str of bytes is NULL");
    ok(cp_value_bytes(l).data == NULL && cp_value_bytes(NULL).len == 0, "bytes of list / NULL");
    is_int(cp_value_list_len(s), 0, "list_len of str");
    ok(cp_value_list_at(l, 0) == NULL && cp_value_list_at(NULL, 0) == NULL,
       "list_at out of range / NULL");
    ok(cp__value_strp(l) == NULL && cp__value_items(s) == NULL, "internal views check types");
    cp_value_free(i), cp_value_free(s), cp_value_free(l), cp_value_free(y);
}

static void test_list_push(void)
{
    cp_value *l = cp_list_new();
    ok(cp_list_push(l, cp_int(1)) == 0 && cp_list_push(l, cp_str("a")) == 0,
       "push int and str");
    cp_value *inner = cp_list_new();
    cp_list_push(inner, cp_double(0.5));
    ok(cp_list_push(l, inner) == 0, "push a list");
    is_int(cp_value_list_len(l), 3, "three items");
    is_int(cp_value_int(cp_value_list_at(l, 0)), 1, "item 0");
    is_str(cp_value_str(cp_value_list_at(l, 1)), "a", "item 1");
    is_dbl(cp_value_double(cp_value_list_at(cp_value_list_at(l, 2), 0)), 0.5, "item 2.0");
    ok(cp_value_list_at(l, 3) == NULL, "item 3 is out of range");

    cp_value *notlist = cp_int(3);
    errno = 0;
    ok(cp_list_push(notlist, cp_str("taken")) == -1 && errno == EINVAL,
       "push onto a non-list fails (and frees the item)");
    ok(cp_list_push(l, NULL) == -1, "push NULL fails");
    ok(cp_list_push(l, l) == -1 && cp_value_list_len(l) == 3, "push a list into itself fails");

    /* Pushing onto a copy must not change the original (copy on write). */
    cp_value *c = cp_value_copy(l);
    ok(cp_list_push(l, cp_int(4)) == 0, "push after a copy");
    ok(cp_value_list_len(l) == 4 && cp_value_list_len(c) == 3, "the copy is unchanged");
    is_str(cp_value_str(cp_value_list_at(c, 1)), "a", "the copy's items survive");
    ok(cp_list_push(c, cp_value_copy(c)) == 0 && cp_value_list_len(c) == 4 &&
       cp_value_list_len(cp_value_list_at(c, 3)) == 3, "push a copy of a list into it");

    cp_value *many = cp_list_new();
    int good = 1;
    for (int k = 0; k < 1000; k++)
        good &= cp_list_push(many, cp_int(k)) == 0;
    for (size_t k = 0; k < 1000; k++)
        good &= cp_value_int(cp_value_list_at(many, k)) == (long)k;
    ok(good && cp_value_list_len(many) == 1000, "1000 pushes grow the list");
    roundtrip(many, "1000-item list");
    cp_value_free(many), cp_value_free(c), cp_value_free(l), cp_value_free(notlist);
}

static void test_sharing(void)
{
    struct cp_value a, b, l, item;
    ok(cp__value_str(&a, "shared", 6) == 0, "internal str");
    cp__value_copy(&b, &a);
    ok(a.u.buf == b.u.buf && atomic_load(&a.u.buf->rc) == 2, "copy shares the buffer");
    cp__value_clear(&a);
    ok(a.type == CP_NIL, "clear sets nil");
    is_str(cp__value_strp(&b), "shared", "copy still valid after the original is cleared");
    is_int(atomic_load(&b.u.buf->rc), 1, "one reference left");

    ok(cp__value_list(&l, 2) == 0 && l.len == 0 && l.u.buf, "list with capacity");
    cp__value_copy(&item, &b);
    ok(cp__value_list_add(&l, &item) == 0 && item.type == CP_NIL, "list_add takes the item");
    is_int(atomic_load(&b.u.buf->rc), 2, "list holds a reference");
    cp__value_clear(&l);
    is_int(atomic_load(&b.u.buf->rc), 1, "clearing the list drops it");
    cp__value_clear(&b);

    struct cp_value e;
    cp__value_str(&e, NULL, 0);
    ok(e.u.buf == NULL && strcmp(cp__value_strp(&e), "") == 0, "empty str has no buffer");
    cp__value_clear(&e);
}

static void test_depth(void)
{
    struct cp_value v, wrap;
    cp__value_int(&v, 7);
    int built = 0;
    for (; built < CP_VALUE_MAX_DEPTH; built++) {
        if (cp__value_list(&wrap, 1) < 0 || cp__value_list_add(&wrap, &v) < 0)
            break;
        v = wrap;
    }
    is_int(built, CP_VALUE_MAX_DEPTH, "lists nest up to the limit");
    roundtrip(&v, "64 nested lists");
    struct cp_value extra;
    cp__value_list(&extra, 0);
    struct cp_value inner;
    cp__value_copy(&inner, &v);
    errno = 0;
    ok(cp__value_list_add(&extra, &inner) == -1 && errno == E2BIG && inner.type == CP_NIL,
       "one more level is refused (and the item released)");
    cp__value_clear(&extra);
    cp__value_clear(&v);
}

static void test_roundtrips(void)
{
    struct cp_value v;
    static const int64_t ints[] = {0, 1, -1, 127, 128, -32, -33, 255, 256, 65535, 65536,
                                   -129, -32769, INT32_MAX, INT32_MIN, (int64_t)INT32_MAX + 1,
                                   INT64_MAX, INT64_MIN};
    int good = 1;
    for (size_t k = 0; k < sizeof ints / sizeof *ints; k++) {
        char *buf;
        size_t len;
        struct cp_value back;
        cp__value_int(&v, ints[k]);
        buf = encode(&v, &len);
        good &= buf && cp__value_decode(buf, len, &back, NULL) == 0 &&
                back.type == CP_INT && back.u.i == ints[k];
        free(buf);
    }
    ok(good, "round trip: ints at every width, INT64_MIN and INT64_MAX");

    cp__value_nil(&v), roundtrip(&v, "nil");
    cp__value_bool(&v, true), roundtrip(&v, "true");
    cp__value_bool(&v, false), roundtrip(&v, "false");
    cp__value_double(&v, 3.141592653589793), roundtrip(&v, "pi");
    cp__value_double(&v, INFINITY), roundtrip(&v, "inf");
    cp__value_double(&v, -INFINITY), roundtrip(&v, "-inf");
    cp__value_double(&v, NAN), roundtrip(&v, "nan");

    char *buf;
    size_t len;
    struct cp_value back;
    cp__value_double(&v, -0.0);
    buf = encode(&v, &len);
    ok(buf && cp__value_decode(buf, len, &back, NULL) == 0 && back.type == CP_DOUBLE &&
       back.u.d == 0.0 && signbit(back.u.d), "round trip: -0.0 keeps its sign");
    free(buf);

    cp__value_str(&v, "", 0), roundtrip(&v, "empty str"), cp__value_clear(&v);
    cp__value_bytes(&v, "", 0), roundtrip(&v, "empty bytes"), cp__value_clear(&v);
    cp__value_file(&v, "x.txt", 5), roundtrip(&v, "file"), cp__value_clear(&v);
    cp__value_bytes(&v, "\0\xff\0", 3), roundtrip(&v, "bytes with NULs"), cp__value_clear(&v);
    cp__value_str(&v, "a\0b", 3), roundtrip(&v, "str with a NUL"), cp__value_clear(&v);
    cp__value_list(&v, 0), roundtrip(&v, "empty list"), cp__value_clear(&v);

    /* Sizes that need str8/16/32, bin16 and ext16 headers. */
    static const size_t sizes[] = {31, 32, 255, 256, 65535, 65536};
    char *big = malloc(70000);
    memset(big, 'q', 70000);
    good = 1;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        cp_type types[] = {CP_STR, CP_BYTES, CP_FILE};
        for (int t = 0; t < 3; t++) {
            struct cp_value x;
            if (types[t] == CP_STR)
                cp__value_str(&x, big, sizes[k]);
            else if (types[t] == CP_BYTES)
                cp__value_bytes(&x, big, sizes[k]);
            else
                cp__value_file(&x, big, sizes[k]);
            buf = encode(&x, &len);
            good &= buf && cp__value_decode(buf, len, &back, NULL) == 0 &&
                    cp__value_equal(&x, &back);
            cp__value_clear(&back);
            cp__value_clear(&x);
            free(buf);
        }
    }
    free(big);
    ok(good, "round trip: str/bytes/file at every header size");

    /* [1, "a", [], [nil, [true, b"\0"]], file, 2.5] */
    struct cp_value l, x, in, in2;
    cp__value_list(&l, 0);
    cp__value_int(&x, 1), cp__value_list_add(&l, &x);
    cp__value_str(&x, "a", 1), cp__value_list_add(&l, &x);
    cp__value_list(&x, 0), cp__value_list_add(&l, &x);
    cp__value_list(&in, 0);
    cp__value_nil(&x), cp__value_list_add(&in, &x);
    cp__value_list(&in2, 3);
    cp__value_bool(&x, true), cp__value_list_add(&in2, &x);
    cp__value_bytes(&x, "", 1), cp__value_list_add(&in2, &x);
    cp__value_list_add(&in, &in2);
    cp__value_list_add(&l, &in);
    cp__value_file(&x, "s3://b/k", 8), cp__value_list_add(&l, &x);
    cp__value_double(&x, 2.5), cp__value_list_add(&l, &x);
    roundtrip(&l, "nested mixed list");
    char *r = cp__value_repr(&l, 4096);
    is_str(r, "[1, \"a\", [], [null, [true, b\"\\x00\"]], file(\"s3://b/k\"), 2.5]",
           "repr of a nested list");
    free(r);

    /* Encoding appends to what the buffer already holds. */
    char *acc = NULL;
    size_t alen = 0, acap = 0;
    cp__value_int(&x, 1);
    ok(cp__value_encode(&x, &acc, &alen, &acap, NULL) == 0 &&
       cp__value_encode(&l, &acc, &alen, &acap, NULL) == 0 && alen > 1 && acc[0] == 1,
       "encode appends");
    ok(cp__value_decode(acc + 1, alen - 1, &back, NULL) == 0 && cp__value_equal(&back, &l),
       "the appended value decodes");
    cp__value_clear(&back);

    /* A failed encode leaves the buffer as it was. */
    struct cp_value bad, holder;
    cp__value_copy(&bad, &l);
    cp__value_list(&holder, 0);
    cp__value_list_add(&holder, &bad);
    struct cp_value *slot = (struct cp_value *)(void *)holder.u.buf->data;
    struct cp_value saved = *slot;
    struct cp_value alien = {.type = 99};
    *slot = alien;
    cp_err err = {0};
    size_t before = alen;
    ok(cp__value_encode(&holder, &acc, &alen, &acap, &err) == -1 && alen == before,
       "encoding an unknown type fails and rolls back");
    like(err.text, "unknown type 99", "  with a message");
    *slot = saved;
    cp__value_clear(&holder);
    free(acc);
    cp__value_clear(&l);
}

static void test_golden(void)
{
    struct cp_value v, l, x;
    cp__value_nil(&v), GOLDEN(&v, "\xc0", "nil");
    cp__value_bool(&v, true), GOLDEN(&v, "\xc3", "true");
    cp__value_int(&v, 1), GOLDEN(&v, "\x01", "int 1");
    cp__value_int(&v, -1), GOLDEN(&v, "\xff", "int -1");
    cp__value_int(&v, 200), GOLDEN(&v, "\xcc\xc8", "int 200 as uint8");
    cp__value_int(&v, INT64_MIN), GOLDEN(&v, "\xd3\x80\0\0\0\0\0\0\0", "INT64_MIN");
    cp__value_double(&v, 1.0), GOLDEN(&v, "\xcb\x3f\xf0\0\0\0\0\0\0", "double 1.0 as float64");
    cp__value_str(&v, "a", 1), GOLDEN(&v, "\xa1\x61", "str a"), cp__value_clear(&v);
    cp__value_str(&v, "", 0), GOLDEN(&v, "\xa0", "empty str"), cp__value_clear(&v);
    cp__value_bytes(&v, "\0", 1), GOLDEN(&v, "\xc4\x01\x00", "bytes 00"), cp__value_clear(&v);
    cp__value_file(&v, "a", 1), GOLDEN(&v, "\xd4\x01\x61", "file a (fixext1, type 1)");
    cp__value_clear(&v);
    cp__value_file(&v, "abc", 3), GOLDEN(&v, "\xc7\x03\x01" "abc", "file abc (ext8, type 1)");
    cp__value_clear(&v);
    cp__value_list(&l, 0);
    cp__value_int(&x, 1), cp__value_list_add(&l, &x);
    cp__value_str(&x, "a", 1), cp__value_list_add(&l, &x);
    GOLDEN(&l, "\x92\x01\xa1\x61", "[1, \"a\"]");
    cp__value_clear(&l);
}

static void test_decoder_refusals(void)
{
    REFUSE("", "truncated input: expected a value at byte 0", "empty input");
    REFUSE("\xa2\x61", "truncated input: str at byte 0", "a short str");
    REFUSE("\xcb\0\0", "truncated input: float at byte 0", "a short float64");
    REFUSE("\x92\x01", "truncated input", "an array missing an item");
    REFUSE("\x93\x01", "array at byte 0 declares 3 items, 1 bytes left",
           "an array claiming more items than bytes");
    REFUSE("\xdc\xff\xff", "truncated input: array at byte 0 declares 65535",
           "a 3-byte array16 claiming 65535 items");
    REFUSE("\x01\x02", "trailing bytes: 1 after the value that ends at byte 1",
           "trailing bytes");
    REFUSE("\x80", "map at byte 0", "a fixmap");
    REFUSE("\x91\xde\0\0", "map at byte 1", "a map16 inside an array");
    REFUSE("\xd4\x02\x00", "ext type 2 at byte 0", "ext type 2");
    REFUSE("\xc7\x01\xff\x00", "ext type -1 at byte 0", "ext type -1");
    REFUSE("\xdd\xff\xff\xff\xff", "array at byte 0 declares length 4294967295, over the limit",
           "an array32 claiming 2^32-1 items in 5 bytes");
    REFUSE("\xc6\xff\xff\xff\xff", "bytes at byte 0 declares length 4294967295",
           "bin32 over the limit");
    REFUSE("\xdb\x10\x00\x00\x01", "str at byte 0 declares length 268435457",
           "str32 one byte over the limit");
    REFUSE("\xcf\x80\0\0\0\0\0\0\0", "uint 9223372036854775808 at byte 0 is over INT64_MAX",
           "uint64 above INT64_MAX");
    REFUSE("\xc1", "invalid msgpack type byte 0xc1 at byte 0", "the never-used byte c1");

    char deep[CP_VALUE_MAX_DEPTH + 2];
    memset(deep, 0x91, sizeof deep);
    deep[sizeof deep - 1] = 0x01;
    refuse(deep, sizeof deep, "array at byte 64 is nested deeper than 64", "65 nested arrays");
    struct cp_value out;
    ok(cp__value_decode(deep + 1, sizeof deep - 1, &out, NULL) == 0, "64 nested arrays decode");
    cp__value_clear(&out);

    /* Accepted forms we never produce ourselves. */
    ok(cp__value_decode("\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 9, &out, NULL) == 0 &&
       out.u.i == INT64_MAX, "uint64 equal to INT64_MAX decodes");
    ok(cp__value_decode("\xd0\x80", 2, &out, NULL) == 0 && out.u.i == -128, "int8 -128");
    ok(cp__value_decode("\xca\x3f\xc0\0\0", 5, &out, NULL) == 0 && out.type == CP_DOUBLE &&
       out.u.d == 1.5, "float32 widens to double");
    ok(cp__value_decode("\xd8\x01" "0123456789abcdef", 18, &out, NULL) == 0 &&
       out.type == CP_FILE && out.len == 16, "fixext16 file");
    cp__value_clear(&out);
    ok(cp__value_decode("\x92\x01\xa1", 3, &out, NULL) == -1 && out.type == CP_NIL,
       "a failed decode of a partial list frees what it built");

    /* Every proper prefix of a valid encoding is refused as truncated. */
    static const char full[] = "\x94\xcd\x01\x00\xa2hi\x92\xc4\x01\x00\xd4\x01z"
                               "\xcb\x3f\xf0\0\0\0\0\0\0";
    int good = cp__value_decode(full, sizeof full - 1, &out, NULL) == 0;
    cp__value_clear(&out);
    for (size_t n = 0; n < sizeof full - 1; n++) {
        cp_err err = {0};
        good &= cp__value_decode(full, n, &out, &err) == -1 && out.type == CP_NIL &&
                strstr(err.text, "truncated input") != NULL;
    }
    ok(good, "every prefix of a valid encoding is refused as truncated");
}

static void test_equal(void)
{
    cp_value *i = cp_int(1), *d = cp_double(1.0), *n1 = cp_double(NAN), *n2 = cp_double(-NAN);
    cp_value *s = cp_str("ab"), *y = cp_bytes_value("ab", 2), *s2 = cp_str("ab");
    cp_value *z = cp_double(0.0), *mz = cp_double(-0.0), *nil = cp_nil();
    ok(!cp_value_equal(i, d), "int 1 != double 1.0");
    ok(cp_value_equal(n1, n2), "NaN equals NaN");
    ok(cp_value_equal(z, mz), "0.0 equals -0.0 (by value)");
    ok(!cp_value_equal(s, y), "str and bytes differ even with the same bytes");
    ok(cp_value_equal(s, s2), "equal strings in different buffers");
    ok(cp_value_equal(NULL, nil) && !cp_value_equal(NULL, i), "NULL compares as nil");
    cp_value *a = cp_list_new(), *b = cp_list_new();
    cp_list_push(a, cp_value_copy(s)), cp_list_push(b, cp_value_copy(s2));
    cp_list_push(a, cp_value_copy(n1)), cp_list_push(b, cp_value_copy(n2));
    ok(cp_value_equal(a, b), "deep equal lists");
    cp_list_push(b, cp_nil());
    ok(!cp_value_equal(a, b), "lists of different lengths");
    cp_list_push(a, cp_bool(false));
    ok(!cp_value_equal(a, b), "lists differing in the last item");
    cp_value *vals[] = {i, d, n1, n2, s, y, s2, z, mz, nil, a, b};
    for (size_t k = 0; k < sizeof vals / sizeof *vals; k++)
        cp_value_free(vals[k]);
}

static void test_repr(void)
{
    struct {
        cp_value *v;
        const char *want;
    } cases[] = {
        {cp_nil(), "null"},
        {cp_bool(false), "false"},
        {cp_int(-42), "-42"},
        {cp_double(1.0), "1.0"},
        {cp_double(0.1), "0.1"},
        {cp_double(-0.0), "-0.0"},
        {cp_double(1e300), "1e+300"},
        {cp_double(NAN), "nan"},
        {cp_double(-INFINITY), "-inf"},
        {cp_str("say \"hi\"\n\\\x01 é"), "\"say \\\"hi\\\"\\n\\\\\\u0001 é\""},
        {cp_bytes_value("a\0\xff", 3), "b\"a\\x00\\xff\""},
        {cp_str("bad \xff \xe2\x82 ok \xe2\x82\xac"), "\"bad \\xff \\xe2\\x82 ok €\""},
        {cp_file_value("data.txt"), "file(\"data.txt\")"},
        {cp_list_new(), "[]"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char *r = cp_value_repr(cases[k].v);
        is_str(r, cases[k].want, "repr %s", cases[k].want);
        free(r);
        cp_value_free(cases[k].v);
    }
    char *r = cp_value_repr(NULL);
    is_str(r, "null", "repr of NULL");
    free(r);

    struct cp_value s;
    cp__value_str(&s, "abcdefghijklmnop", 16);
    r = cp__value_repr(&s, 8);
    is_str(r, "\"abcdefg…", "repr truncated at 8 bytes with an ellipsis");
    free(r);
    cp__value_clear(&s);
    cp__value_str(&s, "ééééé", strlen("ééééé"));
    r = cp__value_repr(&s, 6);
    is_str(r, "\"éé…", "truncation does not split a UTF-8 sequence");
    free(r);
    cp__value_clear(&s);

    cp_value *l = cp_list_new();
    for (int k = 0; k < 100000; k++)
        cp_list_push(l, cp_int(k));
    r = cp_value_repr(l);
    size_t n = r ? strlen(r) : 0;
    ok(r && n <= 4096 + strlen("…") && strcmp(r + n - strlen("…"), "…") == 0 &&
       strncmp(r, "[0, 1, 2, ", 10) == 0, "repr of a long list stops at 4096 bytes");
    free(r);
    cp_value_free(l);
}

int main(void)
{
    tap_start(60);
    test_public_scalars();
    test_wrong_types();
    test_list_push();
    test_sharing();
    test_depth();
    test_roundtrips();
    test_golden();
    test_decoder_refusals();
    test_equal();
    test_repr();
    return done_testing();
}
