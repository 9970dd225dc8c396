/* engine/memo.c — memoization keys, the table of known results and the
 * checkpoint writer (engine/memo.h). */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/memo.h"
#include "engine/task.h"
#include "executors/app_invoke.h"

/* ------------------------------------------------------------ modes */

static const char *const mode_names[] = {"none", "task_exit", "periodic", "dfk_exit",
                                         "manual"};

int cp__ckpt_mode_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof mode_names / sizeof *mode_names); i++)
        if (s && strcmp(s, mode_names[i]) == 0)
            return i;
    return -1;
}

const char *cp__ckpt_mode_name(enum cp__ckpt_mode m)
{
    return (unsigned)m < sizeof mode_names / sizeof *mode_names ? mode_names[m] : "?";
}

/* ------------------------------------------------------------ keys */

/* Each part goes in with its length, so ("ab","c") and ("a","bc") differ. */
static void put(crypto_generichash_state *h, const void *p, size_t n)
{
    uint64_t len = n;
    crypto_generichash_update(h, (const unsigned char *)&len, sizeof len);
    if (n)
        crypto_generichash_update(h, p, n);
}

static void put_str(crypto_generichash_state *h, const char *s)
{
    put(h, s ? s : "", s ? strlen(s) : 0);
}

bool cp__memo_key(const struct cp_future *t, unsigned char key[CP_CKPT_KEY_LEN])
{
    if (!t->job.app || t->job.kind == CP_JOB_JOIN)
        return false;
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, CP_CKPT_KEY_LEN);
    put_str(&h, "cparsl memo 1");
    put_str(&h, t->job.app->name);
    put_str(&h, cp__app_version(t->job.app));
    if (t->job.kind == CP_JOB_SHELL) {
        /* The command is what the arguments made: hashing it rather than them
         * keeps a workflow's key independent of the instance's position. */
        put_str(&h, "shell");
        put_str(&h, t->job.cmd);
    } else {
        put_str(&h, "native");
        char *buf = NULL;
        size_t len = 0, cap = 0;
        for (int i = 0; i < t->job.nargs; i++) {
            len = 0;
            if (cp__value_encode(&t->args[i], &buf, &len, &cap, NULL) != 0) {
                free(buf);
                return false;
            }
            put(&h, buf, len);
        }
        free(buf);
    }
    const struct cp__topts *o = t->opts;
    size_t nout = o ? o->noutputs : 0;
    put(&h, &nout, sizeof nout);
    for (size_t i = 0; i < nout; i++)
        put_str(&h, o->output_paths[i]);
    put_str(&h, o && o->stdout_declared ? o->stdout_path : NULL);
    put_str(&h, o && o->stderr_declared ? o->stderr_path : NULL);
    crypto_generichash_final(&h, key, CP_CKPT_KEY_LEN);
    return true;
}

/* ------------------------------------------------------------ the table */

struct entry {
    unsigned char key[CP_CKPT_KEY_LEN];
    bool used;
    char *val;                  /* the encoded result */
    size_t len;
};

/* A result waiting to be written. */
struct pending {
    unsigned char key[CP_CKPT_KEY_LEN];
    char *app;
    long task_id;
    char *val;
    size_t len;
    struct cp_future *t;        /* task_exit: finalized once written */
};

struct cp__memo {
    enum cp__ckpt_mode mode;
    double period;
    bool in_run;
    char *dir;                  /* runinfo/NNN/checkpoint */
    pthread_mutex_t mu;         /* table, queue, flags */
    pthread_cond_t cv;
    struct entry *tab;
    size_t cap, n;              /* cap a power of two; n used */
    struct pending *q;
    size_t nq, capq;
    bool stop;
    bool thread_on;
    pthread_t thread;
    pthread_mutex_t wmu;        /* one writer of the file at a time */
    struct cp__ckdb *db;        /* opened at the first write */
    bool broken;                /* a write failed: logged once */
    long written;
};

static size_t slot_of(const struct cp__memo *m, const unsigned char *key)
{
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return (size_t)h & (m->cap - 1);
}

static int grow(struct cp__memo *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    struct entry *nt = calloc(ncap, sizeof *nt);
    if (!nt)
        return -1;
    struct entry *old = m->tab;
    size_t ocap = m->cap;
    m->tab = nt;
    m->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].used)
            continue;
        size_t s = slot_of(m, old[i].key);
        while (m->tab[s].used)
            s = (s + 1) & (m->cap - 1);
        m->tab[s] = old[i];
    }
    free(old);
    return 0;
}

