/* workflows/wf_dag.c — the instance graph as Graphviz dot or Mermaid text
 * (`parsl-run --dag dot|mermaid`).
 *
 * Node ids are n<index> in both formats, so they are valid whatever the task
 * names are; labels are the instance labels, escaped for each format's quoted
 * strings. Edges run from a dependency to its dependent.
 */
#include <errno.h>
#include <string.h>

#include "workflows/wf_int.h"

static void dot_quoted(struct cp__wf_buf *b, const char *s)
{
    cp__wf_buf_add(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            cp__wf_buf_add(b, "\\", 1);
        if (*s == '\n')
            cp__wf_buf_str(b, "\\n");
        else
            cp__wf_buf_add(b, s, 1);
    }
    cp__wf_buf_add(b, "\"", 1);
}

/* Mermaid has no backslash escapes inside "…": characters that would end or
 * confuse the label are written as its #code; entities. */
static void mermaid_quoted(struct cp__wf_buf *b, const char *s)
{
    cp__wf_buf_add(b, "\"", 1);
    for (; *s; s++) {
        switch (*s) {
        case '"': cp__wf_buf_str(b, "#quot;"); break;
        case '#': cp__wf_buf_str(b, "#35;"); break;
        case '<': cp__wf_buf_str(b, "#lt;"); break;
        case '>': cp__wf_buf_str(b, "#gt;"); break;
        case '\n': cp__wf_buf_add(b, " ", 1); break;
        default: cp__wf_buf_add(b, s, 1); break;
        }
    }
    cp__wf_buf_add(b, "\"", 1);
}

char *cp__wf_dag(const struct cp__wf *wf, const char *format, cp_err *err)
{
    bool dot = format && strcmp(format, "dot") == 0;
    if (!dot && !(format && strcmp(format, "mermaid") == 0)) {
        cp__errf(err, EINVAL, "unknown graph format '%.100s' (dot or mermaid)",
                 format ? format : "");
        return NULL;
    }
    struct cp__wf_buf b = {0};
    if (dot) {
        cp__wf_buf_str(&b, "digraph ");
        dot_quoted(&b, wf->name ? wf->name : "workflow");
        cp__wf_buf_str(&b, " {\n  node [shape=box];\n");
    } else {
        cp__wf_buf_str(&b, "flowchart TD\n");
    }
    for (size_t i = 0; i < wf->ninsts; i++) {
        cp__wf_buf_printf(&b, "  n%zu%s", i, dot ? " [label=" : "[");
        (dot ? dot_quoted : mermaid_quoted)(&b, wf->insts[i].label);
        cp__wf_buf_str(&b, dot ? "];\n" : "]\n");
    }
    for (size_t i = 0; i < wf->ninsts; i++) {
        const struct cp__wf_inst *in = &wf->insts[i];
        for (uint32_t d = 0; d < in->ndeps; d++)
            cp__wf_buf_printf(&b, "  n%u %s n%zu%s\n", in->deps[d].inst, dot ? "->" : "-->",
                              i, dot ? ";" : "");
    }
    if (dot)
        cp__wf_buf_str(&b, "}\n");
    char *out = cp__wf_buf_take(&b);
    if (!out)
        cp__errf(err, ENOMEM, "out of memory");
    return out;
}
