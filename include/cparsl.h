/* cparsl.h — the whole public C API of cparsl (DESIGN.md §4).
 *
 * Declare apps with CP_APP / CP_SHELL_APP / CP_JOIN_APP, start a run with cp_load(),
 * call apps with cp_call() to get futures, read them, and end with cp_shutdown().
 *
 * Ownership words used below:
 *   "caller owns"   - free it with the function named;
 *   "borrowed"      - valid only for the stated time, do not free;
 *   "takes"         - ownership passes to the callee, even when the call fails.
 *
 * Thread safety: every function may be called from any thread, except cp_init(),
 * which belongs at the top of main().
 */
#ifndef CPARSL_H
#define CPARSL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

#define CPARSL_VERSION "0.1.0"

/* ------------------------------------------------------------------ values */

/* A tagged value: what apps take and return, and what travels on the wire
 * (msgpack). Opaque; read it with the accessors below. */
typedef struct cp_value cp_value;
typedef struct cp_future cp_future;
typedef struct cp_file cp_file;

typedef enum cp_type {
    CP_NIL = 0,
    CP_BOOL,
    CP_INT,
    CP_DOUBLE,
    CP_STR,
    CP_BYTES,
    CP_LIST,
    CP_FILE,
} cp_type;

/* A byte string. As a parameter it is borrowed for the call. */
typedef struct cp_bytes {
    const void *data;
    size_t len;
} cp_bytes;

/* Constructors: each returns a new value the caller owns (cp_value_free), or NULL
 * when memory runs out. Strings and bytes are copied. */
cp_value *cp_nil(void);
cp_value *cp_bool(bool b);
cp_value *cp_int(long i);
cp_value *cp_double(double d);
cp_value *cp_str(const char *s);               /* NULL gives nil */
cp_value *cp_bytes_value(const void *data, size_t len);
cp_value *cp_list_new(void);                   /* an empty list */
/* Appends item to list; takes item. 0, or -1 when list is not a list / no memory. */
int cp_list_push(cp_value *list, cp_value *item);
cp_value *cp_file_value(const char *url);      /* a file reference by path or URL */
cp_value *cp_value_copy(const cp_value *v);    /* caller owns the copy */
void cp_value_free(cp_value *v);               /* NULL is fine */

/* Accessors. A wrong type or NULL gives 0 / NULL / false, never a crash. Returned
 * pointers are borrowed from v and live as long as v. */
cp_type cp_value_type(const cp_value *v);
const char *cp_type_name(cp_type t);           /* "int", "str", … */
bool cp_value_bool(const cp_value *v);
long cp_value_int(const cp_value *v);
double cp_value_double(const cp_value *v);     /* ints widen to double */
const char *cp_value_str(const cp_value *v);   /* also a file's URL */
cp_bytes cp_value_bytes(const cp_value *v);    /* also a string's bytes */
size_t cp_value_list_len(const cp_value *v);
const cp_value *cp_value_list_at(const cp_value *v, size_t i);
bool cp_value_equal(const cp_value *a, const cp_value *b);
/* A short human-readable rendering (JSON-like), caller owns (free()). */
char *cp_value_repr(const cp_value *v);

/* ------------------------------------------------------------------ files */

/* A file by path or URL ("data.txt", "file:///tmp/x", "https://…"). Caller owns
 * (cp_file_free). A cp_file* taken from cp_future_output() is a DataFuture: passing
 * it to cp_call() (as an argument or in .inputs) waits for the task that writes it. */
cp_file *cp_file_new(const char *path_or_url);
void cp_file_free(cp_file *f);                 /* NULL is fine; not for outputs of futures */
const char *cp_file_url(const cp_file *f);     /* borrowed */
const char *cp_file_path(const cp_file *f);    /* local path part, borrowed */

/* ------------------------------------------------------------------ config and lifecycle */

/* Facts a retry handler sees about the failed try (all borrowed for the call). */
typedef struct cp_try_info {
    long task_id;
    const char *app;
    int try_id;                 /* 0 for the first try */
    int fail_count;             /* failed tries so far, this one included */
    double fail_cost;           /* the sum of costs before this try */
    const char *error;          /* this try's error text */
} cp_try_info;

