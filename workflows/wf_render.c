/* workflows/wf_render.c — references evaluated for one instance, and templates
 * rendered to text (shell commands, paths) or to typed native arguments.
 *
 * In a shell command every substituted value becomes exactly one bash word: a
 * value made only of characters bash never treats specially is written as is
 * (so logs read `--seed 3`, not `--seed '3'`), anything else is single-quoted
 * by cp__shell_quote. A list gives one word per item. Nothing a value holds —
 * spaces, quotes, $(), backticks, ;, newlines — can become shell syntax.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "workflows/wf_int.h"

static int nomem(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

/* ------------------------------------------------------------ evaluation */

struct evalctx {
    const struct cp__wf *wf;
    const struct cp__wf_inst *in;
    const struct cp__wf_tmpl *t;
    const struct cp__wf_seg *s;
    const struct cp_value *results;
    cp_err *err;
};

static int file_value(struct cp_value *out, const char *path, cp_err *err)
{
    if (cp__value_file(out, path, strlen(path)) != 0)
        return nomem(err);
    return 0;
}

static int path_list(struct cp_value *out, char *const *paths, size_t n, cp_err *err)
{
    if (cp__value_list(out, n) != 0)
        return nomem(err);
    for (size_t i = 0; i < n; i++) {
        struct cp_value f;
        if (file_value(&f, paths[i], err) != 0 || cp__value_list_add(out, &f) != 0) {
            cp__value_clear(out);
            return nomem(err);
        }
    }
    return 0;
}

/* Position of dependency d among the instance's results, or -1. */
static long result_slot(const struct cp__wf_inst *in, uint32_t d)
{
    long k = 0;
    for (uint32_t i = 0; i < in->ndeps; i++) {
        if (in->deps[i].inst == d)
            return in->deps[i].needs_result ? k : -1;
        k += in->deps[i].needs_result;
    }
    return -1;
}

/* Field `field` of instance x (the current one or a dependency), with the
 * steps after the field from step `k`. slot: x's index in results, or -1. */
static int field_value(const struct evalctx *c, const struct cp__wf_inst *x, int field,
                       size_t k, long slot, struct cp_value *out)
{
    const struct cp__wf_seg *s = c->s;
    char ref[200];
    switch (field) {
    case CP_WF_F_OUTPUTS:
    case CP_WF_F_INPUTS: {
        char *const *paths = field == CP_WF_F_OUTPUTS ? x->outputs : x->inputs;
        size_t n = field == CP_WF_F_OUTPUTS ? x->noutputs : x->ninputs;
        if (k < s->nsteps && s->steps[k].kind == CP_WF_INDEX) {
            if ((size_t)s->steps[k].index >= n) {
                cp__wf_seg_text(s, ref, sizeof ref);
                return cp__wf_seg_err(c->err, c->t, s, "'%s': '%s' has %zu %s", ref, x->label,
                                      n, field == CP_WF_F_OUTPUTS ? "outputs" : "inputs");
            }
            return file_value(out, paths[s->steps[k].index], c->err);
        }
        return path_list(out, paths, n, c->err);
    }
    case CP_WF_F_STDOUT:
    case CP_WF_F_STDERR: {
        const char *p = field == CP_WF_F_STDOUT ? x->stdout_path : x->stderr_path;
        if (!p) {
            cp__wf_seg_text(s, ref, sizeof ref);
            return cp__wf_seg_err(c->err, c->t, s, "'%s': the %s path of '%s' is not known "
                                  "yet", ref, field == CP_WF_F_STDOUT ? "stdout" : "stderr",
                                  x->label);
        }
        return file_value(out, p, c->err);
    }
    default:
        if (!c->results || slot < 0) {
            cp__wf_seg_text(s, ref, sizeof ref);
            return cp__wf_seg_err(c->err, c->t, s, "'%s': the result of '%s' is known only "
                                  "when it has run", ref, x->label);
        }
        cp__value_copy(out, &c->results[slot]);
        return 0;
    }
}

/* {t[*].field}: one value per instance; outputs and inputs lists are flattened
 * so {t[*].outputs} is every output of every instance. */
