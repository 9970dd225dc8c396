/* common/yaml.h — YAML documents as trees that remember where every node came
 * from, so every later error can say file:line:column.
 *
 * Built on libyaml's event parser. A document owns all of its nodes (one arena);
 * nodes are read-only once loaded, and an alias is the very node its anchor names,
 * so a consumer that wants to change a tree copies it first (cp__ynode_copy).
 * Input is bounded: file size, nesting depth, and the size of the tree with every
 * alias expanded (the "billion laughs" document is refused, not expanded).
 */
#ifndef CP_COMMON_YAML_H
#define CP_COMMON_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"

#define CP_YAML_MAX_BYTES (64u << 20)   /* a file larger than this is refused */
#define CP_YAML_MAX_DEPTH 64            /* nested collections */
#define CP_YAML_MAX_NODES 4000000u      /* nodes, with aliases expanded */

enum cp__ykind { CP_Y_SCALAR = 1, CP_Y_SEQ, CP_Y_MAP };
/* Scalar styles: only plain scalars are typed (numbers, booleans, null); quoted
 * and block scalars are always strings. */
enum cp__ystyle { CP_Y_PLAIN = 1, CP_Y_QUOTED, CP_Y_BLOCK };

struct cp__ynode {
    uint8_t kind;               /* cp__ykind */
    uint8_t style;              /* scalars: cp__ystyle */
    bool flow;                  /* collections written in {…} / […] */
    bool half;                  /* private: a map built by cp__ynode_push has a key
                                 * waiting for its value */
    uint32_t line, col;         /* 1-based, of the node's first character */
    const char *file;           /* the name errors use; borrowed from the doc */
    const char *tag;            /* an explicit tag ("!!str"), or NULL */
    char *str;                  /* scalars: the text, NUL-terminated */
    size_t len;                 /* scalars: bytes in str (it may hold NULs) */
    size_t n;                   /* seq: items; map: pairs */
    struct cp__ynode **kids;    /* seq: n items; map: key, value, key, value… */
    uint64_t weight;            /* nodes in this subtree, aliases expanded */
};

struct cp__ydoc {
    char *file;                 /* the name given at load (owned) */
    struct cp__ynode *root;     /* NULL for an empty document */
    struct cp__arena arena;     /* private: owns every node */
};

/* Loads the single document in a file. `name` is how errors name the file (NULL:
 * the path). Caller owns the result (cp__ydoc_free). On error, NULL with err
 * "file:line:col: …". An empty file gives a doc whose root is NULL. */
struct cp__ydoc *cp__ydoc_load_file(const char *path, const char *name, cp_err *err);
/* The same from memory (data borrowed for the call). */
struct cp__ydoc *cp__ydoc_load_mem(const char *name, const void *data, size_t len,
                                   cp_err *err);
void cp__ydoc_free(struct cp__ydoc *doc);      /* NULL is fine */

/* Maps. Keys are always scalars (the loader refuses others). */
static inline const char *cp__ymap_key(const struct cp__ynode *m, size_t i)
{
    return m->kids[2 * i]->str;
}
static inline struct cp__ynode *cp__ymap_keynode(const struct cp__ynode *m, size_t i)
{
    return m->kids[2 * i];
}
static inline struct cp__ynode *cp__ymap_val(const struct cp__ynode *m, size_t i)
{
    return m->kids[2 * i + 1];
}
/* The value of key in map, or NULL (also when m is NULL or not a map). */
struct cp__ynode *cp__ymap_get(const struct cp__ynode *m, const char *key);

/* Plain-scalar typing (YAML 1.2 core schema): null (~, null, empty), booleans
 * (true/false in any of three cases), integers (decimal, 0x, 0o), floats (with
 * .inf/.nan). Quoted and block scalars, and anything else, are strings. Returns
 * a cp_type from cparsl.h: CP_NIL, CP_BOOL, CP_INT, CP_DOUBLE or CP_STR (CP_LIST
 * for sequences, -1 for maps). */
int cp__yscalar_type(const struct cp__ynode *n);
bool cp__ynode_is_null(const struct cp__ynode *n);      /* NULL node counts too */
/* Readers: 0, or -1 with err "file:line:col: <what> must be …, got '…'". */
int cp__ynode_long(const struct cp__ynode *n, const char *what, long *out, cp_err *err);
int cp__ynode_double(const struct cp__ynode *n, const char *what, double *out, cp_err *err);
int cp__ynode_bool(const struct cp__ynode *n, const char *what, bool *out, cp_err *err);
/* A scalar's text (any style; not null); err names what was expected otherwise. */
int cp__ynode_str(const struct cp__ynode *n, const char *what, const char **out, cp_err *err);

/* Fills err with "file:line:col: <message>" for node `at` (just the message when
 * at is NULL) and returns -1. */
int cp__yerr(cp_err *err, const struct cp__ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* New nodes in doc's arena (NULL when memory runs out). A scalar copies text;
 * `at` (may be NULL) gives the position errors will quote. */
struct cp__ynode *cp__ynode_new_scalar(struct cp__ydoc *doc, const struct cp__ynode *at,
                                       const char *text, size_t len, uint8_t style);
/* An empty map or seq with room for `cap` kids (pairs for maps). */
struct cp__ynode *cp__ynode_new_coll(struct cp__ydoc *doc, const struct cp__ynode *at,
                                     uint8_t kind, size_t cap);
/* Appends to a collection made by cp__ynode_new_coll (a map takes key then value).
 * 0, or -1 when memory runs out. */
int cp__ynode_push(struct cp__ydoc *doc, struct cp__ynode *coll, struct cp__ynode *kid);
/* A deep copy of n in doc's arena, aliases turned into separate copies (positions
 * kept). NULL when memory runs out or the copy would pass CP_YAML_MAX_NODES. */
struct cp__ynode *cp__ynode_copy(struct cp__ydoc *doc, const struct cp__ynode *n);

/* The closest candidate to `word` by edit distance (a likely typo), or NULL.
 * cands is NULL-terminated; borrowed. */
const char *cp__did_you_mean(const char *word, const char *const *cands);
/* Checks that every key of map m is one of `allowed` (NULL-terminated). -1 with
 * err "file:line:col: unknown key 'x' in <where> (did you mean 'y'?)" at the
 * first unknown key. */
int cp__ymap_check_keys(const struct cp__ynode *m, const char *const *allowed,
                        const char *where, cp_err *err);

/* A `type:` value chosen from names (NULL-terminated, at most 32): its index, or
 * -1 with err at t: "<what> type 'x' is not supported yet by this build (it has:
 * …)" when x is in planned (NULL-terminated, may be NULL), else "unknown <what>
 * type 'x'" with a did-you-mean or the list. list (size n) receives "a, b" for
 * the caller's own messages. */
int cp__ytype_pick(const struct cp__ynode *t, const char *what, const char *const *names,
                   const char *const *planned, char *list, size_t n, cp_err *err);

#endif
