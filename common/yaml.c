/* common/yaml.c — libyaml events into a position-keeping node tree (yaml.h).
 *
 * The tree is built with an explicit stack, never recursion, so a deep document
 * cannot exhaust the C stack; depth is bounded anyway because every consumer
 * walks it recursively. Aliases share their anchor's node instead of copying it,
 * and each node carries its expanded size ("weight"), so a document of nested
 * aliases that would expand to billions of nodes is refused at the alias that
 * crosses the limit rather than after the memory is gone.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "cparsl.h"
#include "common/yaml.h"

/* ------------------------------------------------------------ errors */

int cp__yerr(cp_err *err, const struct cp__ynode *at, const char *fmt, ...)
{
    char msg[CP_ERR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at)
        return cp__errf(err, EINVAL, "%s:%u:%u: %s", at->file ? at->file : "?", at->line,
                        at->col, msg);
    return cp__errf(err, EINVAL, "%s", msg);
}

static int pos_err(cp_err *err, const char *file, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int pos_err(cp_err *err, const char *file, yaml_mark_t m, const char *fmt, ...)
{
    char msg[CP_ERR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cp__errf(err, EINVAL, "%s:%zu:%zu: %s", file, m.line + 1, m.column + 1, msg);
}

/* ------------------------------------------------------------ nodes */

static struct cp__ynode *node_new(struct cp__ydoc *doc, uint8_t kind, const struct cp__ynode *at)
{
    struct cp__ynode *n = cp__arena_alloc(&doc->arena, sizeof *n);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->file = doc->file;
    n->weight = 1;
    if (at) {
        n->line = at->line;
        n->col = at->col;
        n->file = at->file;
    }
    return n;
}

struct cp__ynode *cp__ynode_new_scalar(struct cp__ydoc *doc, const struct cp__ynode *at,
                                       const char *text, size_t len, uint8_t style)
{
    struct cp__ynode *n = node_new(doc, CP_Y_SCALAR, at);
    char *s = n ? cp__arena_alloc(&doc->arena, len + 1) : NULL;
    if (!s)
        return NULL;
    if (len)
        memcpy(s, text, len);
    s[len] = '\0';
    n->str = s;
    n->len = len;
    n->style = style;
    return n;
}

struct cp__ynode *cp__ynode_new_coll(struct cp__ydoc *doc, const struct cp__ynode *at,
                                     uint8_t kind, size_t cap)
{
    struct cp__ynode *n = node_new(doc, kind, at);
    if (!n)
        return NULL;
    size_t slots = kind == CP_Y_MAP ? 2 * cap : cap;
    if (slots) {
        n->kids = cp__arena_alloc(&doc->arena, slots * sizeof *n->kids);
        if (!n->kids)
            return NULL;
    }
    /* Capacity lives in `len`, unused for collections. */
    n->len = slots;
    return n;
}

/* Collections count kids in slots: n is pairs for maps, so slots = 2n (+1 while
 * a key waits for its value). */
static size_t slots_used(const struct cp__ynode *c, bool key_pending)
{
    return c->kind == CP_Y_MAP ? 2 * c->n + key_pending : c->n;
}

static int push_slot(struct cp__ydoc *doc, struct cp__ynode *c, size_t used,
                     struct cp__ynode *kid)
{
    if (used == c->len) {
        size_t cap = c->len ? c->len * 2 : 4;
        if (cap <= used)
            cap = used * 2;
        struct cp__ynode **k = cp__arena_alloc(&doc->arena, cap * sizeof *k);
        if (!k)
            return -1;
        if (used)
            memcpy(k, c->kids, used * sizeof *k);
        c->kids = k;
        c->len = cap;
    }
    c->kids[used] = kid;
    return 0;
}

int cp__ynode_push(struct cp__ydoc *doc, struct cp__ynode *coll, struct cp__ynode *kid)
{
    if (push_slot(doc, coll, slots_used(coll, coll->half), kid) != 0)
        return -1;
    if (coll->kind == CP_Y_MAP) {
        if (coll->half)
            coll->n++;
        coll->half = !coll->half;
    } else {
        coll->n++;
    }
    coll->weight += kid->weight;
    return 0;
}

struct cp__ynode *cp__ymap_get(const struct cp__ynode *m, const char *key)
{
    if (!m || m->kind != CP_Y_MAP)
        return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(cp__ymap_key(m, i), key) == 0)
            return cp__ymap_val(m, i);
    return NULL;
}

static struct cp__ynode *copy_rec(struct cp__ydoc *doc, const struct cp__ynode *n,
                                  uint64_t *budget, int depth)
{
    if (*budget == 0 || depth > CP_YAML_MAX_DEPTH + 1)
        return NULL;
    (*budget)--;
    if (n->kind == CP_Y_SCALAR) {
        struct cp__ynode *c = cp__ynode_new_scalar(doc, n, n->str, n->len, n->style);
        if (c)
            c->tag = n->tag;
        return c;
    }
    struct cp__ynode *c = cp__ynode_new_coll(doc, n, n->kind, n->n);
    if (!c)
        return NULL;
    c->flow = n->flow;
    c->tag = n->tag;
    size_t slots = n->kind == CP_Y_MAP ? 2 * n->n : n->n;
    for (size_t i = 0; i < slots; i++) {
        struct cp__ynode *k = copy_rec(doc, n->kids[i], budget, depth + 1);
        if (!k)
            return NULL;
        c->kids[i] = k;
        c->weight += k->weight;
    }
    c->n = n->n;
    return c;
}

struct cp__ynode *cp__ynode_copy(struct cp__ydoc *doc, const struct cp__ynode *n)
{
    uint64_t budget = CP_YAML_MAX_NODES;
    return n ? copy_rec(doc, n, &budget, 0) : NULL;
}

/* ------------------------------------------------------------ scalar typing */

static bool is_one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(s, *words) == 0)
            return true;
    return false;
}