/* Parsl's retry_handler: returns the cost of this failure (Parsl adds 1 by default);
 * the task is retried while the summed cost is <= retries. A negative or NaN return
 * means the handler itself failed: the task is not retried and its error says so. */
typedef double (*cp_retry_handler)(const cp_try_info *info, void *arg);

/* Configuration from C (config files come through cp_load(path)). Zero means the
 * default everywhere. */
typedef struct cp_config {
    int max_threads;            /* thread_pool threads; default: online CPUs */
    int retries;                /* default retries per task; default 0 */
    cp_retry_handler retry_handler;
    void *retry_handler_arg;    /* borrowed until cp_shutdown */
    const char *run_dir;        /* root of runinfo/NNN/; default "runinfo" */
    const char *log_level;      /* "debug" | "info" | "warning" | "error"; default "info" */
    int internal_threads;       /* threads for join-app bodies; default 4 */
    const char *monitoring_db;  /* non-NULL: record the run in this monitoring
                                 * database (Parsl's schema; "" means
                                 * <run_dir>/monitoring.db); default: none */
    const char *workflow_name;  /* the run's name there; default: argv[0]'s base name */
    const char *checkpoint_mode;    /* "task_exit" | "periodic" | "dfk_exit" | "manual";
                                 * default (NULL) "none". With a mode, results of
                                 * .cache calls are checkpointed and earlier runs'
                                 * checkpoints under run_dir are reused */
    double checkpoint_period;   /* periodic: seconds between checkpoints (default 60) */
} cp_config;

/* Call first in main(). When the program was started as an app host by a worker
 * pool (CPARSL_APP_HOST set), it serves tasks and exits without returning;
 * otherwise it records argv[0] and returns 0. -1 (cp_last_error) only when
 * CPARSL_APP_HOST holds something no worker wrote. argc/argv may be NULL. */
int cp_init(int *argc, char ***argv);

/* Starts a run. NULL: the embedded default (a local thread pool). Otherwise the
 * path of a config file or the name of a template. 0, or -1 with cp_last_error(). */
int cp_load(const char *config);
/* Starts a run from a C configuration (copied; cfg may be NULL). */
int cp_load_config(const cp_config *cfg);

/* Waits for every task, stops executors, closes the log. 0 when every task
 * succeeded, 1 when any failed, -1 when not loaded. Futures the caller still holds
 * stay readable until released. A later cp_load() starts a new run. */
int cp_shutdown(void);

/* The text of the last error of cp_load/cp_shutdown in this thread (borrowed). */
const char *cp_last_error(void);

/* Writes the results of finished cacheable calls not yet checkpointed, now (the
 * "manual" checkpoint mode; any mode may call it). 0, or -1 with cp_last_error()
 * when nothing is loaded or the checkpoint could not be written. */
int cp_checkpoint(void);

/* The run directory of the current run (runinfo/NNN), borrowed until cp_shutdown,
 * or NULL when not loaded. */
const char *cp_run_dir(void);

/* ------------------------------------------------------------------ futures */

/* Task states, with Parsl's names and numbers. */
typedef enum cp_state {
    CP_PENDING = 0,
    CP_RUNNING = 2,
    CP_EXEC_DONE = 3,
    CP_FAILED = 4,
    CP_DEP_FAIL = 5,
    CP_LAUNCHED = 7,
    CP_FAIL_RETRYABLE = 8,
    CP_MEMO_DONE = 9,
    CP_JOINING = 10,
    CP_RUNNING_ENDED = 11,
} cp_state;
const char *cp_state_name(cp_state s);         /* "exec_done", … */

/* Blocks until the task is final. 0 when it succeeded, -1 when it failed (or f is
 * NULL). Safe from any thread, any number of waiters. */
int cp_future_wait(cp_future *f);
/* As cp_future_wait, giving up after `seconds`: 1 on time-out. */
int cp_future_wait_for(cp_future *f, double seconds);
bool cp_future_done(const cp_future *f);       /* final yet? never blocks */
cp_state cp_future_state(const cp_future *f);
long cp_future_id(const cp_future *f);         /* the task id, -1 for NULL */

