/* Word frequencies over a small corpus: shell tasks write the texts and count the
 * words of each (each count waits for its text through a DataFuture), then a
 * native task merges the counts (it waits for all of them through .inputs).
 *
 *   ./wordfreq [FILES…]     (without files: a built-in corpus of 8 texts)
 */
#include <cparsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *corpus[] = {
    "The quick brown fox jumps over the lazy dog. The dog sleeps.",
    "A workflow is a graph of tasks; each task waits for the data it needs.",
    "Futures stand for results that are not there yet. The engine fills them.",
    "Shell apps run commands; native apps run C functions. Both return futures.",
    "The scheduler places pilot jobs; the workers pull tasks from the interchange.",
    "Retries hide transient failures; a failed task fails the tasks that need it.",
    "Data flows from task to task through files and values, never through globals.",
    "The fox and the dog became friends, and the workflow finished in time.",
};

CP_SHELL_APP(write_text, (const char *, text), (cp_file *, out))
{
    return cp_fmt("printf '%%s\\n' %s > %s", cp_q(text), cp_q(cp_file_path(out)));
}

/* One word per line, lower case, counted: "   3 the". */
CP_SHELL_APP(count_words, (cp_file *, in), (cp_file *, out))
{
    return cp_fmt("tr -cs '[:alpha:]' '\\n' < %s | tr '[:upper:]' '[:lower:]' | grep -v '^$' "
                  "| sort | uniq -c > %s", cp_q(cp_file_path(in)), cp_q(cp_file_path(out)));
}

struct entry { char word[48]; long n; };

static int by_count(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return x->n != y->n ? (y->n > x->n) - (y->n < x->n) : strcmp(x->word, y->word);
}

/* Sums the count files and returns the ten most frequent words as text. */
CP_APP(const char *, merge, (const cp_value *, paths))
{
    static __thread char out[1024];
    struct entry *tab = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < cp_value_list_len(paths); i++) {
        const char *path = cp_value_str(cp_value_list_at(paths, i));
        FILE *fp = fopen(path, "r");
        if (!fp) {
            cp_fail("cannot read %s", path);
            free(tab);
            return NULL;
        }
        long c;
        char w[48];
        while (fscanf(fp, "%ld %47s", &c, w) == 2) {
            size_t j = 0;
            while (j < n && strcmp(tab[j].word, w) != 0)
                j++;
            if (j == n) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 64;
                    struct entry *t = realloc(tab, cap * sizeof *t);
                    if (!t) {
                        fclose(fp);
                        free(tab);
                        cp_fail("out of memory");
                        return NULL;
                    }
                    tab = t;
                }
                snprintf(tab[n].word, sizeof tab[n].word, "%s", w);
                tab[n++].n = 0;
            }
            tab[j].n += c;
        }
        fclose(fp);
    }
    qsort(tab, n, sizeof *tab, by_count);
    size_t len = 0;
    out[0] = '\0';
    for (size_t j = 0; j < n && j < 10; j++)
        len += (size_t)snprintf(out + len, sizeof out - len, "%6ld %s\n", tab[j].n, tab[j].word);
    free(tab);
    return out;
}

int main(int argc, char **argv)
{
    if (cp_init(&argc, &argv) != 0 || cp_load(NULL) != 0) {
        fprintf(stderr, "wordfreq: %s\n", cp_last_error());
        return 2;
    }
    int nfiles = argc > 1 ? argc - 1 : (int)(sizeof corpus / sizeof corpus[0]);
    cp_future **futs = calloc((size_t)nfiles * 2, sizeof *futs);
    cp_file **files = calloc((size_t)nfiles * 2, sizeof *files);
    cp_file **counted = calloc((size_t)nfiles + 1, sizeof *counted);
    cp_value *paths = cp_list_new();
    if (!futs || !files || !counted || !paths)
        return 2;
    for (int i = 0; i < nfiles; i++) {
        char name[64];
        cp_file *text;
        if (argc > 1) {
            text = files[2 * i] = cp_file_new(argv[i + 1]);
        } else {
            snprintf(name, sizeof name, "corpus/text-%d.txt", i);
            files[2 * i] = cp_file_new(name);
            futs[2 * i] = cp_call_opts(write_text, CP_OPTS(.outputs = CP_FILES(files[2 * i])),
                                       corpus[i], files[2 * i]);
            text = cp_future_output(futs[2 * i], 0);      /* a DataFuture */
        }
        snprintf(name, sizeof name, "counts/count-%d.txt", i);
        files[2 * i + 1] = cp_file_new(name);
        futs[2 * i + 1] = cp_call_opts(count_words,
                                       CP_OPTS(.outputs = CP_FILES(files[2 * i + 1])),
                                       text, files[2 * i + 1]);
        counted[i] = cp_future_output(futs[2 * i + 1], 0);
        cp_list_push(paths, cp_str(name));
    }
    cp_future *top = cp_call_opts(merge, CP_OPTS(.inputs = counted), paths);
    int ok = cp_future_wait(top) == 0;
    if (ok)
        printf("most frequent words in %d texts:\n%s(run directory %s)\n", nfiles,
               cp_future_str(top), cp_run_dir());
    else
        fprintf(stderr, "wordfreq: %s\n", cp_future_error(top));
    for (int i = 0; i < 2 * nfiles; i++) {
        cp_future_release(futs[i]);
        cp_file_free(files[i]);
    }
    cp_future_release(top);
    cp_value_free(paths);
    free(futs);
    free(files);
    free(counted);
    return cp_shutdown() == 0 && ok ? 0 : 1;
}