static bool all_digits(const char *s, int base)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        bool ok = base == 16 ? strchr("0123456789abcdefABCDEF", *s) != NULL
                : base == 8 ? (*s >= '0' && *s <= '7')
                            : (*s >= '0' && *s <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool is_float(const char *s)
{
    static const char *const special[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                                          "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN",
                                          NULL};
    if (is_one_of(s, special))
        return true;
    if (*s == '+' || *s == '-')
        s++;
    bool digits = false, dot = false;
    while ((*s >= '0' && *s <= '9') || (*s == '.' && !dot)) {
        if (*s == '.')
            dot = true;
        else
            digits = true;
        s++;
    }
    if (!digits)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!all_digits(s, 10))
            return false;
        return true;
    }
    return *s == '\0' && dot;
}

static bool tag_is(const struct cp__ynode *n, const char *suffix)
{
    if (!n->tag)
        return false;
    size_t lt = strlen(n->tag), ls = strlen(suffix);
    return lt >= ls && strcmp(n->tag + lt - ls, suffix) == 0;
}

int cp__yscalar_type(const struct cp__ynode *n)
{
    if (!n)
        return CP_NIL;
    if (n->kind == CP_Y_SEQ)
        return CP_LIST;
    if (n->kind == CP_Y_MAP)
        return -1;
    if (n->style != CP_Y_PLAIN || tag_is(n, ":str") || (n->tag && strcmp(n->tag, "!") == 0))
        return CP_STR;
    if (strlen(n->str) != n->len)
        return CP_STR;
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE",
                                        NULL};
    const char *s = n->str;
    if (is_one_of(s, nulls))
        return CP_NIL;
    if (is_one_of(s, bools))
        return CP_BOOL;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && all_digits(s + 2, 16))
        return CP_INT;
    if (s[0] == '0' && s[1] == 'o' && all_digits(s + 2, 8))
        return CP_INT;
    if (all_digits(s + (*s == '-' || *s == '+'), 10))
        return CP_INT;
    if (is_float(s))
        return CP_DOUBLE;
    return CP_STR;
}

bool cp__ynode_is_null(const struct cp__ynode *n)
{
    return !n || (n->kind == CP_Y_SCALAR && cp__yscalar_type(n) == CP_NIL);
}

static const char *shape(const struct cp__ynode *n)
{
    return n->kind == CP_Y_SEQ ? "a list" : n->kind == CP_Y_MAP ? "a mapping" : "a scalar";
}