/* Takes val. A later record of the same key replaces the earlier one. Caller
 * holds mu. */
static int tab_put(struct cp__memo *m, const unsigned char *key, char *val, size_t len)
{
    if ((m->n + 1) * 4 > m->cap * 3 && grow(m) != 0) {
        free(val);
        return -1;
    }
    size_t s = slot_of(m, key);
    while (m->tab[s].used && memcmp(m->tab[s].key, key, CP_CKPT_KEY_LEN) != 0)
        s = (s + 1) & (m->cap - 1);
    struct entry *e = &m->tab[s];
    if (e->used) {
        free(e->val);
    } else {
        e->used = true;
        memcpy(e->key, key, CP_CKPT_KEY_LEN);
        m->n++;
    }
    e->val = val;
    e->len = len;
    return 0;
}

int cp__memo_lookup(struct cp__memo *m, const unsigned char *key, struct cp_value *out)
{
    int found = 0;
    cp_err err = {0};
    pthread_mutex_lock(&m->mu);
    if (m->cap) {
        size_t s = slot_of(m, key);
        while (m->tab[s].used && memcmp(m->tab[s].key, key, CP_CKPT_KEY_LEN) != 0)
            s = (s + 1) & (m->cap - 1);
        if (m->tab[s].used)
            found = cp__value_decode(m->tab[s].val, m->tab[s].len, out, &err) == 0 ? 1 : -1;
    }
    pthread_mutex_unlock(&m->mu);
    if (found < 0)
        CP_WARN("memo", "a checkpointed result cannot be read (%s); the task runs again",
                err.text);
    return found;
}

/* ------------------------------------------------------------ writing */

static void pending_free(struct pending *p)
{
    free(p->app);
    free(p->val);
}

/* Writes n records (the caller took them off the queue) and then finalizes the
 * tasks that waited for them. Never fails the tasks: they did succeed. */
static void write_batch(struct cp__memo *m, struct pending *b, size_t n)
{
    if (n == 0)
        return;
    pthread_mutex_lock(&m->wmu);
    cp_err err = {0};
    int rc = -1;
    if (!m->db) {
        char *path = cp__strdup_printf("%s/%s", m->dir, CP_CKPT_FILE);
        if (!path)
            cp__errf(&err, ENOMEM, "out of memory");
        else if (mkdir(m->dir, 0777) != 0 && errno != EEXIST)
            cp__errf(&err, errno, "cannot create %s: %s", m->dir, strerror(errno));
        else
            m->db = cp__ckdb_open(path, &err);
        free(path);
    }
    struct cp__ckpt_rec *recs = m->db ? calloc(n, sizeof *recs) : NULL;
    if (m->db && !recs)
        cp__errf(&err, ENOMEM, "out of memory");
    if (recs) {
        for (size_t i = 0; i < n; i++)
            recs[i] = (struct cp__ckpt_rec){b[i].key, b[i].app, b[i].task_id, b[i].val,
                                            b[i].len};
        rc = cp__ckdb_write(m->db, recs, n, &err);
        free(recs);
    }
    if (rc == 0)
        m->written += (long)n;
    else if (!m->broken) {
        m->broken = true;
        CP_ERROR("memo", "checkpoint not written (%zu results; later failures are not "
                         "logged again): %s", n, err.text);
    }
    pthread_mutex_unlock(&m->wmu);
    for (size_t i = 0; i < n; i++) {
        if (b[i].t)
            cp__task_finalize(b[i].t, CP_EXEC_DONE);
        pending_free(&b[i]);
    }
}

/* Takes the whole queue. Caller holds mu. */
static struct pending *take_queue(struct cp__memo *m, size_t *n)
{
    struct pending *b = m->q;
    *n = m->nq;
    m->q = NULL;
    m->nq = m->capq = 0;
    return b;
}