/* Readers wait for the task first. On failure or a value of another type they
 * return 0 / NULL; check cp_future_error(). Pointers are borrowed from f. */
long cp_future_int(cp_future *f);
double cp_future_double(cp_future *f);
bool cp_future_bool(cp_future *f);
const char *cp_future_str(cp_future *f);
const cp_value *cp_future_value(cp_future *f);
/* The error text of a failed task (app, task id, try and cause), else NULL.
 * Never blocks. Borrowed from f. */
const char *cp_future_error(const cp_future *f);
/* Output i of the task (.outputs in its options) as a DataFuture; borrowed from f. */
cp_file *cp_future_output(cp_future *f, size_t i);

/* Drops the caller's hold on f. The task runs on regardless; its memory goes when
 * nothing else needs it. Futures made inside a join app's body are released for
 * you when the body returns. NULL is fine. */
void cp_future_release(cp_future *f);

/* A future that is already done with value v (takes v; NULL gives nil). */
cp_future *cp_value_future(cp_value *v);
/* A future of the list of the values of n futures (borrowed for the call). It
 * fails, naming every failed member, when any of them fails. */
cp_future *cp_gather(cp_future *const *futures, size_t n);

/* ------------------------------------------------------------------ options */

#define CP_NONE (-1)   /* .retries = CP_NONE: no retries whatever the config says */

typedef struct cp_opts {
    const char *stdout_path;    /* shell apps; default runinfo/NNN/task_logs/… */
    const char *stderr_path;
    bool stdout_append;         /* keep earlier content (Parsl's "a+") */
    bool stderr_append;
    cp_file *const *inputs;     /* NULL-terminated; DataFutures among them add dependencies */
    cp_file *const *outputs;    /* NULL-terminated; become cp_future_output(f, i) */
    double walltime;            /* seconds; 0: none */
    int retries;                /* 0: config default; CP_NONE: none */
    const char *executor;       /* label; NULL: the first executor */
    int priority;               /* lower runs first */
    int cores;                  /* resource specification, recorded and exported */
    int memory_mb;
    int disk_mb;
    double running_time;
    bool cache;                 /* memoize this call */
} cp_opts;

/* A const cp_opts* from designated initialisers: CP_OPTS(.walltime = 5). */
#define CP_OPTS(...) (&(const cp_opts){__VA_ARGS__})
/* A NULL-terminated file list: .outputs = CP_FILES(a, b). */
#define CP_FILES(...) ((cp_file *const[]){__VA_ARGS__, NULL})

/* ------------------------------------------------------------------ inside apps */

/* Fails the current try with a message; the app's return value is then ignored.
 * Outside an app body it does nothing. */
void cp_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* printf into a new string; caller owns (free()), and a shell app's body may return
 * it, handing it to the engine. NULL when memory runs out. */
char *cp_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* s quoted for bash as one word. Inside an app body the string lives until the
 * body returns; elsewhere the caller owns it (free()). */
const char *cp_q(const char *s);

/* ------------------------------------------------------------------ app declarations */

typedef enum cp_app_kind { CP_APP_NATIVE = 1, CP_APP_SHELL, CP_APP_JOIN } cp_app_kind;

/* Type codes of parameters and results (cp_app_def.param_types). */
typedef enum cp_ptype {
    CP_PT_LONG = 1, CP_PT_INT, CP_PT_DOUBLE, CP_PT_BOOL, CP_PT_STR,
    CP_PT_BYTES, CP_PT_FILE, CP_PT_VALUE, CP_PT_FUTURE, CP_PT_SHELL,
} cp_ptype;

#define CP_MAX_PARAMS 8

struct cp__ctx;   /* one try of one task, seen by the generated invoker */

/* What CP_APP and friends define: one const object per app, named like the app. */
typedef struct cp_app_def {
    const char *name;
    cp_app_kind kind;
    int nparams;
    const char *param_names[CP_MAX_PARAMS];
    unsigned char param_types[CP_MAX_PARAMS];
    unsigned char result_type;
    void (*invoke)(struct cp__ctx *cx);        /* generated; converts, calls, stores */
    const char *version;                       /* cache key part; see CP_APP_VERSION */
} cp_app_def;