static int want(const struct cp__ynode *n, const char *what, const char *type, cp_err *err)
{
    if (!n)
        return cp__yerr(err, NULL, "%s must be %s", what, type);
    if (n->kind != CP_Y_SCALAR)
        return cp__yerr(err, n, "%s must be %s, got %s", what, type, shape(n));
    return cp__yerr(err, n, "%s must be %s, got '%.200s'", what, type, n->str);
}

int cp__ynode_long(const struct cp__ynode *n, const char *what, long *out, cp_err *err)
{
    if (!n || n->kind != CP_Y_SCALAR || cp__yscalar_type(n) != CP_INT)
        return want(n, what, "an integer", err);
    const char *s = n->str;
    int base = 10;
    bool neg = false;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (s[0] == '0' && s[1] == 'o') {
        base = 8;
        s += 2;
    }
    errno = 0;
    unsigned long long v = strtoull(s, NULL, base);
    if (errno == ERANGE || v > (unsigned long long)LONG_MAX + (neg ? 1 : 0))
        return cp__yerr(err, n, "%s is out of range: '%.200s'", what, n->str);
    *out = neg ? (long)(0 - v) : (long)v;
    return 0;
}

int cp__ynode_double(const struct cp__ynode *n, const char *what, double *out, cp_err *err)
{
    int t = n && n->kind == CP_Y_SCALAR ? cp__yscalar_type(n) : -1;
    if (t == CP_INT) {
        long l;
        if (cp__ynode_long(n, what, &l, err) != 0)
            return -1;
        *out = (double)l;
        return 0;
    }
    if (t != CP_DOUBLE)
        return want(n, what, "a number", err);
    const char *s = n->str;
    if (strstr(s, "nan") || strstr(s, "NaN") || strstr(s, "NAN"))
        *out = NAN;
    else if (strstr(s, "inf") || strstr(s, "Inf") || strstr(s, "INF"))
        *out = *s == '-' ? -INFINITY : INFINITY;
    else
        *out = strtod(s, NULL);
    return 0;
}

int cp__ynode_bool(const struct cp__ynode *n, const char *what, bool *out, cp_err *err)
{
    if (!n || n->kind != CP_Y_SCALAR || cp__yscalar_type(n) != CP_BOOL)
        return want(n, what, "true or false", err);
    *out = n->str[0] == 't' || n->str[0] == 'T';
    return 0;
}

int cp__ynode_str(const struct cp__ynode *n, const char *what, const char **out, cp_err *err)
{
    if (!n || n->kind != CP_Y_SCALAR || cp__yscalar_type(n) == CP_NIL)
        return want(n, what, "a string", err);
    *out = n->str;
    return 0;
}

/* ------------------------------------------------------------ did you mean */

/* Optimal string alignment distance (Levenshtein plus adjacent swaps), the
 * usual shape of a typo. Words longer than 64 bytes get no suggestion. */
static int osa_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 1000;
    int d[65][65];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

const char *cp__did_you_mean(const char *word, const char *const *cands)
{
    if (!word || !cands)
        return NULL;
    size_t lw = strlen(word);
    int limit = lw <= 3 ? 1 : lw <= 8 ? 2 : 3;
    const char *best = NULL;
    int bestd = limit + 1;
    for (; *cands; cands++) {
        if (strcasecmp(word, *cands) == 0)
            return *cands;
        int d = osa_distance(word, *cands);
        if (d < bestd) {
            bestd = d;
            best = *cands;
        }
    }
    return best;
}

int cp__ymap_check_keys(const struct cp__ynode *m, const char *const *allowed,
                        const char *where, cp_err *err)
{
    if (!m || m->kind != CP_Y_MAP)
        return 0;
    for (size_t i = 0; i < m->n; i++) {
        const char *k = cp__ymap_key(m, i);
        if (is_one_of(k, allowed))
            continue;
        const char *hint = cp__did_you_mean(k, allowed);
        if (hint)
            return cp__yerr(err, cp__ymap_keynode(m, i),
                            "unknown key '%.100s' in %s (did you mean '%s'?)", k, where, hint);
        char list[300] = "";
        size_t used = 0;
        for (const char *const *a = allowed; *a && used < sizeof list - 40; a++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                     a == allowed ? "" : ", ", *a);
        return cp__yerr(err, cp__ymap_keynode(m, i), "unknown key '%.100s' in %s (known: %s)",
                        k, where, list);
    }
    return 0;
}

