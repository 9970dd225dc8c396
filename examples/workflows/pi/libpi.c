/* libpi.c — the native apps of pi.yaml, built as a shared library:
 *
 *   cc -shared -fPIC $(pkg-config --cflags cparsl) -o libpi.so libpi.c
 *
 * No -lcparsl: parsl-run provides the cparsl symbols when it loads the library.
 */
#include <cparsl.h>
#include <stdint.h>

/* xorshift64*: a small, well-known generator; each seed gives its own stream. */
static double next_unit(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* Throws n darts at the unit square; returns how many land inside the circle. */
CP_APP(long, pi_sample, (long, seed), (long, n))
{
    if (n <= 0) {
        cp_fail("pi_sample: n must be positive, got %ld", n);
        return 0;
    }
    uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(seed + 1);
    long hits = 0;
    for (long i = 0; i < n; i++) {
        double x = next_unit(&s), y = next_unit(&s);
        hits += x * x + y * y <= 1.0;
    }
    return hits;
}

/* The reduce: every sample's hits (a list of ints) and the darts per sample. */
CP_APP(double, pi_estimate, (const cp_value *, hits), (long, n))
{
    size_t k = cp_value_list_len(hits);
    if (k == 0 || n <= 0) {
        cp_fail("pi_estimate: no samples to average");
        return 0;
    }
    long total = 0;
    for (size_t i = 0; i < k; i++)
        total += cp_value_int(cp_value_list_at(hits, i));
    return 4.0 * (double)total / ((double)k * (double)n);
}