static int gather(const struct evalctx *c, const struct cp__wf_ref *r, struct cp_value *out)
{
    const struct cp__wf *wf = c->wf;
    const struct cp__wf_task *U = &wf->tasks[r->idx];
    long *slots = NULL;
    if (r->field == CP_WF_F_RESULT && U->count) {
        /* One pass over the deps, not one search per instance. */
        if (!(slots = malloc(U->count * sizeof *slots)))
            return nomem(c->err);
        for (uint32_t j = 0; j < U->count; j++)
            slots[j] = -1;
        long k = 0;
        for (uint32_t i = 0; i < c->in->ndeps; i++) {
            uint32_t d = c->in->deps[i].inst;
            if (c->in->deps[i].needs_result && d >= U->first && d < U->first + U->count)
                slots[d - U->first] = k;
            k += c->in->deps[i].needs_result;
        }
    }
    if (cp__value_list(out, U->count) != 0) {
        free(slots);
        return nomem(c->err);
    }
    bool flatten = (r->field == CP_WF_F_OUTPUTS || r->field == CP_WF_F_INPUTS) &&
                   !(r->rest < c->s->nsteps && c->s->steps[r->rest].kind == CP_WF_INDEX);
    for (uint32_t j = 0; j < U->count; j++) {
        struct cp_value v;
        if (field_value(c, &wf->insts[U->first + j], r->field, r->rest, slots ? slots[j] : -1,
                        &v) != 0)
            goto error;
        if (!flatten) {
            if (cp__value_list_add(out, &v) != 0) {
                nomem(c->err);
                goto error;
            }
            continue;
        }
        for (uint32_t i = 0; i < v.len; i++) {
            struct cp_value item;
            cp__value_copy(&item, &cp__value_items(&v)[i]);
            if (cp__value_list_add(out, &item) != 0) {
                cp__value_clear(&v);
                nomem(c->err);
                goto error;
            }
        }
        cp__value_clear(&v);
    }
    free(slots);
    return 0;
error:
    free(slots);
    cp__value_clear(out);
    return -1;
}

static int eval(const struct evalctx *c, struct cp_value *out)
{
    const struct cp__wf *wf = c->wf;
    const struct cp__wf_inst *in = c->in;
    const struct cp__wf_task *T = &wf->tasks[in->task];
    struct cp__wf_ref r;
    cp__value_nil(out);
    if (cp__wf_resolve(wf, in->task, c->t, c->s, &r, c->err) != 0)
        return -1;
    switch (r.kind) {
    case CP_WF_R_BIND:
        return cp__wf_apply_steps(c->t, c->s, 0, &in->binds[r.idx], out, c->err);
    case CP_WF_R_TVAR:
        return cp__wf_apply_steps(c->t, c->s, 0, &T->var_vals[r.idx], out, c->err);
    case CP_WF_R_WVAR:
        return cp__wf_apply_steps(c->t, c->s, 0, &wf->var_vals[r.idx], out, c->err);
    case CP_WF_R_OWN:
        return field_value(c, in, r.field, 0, -1, out);
    default:
        break;
    }
    const struct cp__wf_task *U = &wf->tasks[r.idx];
    uint32_t x;
    switch (r.sel) {
    case CP_WF_SEL_ALL:
        return gather(c, &r, out);
    case CP_WF_SEL_INDEX:
        if ((unsigned long)r.sel_index >= U->count) {
            char ref[200];
            cp__wf_seg_text(c->s, ref, sizeof ref);
            return cp__wf_seg_err(c->err, c->t, c->s, "'%s': task '%s' has %u instances", ref,
                                  U->name, U->count);
        }
        x = U->first + (uint32_t)r.sel_index;
        break;
    case CP_WF_SEL_MATCH:
        x = (uint32_t)(in - wf->insts);
        while (wf->insts[x].task != r.idx)
            x = wf->insts[x].over;
        break;
    default:
        x = U->first;
        break;
    }
    return field_value(c, &wf->insts[x], r.field, r.rest,
                       r.field == CP_WF_F_RESULT ? result_slot(in, x) : -1, out);
}

/* ------------------------------------------------------------ text */

/* Characters bash never treats specially in a word (no globbing, expansion,
 * assignment or tilde); a word made only of these needs no quotes. */