int cp__ytype_pick(const struct cp__ynode *t, const char *what, const char *const *names,
                   const char *const *planned, char *list, size_t n, cp_err *err)
{
    size_t used = 0;
    if (n)
        list[0] = '\0';
    for (size_t i = 0; names[i] && used < n; i++)
        used += (size_t)snprintf(list + used, n - used, "%s%s", i ? ", " : "", names[i]);
    char field[64];
    snprintf(field, sizeof field, "%s type", what);
    const char *s = NULL;
    if (cp__ynode_str(t, field, &s, err) != 0)
        return -1;
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    if (planned && is_one_of(s, planned))
        return cp__yerr(err, t, "%s type '%s' is not supported yet by this build (it has: %s)",
                        what, s, list);
    const char *hint = cp__did_you_mean(s, names);
    if (hint)
        return cp__yerr(err, t, "unknown %s type '%.100s' (did you mean '%s'?)", what, s, hint);
    return cp__yerr(err, t, "unknown %s type '%.100s' (known: %s)", what, s, list);
}

/* ------------------------------------------------------------ loading */

struct anchor {
    char *name;
    struct cp__ynode *node;
    bool complete;              /* an alias to an open collection would be a cycle */
};

struct frame {
    struct cp__ynode *node;
    bool key_pending;           /* maps: a key is waiting for its value */
    size_t anchor;              /* index + 1 of the anchor naming it, or 0 */
};

struct loader {
    struct cp__ydoc *doc;
    cp_err *err;
    struct frame stack[CP_YAML_MAX_DEPTH + 1];
    int depth;
    struct anchor *anchors;
    size_t nanchors, capanchors;
    int docs;
};

static struct cp__ynode *node_at(struct loader *ld, uint8_t kind, yaml_mark_t m,
                                 const yaml_char_t *tag)
{
    struct cp__ynode *n = node_new(ld->doc, kind, NULL);
    if (!n)
        return NULL;
    n->line = (uint32_t)m.line + 1;
    n->col = (uint32_t)m.column + 1;
    if (tag) {
        size_t l = strlen((const char *)tag);
        char *t = cp__arena_alloc(&ld->doc->arena, l + 1);
        if (!t)
            return NULL;
        memcpy(t, tag, l + 1);
        n->tag = t;
    }
    return n;
}

static int add_anchor(struct loader *ld, const yaml_char_t *name, struct cp__ynode *n,
                      bool complete, size_t *index)
{
    if (!name)
        return 0;
    /* A later anchor of the same name shadows the earlier one, as YAML says. */
    if (ld->nanchors == ld->capanchors) {
        size_t cap = ld->capanchors ? ld->capanchors * 2 : 16;
        struct anchor *a = realloc(ld->anchors, cap * sizeof *a);
        if (!a)
            return cp__errf(ld->err, ENOMEM, "out of memory");
        ld->anchors = a;
        ld->capanchors = cap;
    }
    char *copy = strdup((const char *)name);
    if (!copy)
        return cp__errf(ld->err, ENOMEM, "out of memory");
    ld->anchors[ld->nanchors] = (struct anchor){copy, n, complete};
    *index = ++ld->nanchors;
    return 0;
}

static struct anchor *find_anchor(struct loader *ld, const yaml_char_t *name)
{
    for (size_t i = ld->nanchors; i-- > 0;)
        if (strcmp(ld->anchors[i].name, (const char *)name) == 0)
            return &ld->anchors[i];
    return NULL;
}

