/* tests/unit/wf_render.c — templates rendered: hostile values reach bash as
 * exactly one literal argument (really run through /bin/bash -c), lists give
 * one word each, literal braces and ${…} pass through, numbers render as
 * documented, and non-shell rendering is plain text. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/value.h"
#include "tap.h"
#include "workflows/wf.h"

static char dir[] = "/tmp/cp-wfrender-XXXXXX";

static const char *const HOSTILE[] = {
    "plain",
    "two words",
    "it's",
    "\"double\"",
    "$(touch PWNED)",
    "`touch PWNED`",
    "; touch PWNED",
    "a && touch PWNED",
    "line one\nline two",
    "trailing newline\n",
    "tab\there",
    "*",
    "~",
    "$HOME ${HOME}",
    "back\\slash",
    "-n",
    "a=b",
    "!event",
    "{x}",
    "'",
    "'\\''",
    " leading and trailing ",
    "unicode: \xc3\xa9t\xc3\xa9 \xe2\x9c\x93",
    "",
};
#define NHOSTILE (sizeof HOSTILE / sizeof HOSTILE[0])

/* v as a YAML double-quoted scalar. */
static void yaml_quote(FILE *f, const char *v)
{
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"' || *v == '\\')
            fprintf(f, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", f);
        else if (*v == '\t')
            fputs("\\t", f);
        else
            fputc(*v, f);
    }
    fputc('"', f);
}

static struct cp__wf *load_file(const char *name)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    cp_err err = {0};
    struct cp__wf *wf = cp__wf_load(p, NULL, 0, &err);
    if (!wf)
        diag("load failed: %s", err.text);
    return wf;
}

static struct cp__wf *load_text(const char *text)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/wf.yaml", dir);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return load_file("wf.yaml");
}