static bool shell_safe(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '/' || c == ':' || c == ',' || c == '+' ||
              c == '@' || c == '%' || c == '-'))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------ shell context */

/* Where in bash's syntax a reference sits, from the template text before it:
 * the quoting (none, '…', "…", $'…'), inside $(…) or `…` nesting, and whether
 * a backslash escapes the next character. A value is quoted for exactly that
 * place, so `echo "{v}"` and `echo '{v}'` are as safe as `echo {v}`. */
enum { Q_NONE, Q_SQ, Q_DQ, Q_ANSI };
#define Q_MAX 32
struct qctx {
    struct { uint8_t quote, backtick; uint16_t parens; } st[Q_MAX];
    int depth;
    bool esc;
    bool lost;                  /* nesting deeper than Q_MAX: refuse to guess */
};

static void q_push(struct qctx *q, bool backtick)
{
    if (q->depth + 1 >= Q_MAX) {
        q->lost = true;
        return;
    }
    q->depth++;
    q->st[q->depth].quote = Q_NONE;
    q->st[q->depth].backtick = backtick;
    q->st[q->depth].parens = 0;
}

static void qscan(struct qctx *q, const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (q->esc) {
            q->esc = false;
            continue;
        }
        uint8_t *quote = &q->st[q->depth].quote;
        switch (*quote) {
        case Q_SQ:
            if (c == '\'')
                *quote = Q_NONE;
            break;
        case Q_ANSI:
            if (c == '\\')
                q->esc = true;
            else if (c == '\'')
                *quote = Q_NONE;
            break;
        case Q_DQ:
            if (c == '\\')
                q->esc = true;
            else if (c == '"')
                *quote = Q_NONE;
            else if (c == '$' && s[1] == '(') {
                q_push(q, false);
                s++;
            } else if (c == '`')
                q_push(q, true);
            break;
        default:
            if (c == '\\')
                q->esc = true;
            else if (c == '\'')
                *quote = Q_SQ;
            else if (c == '"')
                *quote = Q_DQ;
            else if (c == '$' && s[1] == '\'') {
                *quote = Q_ANSI;
                s++;
            } else if (c == '$' && s[1] == '(') {
                q_push(q, false);
                s++;
            } else if (c == '(')
                q->st[q->depth].parens++;
            else if (c == ')') {
                if (q->st[q->depth].parens)
                    q->st[q->depth].parens--;
                else if (q->depth > 0 && !q->st[q->depth].backtick)
                    q->depth--;
            } else if (c == '`') {
                if (q->depth > 0 && q->st[q->depth].backtick)
                    q->depth--;
                else
                    q_push(q, true);
            }
            break;
        }
    }
}

/* v's text for a place inside quotes: escaped so that it stays literal there. */
static void quoted_text(struct cp__wf_buf *b, const char *t, int quote)
{
    for (; *t; t++) {
        if (quote == Q_SQ && *t == '\'')
            cp__wf_buf_str(b, "'\\''");
        else if (quote == Q_ANSI && (*t == '\'' || *t == '\\')) {
            cp__wf_buf_add(b, "\\", 1);
            cp__wf_buf_add(b, t, 1);
        } else if (quote == Q_DQ && (*t == '"' || *t == '\\' || *t == '$' || *t == '`')) {
            cp__wf_buf_add(b, "\\", 1);
            cp__wf_buf_add(b, t, 1);
        } else {
            cp__wf_buf_add(b, t, 1);
        }
    }
}

/* Inside `…` bash first finds the closing backtick and removes the backslash
 * before \, ` and $, then parses what is left: a word meant for the inside
 * must have those escaped once per enclosing backtick level. */
static void backtick_escape(struct cp__wf_buf *b, size_t from, int levels)
{
    for (; levels > 0 && !b->oom; levels--) {
        size_t n = b->len - from;
        char *w = malloc(n + 1);
        if (!w) {
            b->oom = true;
            return;
        }
        memcpy(w, b->p + from, n);
        b->len = from;
        for (size_t i = 0; i < n; i++) {
            if (w[i] == '\\' || w[i] == '`' || w[i] == '$')
                cp__wf_buf_add(b, "\\", 1);
            cp__wf_buf_add(b, &w[i], 1);
        }
        free(w);
    }
}

