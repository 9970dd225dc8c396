/* engine/config_file.c — reading, extending and filling config files
 * (config_file.h). Finding what a spec names is config_find.c; turning the
 * finished tree into settings is config_keys.c.
 *
 * Every file read stays loaded until the end of the load, because the merged
 * tree is made of their nodes: a node keeps the name of the file it was written
 * in, so an error in a key that came from a template names the template, at the
 * template's line. Merging builds new collections in a scratch document and
 * shares the scalars; the merged tree is then copied once so ${…} can be filled
 * in place without touching any file's own nodes.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "engine/config_file.h"
#include "engine/config_int.h"

/* Longer chains are surely a mistake (a cycle through symlinks, say). */
#define MAX_EXTENDS 16

struct loader {
    struct cp__ydoc *scratch;   /* merged collections and filled scalars */
    struct cp__ydoc **docs;     /* every file read (the merged tree points into them) */
    size_t ndocs, capdocs;
    char *chain_id[MAX_EXTENDS + 1];    /* the extends chain being read, for cycles */
    char *chain_shown[MAX_EXTENDS + 1];
    size_t depth;
    const char *const *defs;
    size_t ndefs;
    bool *def_used;
};

/* ------------------------------------------------------------ small helpers */

static int oom(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

static int keep_doc(struct loader *L, struct cp__ydoc *doc, cp_err *err)
{
    if (L->ndocs == L->capdocs) {
        size_t cap = L->capdocs ? 2 * L->capdocs : 4;
        struct cp__ydoc **d = realloc(L->docs, cap * sizeof *d);
        if (!d) {
            cp__ydoc_free(doc);
            return oom(err);
        }
        L->docs = d;
        L->capdocs = cap;
    }
    L->docs[L->ndocs++] = doc;
    return 0;
}

/* ------------------------------------------------------------ ${NAME} */

static bool name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
static bool name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

/* The value of NAME (len bytes at name): the last -D definition of it, then the
 * environment. NULL when neither has it. */
static const char *lookup(struct loader *L, const char *name, size_t len)
{
    for (size_t i = L->ndefs; i-- > 0;) {
        const char *d = L->defs[i];
        if (strncmp(d, name, len) == 0 && d[len] == '=') {
            L->def_used[i] = true;
            return d + len + 1;
        }
    }
    char buf[256];
    if (len >= sizeof buf)
        return NULL;
    memcpy(buf, name, len);
    buf[len] = '\0';
    return getenv(buf);
}

/* The position of byte `off` of scalar n: exact for a plain scalar on one line
 * (its text is the source), the scalar's start otherwise (quotes, escapes and
 * folding move text around). Columns count characters, as libyaml's do. */
static struct cp__ynode pos_in(const struct cp__ynode *n, size_t off)
{
    struct cp__ynode at = *n;
    if (n->style == CP_Y_PLAIN && !memchr(n->str, '\n', n->len))
        for (size_t i = 0; i < off; i++)
            if (((unsigned char)n->str[i] & 0xC0) != 0x80)
                at.col++;
    return at;
}

struct sbuf {
    char *p;
    size_t n, cap;
};

static int sb_add(struct sbuf *b, const char *s, size_t len)
{
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
    return 0;
}

/* Fills the ${NAME}s of scalar *slot, replacing it by a new scalar of the same
 * style and position when anything changed (a plain one is then typed again
 * from its new text). */
static int fill_scalar(struct loader *L, struct cp__ynode **slot, cp_err *err)
{
    const struct cp__ynode *n = *slot;
    if (!memchr(n->str, '$', n->len))
        return 0;
    struct sbuf b = {0};
    const char *s = n->str, *end = n->str + n->len;
    int rc = -1;
    while (s < end) {
        const char *d = memchr(s, '$', (size_t)(end - s));
        if (!d) {
            if (sb_add(&b, s, (size_t)(end - s)) != 0)
                goto nomem;
            break;
        }
        if (sb_add(&b, s, (size_t)(d - s)) != 0)
            goto nomem;
        if (end - d >= 3 && d[1] == '$' && d[2] == '{') {         /* $${ → ${ */
            if (sb_add(&b, "${", 2) != 0)
                goto nomem;
            s = d + 3;
            continue;
        }
        if (end - d < 2 || d[1] != '{') {                           /* a lone $ */
            if (sb_add(&b, "$", 1) != 0)
                goto nomem;
            s = d + 1;
            continue;
        }
        const char *name = d + 2, *close = memchr(name, '}', (size_t)(end - name));
        struct cp__ynode at = pos_in(n, (size_t)(d - n->str));
        if (!close) {
            cp__yerr(err, &at, "unterminated '${' (write '$${' for a literal '${')");
            goto out;
        }
        size_t len = (size_t)(close - name);
        bool valid = len > 0 && name_start(name[0]);
        for (size_t i = 1; valid && i < len; i++)
            valid = name_char(name[i]);
        if (!valid) {
            cp__yerr(err, &at, "'${%.*s}' is not a variable name (letters, digits and '_'; "
                               "write '$${' for a literal '${')", (int)(len > 100 ? 100 : len),
                     name);
            goto out;
        }
        const char *val = lookup(L, name, len);
        if (!val) {
            cp__yerr(err, &at, "${%.*s} is not defined: give -D %.*s=... or set it in the "
                               "environment", (int)len, name, (int)len, name);
            goto out;
        }
        if (sb_add(&b, val, strlen(val)) != 0)
            goto nomem;
        s = close + 1;
    }
    struct cp__ynode *nn = cp__ynode_new_scalar(L->scratch, n, b.p ? b.p : "", b.n, n->style);
    if (!nn)
        goto nomem;
    nn->tag = n->tag;
    *slot = nn;
    rc = 0;
    goto out;
nomem:
    oom(err);
out:
    free(b.p);
    return rc;
}

/* Fills every scalar value under n (keys are names, never filled). */
static int fill_tree(struct loader *L, struct cp__ynode *n, cp_err *err)
{
    size_t step = n->kind == CP_Y_MAP ? 2 : 1;
    size_t first = n->kind == CP_Y_MAP ? 1 : 0;
    size_t slots = n->kind == CP_Y_MAP ? 2 * n->n : n->kind == CP_Y_SEQ ? n->n : 0;
    for (size_t i = first; i < slots; i += step) {
        struct cp__ynode **kid = &n->kids[i];
        int rc = (*kid)->kind == CP_Y_SCALAR ? fill_scalar(L, kid, err)
                                             : fill_tree(L, *kid, err);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ merging */

static bool is_key(const struct cp__ynode *m, size_t i, const char *key)
{
    return strcmp(cp__ymap_key(m, i), key) == 0;
}

static struct cp__ynode *merge_map(struct loader *L, const struct cp__ynode *base,
                                   const struct cp__ynode *over, bool top, cp_err *err);

/* The label an executor item is known by when merging: its `label`, else its
 * type's default label. NULL when it has neither (it is then only appended). */
static const char *exec_key(const struct cp__ynode *item)
{
    const struct cp__ynode *l = cp__ymap_get(item, "label");
    if (l && l->kind == CP_Y_SCALAR && !cp__ynode_is_null(l))
        return l->str;
    const struct cp__ynode *t = cp__ymap_get(item, "type");
    const struct cp__exec_type *type = t && t->kind == CP_Y_SCALAR ? cp__exec_type_find(t->str)
                                                                   : NULL;
    return type ? type->default_label : NULL;
}

static bool same_type(const struct cp__ynode *a, const struct cp__ynode *b)
{
    const struct cp__ynode *ta = cp__ymap_get(a, "type"), *tb = cp__ymap_get(b, "type");
    if (!tb || cp__ynode_is_null(tb) || !ta || cp__ynode_is_null(ta))
        return true;        /* the override keeps the type it does not name */
    return ta->kind == CP_Y_SCALAR && tb->kind == CP_Y_SCALAR && strcmp(ta->str, tb->str) == 0;
}

/* `executors` lists merge by label: an item whose label the base has is merged
 * into that executor (replacing it when it names another type); any other item
 * is appended. Items that are not mappings are left for the checks to report. */
static struct cp__ynode *merge_execs(struct loader *L, const struct cp__ynode *base,
                                     const struct cp__ynode *over, cp_err *err)
{
    struct cp__ynode *out = cp__ynode_new_coll(L->scratch, over, CP_Y_SEQ, base->n + over->n);
    bool *used = calloc(over->n + 1, sizeof *used);
    if (!out || !used)
        goto nomem;
    for (size_t i = 0; i < base->n; i++) {
        const struct cp__ynode *b = base->kids[i], *o = NULL;
        const char *key = b->kind == CP_Y_MAP ? exec_key(b) : NULL;
        for (size_t j = 0; key && j < over->n && !o; j++) {
            const struct cp__ynode *c = over->kids[j];
            const char *ck = c->kind == CP_Y_MAP ? exec_key(c) : NULL;
            if (!used[j] && ck && strcmp(ck, key) == 0) {
                o = c;
                used[j] = true;
            }
        }
        const struct cp__ynode *item = b;
        if (o)
            item = same_type(b, o) ? merge_map(L, b, o, false, err) : o;
        if (!item) {
            free(used);
            return NULL;
        }
        if (cp__ynode_push(L->scratch, out, (struct cp__ynode *)item) != 0)
            goto nomem;
    }
    for (size_t j = 0; j < over->n; j++)
        if (!used[j] && cp__ynode_push(L->scratch, out, over->kids[j]) != 0)
            goto nomem;
    free(used);
    return out;
nomem:
    free(used);
    oom(err);
    return NULL;
}

/* over's value for a key base also has: mappings merge, the top-level executors
 * list merges by label, anything else (scalars, lists, null) replaces. */
static struct cp__ynode *merge_value(struct loader *L, const struct cp__ynode *b,
                                     const struct cp__ynode *o, bool executors, cp_err *err)
{
    if (b->kind == CP_Y_MAP && o->kind == CP_Y_MAP)
        return merge_map(L, b, o, false, err);
    if (executors && b->kind == CP_Y_SEQ && o->kind == CP_Y_SEQ)
        return merge_execs(L, b, o, err);
    return (struct cp__ynode *)o;
}

/* A new mapping: base's pairs in base's order (merged with over's where over has
 * the key), then over's other pairs. At the top, `extends` is dropped: it has
 * done its work. */
static struct cp__ynode *merge_map(struct loader *L, const struct cp__ynode *base,
                                   const struct cp__ynode *over, bool top, cp_err *err)
{
    struct cp__ynode *out = cp__ynode_new_coll(L->scratch, over, CP_Y_MAP, base->n + over->n);
    if (!out) {
        oom(err);
        return NULL;
    }
    for (size_t i = 0; i < base->n; i++) {
        if (top && is_key(base, i, "extends"))
            continue;
        const struct cp__ynode *b = cp__ymap_val(base, i);
        const struct cp__ynode *o = cp__ymap_get(over, cp__ymap_key(base, i));
        struct cp__ynode *v = o ? merge_value(L, b, o, top && is_key(base, i, "executors"), err)
                                : (struct cp__ynode *)b;
        if (!v)
            return NULL;
        if (cp__ynode_push(L->scratch, out, cp__ymap_keynode(base, i)) != 0 ||
            cp__ynode_push(L->scratch, out, v) != 0) {
            oom(err);
            return NULL;
        }
    }
    for (size_t i = 0; i < over->n; i++) {
        if ((top && is_key(over, i, "extends")) || cp__ymap_get(base, cp__ymap_key(over, i)))
            continue;
        if (cp__ynode_push(L->scratch, out, cp__ymap_keynode(over, i)) != 0 ||
            cp__ynode_push(L->scratch, out, cp__ymap_val(over, i)) != 0) {
            oom(err);
            return NULL;
        }
    }
    return out;
}

/* ------------------------------------------------------------ reading a chain */

static const struct cp__ynode *read_config(struct loader *L, const char *spec,
                                           const struct cp__config_origin *from,
                                           const struct cp__ynode *at, cp_err *err);

static void chain_text(struct loader *L, const char *last, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < L->depth && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s -> ", L->chain_shown[i]);
    if (used < n)
        snprintf(buf + used, n - used, "%s", last);
}

/* A config's own tree merged over what its `extends:` names (recursively). root
 * is a mapping; shown/id name it; from is where its extends resolve. */
static const struct cp__ynode *extend(struct loader *L, const struct cp__ynode *root,
                                      const char *shown, const char *id,
                                      const struct cp__config_origin *from, cp_err *err)
{
    const struct cp__ynode *ext = cp__ymap_get(root, "extends");
    const struct cp__ynode *empty = NULL, *base = NULL;
    if (cp__ynode_is_null(ext)) {
        /* Merging over nothing still drops `extends: null` and gives a mapping of
         * our own, so every config goes through one path. */
        if (!(empty = cp__ynode_new_coll(L->scratch, root, CP_Y_MAP, 0))) {
            oom(err);
            return NULL;
        }
        return merge_map(L, empty, root, true, err);
    }
    /* `extends: ${SITE}` is filled now, before the tree it names exists. */
    struct cp__ynode *spec = (struct cp__ynode *)ext;
    if (ext->kind != CP_Y_SCALAR || fill_scalar(L, &spec, err) != 0) {
        if (ext->kind != CP_Y_SCALAR)
            cp__yerr(err, ext, "extends must be a template name or a path, got a %s",
                     ext->kind == CP_Y_MAP ? "mapping" : "list");
        return NULL;
    }
    if (L->depth == MAX_EXTENDS) {
        cp__yerr(err, ext, "extends: more than %d configs in the chain", MAX_EXTENDS);
        return NULL;
    }
    if (!(L->chain_id[L->depth] = strdup(id)) || !(L->chain_shown[L->depth] = strdup(shown))) {
        free(L->chain_id[L->depth]);
        L->chain_id[L->depth] = NULL;
        oom(err);
        return NULL;
    }
    L->depth++;
    base = read_config(L, spec->str, from, spec, err);
    L->depth--;
    free(L->chain_id[L->depth]);
    free(L->chain_shown[L->depth]);
    L->chain_id[L->depth] = L->chain_shown[L->depth] = NULL;
    return base ? merge_map(L, base, root, true, err) : NULL;
}

static const struct cp__ynode *read_config(struct loader *L, const char *spec,
                                           const struct cp__config_origin *from,
                                           const struct cp__ynode *at, cp_err *err)
{
    struct cp__config_found f;
    const struct cp__ynode *out = NULL;
    if (cp__config_find(spec, from, at, &f, err) != 0)
        goto done;
    for (size_t i = 0; i < L->depth; i++)
        if (strcmp(L->chain_id[i], f.id) == 0) {
            char chain[400];
            chain_text(L, f.shown, chain, sizeof chain);
            cp__config_err_at(err, at, ELOOP, "extends cycle: %s", chain);
            goto done;
        }
    struct cp__ydoc *doc = f.builtin
        ? cp__ydoc_load_mem(f.shown, f.builtin->text, f.builtin->len, err)
        : cp__ydoc_load_file(f.open, f.shown, err);
    if (!doc || keep_doc(L, doc, err) != 0)
        goto done;
    const struct cp__ynode *root = doc->root;
    if (!root) {
        /* An empty file is a config that sets nothing: all defaults. */
        struct cp__ynode pos = {.file = doc->file, .line = 1, .col = 1};
        if (!(root = cp__ynode_new_coll(L->scratch, &pos, CP_Y_MAP, 0))) {
            oom(err);
            goto done;
        }
    }
    if (root->kind != CP_Y_MAP) {
        cp__yerr(err, root, "a config must be a mapping of keys (retries, executors, ...), "
                            "got a %s", root->kind == CP_Y_SEQ ? "list" : "scalar");
        goto done;
    }
    struct cp__config_origin mine = {f.dir_open, f.dir_shown, f.builtin != NULL};
    out = extend(L, root, f.shown, f.id, &mine, err);
done:
    cp__config_found_free(&f);
    return out;
}

/* ------------------------------------------------------------ the API */

static int check_defs(const char *const *defs, size_t ndefs, cp_err *err)
{
    for (size_t i = 0; i < ndefs; i++) {
        const char *d = defs[i], *eq = d ? strchr(d, '=') : NULL;
        bool valid = eq && eq > d && name_start(d[0]);
        for (const char *c = d; valid && c < eq; c++)
            valid = name_char(*c);
        if (!valid)
            return cp__errf(err, EINVAL, "definition '%s' must be NAME=value (NAME: letters, "
                                         "digits and '_')", d ? d : "(null)");
    }
    return 0;
}

static void loader_done(struct loader *L)
{
    for (size_t i = 0; i < L->ndocs; i++)
        cp__ydoc_free(L->docs[i]);
    free(L->docs);
    cp__ydoc_free(L->scratch);
    free(L->def_used);
}

static int loader_init(struct loader *L, const char *const *defs, size_t ndefs, cp_err *err)
{
    memset(L, 0, sizeof *L);
    if (check_defs(defs, ndefs, err) != 0)
        return -1;
    L->defs = defs;
    L->ndefs = ndefs;
    L->def_used = calloc(ndefs + 1, sizeof *L->def_used);
    if (!L->def_used)
        return oom(err);
    L->scratch = cp__ydoc_load_mem(CP__CONFIG_BUILTIN_DIR, "", 0, err);
    return L->scratch ? 0 : -1;
}

/* The -D names that were used, NULL-terminated, each once. */
static char **used_names(struct loader *L)
{
    char **out = calloc(L->ndefs + 1, sizeof *out);
    size_t n = 0;
    for (size_t i = 0; out && i < L->ndefs; i++) {
        if (!L->def_used[i])
            continue;
        size_t len = (size_t)(strchr(L->defs[i], '=') - L->defs[i]);
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = strlen(out[j]) == len && strncmp(out[j], L->defs[i], len) == 0;
        if (seen)
            continue;
        if (!(out[n++] = strndup(L->defs[i], len))) {
            for (size_t j = 0; j + 1 < n; j++)
                free(out[j]);
            free(out);
            return NULL;
        }
    }
    return out;
}

/* The merged tree of a config → filled → checked settings. */
static struct cp__run_config *finish(struct loader *L, const struct cp__ynode *merged,
                                     const char *base_dir, const char *source, cp_err *err)
{
    struct cp__ynode *tree = cp__ynode_copy(L->scratch, merged);
    if (!tree) {
        oom(err);
        return NULL;
    }
    if (fill_tree(L, tree, err) != 0)
        return NULL;
    struct cp__run_config *rc = cp__config_build(tree, base_dir, err);
    if (!rc)
        return NULL;
    rc->used_defs = used_names(L);
    rc->source = strdup(source);
    if (!rc->used_defs || !rc->source) {
        cp__run_config_free(rc);
        oom(err);
        return NULL;
    }
    return rc;
}

static bool is_dot(const char *dir)
{
    return !dir || !*dir || strcmp(dir, ".") == 0;
}

/* How errors show base_dir: relative to the current directory when it lies
 * under it (parsl-run passes the workflow's absolute directory, and users read
 * "wf/site.yaml:3:5" more easily), NULL when it is the current directory, else as
 * given. Points into base_dir or cwd (size n). */
static const char *shown_base(const char *base_dir, char *cwd, size_t n)
{
    if (is_dot(base_dir))
        return NULL;
    if (base_dir[0] != '/' || !getcwd(cwd, n))
        return base_dir;
    size_t lc = strlen(cwd);
    if (strncmp(base_dir, cwd, lc) != 0)
        return base_dir;
    const char *rest = base_dir + lc;
    if (lc > 1 && *rest != '/' && *rest != '\0')
        return base_dir;            /* /work/ab is not under /work/a */
    while (*rest == '/')
        rest++;
    return *rest ? rest : NULL;
}

static void top_origin(struct cp__config_origin *o, const char *base_dir, char *cwd, size_t n)
{
    o->open_dir = is_dot(base_dir) ? NULL : base_dir;
    o->shown_dir = shown_base(base_dir, cwd, n);
    o->builtin = false;
}

static struct cp__run_config *load_spec(struct loader *L, const char *spec,
                                        const char *base_dir, const struct cp__ynode *at,
                                        cp_err *err)
{
    char cwd[PATH_MAX];
    struct cp__config_origin top;
    top_origin(&top, base_dir, cwd, sizeof cwd);
    const struct cp__ynode *merged = read_config(L, spec, &top, at, err);
    return merged ? finish(L, merged, base_dir, spec, err) : NULL;
}

struct cp__run_config *cp__config_load(const char *spec, const char *base_dir,
                                       const char *const *defs, size_t ndefs, cp_err *err)
{
    struct loader L;
    struct cp__run_config *rc = NULL;
    if (loader_init(&L, defs, ndefs, err) == 0)
        rc = load_spec(&L, spec ? spec : "local", base_dir, NULL, err);
    loader_done(&L);
    return rc;
}

struct cp__run_config *cp__config_from_node(const struct cp__ynode *node, const char *base_dir,
                                            const char *const *defs, size_t ndefs,
                                            cp_err *err)
{
    struct loader L;
    struct cp__run_config *rc = NULL;
    if (loader_init(&L, defs, ndefs, err) != 0)
        goto out;
    if (cp__ynode_is_null(node)) {
        rc = load_spec(&L, "local", base_dir, node, err);
    } else if (node->kind == CP_Y_SCALAR) {
        struct cp__ynode *spec = (struct cp__ynode *)node;
        if (fill_scalar(&L, &spec, err) == 0)
            rc = load_spec(&L, spec->str, base_dir, spec, err);
    } else if (node->kind == CP_Y_MAP) {
        /* Written inline: its extends resolve in base_dir, and nothing can extend
         * it, so it needs no identity in the chain. */
        char cwd[PATH_MAX];
        struct cp__config_origin top;
        top_origin(&top, base_dir, cwd, sizeof cwd);
        const struct cp__ynode *merged = extend(&L, node, node->file, "<inline>", &top, err);
        if (merged)
            rc = finish(&L, merged, base_dir, "inline config", err);
    } else {
        cp__yerr(err, node, "config must be a template name, a path or a mapping, got a list");
    }
out:
    loader_done(&L);
    return rc;
}
