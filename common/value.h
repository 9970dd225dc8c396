/* common/value.h — the tagged value (cp_value) and its msgpack encoding.
 *
 * One value type flows through the whole system: task arguments, results, and the
 * bytes the pilot-worker executor puts on the wire. A cp_value is 16 bytes; scalars
 * live inline, and strings, bytes, files and lists point at an immutable,
 * reference-counted buffer, so copying a value is a counter increment and a value
 * may be read from many threads at once.
 *
 * Lower layer: includes only the public header and common/.
 */
#ifndef CP_COMMON_VALUE_H
#define CP_COMMON_VALUE_H

#include <stdatomic.h>
#include <stdint.h>

#include "cparsl.h"
#include "common/err.h"

/* Shared immutable payload. For CP_STR/CP_BYTES/CP_FILE, data holds len bytes plus
 * a NUL; for CP_LIST, data holds len struct cp_value items. */
struct cp__vbuf {
    atomic_uint rc;
    uint32_t cap;               /* lists: item capacity while being built */
    _Alignas(8) unsigned char data[];
};

struct cp_value {
    uint8_t type;               /* cp_type */
    uint8_t pad_[3];
    uint32_t len;               /* bytes (str/bytes/file) or items (list) */
    union {
        int64_t i;
        double d;
        bool b;
        struct cp__vbuf *buf;   /* may be NULL for an empty str/bytes */
    } u;
};

/* Nesting deeper than this is refused by the decoder (and never built by us). */
#define CP_VALUE_MAX_DEPTH 64
/* Largest string/bytes/list accepted by the decoder (items or bytes). */
#define CP_VALUE_MAX_LEN (256u * 1024 * 1024)
/* msgpack ext type used for CP_FILE (payload: the URL's bytes). */
#define CP_VALUE_EXT_FILE 1

/* In-place constructors. They overwrite *out without clearing it first. The
 * str/bytes/file ones copy their input and return -1 (out set to nil) when memory
 * runs out. */
static inline void cp__value_nil(struct cp_value *out) { *out = (struct cp_value){0}; }
static inline void cp__value_bool(struct cp_value *out, bool b)
{ *out = (struct cp_value){.type = CP_BOOL, .u.b = b}; }
static inline void cp__value_int(struct cp_value *out, int64_t i)
{ *out = (struct cp_value){.type = CP_INT, .u.i = i}; }
static inline void cp__value_double(struct cp_value *out, double d)
{ *out = (struct cp_value){.type = CP_DOUBLE, .u.d = d}; }
int cp__value_str(struct cp_value *out, const char *s, size_t len) CP__WUR;
int cp__value_bytes(struct cp_value *out, const void *p, size_t len) CP__WUR;
int cp__value_file(struct cp_value *out, const char *url, size_t len) CP__WUR;
/* An empty list with room for cap items; items are added with cp__value_list_add
 * (takes item), which grows the buffer in place when the list has a single owner
 * and copies the item array first when it is shared, so copies never change.
 * Constructors refuse lengths over CP_VALUE_MAX_LEN and nesting deeper than
 * CP_VALUE_MAX_DEPTH with E2BIG, so nothing we build is refused by our decoder. */
int cp__value_list(struct cp_value *out, size_t cap) CP__WUR;
int cp__value_list_add(struct cp_value *list, struct cp_value *item) CP__WUR;

/* dst = src sharing the buffer (dst is overwritten, not cleared first). */
void cp__value_copy(struct cp_value *dst, const struct cp_value *src);
/* Drops v's reference and sets it to nil. */
void cp__value_clear(struct cp_value *v);

/* Borrowed views. strp works for str, bytes and file values (NUL-terminated, ""
 * for len 0) and gives NULL for other types. */
const char *cp__value_strp(const struct cp_value *v);
const struct cp_value *cp__value_items(const struct cp_value *v);

/* msgpack encoding: nil, bool, int (signed 64), float64, str, bin, array, and ext
 * type CP_VALUE_EXT_FILE for files. Appends to a growing buffer the caller owns
 * (free(*buf)); *buf may start NULL. */
int cp__value_encode(const struct cp_value *v, char **buf, size_t *len, size_t *cap,
                     cp_err *err) CP__WUR;
/* Decodes exactly one value from [data, data+len); trailing bytes are an error.
 * Refuses depth > CP_VALUE_MAX_DEPTH, lengths > CP_VALUE_MAX_LEN, unknown ext types,
 * maps, and truncated input, with a message saying what and at which byte offset.
 * Unsigned ints above INT64_MAX are refused. *out is the caller's (cp__value_clear). */
int cp__value_decode(const void *data, size_t len, struct cp_value *out, cp_err *err) CP__WUR;

/* Deep equality (doubles compare by value; NaN equals NaN). */
bool cp__value_equal(const struct cp_value *a, const struct cp_value *b);
/* JSON-like text, truncated with "…" after max bytes; caller owns (free()). */
char *cp__value_repr(const struct cp_value *v, size_t max);

#endif