/* Looks an app up by name among those linked into the program or loaded shared
 * libraries; borrowed, NULL when unknown. */
const cp_app_def *cp_app_find(const char *name);

/* Generic argument of cp_call: built by the macros, not by hand. */
typedef struct cp_arg {
    int kind;                    /* CP__ARG_* */
    union {
        long i;
        double d;
        bool b;
        const char *s;
        cp_bytes y;
        cp_future *f;
        cp_file *file;
        const cp_value *v;
    } u;
} cp_arg;
enum { CP__ARG_END = 0, CP__ARG_LONG, CP__ARG_DOUBLE, CP__ARG_BOOL, CP__ARG_STR,
       CP__ARG_BYTES, CP__ARG_FUTURE, CP__ARG_FILE, CP__ARG_VALUE };

/* Calls an app by its definition with n arguments (borrowed for the call); what the
 * cp_call macros expand to, and how tools call apps found with cp_app_find().
 * Always returns a future (caller owns, cp_future_release); problems with the call
 * itself give a future that has already failed, or NULL when memory runs out. */
cp_future *cp__call(const cp_app_def *app, const cp_opts *opts, int n, const cp_arg *args);

/* ---- macro machinery (not for direct use) ---- */
static inline cp_arg cp__a_long(long v) { cp_arg a = {CP__ARG_LONG, {.i = v}}; return a; }
static inline cp_arg cp__a_ulong(unsigned long v) { return cp__a_long((long)v); }
static inline cp_arg cp__a_double(double v) { cp_arg a = {CP__ARG_DOUBLE, {.d = v}}; return a; }
static inline cp_arg cp__a_bool(bool v) { cp_arg a = {CP__ARG_BOOL, {.b = v}}; return a; }
static inline cp_arg cp__a_str(const char *v) { cp_arg a = {CP__ARG_STR, {.s = v}}; return a; }
static inline cp_arg cp__a_bytes(cp_bytes v) { cp_arg a = {CP__ARG_BYTES, {.y = v}}; return a; }
static inline cp_arg cp__a_future(cp_future *v) { cp_arg a = {CP__ARG_FUTURE, {.f = v}}; return a; }
static inline cp_arg cp__a_file(cp_file *v) { cp_arg a = {CP__ARG_FILE, {.file = v}}; return a; }
static inline cp_arg cp__a_value(const cp_value *v) { cp_arg a = {CP__ARG_VALUE, {.v = v}}; return a; }

#define CP__ARG(x) _Generic((x),                                        \
        char: cp__a_long, signed char: cp__a_long, unsigned char: cp__a_long, \
        short: cp__a_long, unsigned short: cp__a_long,                  \
        int: cp__a_long, unsigned: cp__a_ulong,                         \
        long: cp__a_long, unsigned long: cp__a_ulong,                   \
        long long: cp__a_long, unsigned long long: cp__a_ulong,         \
        float: cp__a_double, double: cp__a_double,                      \
        bool: cp__a_bool,                                               \
        char *: cp__a_str, const char *: cp__a_str,                     \
        cp_bytes: cp__a_bytes,                                          \
        cp_future *: cp__a_future,                                      \
        cp_file *: cp__a_file,                                          \
        cp_value *: cp__a_value, const cp_value *: cp__a_value)(x)

/* Argument counting (0..8) and mapping. __VA_OPT__ rather than `, ##__VA_ARGS__`:
 * strict ISO modes (-std=c11) keep that comma, which would count no argument as
 * one; GCC >= 8 and Clang >= 12 accept __VA_OPT__ in every C mode. */
