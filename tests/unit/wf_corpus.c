/* tests/unit/wf_corpus.c — every wrong workflow in tests/corpus/wf/ fails to
 * load with exactly the first error line in its .expect file.
 *
 * The workflows are loaded as "NAME.yaml" from a scratch directory holding a
 * link to each one and lib/typed.so, built here from lib/typed.c with $CC
 * (native-app type checks need a real library). typed.so links this build's
 * libcparsl.so for the app macros' symbols, since a test binary exports none.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "workflows/wf.h"

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The first line of a file, in a static buffer; NULL when unreadable. */
static const char *first_line(const char *path)
{
    static char buf[1024];
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

static bool build_typed(const char *root, const char *tmp)
{
    const char *cc = getenv("CC");
    const char *build = getenv("CP_BUILD");
    char so[2 * PATH_MAX + 32], link[PATH_MAX + 32], cmd[6 * PATH_MAX];
    snprintf(so, sizeof so, "%s/%s/libcparsl.so", root, build && *build ? build : "build");
    if (build && build[0] == '/')
        snprintf(so, sizeof so, "%s/libcparsl.so", build);
    snprintf(link, sizeof link, "%s/lib/libcparsl.so.0", tmp);
    if (symlink(so, link) != 0)
        return false;
    snprintf(cmd, sizeof cmd, "%s -shared -fPIC -I'%s/include' '%s/tests/corpus/wf/lib/typed.c' "
             "-o '%s/lib/typed.so' -L'%s/lib' -l:libcparsl.so.0 -Wl,-rpath,'$ORIGIN'",
             cc && *cc ? cc : "cc", root, root, tmp, tmp);
    return system(cmd) == 0;
}

int main(void)
{
    tap_start(120);
    char root[PATH_MAX], src[PATH_MAX + 32], tmp[] = "/tmp/cp-wfcorpus-XXXXXX";
    if (!getcwd(root, sizeof root) || !mkdtemp(tmp)) {
        ok(0, "scratch directory");
        return done_testing();
    }
    snprintf(src, sizeof src, "%s/tests/corpus/wf", root);
    char libdir[sizeof tmp + 8];
    snprintf(libdir, sizeof libdir, "%s/lib", tmp);
    mkdir(libdir, 0755);
    ok(build_typed(root, tmp), "lib/typed.so builds");

    DIR *d = opendir(src);
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".yaml") == 0) {
            names = realloc(names, (n + 1) * sizeof *names);
            names[n++] = strndup(e->d_name, l - 5);
        }
    }
    if (d)
        closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    ok(n >= 40, "at least 40 wrong workflows (%zu)", n);

    for (size_t i = 0; i < n; i++) {
        char from[PATH_MAX * 2], to[PATH_MAX];
        snprintf(from, sizeof from, "%s/%s.yaml", src, names[i]);
        snprintf(to, sizeof to, "%s/%s.yaml", tmp, names[i]);
        if (symlink(from, to) != 0)
            diag("symlink %s: %s", to, strerror(errno));
    }
    if (chdir(tmp) != 0)
        ok(0, "chdir");
    for (size_t i = 0; i < n; i++) {
        char yaml[PATH_MAX], expect[PATH_MAX * 2];
        snprintf(yaml, sizeof yaml, "%s.yaml", names[i]);
        snprintf(expect, sizeof expect, "%s/%s.expect", src, names[i]);
        const char *want = first_line(expect);
        if (!want) {
            ok(0, "%s: has a .expect file", names[i]);
            continue;
        }
        cp_err err = {0};
        struct cp__wf *wf = cp__wf_load(yaml, NULL, 0, &err);
        if (wf) {
            ok(0, "%s: fails to load", names[i]);
            cp__wf_free(wf);
            continue;
        }
        err.text[strcspn(err.text, "\n")] = '\0';
        is_str(err.text, want, "%s", names[i]);
    }
    if (chdir(root) != 0)
        diag("chdir back failed");
    nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return done_testing();
}
