/* tests/unit/yaml.c — the position-keeping YAML loader (common/yaml.c). */
#include <stdlib.h>
#include <string.h>

#include "cparsl.h"
#include "common/yaml.h"
#include "tap.h"

static struct cp__ydoc *load(const char *text, cp_err *err)
{
    memset(err, 0, sizeof *err);
    return cp__ydoc_load_mem("t.yaml", text, strlen(text), err);
}

static void test_positions_and_types(void)
{
    cp_err err;
    struct cp__ydoc *d = load("name: pi\n"
                              "vars:\n"
                              "  n: 10\n"
                              "  x: 2.5\n"
                              "  s: '10'\n"
                              "  b: true\n"
                              "  z: ~\n"
                              "  h: 0x1f\n"
                              "  list: [1, two, \"3\"]\n", &err);
    ok(d && d->root, "a small document loads: %s", err.text);
    if (!d)
        return;
    struct cp__ynode *vars = cp__ymap_get(d->root, "vars");
    ok(vars && vars->kind == CP_Y_MAP && vars->n == 7, "vars is a map of 7 pairs");
    struct cp__ynode *n = cp__ymap_get(vars, "n");
    is_int(n->line, 3, "line of a value");
    is_int(n->col, 6, "column of a value");
    is_int(cp__ymap_keynode(vars, 0)->col, 3, "column of a key");
    is_int(cp__yscalar_type(n), CP_INT, "plain 10 is an int");
    is_int(cp__yscalar_type(cp__ymap_get(vars, "x")), CP_DOUBLE, "2.5 is a double");
    is_int(cp__yscalar_type(cp__ymap_get(vars, "s")), CP_STR, "quoted '10' is a string");
    is_int(cp__yscalar_type(cp__ymap_get(vars, "b")), CP_BOOL, "true is a bool");
    is_int(cp__yscalar_type(cp__ymap_get(vars, "z")), CP_NIL, "~ is null");
    long h = 0;
    ok(cp__ynode_long(cp__ymap_get(vars, "h"), "h", &h, &err) == 0 && h == 31, "0x1f is 31");
    struct cp__ynode *list = cp__ymap_get(vars, "list");
    ok(list->kind == CP_Y_SEQ && list->n == 3 && list->flow, "a flow list of 3");
    is_int(cp__yscalar_type(list->kids[2]), CP_STR, "a quoted item stays a string");
    long l;
    ok(cp__ynode_long(cp__ymap_get(d->root, "name"), "retries", &l, &err) == -1,
       "a word is not an integer");
    is_str(err.text, "t.yaml:1:7: retries must be an integer, got 'pi'", "and the error says where");
    ok(cp__ynode_long(list, "n", &l, &err) == -1, "a list is not an integer");
    is_str(err.text, "t.yaml:9:9: n must be an integer, got a list", "named as a list");
    cp__ydoc_free(d);
}

static void test_errors(void)
{
    cp_err err;
    ok(!load("a: 1\na: 2\n", &err), "duplicate keys refused");
    is_str(err.text, "t.yaml:2:1: duplicate key 'a' (first at line 1, column 1)", "named");
    ok(!load("a:\n\tb: 1\n", &err), "tab indentation refused");
    like(err.text, "t.yaml:2:1: tab character", "the tab is named at its place");
    ok(!load("a: [1, 2\n", &err), "an unclosed flow list is refused");
    like(err.text, "t.yaml:", "with a position");
    ok(!load("a: 1\n---\nb: 2\n", &err), "two documents refused");
    like(err.text, "t.yaml:2:1: a second YAML document", "named");
    ok(!load("a: *nope\n", &err), "an unknown alias is refused");
    like(err.text, "t.yaml:1:4: alias '*nope' names no anchor", "named");
    ok(!load("? [a, b]\n: 1\n", &err), "a non-scalar key is refused");
    like(err.text, "mapping key must be a plain value", "explained");

    /* The billion laughs: each level references the previous one ten times. */
    char big[4096] = "a: &a [x,x,x,x,x,x,x,x,x,x]\n";
    for (int i = 1; i < 9; i++) {
        char line[200];
        char p = (char)('a' + i - 1), c = (char)('a' + i);
        snprintf(line, sizeof line, "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c, c,
                 p, p, p, p, p, p, p, p, p, p);
        strcat(big, line);
    }
    ok(!load(big, &err), "nested aliases expanding to 10^9 nodes are refused");
    like(err.text, "document too large", "as too large");

    char deep[400] = "";
    for (int i = 0; i < 70; i++)
        strcat(deep, "[");
    ok(!load(deep, &err), "70 nested lists are refused");
    like(err.text, "nested more than 64 levels", "by depth");
}