static void shell_word(struct cp__wf_buf *b, const struct cp_value *v, int quote)
{
    struct cp__wf_buf w = {0};
    cp__wf_value_text(&w, v);
    if (w.oom) {
        b->oom = true;
        free(w.p);
        return;
    }
    /* A value with a NUL cannot be a bash argument at all; bash would cut it
     * there too, so cut it first and quote what is left. */
    const char *text = w.p ? w.p : "";
    size_t n = strlen(text);
    if (quote != Q_NONE) {
        quoted_text(b, text, quote);
    } else if (shell_safe(text, n)) {
        cp__wf_buf_add(b, text, n);
    } else {
        char *q = cp__shell_quote(text);
        if (q)
            cp__wf_buf_str(b, q);
        else
            b->oom = true;
        free(q);
    }
    free(w.p);
}

/* Appends v: a list gives its items (nested lists flattened) separated by one
 * space, each its own word when unquoted; inside quotes they share the
 * quoted string. */
static void append_value(struct cp__wf_buf *b, const struct cp_value *v, bool shell, int quote,
                         int backticks, bool *first)
{
    if (v->type == CP_LIST) {
        const struct cp_value *it = cp__value_items(v);
        for (uint32_t i = 0; i < v->len; i++)
            append_value(b, &it[i], shell, quote, backticks, first);
        return;
    }
    if (!*first)
        cp__wf_buf_add(b, " ", 1);
    *first = false;
    size_t from = b->len;
    if (shell) {
        shell_word(b, v, quote);
        backtick_escape(b, from, backticks);
    } else {
        cp__wf_value_text(b, v);
    }
}

int cp__wf_shell_check(const struct cp__wf_tmpl *t, cp_err *err)
{
    struct qctx q = {0};
    for (size_t i = 0; i < t->nsegs; i++) {
        const struct cp__wf_seg *s = &t->segs[i];
        if (s->text) {
            qscan(&q, s->text);
            continue;
        }
        if (!q.esc && !q.lost)
            continue;
        char ref[200];
        cp__wf_seg_text(s, ref, sizeof ref);
        if (q.esc)
            return cp__wf_seg_err(err, t, s, "'%s' follows a backslash, which would escape "
                                  "the quoting of its value; remove the backslash", ref);
        return cp__wf_seg_err(err, t, s, "'%s' is nested too deeply in $(…) or `…` to be "
                              "quoted safely", ref);
    }
    return 0;
}

int cp__wf_render_into(const struct cp__wf *wf, const struct cp__wf_inst *in,
                       const struct cp__wf_tmpl *t, const struct cp_value *results, bool shell,
                       struct cp__wf_buf *b, cp_err *err)
{
    struct qctx q = {0};
    if (shell && cp__wf_shell_check(t, err) != 0)
        return -1;
    for (size_t i = 0; i < t->nsegs; i++) {
        const struct cp__wf_seg *s = &t->segs[i];
        if (s->text) {
            cp__wf_buf_str(b, s->text);
            if (shell)
                qscan(&q, s->text);
            continue;
        }
        struct evalctx c = {wf, in, t, s, results, err};
        struct cp_value v;
        if (eval(&c, &v) != 0)
            return -1;
        bool first = true;
        int backticks = 0;
        for (int d = 1; d <= q.depth; d++)
            backticks += q.st[d].backtick;
        append_value(b, &v, shell, q.st[q.depth].quote, backticks, &first);
        cp__value_clear(&v);
    }
    return b->oom ? nomem(err) : 0;
}

char *cp__wf_render(const struct cp__wf *wf, const struct cp__wf_inst *in,
                    const struct cp__wf_tmpl *t, const struct cp_value *results,
                    bool shell, cp_err *err)
{
    struct cp__wf_buf b = {0};
    if (cp__wf_render_into(wf, in, t, results, shell, &b, err) != 0) {
        free(b.p);
        return NULL;
    }
    char *out = cp__wf_buf_take(&b);
    if (!out)
        nomem(err);
    return out;
}