/* Places a finished node into the collection on top of the stack (or as root). */
static int attach(struct loader *ld, struct cp__ynode *n)
{
    if (ld->depth == 0) {
        ld->doc->root = n;
        return 0;
    }
    struct frame *f = &ld->stack[ld->depth - 1];
    struct cp__ynode *c = f->node;
    if (c->kind == CP_Y_MAP && !f->key_pending && n->kind != CP_Y_SCALAR)
        return cp__yerr(ld->err, n, "a mapping key must be a plain value, not %s",
                        shape(n));
    if (push_slot(ld->doc, c, slots_used(c, f->key_pending), n) != 0)
        return cp__errf(ld->err, ENOMEM, "out of memory");
    if (c->kind == CP_Y_MAP) {
        if (f->key_pending)
            c->n++;
        f->key_pending = !f->key_pending;
    } else {
        c->n++;
    }
    c->weight += n->weight;
    if (c->weight > CP_YAML_MAX_NODES)
        return cp__yerr(ld->err, n, "document too large: more than %u nodes (aliases "
                                    "counted expanded)", CP_YAML_MAX_NODES);
    return 0;
}

static int cmp_keys(const void *a, const void *b)
{
    const struct cp__ynode *x = *(struct cp__ynode *const *)a;
    const struct cp__ynode *y = *(struct cp__ynode *const *)b;
    int c = strcmp(x->str, y->str);
    if (c)
        return c;
    return x->line != y->line ? (x->line < y->line ? -1 : 1)
                              : (x->col < y->col ? -1 : x->col > y->col);
}

/* YAML 1.1 merge keys: `<<: *base` (or a list of them) adds the pairs of the
 * merged maps whose keys this map does not have. */
static int apply_merge(struct loader *ld, struct cp__ynode *m)
{
    size_t at = m->n;
    for (size_t i = 0; i < m->n; i++)
        if (cp__ymap_keynode(m, i)->style == CP_Y_PLAIN && strcmp(cp__ymap_key(m, i), "<<") == 0)
            at = i;
    if (at == m->n)
        return 0;
    struct cp__ynode *src = cp__ymap_val(m, at);
    struct cp__ynode *one[1] = {src};
    struct cp__ynode **list = one;
    size_t nlist = 1;
    if (src->kind == CP_Y_SEQ) {
        list = src->kids;
        nlist = src->n;
    }
    /* Drop the << pair itself. */
    memmove(&m->kids[2 * at], &m->kids[2 * at + 2], 2 * (m->n - at - 1) * sizeof *m->kids);
    m->n--;
    for (size_t j = 0; j < nlist; j++) {
        struct cp__ynode *b = list[j];
        if (b->kind != CP_Y_MAP)
            return cp__yerr(ld->err, b, "'<<' merges mappings only, got %s", shape(b));
        for (size_t i = 0; i < b->n; i++) {
            if (cp__ymap_get(m, cp__ymap_key(b, i)))
                continue;
            if (push_slot(ld->doc, m, 2 * m->n, cp__ymap_keynode(b, i)) != 0 ||
                push_slot(ld->doc, m, 2 * m->n + 1, cp__ymap_val(b, i)) != 0)
                return cp__errf(ld->err, ENOMEM, "out of memory");
            m->n++;
        }
    }
    /* The dropped pair and the merged ones change the expanded size. */
    m->weight = 1;
    for (size_t i = 0; i < 2 * m->n; i++)
        m->weight += m->kids[i]->weight;
    return 0;
}

/* Duplicate keys are an error (YAML says so; silently keeping the last one hides
 * typos). Sorting a copy keeps this O(n log n) for mappings of 10^5 tasks. */
static int check_dups(struct loader *ld, struct cp__ynode *m)
{
    if (m->n < 2)
        return 0;
    struct cp__ynode **keys = malloc(m->n * sizeof *keys);
    if (!keys)
        return cp__errf(ld->err, ENOMEM, "out of memory");
    for (size_t i = 0; i < m->n; i++)
        keys[i] = cp__ymap_keynode(m, i);
    qsort(keys, m->n, sizeof *keys, cmp_keys);
    const struct cp__ynode *first = NULL, *dup = NULL;
    for (size_t i = 1; i < m->n; i++)
        if (strcmp(keys[i]->str, keys[i - 1]->str) == 0) {
            /* Report the earliest duplicate in the file. */
            const struct cp__ynode *d = keys[i];
            size_t k = i;
            while (k > 0 && strcmp(keys[k - 1]->str, d->str) == 0)
                k--;
            if (!dup || d->line < dup->line || (d->line == dup->line && d->col < dup->col)) {
                dup = d;
                first = keys[k];
            }
        }
    int rc = 0;
    if (dup)
        rc = cp__yerr(ld->err, dup, "duplicate key '%.100s' (first at line %u, column %u)",
                      dup->str, first->line, first->col);
    free(keys);
    return rc;
}

