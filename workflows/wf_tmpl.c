/* workflows/wf_tmpl.c — templates ("--seed {seed} > {outputs[0]}") cut into
 * text and references, and the small pieces every wf_*.c file shares: a name
 * table, a growable string, value text, path normalisation, warnings.
 *
 * Template syntax (docs/workflows.md): `{name}` or a path of names, `.field`,
 * `[i]` and `[*]` is a reference; `{{` and `}}` are literal braces; `${…}` is
 * left for the shell untouched; any other brace is literal text. A brace that
 * looks like a reference (only name, '.', '[', ']' and '*' characters up to the
 * closing brace) but does not parse is an error rather than literal text, so a
 * typo such as `{t.outputs[0}` is reported instead of reaching the shell.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "workflows/wf_int.h"

/* ------------------------------------------------------------ name table */

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;                   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int hmap_grow(struct cp__wf_hmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    struct cp__wf_hslot *slots = calloc(cap, sizeof *slots);
    if (!slots) {
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = m->slots[i].hash & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int cp__wf_hmap_put(struct cp__wf_hmap *m, const char *key, uint32_t val)
{
    if ((m->n + 1) * 2 > m->cap && hmap_grow(m) != 0)
        return -1;
    uint32_t h = hash_str(key);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key) {
        if (m->slots[j].hash == h && strcmp(m->slots[j].key, key) == 0) {
            m->slots[j].val = val;
            return 0;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j] = (struct cp__wf_hslot){key, h, val};
    m->n++;
    return 0;
}

int64_t cp__wf_hmap_get(const struct cp__wf_hmap *m, const char *key)
{
    if (!m->cap)
        return -1;
    uint32_t h = hash_str(key);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key) {
        if (m->slots[j].hash == h && strcmp(m->slots[j].key, key) == 0)
            return m->slots[j].val;
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

void cp__wf_hmap_free(struct cp__wf_hmap *m)
{
    free(m->slots);
    *m = (struct cp__wf_hmap){0};
}

/* ------------------------------------------------------------ growable text */

void cp__wf_buf_add(struct cp__wf_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void cp__wf_buf_str(struct cp__wf_buf *b, const char *s)
{
    cp__wf_buf_add(b, s, strlen(s));
}

void cp__wf_buf_printf(struct cp__wf_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        cp__wf_buf_add(b, small, (size_t)n);
        return;
    }
    va_start(ap, fmt);
    char *big = cp__strdup_vprintf(fmt, ap);
    va_end(ap);
    if (!big) {
        b->oom = true;
        return;
    }
    cp__wf_buf_add(b, big, (size_t)n);
    free(big);
}

char *cp__wf_buf_take(struct cp__wf_buf *b)
{
    if (b->oom) {
        free(b->p);
        *b = (struct cp__wf_buf){0};
        errno = ENOMEM;
        return NULL;
    }
    char *p = b->p ? b->p : strdup("");
    *b = (struct cp__wf_buf){0};
    if (!p)
        errno = ENOMEM;
    return p;
}

/* ------------------------------------------------------------ positions */

/* Columns count characters, as libyaml's do: UTF-8 continuation bytes are not
 * columns of their own. */
static uint32_t chars_in(const char *s, size_t n)
{
    uint32_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* A source line (1-based), from the file read once: a block scalar's text has
 * its indentation removed and a quoted one its escapes decoded, so only the
 * source knows their columns. NULL when it cannot be read. */
static const char *source_line(struct cp__wf *wf, uint32_t line, const char **end)
{
    struct cp__wf_priv *p = wf->priv;
    if (!p->src_read) {
        p->src_read = true;
        FILE *f = fopen(wf->path, "rb");
        struct cp__wf_buf b = {0};
        if (f) {
            char chunk[65536];
            size_t got;
            while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
                cp__wf_buf_add(&b, chunk, got);
            fclose(f);
        }
        /* Line starts, so each lookup is one index, not a scan. */
        size_t nl = 1;
        for (size_t i = 0; i < b.len; i++)
            nl += b.p[i] == '\n';
        if (b.p && !b.oom && (p->lines = malloc((nl + 1) * sizeof *p->lines))) {
            p->nlines = 0;
            p->lines[p->nlines++] = 0;
            for (size_t i = 0; i < b.len; i++)
                if (b.p[i] == '\n')
                    p->lines[p->nlines++] = i + 1;
            p->lines[p->nlines] = b.len + 1;
            p->srclen = b.len;
            p->src = b.p;
        } else {
            free(b.p);
        }
    }
    if (!p->src || line == 0 || line > p->nlines)
        return NULL;
    const char *s = p->src + p->lines[line - 1];
    *end = p->src + p->lines[line] - 1;
    if (*end > p->src + p->srclen)
        *end = p->src + p->srclen;
    return s;
}

static uint32_t source_indent(struct cp__wf *wf, uint32_t line)
{
    const char *end, *s = source_line(wf, line, &end);
    uint32_t n = 0;
    while (s && s + n < end && s[n] == ' ')
        n++;
    return n;
}

/* The source column of the character that is decoded character number `want`
 * (0-based) of a one-line quoted scalar starting at column col. */
static uint32_t quoted_col(struct cp__wf *wf, const struct cp__ynode *n, uint32_t want)
{
    const char *end, *s = source_line(wf, n->line, &end);
    uint32_t col = n->col + 1 + want;               /* the guess without escapes */
    if (!s)
        return col;
    /* Walk to the opening quote: columns count characters. */
    const char *p = s;
    for (uint32_t c = 1; c < n->col && p < end; p++)
        c += ((unsigned char)*p & 0xC0) != 0x80 ? 1 : 0;
    while (p < end && ((unsigned char)*p & 0xC0) == 0x80)
        p++;
    if (p >= end || (*p != '"' && *p != '\''))
        return col;
    char q = *p++;
    uint32_t c = n->col + 1, got = 0;
    while (p < end && got < want) {
        size_t step = 1;
        if (q == '\'' && p[0] == '\'' && p + 1 < end && p[1] == '\'')
            step = 2;
        else if (q == '"' && p[0] == '\\' && p + 1 < end)
            step = p[1] == 'x' ? 4 : p[1] == 'u' ? 6 : p[1] == 'U' ? 10 : 2;
        else
            while (p + step < end && ((unsigned char)p[step] & 0xC0) == 0x80)
                step++;
        /* Columns count characters, and an escape is one character per byte of it. */
        for (size_t k = 0; k < step && p + k < end; k++)
            c += ((unsigned char)p[k] & 0xC0) != 0x80;
        p += step;
        got++;
    }
    return c;
}

/* Where byte `off` of scalar n sits in the source. Exact for one-line plain
 * and quoted scalars and for literal block scalars; other multi-line scalars
 * fold their newlines, so they get the node's start. */
static void locate(struct cp__wf *wf, const struct cp__ynode *n, size_t off,
                   uint32_t *line, uint32_t *col)
{
    const char *s = n->str;
    const char *nl = memchr(s, '\n', off);
    *line = n->line;
    *col = n->col;
    if (n->style == CP_Y_BLOCK) {
        uint32_t k = 0;
        size_t bol = 0;
        for (size_t i = 0; i < off; i++)
            if (s[i] == '\n') {
                k++;
                bol = i + 1;
            }
        *line = n->line + 1 + k;
        *col = source_indent(wf, *line) + 1 + chars_in(s + bol, off - bol);
        return;
    }
    if (nl)
        return;
    if (n->style == CP_Y_QUOTED)
        *col = quoted_col(wf, n, chars_in(s, off));
    else
        *col = n->col + chars_in(s, off);
}

/* ------------------------------------------------------------ templates */

static bool name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9') || c == '-';
}

static bool ref_char(char c)
{
    return name_char(c) || c == '.' || c == '[' || c == ']' || c == '*';
}

/* Parses the inside of a reference, s[0..n), into one arena block: the steps,
 * then the name and field names. 1 when it parses, 0 when it does not, -1
 * without memory. */
static int parse_ref(struct cp__arena *a, const char *s, size_t n, struct cp__wf_seg *sg)
{
    size_t nsteps = 0;
    for (size_t i = 0; i < n; i++)
        nsteps += s[i] == '.' || s[i] == '[';
    char *block = cp__arena_alloc(a, nsteps * sizeof(struct cp__wf_step) + n + 1);
    if (!block)
        return -1;
    struct cp__wf_step *steps = (struct cp__wf_step *)(void *)block;
    char *names = block + nsteps * sizeof *steps;
    memcpy(names, s, n);
    names[n] = '\0';
    sg->steps = steps;
    sg->nsteps = 0;
    sg->name = names;
    size_t i = 0;
    while (i < n && name_char(s[i]))
        i++;
    names[i] = '\0';            /* the '.' or '[' after the name, or the end */
    while (i < n) {
        if (s[i] == '.') {
            size_t j = ++i;
            if (j >= n || !name_start(s[j]))
                return 0;
            while (i < n && name_char(s[i]))
                i++;
            names[i] = '\0';
            steps[sg->nsteps++] = (struct cp__wf_step){.kind = CP_WF_FIELD, .field = names + j};
        } else if (s[i] == '[') {
            i++;
            if (i + 1 < n && s[i] == '*' && s[i + 1] == ']') {
                steps[sg->nsteps++] = (struct cp__wf_step){.kind = CP_WF_ALL};
                i += 2;
                continue;
            }
            long v = 0;
            size_t j = i;
            while (i < n && s[i] >= '0' && s[i] <= '9') {
                if (v > (LONG_MAX - 9) / 10)
                    return 0;
                v = v * 10 + (s[i++] - '0');
            }
            if (i == j || i >= n || s[i] != ']')
                return 0;
            i++;
            steps[sg->nsteps++] = (struct cp__wf_step){.kind = CP_WF_INDEX, .index = v};
        } else {
            return 0;
        }
    }
    return 1;
}

/* Segments are gathered in a scratch array and copied to the arena at the end. */
struct segs {
    struct cp__wf_seg *v;
    size_t n, cap;
};

static int push_seg(struct segs *ss, struct cp__wf_seg sg)
{
    if (ss->n == ss->cap) {
        size_t cap = ss->cap ? ss->cap * 2 : 4;
        struct cp__wf_seg *n = realloc(ss->v, cap * sizeof *n);
        if (!n)
            return -1;
        ss->v = n;
        ss->cap = cap;
    }
    ss->v[ss->n++] = sg;
    return 0;
}

/* Ends the literal text gathered so far as a segment. */
static int flush_text(struct cp__arena *a, struct segs *ss, struct cp__wf_buf *lit)
{
    if (lit->oom)
        return -1;
    if (!lit->len)
        return 0;
    char *text = cp__arena_strndup(a, lit->p, lit->len);
    lit->len = 0;
    if (!text || push_seg(ss, (struct cp__wf_seg){.text = text}) != 0)
        return -1;
    return 0;
}

int cp__wf_tmpl_parse(struct cp__wf *wf, const struct cp__ynode *n, struct cp__wf_tmpl *t,
                      cp_err *err)
{
    struct cp__arena *a = &wf->priv->arena;
    *t = (struct cp__wf_tmpl){.node = n};
    struct cp__wf_buf lit = {0};
    struct segs ss = {0};
    int rc = -1;
    if (!n || n->kind != CP_Y_SCALAR)
        return cp__yerr(err, n, "expected a string, got %s",
                        !n ? "nothing" : n->kind == CP_Y_SEQ ? "a list" : "a mapping");
    const char *s = n->str;
    size_t len = strlen(s), nrefs = 0;
    for (size_t i = 0; i < len;) {
        char c = s[i];
        if ((c == '{' || c == '}') && s[i + 1] == c) {
            cp__wf_buf_add(&lit, &c, 1);
            i += 2;
        } else if (c == '$' && s[i + 1] == '{') {
            /* ${…} belongs to the shell: copy it through its balanced brace. */
            size_t j = i + 2;
            int depth = 1;
            for (; j < len && depth; j++)
                depth += s[j] == '{' ? 1 : s[j] == '}' ? -1 : 0;
            cp__wf_buf_add(&lit, s + i, j - i);
            i = j;
        } else if (c == '{' && name_start(s[i + 1])) {
            size_t j = i + 1;
            while (j < len && ref_char(s[j]))
                j++;
            if (j >= len || s[j] != '}') {
                cp__wf_buf_add(&lit, &c, 1);
                i++;
                continue;
            }
            struct cp__wf_seg sg = {0};
            locate(wf, n, i, &sg.line, &sg.col);
            int prc = parse_ref(a, s + i + 1, j - i - 1, &sg);
            if (prc < 0) {
                cp__errf(err, ENOMEM, "out of memory");
                goto out;
            }
            if (prc == 0) {
                struct cp__wf_tmpl at = {.node = n};
                cp__wf_seg_err(err, &at, &sg, "malformed reference '%.*s' (a reference is "
                               "{name}, {name.field}, {name[0]} or {name[*]}; write {{ and }} "
                               "for literal braces)", (int)(j - i + 1 > 200 ? 200 : j - i + 1),
                               s + i);
                goto out;
            }
            if (flush_text(a, &ss, &lit) != 0 || push_seg(&ss, sg) != 0) {
                cp__errf(err, ENOMEM, "out of memory");
                goto out;
            }
            nrefs++;
            i = j + 1;
        } else {
            /* A run of plain text up to the next brace or '$'. */
            size_t j = i + 1;
            while (j < len && s[j] != '{' && s[j] != '}' && s[j] != '$')
                j++;
            cp__wf_buf_add(&lit, s + i, j - i);
            i = j;
        }
    }
    if (flush_text(a, &ss, &lit) != 0 ||
        (ss.n && !(t->segs = cp__arena_alloc(a, ss.n * sizeof *t->segs)))) {
        cp__errf(err, ENOMEM, "out of memory");
        goto out;
    }
    if (ss.n)
        memcpy(t->segs, ss.v, ss.n * sizeof *t->segs);
    t->nsegs = ss.n;
    t->has_refs = nrefs > 0;
    t->single_ref = nrefs == 1 && t->nsegs == 1;
    rc = 0;
out:
    free(lit.p);
    free(ss.v);
    return rc;
}

void cp__wf_seg_text(const struct cp__wf_seg *s, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "{%s", s->name ? s->name : "");
    for (size_t i = 0; i < s->nsteps && used < cap; i++) {
        const struct cp__wf_step *st = &s->steps[i];
        if (st->kind == CP_WF_FIELD)
            used += (size_t)snprintf(buf + used, cap - used, ".%s", st->field);
        else if (st->kind == CP_WF_INDEX)
            used += (size_t)snprintf(buf + used, cap - used, "[%ld]", st->index);
        else
            used += (size_t)snprintf(buf + used, cap - used, "[*]");
    }
    if (used < cap)
        snprintf(buf + used, cap - used, "}");
}

int cp__wf_seg_err(cp_err *err, const struct cp__wf_tmpl *t, const struct cp__wf_seg *s,
                   const char *fmt, ...)
{
    char msg[CP_ERR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const struct cp__ynode *n = t->node;
    if (!n)
        return cp__errf(err, EINVAL, "%s", msg);
    uint32_t line = s && s->line ? s->line : n->line, col = s && s->col ? s->col : n->col;
    return cp__errf(err, EINVAL, "%s:%u:%u: %s", n->file ? n->file : "?", line, col, msg);
}

/* ------------------------------------------------------------ values */

int cp__wf_node_value(const struct cp__ynode *n, const char *what, struct cp_value *out,
                      cp_err *err)
{
    cp__value_nil(out);
    if (!n)
        return 0;
    if (n->kind == CP_Y_MAP)
        return cp__yerr(err, n, "%s must be a value or a list, not a mapping", what);
    if (n->kind == CP_Y_SEQ) {
        if (cp__value_list(out, n->n) != 0)
            return cp__errf(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n->n; i++) {
            struct cp_value item;
            if (cp__wf_node_value(n->kids[i], what, &item, err) != 0)
                goto error;
            if (cp__value_list_add(out, &item) != 0) {
                cp__errf(err, ENOMEM, "out of memory");
                goto error;
            }
        }
        return 0;
    }
    switch (cp__yscalar_type(n)) {
    case CP_NIL:
        return 0;
    case CP_BOOL: {
        bool b;
        if (cp__ynode_bool(n, what, &b, err) != 0)
            return -1;
        cp__value_bool(out, b);
        return 0;
    }
    case CP_INT: {
        long l;
        if (cp__ynode_long(n, what, &l, err) != 0)
            return -1;
        cp__value_int(out, l);
        return 0;
    }
    case CP_DOUBLE: {
        double d;
        if (cp__ynode_double(n, what, &d, err) != 0)
            return -1;
        cp__value_double(out, d);
        return 0;
    }
    default:
        if (cp__value_str(out, n->str, strlen(n->str)) != 0)
            return cp__errf(err, ENOMEM, "out of memory");
        return 0;
    }
error:
    cp__value_clear(out);
    return -1;
}

/* Doubles: the shortest of %.1g … %.17g that reads back as the same double, so
 * 0.1 is "0.1" and not "0.10000000000000001", and 2.0 is "2". */
static void double_text(struct cp__wf_buf *b, double d)
{
    char tmp[40];
    if (isnan(d)) {
        cp__wf_buf_str(b, "nan");
        return;
    }
    if (isinf(d)) {
        cp__wf_buf_str(b, d < 0 ? "-inf" : "inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    cp__wf_buf_str(b, tmp);
}

void cp__wf_value_text(struct cp__wf_buf *b, const struct cp_value *v)
{
    switch (v->type) {
    case CP_BOOL:
        cp__wf_buf_str(b, v->u.b ? "true" : "false");
        break;
    case CP_INT:
        cp__wf_buf_printf(b, "%lld", (long long)v->u.i);
        break;
    case CP_DOUBLE:
        double_text(b, v->u.d);
        break;
    case CP_STR:
    case CP_BYTES:
    case CP_FILE:
        cp__wf_buf_add(b, cp__value_strp(v), v->len);
        break;
    case CP_LIST: {
        const struct cp_value *it = cp__value_items(v);
        for (uint32_t i = 0; i < v->len; i++) {
            if (i)
                cp__wf_buf_add(b, " ", 1);
            cp__wf_value_text(b, &it[i]);
        }
        break;
    }
    default:
        break;
    }
}

const char *cp__wf_type_desc(int type)
{
    switch (type) {
    case CP_NIL: return "null";
    case CP_BOOL: return "a bool";
    case CP_INT: return "an integer";
    case CP_DOUBLE: return "a float";
    case CP_STR: return "a string";
    case CP_BYTES: return "bytes";
    case CP_LIST: return "a list";
    case CP_FILE: return "a file";
    default: return "a value";
    }
}

int cp__wf_apply_steps(const struct cp__wf_tmpl *t, const struct cp__wf_seg *s, size_t from,
                       const struct cp_value *v, struct cp_value *out, cp_err *err)
{
    char ref[200];
    struct cp_value cur;
    cp__value_copy(&cur, v);
    for (size_t i = from; i < s->nsteps; i++) {
        const struct cp__wf_step *st = &s->steps[i];
        if (st->kind == CP_WF_FIELD) {
            cp__wf_seg_text(s, ref, sizeof ref);
            int type = cur.type;
            cp__value_clear(&cur);
            return cp__wf_seg_err(err, t, s, "'%s': %s has no field '%s' (only tasks have "
                                  "fields)", ref, cp__wf_type_desc(type), st->field);
        }
        if (cur.type != CP_LIST) {
            cp__wf_seg_text(s, ref, sizeof ref);
            int type = cur.type;
            cp__value_clear(&cur);
            return cp__wf_seg_err(err, t, s, "'%s': cannot index %s", ref,
                                  cp__wf_type_desc(type));
        }
        if (st->kind == CP_WF_ALL)
            continue;
        if ((unsigned long)st->index >= cur.len) {
            cp__wf_seg_text(s, ref, sizeof ref);
            uint32_t n = cur.len;
            cp__value_clear(&cur);
            return cp__wf_seg_err(err, t, s, "'%s': index %ld is out of range (the list has "
                                  "%u item%s)", ref, st->index, n, n == 1 ? "" : "s");
        }
        struct cp_value item;
        cp__value_copy(&item, &cp__value_items(&cur)[st->index]);
        cp__value_clear(&cur);
        cur = item;
    }
    *out = cur;
    return 0;
}

/* ------------------------------------------------------------ paths, warnings */

char *cp__wf_norm_path(const char *workdir, const char *p)
{
    struct cp__wf_buf b = {0};
    if (p[0] != '/')
        cp__wf_buf_str(&b, workdir);
    cp__wf_buf_str(&b, "/");
    cp__wf_buf_str(&b, p);
    char *s = cp__wf_buf_take(&b);
    if (!s)
        return NULL;
    /* Rewrite in place, component by component; ".." above the root stays at
     * the root, as the kernel does. */
    char *o = s;
    const char *r = s;
    while (*r) {
        while (*r == '/')
            r++;
        const char *e = r;
        while (*e && *e != '/')
            e++;
        size_t n = (size_t)(e - r);
        if (n == 0 || (n == 1 && r[0] == '.')) {
            /* nothing */
        } else if (n == 2 && r[0] == '.' && r[1] == '.') {
            while (o > s && *--o != '/')
                ;
        } else {
            *o++ = '/';
            memmove(o, r, n);
            o += n;
        }
        r = e;
    }
    if (o == s)
        *o++ = '/';
    *o = '\0';
    return s;
}

int cp__wf_warn(struct cp__wf *wf, const struct cp__ynode *at, const char *fmt, ...)
{
    char msg[CP_ERR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *w = at ? cp__strdup_printf("%s:%u:%u: warning: %s", at->file, at->line, at->col, msg)
                 : cp__strdup_printf("warning: %s", msg);
    char **n = w ? realloc(wf->warnings, (wf->nwarnings + 1) * sizeof *n) : NULL;
    if (!n) {
        free(w);
        errno = ENOMEM;
        return -1;
    }
    wf->warnings = n;
    wf->warnings[wf->nwarnings++] = w;
    return 0;
}

const char **cp__wf_task_names(const struct cp__wf *wf)
{
    const char **names = malloc((wf->ntasks + 1) * sizeof *names);
    if (!names)
        return NULL;
    for (size_t i = 0; i < wf->ntasks; i++)
        names[i] = wf->tasks[i].name;
    names[wf->ntasks] = NULL;
    return names;
}