/* Runs cmd with /bin/bash -c in dir; its stdout into out (NUL-terminated). */
static int run_bash(const char *cmd, char *out, size_t cap)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        if (chdir(dir) != 0)
            _exit(126);
        execl("/bin/bash", "bash", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *render_task(const struct cp__wf *wf, size_t i, bool shell)
{
    const struct cp__wf_inst *in = &wf->insts[i];
    const struct cp__wf_app *a = &wf->apps[wf->tasks[in->task].app];
    cp_err err = {0};
    char *s = cp__wf_render(wf, in, &a->cmd, NULL, shell, &err);
    if (!s)
        diag("render failed: %s", err.text);
    return s;
}

/* Every hostile value, as a var and as a foreach item, through three commands:
 * printf '%s\n' prints it back, printf '[%s]' shows one argument, and
 * set -- … ; echo $# counts the words. */
static void test_hostile(void)
{
    char p[PATH_MAX], out[4096], want[4096];
    snprintf(p, sizeof p, "%s/hostile.yaml", dir);
    FILE *f = fopen(p, "w");
    fprintf(f, "vars:\n  all: [");
    for (size_t i = 0; i < NHOSTILE; i++) {
        yaml_quote(f, HOSTILE[i]);
        fputs(i + 1 < NHOSTILE ? ", " : "]\n", f);
    }
    fputs("apps:\n"
          "  print: {shell: \"printf '%s\\\\n' {v}\"}\n"
          "  box: {shell: \"printf '[%s]' {v}\"}\n"
          "  count: {shell: \"set -- {v}; echo $#\"}\n"
          "  list: {shell: \"printf '[%s]' {all}\"}\n"
          "  dq: {shell: \"printf '[%s]' \\\"{v}\\\"\"}\n"
          "  sq: {shell: \"printf '[%s]' '{v}'\"}\n"
          "  ansi: {shell: \"printf '[%s]' $'{v}'\"}\n"
          "  nest: {shell: \"printf '[%s]' \\\"$(printf '%s' {v})\\\"\"}\n"
          "  tick: {shell: \"printf '[%s]' \\\"`printf '%s' {v}`\\\"\"}\n"
          "tasks:\n"
          "  print: {foreach: {v: \"{all}\"}}\n"
          "  box: {foreach: {v: \"{all}\"}}\n"
          "  count: {foreach: {v: \"{all}\"}}\n"
          "  list: {}\n"
          "  dq: {foreach: {v: \"{all}\"}}\n"
          "  sq: {foreach: {v: \"{all}\"}}\n"
          "  ansi: {foreach: {v: \"{all}\"}}\n"
          "  nest: {foreach: {v: \"{all}\"}}\n"
          "  tick: {foreach: {v: \"{all}\"}}\n", f);
    fclose(f);
    struct cp__wf *wf = load_file("hostile.yaml");
    if (!ok(wf && wf->ninsts == 8 * NHOSTILE + 1, "hostile workflow loads"))
        return;
    for (size_t i = 0; i < NHOSTILE; i++) {
        const char *v = HOSTILE[i];
        char *c = render_task(wf, i, true);
        int rc = c ? run_bash(c, out, sizeof out) : -1;
        snprintf(want, sizeof want, "%s\n", v);
        if (!ok(rc == 0 && strcmp(out, want) == 0, "printf '%%s\\n' prints value %zu back", i))
            diag("command <%s> printed <%s>", c ? c : "", out);
        free(c);
        c = render_task(wf, NHOSTILE + i, true);
        rc = c ? run_bash(c, out, sizeof out) : -1;
        snprintf(want, sizeof want, "[%s]", v);
        if (!ok(rc == 0 && strcmp(out, want) == 0, "value %zu is one literal argument", i))
            diag("command <%s> printed <%s>", c ? c : "", out);
        free(c);
        c = render_task(wf, 2 * NHOSTILE + i, true);
        rc = c ? run_bash(c, out, sizeof out) : -1;
        if (!ok(rc == 0 && strcmp(out, "1\n") == 0, "value %zu is one word", i))
            diag("command <%s> printed <%s>", c ? c : "", out);
        free(c);
    }
    char *c = render_task(wf, 3 * NHOSTILE, true);
    int rc = c ? run_bash(c, out, sizeof out) : -1;
    want[0] = '\0';
    for (size_t i = 0; i < NHOSTILE; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "[%s]", HOSTILE[i]);
    ok(rc == 0 && strcmp(out, want) == 0, "a list gives one argument per item");
    free(c);
    /* Inside "…", '…', $'…', and "$(…)" / "`…`" nested in double quotes. */
    static const char *const where[] = {"\"{v}\"", "'{v}'", "$'{v}'", "\"$(printf %s {v})\"",
                                        "\"`printf %s {v}`\""};
    for (size_t w = 0; w < 5; w++) {
        int bad = 0;
        for (size_t i = 0; i < NHOSTILE; i++) {
            /* Command substitution drops trailing newlines, as bash always does. */
            size_t l = strlen(HOSTILE[i]);
            while (w >= 3 && l && HOSTILE[i][l - 1] == '\n')
                l--;
            c = render_task(wf, (3 + w) * NHOSTILE + 1 + i, true);
            rc = c ? run_bash(c, out, sizeof out) : -1;
            snprintf(want, sizeof want, "[%.*s]", (int)l, HOSTILE[i]);
            if (rc != 0 || strcmp(out, want) != 0) {
                bad++;
                diag("command <%s> printed <%s>", c ? c : "", out);
            }
            free(c);
        }
        ok(!bad, "every value stays literal inside %s", where[w]);
    }
    snprintf(p, sizeof p, "%s/PWNED", dir);
    ok(access(p, F_OK) != 0, "no value ran a command");
    cp__wf_free(wf);
}

static void test_literals_and_numbers(void)
{
    struct cp__wf *wf = load_text(
        "vars: {i: -42, big: 9007199254740993, d: 0.1, third: 0.3333333333333333, two: 2.0,\n"
        "       huge: 1.0e300, yes: true, nothing: null, path: \"out dir/a.txt\"}\n"
        "apps:\n"
        "  a:\n"
        "    shell: \"echo {i} {big} {d} {third} {two} {huge} {yes} {nothing} {{i}} }} { i }"
        " ${HOME} ${x:-{i}} awk '{print $1}' find -exec {} ; {path}\"\n"
        "    outputs: [\"{path}.{d}\"]\n"
        "tasks:\n"
        "  a: {}\n");
    if (!ok(wf, "literals workflow loads"))
        return;
    char *c = render_task(wf, 0, true);
    is_str(c, "echo -42 9007199254740993 0.1 0.3333333333333333 2 1e+300 true '' {i} } { i }"
              " ${HOME} ${x:-{i}} awk '{print $1}' find -exec {} ; 'out dir/a.txt'",
           "numbers, {{ }}, ${…} and other braces");
    free(c);
    c = render_task(wf, 0, false);
    is_str(c, "echo -42 9007199254740993 0.1 0.3333333333333333 2 1e+300 true  {i} } { i }"
              " ${HOME} ${x:-{i}} awk '{print $1}' find -exec {} ; out dir/a.txt",
           "non-shell rendering is plain text");
    free(c);
    is_str(wf->insts[0].outputs[0], "out dir/a.txt.0.1", "paths are rendered unquoted");
    cp__wf_free(wf);
}

/* Column positions of references in block scalars come from the source. */
static void test_block_positions(void)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/wf.yaml", dir);
    FILE *f = fopen(p, "w");
    fputs("apps:\n"
          "  a:\n"
          "    shell: |\n"
          "      echo start\n"
          "      echo {nope}\n"
          "tasks:\n"
          "  a: {}\n", f);
    fclose(f);
    cp_err err = {0};
    struct cp__wf *wf = cp__wf_load(p, NULL, 0, &err);
    ok(!wf, "unknown reference in a block scalar");
    like(err.text, "wf.yaml:5:12: task 'a' references unknown variable 'nope'",
         "... positioned at its line and column");
    cp__wf_free(wf);
    f = fopen(p, "w");
    fputs("apps:\n  a: {shell: \"echo \xc3\xa9\xc3\xa9 {nope}\"}\ntasks:\n  a: {}\n", f);
    fclose(f);
    wf = cp__wf_load(p, NULL, 0, &err);
    like(err.text, "wf.yaml:2:23: ", "columns count characters, not bytes");
    cp__wf_free(wf);
}

static void test_backslash(void)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/wf.yaml", dir);
    FILE *f = fopen(p, "w");
    fputs("vars: {v: x}\napps:\n  a: {shell: \"echo \\\\{v}\"}\ntasks:\n  a: {}\n", f);
    fclose(f);
    cp_err err = {0};
    struct cp__wf *wf = cp__wf_load(p, NULL, 0, &err);
    ok(!wf, "a reference right after a backslash is refused");
    like(err.text, "wf.yaml:3:22: '{v}' follows a backslash", "... at the reference (a YAML "
         "escape before it counts as its two source characters)");
    cp__wf_free(wf);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *fw)
{
    (void)st, (void)flag, (void)fw;
    return remove(p);
}

int main(void)
{
    tap_start(120);
    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp: %s", strerror(errno));
        return done_testing();
    }
    test_hostile();
    test_literals_and_numbers();
    test_block_positions();
    test_backslash();
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return done_testing();
}