#define CP__NARGS(...) CP__NARGS_(_ __VA_OPT__(,) __VA_ARGS__, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define CP__NARGS_(_, a1, a2, a3, a4, a5, a6, a7, a8, n, ...) n
#define CP__CAT(a, b) CP__CAT_(a, b)
#define CP__CAT_(a, b) a##b
#define CP__MAP(f, ...) CP__CAT(CP__MAP_, CP__NARGS(__VA_ARGS__))(f, __VA_ARGS__)
#define CP__MAP_0(f, ...)
#define CP__MAP_1(f, a) f(a)
#define CP__MAP_2(f, a, ...) f(a), CP__MAP_1(f, __VA_ARGS__)
#define CP__MAP_3(f, a, ...) f(a), CP__MAP_2(f, __VA_ARGS__)
#define CP__MAP_4(f, a, ...) f(a), CP__MAP_3(f, __VA_ARGS__)
#define CP__MAP_5(f, a, ...) f(a), CP__MAP_4(f, __VA_ARGS__)
#define CP__MAP_6(f, a, ...) f(a), CP__MAP_5(f, __VA_ARGS__)
#define CP__MAP_7(f, a, ...) f(a), CP__MAP_6(f, __VA_ARGS__)
#define CP__MAP_8(f, a, ...) f(a), CP__MAP_7(f, __VA_ARGS__)
/* Indexed map over (type, name) pairs, with a separator macro. */
#define CP__MAPI(f, sep, ...) CP__CAT(CP__MAPI_, CP__NARGS(__VA_ARGS__))(f, sep, __VA_ARGS__)
#define CP__MAPI_0(f, sep, ...)
#define CP__MAPI_1(f, sep, a) f(0, a)
#define CP__MAPI_2(f, sep, a, b) f(0, a) sep() f(1, b)
#define CP__MAPI_3(f, sep, a, b, c) CP__MAPI_2(f, sep, a, b) sep() f(2, c)
#define CP__MAPI_4(f, sep, a, b, c, d) CP__MAPI_3(f, sep, a, b, c) sep() f(3, d)
#define CP__MAPI_5(f, sep, a, b, c, d, e) CP__MAPI_4(f, sep, a, b, c, d) sep() f(4, e)
#define CP__MAPI_6(f, sep, a, b, c, d, e, g) CP__MAPI_5(f, sep, a, b, c, d, e) sep() f(5, g)
#define CP__MAPI_7(f, sep, a, b, c, d, e, g, h) \
    CP__MAPI_6(f, sep, a, b, c, d, e, g) sep() f(6, h)
#define CP__MAPI_8(f, sep, a, b, c, d, e, g, h, k) \
    CP__MAPI_7(f, sep, a, b, c, d, e, g, h) sep() f(7, k)
#define CP__COMMA() ,
#define CP__SEMI() ;
#define CP__NOSEP()

#define CP__PTYPE(p) CP__PTYPE_ p
#define CP__PTYPE_(t, n) t
#define CP__PNAME(p) CP__PNAME_ p
#define CP__PNAME_(t, n) n

/* Type code of a C type; an unsupported parameter type is a compile error here. */
#define CP__TYPECODE(t) _Generic((t *)0,                                \
        long *: CP_PT_LONG, int *: CP_PT_INT, double *: CP_PT_DOUBLE,   \
        bool *: CP_PT_BOOL, const char **: CP_PT_STR, cp_bytes *: CP_PT_BYTES, \
        cp_file **: CP_PT_FILE, const cp_value **: CP_PT_VALUE,         \
        cp_value **: CP_PT_VALUE, cp_future **: CP_PT_FUTURE, char **: CP_PT_SHELL)

/* Argument extraction and result storing, used by generated invokers: each returns
 * 0, or -1 after failing the try with a type error naming the parameter. */