static int on_event(struct loader *ld, yaml_event_t *ev)
{
    const char *file = ld->doc->file;
    struct cp__ynode *n;
    size_t ai = 0;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++ld->docs > 1)
            return pos_err(ld->err, file, ev->start_mark,
                           "a second YAML document ('---'); put everything in one");
        return 0;
    case YAML_SCALAR_EVENT:
        n = node_at(ld, CP_Y_SCALAR, ev->start_mark,
                    ev->data.scalar.plain_implicit || ev->data.scalar.quoted_implicit
                        ? NULL : ev->data.scalar.tag);
        if (!n)
            return cp__errf(ld->err, ENOMEM, "out of memory");
        n->len = ev->data.scalar.length;
        n->str = cp__arena_alloc(&ld->doc->arena, n->len + 1);
        if (!n->str)
            return cp__errf(ld->err, ENOMEM, "out of memory");
        memcpy(n->str, ev->data.scalar.value, n->len);
        n->str[n->len] = '\0';
        switch (ev->data.scalar.style) {
        case YAML_PLAIN_SCALAR_STYLE: n->style = CP_Y_PLAIN; break;
        case YAML_LITERAL_SCALAR_STYLE:
        case YAML_FOLDED_SCALAR_STYLE: n->style = CP_Y_BLOCK; break;
        default: n->style = CP_Y_QUOTED; break;
        }
        if (add_anchor(ld, ev->data.scalar.anchor, n, true, &ai) != 0)
            return -1;
        return attach(ld, n);
    case YAML_ALIAS_EVENT: {
        struct anchor *a = find_anchor(ld, ev->data.alias.anchor);
        if (!a)
            return pos_err(ld->err, file, ev->start_mark, "alias '*%.100s' names no anchor",
                           (const char *)ev->data.alias.anchor);
        if (!a->complete)
            return pos_err(ld->err, file, ev->start_mark,
                           "alias '*%.100s' refers to a node that contains it",
                           (const char *)ev->data.alias.anchor);
        return attach(ld, a->node);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        if (ld->depth == CP_YAML_MAX_DEPTH)
            return pos_err(ld->err, file, ev->start_mark,
                           "nested more than %d levels deep", CP_YAML_MAX_DEPTH);
        const yaml_char_t *tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
        bool implicit = seq ? ev->data.sequence_start.implicit : ev->data.mapping_start.implicit;
        n = node_at(ld, seq ? CP_Y_SEQ : CP_Y_MAP, ev->start_mark, implicit ? NULL : tag);
        if (!n)
            return cp__errf(ld->err, ENOMEM, "out of memory");
        n->flow = seq ? ev->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE
                      : ev->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
        if (ld->depth > 0) {
            struct frame *f = &ld->stack[ld->depth - 1];
            if (f->node->kind == CP_Y_MAP && !f->key_pending)
                return cp__yerr(ld->err, n, "a mapping key must be a plain value, not %s",
                                shape(n));
        }
        if (add_anchor(ld, seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor,
                       n, false, &ai) != 0)
            return -1;
        ld->stack[ld->depth++] = (struct frame){n, false, ai};
        return 0;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        struct frame f = ld->stack[--ld->depth];
        n = f.node;
        if (n->kind == CP_Y_MAP && (apply_merge(ld, n) != 0 || check_dups(ld, n) != 0))
            return -1;
        /* The capacity was kept in len while building; a finished collection has
         * none (and merging above still needed it). */
        n->len = 0;
        if (f.anchor)
            ld->anchors[f.anchor - 1].complete = true;
        /* attach() adds this node's weight to its parent: it must be final now. */
        return attach(ld, n);
    }
    default:
        return 0;
    }
}