int cp__wf_arg_value(const struct cp__wf *wf, const struct cp__wf_inst *in,
                     const struct cp__wf_tmpl *t, const struct cp_value *results,
                     struct cp_value *out, cp_err *err)
{
    cp__value_nil(out);
    if (!t->has_refs && t->node && t->node->style == CP_Y_PLAIN &&
        cp__yscalar_type(t->node) != CP_STR)
        return cp__wf_node_value(t->node, "argument", out, err);
    if (t->single_ref) {
        struct evalctx c = {wf, in, t, &t->segs[0], results, err};
        return eval(&c, out);
    }
    char *s = cp__wf_render(wf, in, t, results, false, err);
    if (!s)
        return -1;
    int rc = cp__value_str(out, s, strlen(s));
    free(s);
    return rc != 0 ? nomem(err) : 0;
}

/* Appends the text of v (each item of a list) to b as NUL-ended paths. */
static long push_items(struct cp__wf_buf *b, const struct cp_value *v,
                       const struct cp__wf_tmpl *t, const char *label, cp_err *err)
{
    if (v->type == CP_LIST) {
        long n = 0;
        for (uint32_t i = 0; i < v->len; i++) {
            long k = push_items(b, &cp__value_items(v)[i], t, label, err);
            if (k < 0)
                return -1;
            n += k;
        }
        return n;
    }
    size_t start = b->len;
    cp__wf_value_text(b, v);
    if (b->oom)
        return nomem(err);
    if (b->len == start || strlen(b->p + start) == 0)
        return cp__yerr(err, t->node, "the path '%.100s' renders empty for '%s'", t->node->str,
                        label);
    cp__wf_buf_add(b, "", 1);
    return b->oom ? nomem(err) : 1;
}

long cp__wf_render_paths(const struct cp__wf *wf, const struct cp__wf_inst *in,
                         const struct cp__wf_tmpl *t, struct cp__wf_buf *b, cp_err *err)
{
    if (t->single_ref) {
        const struct cp__wf_seg *s = &t->segs[0];
        struct evalctx c = {wf, in, t, s, NULL, err};
        struct cp_value v;
        /* The common case, {t.outputs[0]}: one path copied, no value built. */
        struct cp__wf_ref r;
        if (cp__wf_resolve(wf, in->task, t, s, &r, err) != 0)
            return -1;
        if (r.kind == CP_WF_R_TASK && (r.field == CP_WF_F_OUTPUTS || r.field == CP_WF_F_INPUTS) &&
            r.sel != CP_WF_SEL_ALL && r.rest < s->nsteps && s->steps[r.rest].kind == CP_WF_INDEX) {
            const struct cp__wf_task *U = &wf->tasks[r.idx];
            uint32_t x = U->first;
            if (r.sel == CP_WF_SEL_INDEX)
                x += (uint32_t)r.sel_index;
            else if (r.sel == CP_WF_SEL_MATCH)
                for (x = (uint32_t)(in - wf->insts); wf->insts[x].task != r.idx;)
                    x = wf->insts[x].over;
            const struct cp__wf_inst *xi = &wf->insts[x];
            size_t np = r.field == CP_WF_F_OUTPUTS ? xi->noutputs : xi->ninputs;
            size_t k = (size_t)s->steps[r.rest].index;
            if (r.sel != CP_WF_SEL_INDEX || r.sel_index < U->count) {
                if (k < np) {
                    cp__wf_buf_str(b, (r.field == CP_WF_F_OUTPUTS ? xi->outputs : xi->inputs)[k]);
                    cp__wf_buf_add(b, "", 1);
                    return b->oom ? nomem(err) : 1;
                }
            }
        }
        if (eval(&c, &v) != 0)
            return -1;
        long n = push_items(b, &v, t, in->label, err);
        cp__value_clear(&v);
        return n;
    }
    size_t start = b->len;
    if (cp__wf_render_into(wf, in, t, NULL, false, b, err) != 0)
        return -1;
    if (b->len == start || strlen(b->p + start) == 0)
        return cp__yerr(err, t->node, "the path '%.100s' renders empty for '%s'", t->node->str,
                        in->label);
    cp__wf_buf_add(b, "", 1);
    return b->oom ? nomem(err) : 1;
}