int cp__get_long(struct cp__ctx *cx, int i, long *out);
int cp__get_int(struct cp__ctx *cx, int i, int *out);
int cp__get_double(struct cp__ctx *cx, int i, double *out);
int cp__get_bool(struct cp__ctx *cx, int i, bool *out);
int cp__get_str(struct cp__ctx *cx, int i, const char **out);
int cp__get_bytes(struct cp__ctx *cx, int i, cp_bytes *out);
int cp__get_file(struct cp__ctx *cx, int i, cp_file **out);
int cp__get_value(struct cp__ctx *cx, int i, const cp_value **out);
void cp__ret_long(struct cp__ctx *cx, long v);
void cp__ret_int(struct cp__ctx *cx, int v);
void cp__ret_double(struct cp__ctx *cx, double v);
void cp__ret_bool(struct cp__ctx *cx, bool v);
void cp__ret_str(struct cp__ctx *cx, const char *v);     /* copied */
void cp__ret_bytes(struct cp__ctx *cx, cp_bytes v);      /* copied */
void cp__ret_file(struct cp__ctx *cx, cp_file *v);       /* its URL is copied */
void cp__ret_cvalue(struct cp__ctx *cx, const cp_value *v); /* copied */
void cp__ret_value(struct cp__ctx *cx, cp_value *v);     /* taken */
void cp__ret_future(struct cp__ctx *cx, cp_future *f);   /* join apps: taken */
void cp__ret_shell(struct cp__ctx *cx, char *cmd);       /* shell apps: taken */
void cp__app_register(const cp_app_def *def);            /* at program load */
void cp__app_set_version(const cp_app_def *def, const char *version);

#define CP__GETTER(t) _Generic((t *)0,                                  \
        long *: cp__get_long, int *: cp__get_int, double *: cp__get_double, \
        bool *: cp__get_bool, const char **: cp__get_str, cp_bytes *: cp__get_bytes, \
        cp_file **: cp__get_file, const cp_value **: cp__get_value)
#define CP__RETTER(t) _Generic((t *)0,                                  \
        long *: cp__ret_long, int *: cp__ret_int, double *: cp__ret_double, \
        bool *: cp__ret_bool, const char **: cp__ret_str, char **: cp__ret_str, \
        cp_bytes *: cp__ret_bytes, cp_file **: cp__ret_file,            \
        const cp_value **: cp__ret_cvalue, cp_value **: cp__ret_value)

#define CP__DECL_PARAM(i, p) CP__PTYPE(p) CP__PNAME(p)
#define CP__LOCAL(i, p) CP__PTYPE(p) CP__PNAME(p) = {0}
#define CP__FETCH(i, p) if (CP__GETTER(CP__PTYPE(p))(cx, i, &CP__PNAME(p)) != 0) return
#define CP__PASS(i, p) CP__PNAME(p)
#define CP__NAMESTR(i, p) #p
#define CP__PNAMESTR(i, p) CP__PNAMESTR_(CP__PNAME(p))
#define CP__PNAMESTR_(n) CP__STR_(n)
#define CP__STR_(n) #n
#define CP__PTYPECODE(i, p) CP__TYPECODE(CP__PTYPE(p))
#define CP__PARAMLIST(...) CP__PARAMLIST_(CP__NARGS(__VA_ARGS__), __VA_ARGS__)
#define CP__PARAMLIST_(n, ...) CP__CAT(CP__PARAMLIST_, n)(__VA_ARGS__)
#define CP__PARAMLIST_0(...) void
#define CP__PARAMLIST_1(...) CP__MAPI(CP__DECL_PARAM, CP__COMMA, __VA_ARGS__)
#define CP__PARAMLIST_2 CP__PARAMLIST_1
#define CP__PARAMLIST_3 CP__PARAMLIST_1
#define CP__PARAMLIST_4 CP__PARAMLIST_1
#define CP__PARAMLIST_5 CP__PARAMLIST_1
#define CP__PARAMLIST_6 CP__PARAMLIST_1
#define CP__PARAMLIST_7 CP__PARAMLIST_1
#define CP__PARAMLIST_8 CP__PARAMLIST_1

#if defined(__GNUC__)
#define CP__CTOR __attribute__((constructor))
#define CP__UNUSED __attribute__((unused))
#else
#error "cparsl's app macros need GCC or Clang (constructor attribute, _Generic)"
#endif

/* The shared part of the three app macros: a definition object named `name`,
 * an arity constant, an invoker and a registration, then the body's prototype. */
