/* libFuzzer target for the YAML loader (common/yaml.c), which reads every workflow
 * and config file: any input is either refused with a "name:line:col:" message or
 * gives a tree whose positions are sane, whose scalars are typed without error,
 * and which copies (aliases expanded) within the node limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cparsl.h"
#include "common/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct cp__ynode *n, int depth, uint64_t *seen)
{
    if (depth > CP_YAML_MAX_DEPTH + 1 || n->line == 0 || n->col == 0 || !n->file)
        abort();
    if (++*seen > 200000)
        return;                 /* alias-heavy trees are shared; don't expand them here */
    if (n->kind == CP_Y_SCALAR) {
        int t = cp__yscalar_type(n);
        long l;
        double d;
        cp_err err;
        if (t == CP_INT && cp__ynode_long(n, "x", &l, &err) != 0 && !strstr(err.text, "range"))
            abort();
        if ((t == CP_INT || t == CP_DOUBLE) && cp__ynode_double(n, "x", &d, &err) != 0 &&
            !strstr(err.text, "range"))
            abort();
        return;
    }
    size_t slots = n->kind == CP_Y_MAP ? 2 * n->n : n->n;
    for (size_t i = 0; i < slots; i++) {
        if (n->kind == CP_Y_MAP && i % 2 == 0 && n->kids[i]->kind != CP_Y_SCALAR)
            abort();            /* keys are scalars, always */
        walk(n->kids[i], depth + 1, seen);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cp_err err = {0};
    struct cp__ydoc *doc = cp__ydoc_load_mem("f.yaml", data, size, &err);
    if (!doc) {
        if (strncmp(err.text, "f.yaml", 6) != 0 && !strstr(err.text, "out of memory"))
            abort();            /* a refusal names the file (and mostly a position) */
        return 0;
    }
    uint64_t seen = 0;
    if (doc->root) {
        walk(doc->root, 0, &seen);
        if (doc->root->weight <= 100000) {
            struct cp__ynode *c = cp__ynode_copy(doc, doc->root);
            if (!c || c->weight != doc->root->weight)
                abort();        /* a copy expands aliases to the counted size */
        }
    }
    cp__ydoc_free(doc);
    return 0;
}