static int syntax_error(yaml_parser_t *p, const char *file, const void *data, size_t len,
                        cp_err *err)
{
    if (p->error == YAML_MEMORY_ERROR)
        return cp__errf(err, ENOMEM, "%s: out of memory reading YAML", file);
    yaml_mark_t m = p->problem_mark;
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (m.index < len && ((const char *)data)[m.index] == '\t')
        return pos_err(err, file, m, "tab character where YAML expects spaces (indent "
                                     "with spaces)");
    if (p->context)
        return pos_err(err, file, m, "YAML syntax error: %s %s (line %zu)", problem,
                       p->context, p->context_mark.line + 1);
    return pos_err(err, file, m, "YAML syntax error: %s", problem);
}

struct cp__ydoc *cp__ydoc_load_mem(const char *name, const void *data, size_t len,
                                   cp_err *err)
{
    struct loader ld = {.err = err};
    yaml_parser_t parser;
    bool parser_ok = false;
    struct cp__ydoc *doc = calloc(1, sizeof *doc);
    if (!doc || !(doc->file = strdup(name ? name : "<yaml>"))) {
        cp__errf(err, ENOMEM, "out of memory");
        goto error;
    }
    ld.doc = doc;
    if (len > CP_YAML_MAX_BYTES) {
        cp__errf(err, EFBIG, "%s: larger than the %u MiB limit for YAML files", doc->file,
                 CP_YAML_MAX_BYTES >> 20);
        goto error;
    }
    if (!yaml_parser_initialize(&parser)) {
        cp__errf(err, ENOMEM, "out of memory");
        goto error;
    }
    parser_ok = true;
    yaml_parser_set_input_string(&parser, data, len);
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(&parser, doc->file, data, len, err);
            goto error;
        }
        bool end = ev.type == YAML_STREAM_END_EVENT;
        int rc = on_event(&ld, &ev);
        yaml_event_delete(&ev);
        if (rc != 0)
            goto error;
        if (end)
            break;
    }
    yaml_parser_delete(&parser);
    for (size_t i = 0; i < ld.nanchors; i++)
        free(ld.anchors[i].name);
    free(ld.anchors);
    return doc;
error:
    if (parser_ok)
        yaml_parser_delete(&parser);
    for (size_t i = 0; i < ld.nanchors; i++)
        free(ld.anchors[i].name);
    free(ld.anchors);
    cp__ydoc_free(doc);
    return NULL;
}

struct cp__ydoc *cp__ydoc_load_file(const char *path, const char *name, cp_err *err)
{
    const char *shown = name ? name : path;
    FILE *f = fopen(path, "rb");
    if (!f) {
        cp__errf(err, errno, "%s: cannot open: %s", shown, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    struct cp__ydoc *doc = NULL;
    if (fstat(fileno(f), &st) != 0) {
        cp__errf(err, errno, "%s: cannot stat: %s", shown, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        cp__errf(err, EISDIR, "%s: is a directory, not a YAML file", shown);
        goto out;
    }
    if ((uint64_t)st.st_size > CP_YAML_MAX_BYTES) {
        cp__errf(err, EFBIG, "%s: larger than the %u MiB limit for YAML files", shown,
                 CP_YAML_MAX_BYTES >> 20);
        goto out;
    }
    /* Read to EOF rather than trusting st_size: pipes and /proc files report 0. */
    size_t cap = (size_t)st.st_size + 1, len = 0;
    buf = malloc(cap);
    if (!buf) {
        cp__errf(err, ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        if (len == cap) {
            if (cap > CP_YAML_MAX_BYTES) {
                cp__errf(err, EFBIG, "%s: larger than the %u MiB limit for YAML files",
                         shown, CP_YAML_MAX_BYTES >> 20);
                goto out;
            }
            char *b = realloc(buf, cap * 2);
            if (!b) {
                cp__errf(err, ENOMEM, "out of memory");
                goto out;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                cp__errf(err, EIO, "%s: read error", shown);
                goto out;
            }
            break;
        }
    }
    doc = cp__ydoc_load_mem(shown, buf, len, err);
out:
    free(buf);
    fclose(f);
    return doc;
}

void cp__ydoc_free(struct cp__ydoc *doc)
{
    if (!doc)
        return;
    cp__arena_free(&doc->arena);
    free(doc->file);
    free(doc);
}