static void *writer(void *arg)
{
    struct cp__memo *m = arg;
    pthread_mutex_lock(&m->mu);
    struct timespec next;
    clock_gettime(CLOCK_REALTIME, &next);
    for (;;) {
        if (m->mode == CP_CKPT_PERIODIC) {
            double at = (double)next.tv_sec + next.tv_nsec / 1e9 + m->period;
            next.tv_sec = (time_t)at;
            next.tv_nsec = (long)((at - (double)next.tv_sec) * 1e9);
            while (!m->stop) {
                if (pthread_cond_timedwait(&m->cv, &m->mu, &next) == ETIMEDOUT)
                    break;
            }
        } else {
            while (!m->stop && m->nq == 0)
                pthread_cond_wait(&m->cv, &m->mu);
        }
        if (m->stop)
            break;
        size_t n;
        struct pending *b = take_queue(m, &n);
        pthread_mutex_unlock(&m->mu);
        write_batch(m, b, n);
        free(b);
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

void cp__memo_done(struct cp__memo *m, struct cp_future *t)
{
    char *val = NULL;
    size_t len = 0, cap = 0;
    cp_err err = {0};
    if (cp__value_encode(&t->job.result, &val, &len, &cap, &err) != 0) {
        CP_WARN("memo", "task %ld: result not checkpointed: %s", t->id, err.text);
        free(val);
        cp__task_finalize(t, CP_EXEC_DONE);
        return;
    }
    struct pending p = {.task_id = t->id, .len = len};
    memcpy(p.key, t->memo_key, CP_CKPT_KEY_LEN);
    bool queued = false;
    pthread_mutex_lock(&m->mu);
    if (m->in_run) {
        char *copy = malloc(len ? len : 1);
        if (copy) {
            memcpy(copy, val, len);
            tab_put(m, p.key, copy, len);
        }
    }
    if (m->mode != CP_CKPT_NONE) {
        if (m->nq == m->capq) {
            size_t nc = m->capq ? m->capq * 2 : 64;
            struct pending *nqv = realloc(m->q, nc * sizeof *nqv);
            if (nqv) {
                m->q = nqv;
                m->capq = nc;
            }
        }
        p.app = strdup(t->job.app->name);
        if (m->nq < m->capq && p.app) {
            p.val = val;
            val = NULL;
            p.t = m->mode == CP_CKPT_TASK_EXIT && m->thread_on ? t : NULL;
            m->q[m->nq++] = p;
            queued = true;
            if (p.t)
                pthread_cond_signal(&m->cv);
        } else {
            free(p.app);
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (!queued && m->mode != CP_CKPT_NONE)
        CP_WARN("memo", "task %ld: result not checkpointed: out of memory", t->id);
    free(val);
    if (!queued || !p.t)
        cp__task_finalize(t, CP_EXEC_DONE);
}

int cp__memo_checkpoint(struct cp__memo *m, cp_err *err)
{
    pthread_mutex_lock(&m->mu);
    size_t n;
    struct pending *b = take_queue(m, &n);
    pthread_mutex_unlock(&m->mu);
    bool was_broken = m->broken;
    write_batch(m, b, n);
    free(b);
    if (m->broken && !was_broken)
        return cp__errf(err, EIO, "checkpoint of %zu results failed (see parsl.log)", n);
    return 0;
}

/* ------------------------------------------------------------ loading */

struct load_ctx {
    struct cp__memo *m;
};

static int load_one(void *arg, const struct cp__ckpt_rec *r, cp_err *err)
{
    struct cp__memo *m = ((struct load_ctx *)arg)->m;
    char *val = malloc(r->result_len ? r->result_len : 1);
    if (!val)
        return cp__errf(err, ENOMEM, "out of memory loading checkpoints");
    memcpy(val, r->result, r->result_len);
    if (tab_put(m, r->key, val, r->result_len) != 0)
        return cp__errf(err, ENOMEM, "out of memory loading checkpoints");
    return 0;
}

static int load_file(struct cp__memo *m, const char *path, long *total, cp_err *err)
{
    struct load_ctx c = {m};
    long n = 0;
    pthread_mutex_lock(&m->mu);
    int rc = cp__ckdb_load(path, load_one, &c, &n, err);
    pthread_mutex_unlock(&m->mu);
    *total += n;
    if (rc == 0)
        CP_DEBUG("memo", "loaded %ld checkpointed results from %s", n, path);
    return rc;
}

static bool is_run_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    size_t la = strlen((*a)->d_name), lb = strlen((*b)->d_name);
    return la != lb ? (la < lb ? -1 : 1) : strcmp((*a)->d_name, (*b)->d_name);
}

/* Every runinfo/NNN/checkpoint/tasks.db under root but this run's, oldest first,
 * so a later run's result for a key wins. */
static int load_earlier(struct cp__memo *m, const char *root, const char *run_dir, long *total,
                        int *files, cp_err *err)
{
    struct dirent **ents = NULL;
    int ne = scandir(root, &ents, NULL, by_name);
    if (ne < 0)
        return errno == ENOENT ? 0 : cp__errf(err, errno, "cannot list %s: %s", root,
                                              strerror(errno));
    const char *self = strrchr(run_dir, '/');
    self = self ? self + 1 : run_dir;
    int rc = 0;
    for (int i = 0; i < ne; i++) {
        const char *name = ents[i]->d_name;
        if (rc == 0 && is_run_name(name) && strcmp(name, self) != 0) {
            char *path = cp__strdup_printf("%s/%s/checkpoint/%s", root, name, CP_CKPT_FILE);
            struct stat st;
            if (!path)
                rc = cp__errf(err, ENOMEM, "out of memory");
            else if (stat(path, &st) == 0) {
                rc = load_file(m, path, total, err);
                (*files)++;
            }
            free(path);
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

static int load_named(struct cp__memo *m, const char *const *files, long *total, int *nfiles,
                      cp_err *err)
{
    for (size_t i = 0; files[i]; i++) {
        struct stat st;
        if (stat(files[i], &st) != 0)
            return cp__errf(err, errno, "checkpoint_files: %s: %s", files[i], strerror(errno));
        char *path = S_ISDIR(st.st_mode) ? cp__strdup_printf("%s/%s", files[i], CP_CKPT_FILE)
                                         : strdup(files[i]);
        if (!path)
            return cp__errf(err, ENOMEM, "out of memory");
        int rc = load_file(m, path, total, err);
        free(path);
        if (rc != 0)
            return -1;
        (*nfiles)++;
    }
    return 0;
}

/* ------------------------------------------------------------ life */

static void memo_free(struct cp__memo *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->tab[i].used)
            free(m->tab[i].val);
    free(m->tab);
    for (size_t i = 0; i < m->nq; i++)
        pending_free(&m->q[i]);
    free(m->q);
    cp__ckdb_close(m->db);
    free(m->dir);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->wmu);
    free(m);
}

struct cp__memo *cp__memo_open(const struct cp__memo_settings *s, cp_err *err)
{
    if (sodium_init() < 0) {
        cp__errf(err, EIO, "libsodium cannot start");
        return NULL;
    }
    struct cp__memo *m = calloc(1, sizeof *m);
    if (!m) {
        cp__errf(err, ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->wmu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->mode = s->mode;
    m->period = s->period > 0 ? s->period : 60;
    m->in_run = s->in_run;
    if (!(m->dir = cp__strdup_printf("%s/checkpoint", s->run_dir))) {
        cp__errf(err, ENOMEM, "out of memory");
        goto fail;
    }
    long total = 0;
    int files = 0;
    if (s->files ? load_named(m, s->files, &total, &files, err) != 0
                 : s->load_earlier && s->root &&
                       load_earlier(m, s->root, s->run_dir, &total, &files, err) != 0)
        goto fail;
    if (s->files || s->load_earlier)
        CP_INFO("memo", "%ld checkpointed results loaded from %d file%s", total, files,
                files == 1 ? "" : "s");
    if (m->mode == CP_CKPT_TASK_EXIT || m->mode == CP_CKPT_PERIODIC) {
        int e = pthread_create(&m->thread, NULL, writer, m);
        if (e != 0) {
            cp__errf(err, e, "cannot start the checkpoint writer: %s", strerror(e));
            goto fail;
        }
        m->thread_on = true;
    }
    return m;
fail:
    memo_free(m);
    return NULL;
}

int cp__memo_close(struct cp__memo *m, cp_err *err)
{
    if (!m)
        return 0;
    if (m->thread_on) {
        pthread_mutex_lock(&m->mu);
        m->stop = true;
        pthread_cond_signal(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL);
    }
    int rc = m->mode == CP_CKPT_NONE ? 0 : cp__memo_checkpoint(m, err);
    if (m->written)
        CP_INFO("memo", "%ld results checkpointed in %s", m->written, m->dir);
    if (rc == 0 && m->broken)
        rc = cp__errf(err, EIO, "some results were not checkpointed (see parsl.log)");
    memo_free(m);
    return rc;
}