#define CP__DEFINE(kind, rtype, rcode, name, storecall, ...)                \
    static rtype name##__cp_body(CP__PARAMLIST(__VA_ARGS__));              \
    enum { name##__cp_arity = CP__NARGS(__VA_ARGS__) };                    \
    static void name##__cp_invoke(struct cp__ctx *cx)                      \
    {                                                                      \
        CP__MAPI(CP__LOCAL, CP__SEMI, __VA_ARGS__);                        \
        CP__MAPI(CP__FETCH, CP__SEMI, __VA_ARGS__);                        \
        (void)cx;                                                          \
        storecall(cx, name##__cp_body(CP__MAPI(CP__PASS, CP__COMMA, __VA_ARGS__))); \
    }                                                                      \
    const cp_app_def name = {                                              \
        #name, kind, CP__NARGS(__VA_ARGS__),                               \
        {CP__MAPI(CP__PNAMESTR, CP__COMMA, __VA_ARGS__)},                  \
        {CP__MAPI(CP__PTYPECODE, CP__COMMA, __VA_ARGS__)},                 \
        rcode, name##__cp_invoke, NULL};                                   \
    static CP__CTOR void name##__cp_reg(void) { cp__app_register(&name); } \
    static rtype name##__cp_body(CP__PARAMLIST(__VA_ARGS__))

/* A native app: CP_APP(double, area, (double, w), (double, h)) { return w * h; }
 * Up to 8 (type, name) parameters; types: long, int, double, bool, const char *,
 * cp_bytes, cp_file *, const cp_value *. The result may be any of those (a
 * `const char *` result is copied) or `cp_value *` (taken). */
#define CP_APP(rtype, name, ...) \
    CP__DEFINE(CP_APP_NATIVE, rtype, CP__TYPECODE(rtype), name, CP__RETTER(rtype) __VA_OPT__(,) __VA_ARGS__)

/* A shell app: the body returns the command (from cp_fmt, taken by the engine),
 * run by bash on a worker. Its value is 0 on success. */
#define CP_SHELL_APP(name, ...) \
    CP__DEFINE(CP_APP_SHELL, char *, CP_PT_SHELL, name, cp__ret_shell __VA_OPT__(,) __VA_ARGS__)

/* A join app: runs in the engine and returns a future (from cp_call, cp_gather or
 * cp_value_future, taken); the join task ends with that future's value or error. */
#define CP_JOIN_APP(name, ...) \
    CP__DEFINE(CP_APP_JOIN, cp_future *, CP_PT_FUTURE, name, cp__ret_future __VA_OPT__(,) __VA_ARGS__)

/* Declares an app's version, part of its cache key (file scope, after the app):
 * CP_APP_VERSION(area, "2"). Change it when the app's code changes, so results
 * that earlier runs checkpointed with the old code are not reused. */
#define CP_APP_VERSION(name, ver) \
    static CP__CTOR void name##__cp_ver(void) { cp__app_set_version(&name, ver); }

/* Declares an app defined in another file, with its parameter count (for a header). */
#define CP_APP_EXTERN(name, nparams) extern const cp_app_def name; \
    enum { name##__cp_arity = nparams }

/* ------------------------------------------------------------------ calling */

/* cp_call(app, args…): each argument a value (integers, floating, bool, strings,
 * cp_bytes, const cp_value *), a cp_future * or a cp_file *. A wrong argument count
 * is a compile error. Returns a future the caller owns. (No `##` here: arguments
 * must be macro-expanded first so that cp_call can nest inside cp_call.) */
#define cp_call(app, ...) CP__CALL(app, NULL, __VA_ARGS__)

/* cp_call_opts(app, opts, args…): opts is CP_OPTS(…) or a const cp_opts * (NULL ok). */
#define cp_call_opts(app, opts, ...) CP__CALL(app, opts, __VA_ARGS__)

#define CP__CALL(app, opts, ...)                                            \
    ((void)sizeof(struct {                                                  \
        _Static_assert(CP__NARGS(__VA_ARGS__) == app##__cp_arity,           \
                       "cp_call: wrong number of arguments for app " #app); \
        int cp__x;                                                          \
    }),                                                                     \
     cp__call(&(app), (opts), CP__NARGS(__VA_ARGS__),                       \
              (const cp_arg[]){{CP__ARG_END, {0}}, CP__MAP(CP__ARG, __VA_ARGS__)} + 1))

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* CPARSL_H */