static void test_alias_merge_copy(void)
{
    cp_err err;
    struct cp__ydoc *d = load("base: &b {cores: 2, mem: 4}\n"
                              "x:\n"
                              "  <<: *b\n"
                              "  mem: 8\n", &err);
    ok(d, "merge keys load: %s", err.text);
    if (!d)
        return;
    struct cp__ynode *x = cp__ymap_get(d->root, "x");
    long v = 0;
    ok(x && x->n == 2, "the merged map has 2 pairs");
    ok(cp__ynode_long(cp__ymap_get(x, "mem"), "mem", &v, &err) == 0 && v == 8,
       "an own key wins over the merged one");
    ok(cp__ynode_long(cp__ymap_get(x, "cores"), "cores", &v, &err) == 0 && v == 2,
       "a merged key is present");
    is_int(cp__ymap_get(x, "cores")->line, 1, "and keeps its own position");
    struct cp__ynode *xc = cp__ynode_copy(d, x);
    ok(xc && xc->weight == x->weight && x->weight == 5,
       "the merged map's size counts what it holds now (%llu)", (unsigned long long)x->weight);
    cp__ydoc_free(d);

    /* Found by the fuzzer: merging more pairs than the map had room for once
     * wrote past its array. */
    d = load("b: &b {k1: 1, k2: 2, k3: 3, k4: 4, k5: 5, k6: 6, k7: 7, k8: 8, k9: 9}\n"
             "x: {<<: *b, own: 0}\n", &err);
    x = d ? cp__ymap_get(d->root, "x") : NULL;
    ok(x && x->n == 10 && cp__ymap_get(x, "k9") && cp__ymap_get(x, "own"),
       "a merge larger than the map's room keeps every pair: %s", err.text);
    if (!d)
        return;
    struct cp__ynode *c = cp__ynode_copy(d, d->root);
    ok(c && c != d->root && cp__ymap_get(c, "b") != cp__ymap_get(d->root, "b") &&
           cp__ymap_get(c, "b")->n == 9,
       "a copy has its own nodes");
    struct cp__ynode *m = cp__ynode_new_coll(d, NULL, CP_Y_MAP, 0);
    struct cp__ynode *k = cp__ynode_new_scalar(d, NULL, "k", 1, CP_Y_PLAIN);
    struct cp__ynode *val = cp__ynode_new_scalar(d, NULL, "42", 2, CP_Y_PLAIN);
    ok(m && k && val && cp__ynode_push(d, m, k) == 0 && cp__ynode_push(d, m, val) == 0,
       "pairs push into a new map");
    ok(cp__ynode_long(cp__ymap_get(m, "k"), "k", &v, &err) == 0 && v == 42 && m->n == 1,
       "and read back");
    cp__ydoc_free(d);

    d = load("", &err);
    ok(d && !d->root, "an empty document has no root");
    cp__ydoc_free(d);
}

static void test_suggestions(void)
{
    static const char *const keys[] = {"retries", "executors", "strategy", NULL};
    is_str(cp__did_you_mean("retires", keys), "retries", "a swap is a typo");
    is_str(cp__did_you_mean("executor", keys), "executors", "a missing letter too");
    ok(cp__did_you_mean("banana", keys) == NULL, "an unrelated word gets no suggestion");
    cp_err err;
    struct cp__ydoc *d = load("retries: 1\nretires: 2\n", &err);
    ok(cp__ymap_check_keys(d->root, keys, "config", &err) == -1, "unknown key found");
    is_str(err.text, "t.yaml:2:1: unknown key 'retires' in config (did you mean 'retries'?)",
           "with a hint");
    cp__ydoc_free(d);
}

int main(void)
{
    tap_start(30);
    test_positions_and_types();
    test_errors();
    test_alias_merge_copy();
    test_suggestions();
    return done_testing();
}
