/* tests/tap.h — a tiny TAP producer for prove (STYLE.md §4, "Tests").
 *
 * Each test binary is one process: plan nothing, call ok()/is_*(), end with
 * done_testing(). An alarm (default 60 s, scaled by CP_TEST_TIMEOUT_MULTIPLIER)
 * turns a hang into a failure.
 */
#ifndef CP_TESTS_TAP_H
#define CP_TESTS_TAP_H

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tap_n, tap_failed;

static void tap_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "Bail out! test timed out\n";
    ssize_t w = write(1, msg, sizeof msg - 1);
    (void)w;
    _exit(3);
}

static inline void tap_start(unsigned seconds)
{
    const char *m = getenv("CP_TEST_TIMEOUT_MULTIPLIER");
    double mult = m ? atof(m) : 1.0;
    if (mult <= 0)
        mult = 1.0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGALRM, tap_alarm);
    alarm((unsigned)(seconds * mult));
}

static inline void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static inline int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    tap_n++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        tap_failed++;
        printf("#   Failed at %s line %d\n", file, line);
    }
    return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...) do {                                               \
        long long g_ = (long long)(got), w_ = (long long)(want);                  \
        if (!ok(g_ == w_, __VA_ARGS__)) diag("got %lld, want %lld", g_, w_);      \
    } while (0)

#define is_dbl(got, want, ...) do {                                               \
        double g_ = (got), w_ = (want);                                           \
        if (!ok(fabs(g_ - w_) <= 1e-9 * (fabs(w_) + 1), __VA_ARGS__))             \
            diag("got %.17g, want %.17g", g_, w_);                                \
    } while (0)

#define is_str(got, want, ...) do {                                               \
        const char *g_ = (got), *w_ = (want);                                     \
        if (!ok(g_ && w_ ? strcmp(g_, w_) == 0 : g_ == w_, __VA_ARGS__))          \
            diag("got \"%s\", want \"%s\"", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
    } while (0)

#define like(got, needle, ...) do {                                               \
        const char *g_ = (got), *n_ = (needle);                                   \
        if (!ok(g_ && strstr(g_, n_), __VA_ARGS__))                               \
            diag("got \"%s\", want it to contain \"%s\"", g_ ? g_ : "(null)", n_); \
    } while (0)

#define skip(why, ...) do { tap_n++; printf("ok %d # SKIP %s\n", tap_n, why); } while (0)

static inline int done_testing(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
