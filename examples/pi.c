/* Monte Carlo π: a map of native sampling tasks and a reduce over their results.
 *
 *   ./pi [TASKS [SAMPLES_PER_TASK]]      (defaults: 100 tasks × 1,000,000 samples)
 */
#include <cparsl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Counts how many of n pseudo-random points in the unit square fall inside the
 * quarter circle; the seed makes every task's stream its own and repeatable. */
CP_APP(long, sample, (long, seed), (long, n))
{
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(seed + 1);
    long hits = 0;
    for (long i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double a = (double)(x >> 11) / 9007199254740992.0;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double b = (double)(x >> 11) / 9007199254740992.0;
        hits += a * a + b * b <= 1.0;
    }
    return hits;
}

CP_APP(double, estimate, (const cp_value *, hits), (long, per_task))
{
    size_t n = cp_value_list_len(hits);
    if (n == 0)
        cp_fail("no samples to average");
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)cp_value_int(cp_value_list_at(hits, i));
    return 4.0 * sum / ((double)per_task * (double)n);
}

int main(int argc, char **argv)
{
    if (cp_init(&argc, &argv) != 0 || cp_load(NULL) != 0) {
        fprintf(stderr, "pi: %s\n", cp_last_error());
        return 2;
    }
    long tasks = argc > 1 ? atol(argv[1]) : 100;
    long per_task = argc > 2 ? atol(argv[2]) : 1000000;
    if (tasks < 1 || per_task < 1) {
        fprintf(stderr, "usage: pi [TASKS [SAMPLES_PER_TASK]] (both >= 1)\n");
        cp_shutdown();
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cp_future **parts = calloc((size_t)tasks, sizeof *parts);
    if (!parts)
        return 2;
    for (long i = 0; i < tasks; i++)
        parts[i] = cp_call(sample, i, per_task);
    cp_future *all = cp_gather(parts, (size_t)tasks);
    cp_future *pi = cp_call(estimate, all, per_task);
    int ok = cp_future_wait(pi) == 0;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (ok)
        printf("pi ~= %.6f from %ld tasks x %ld samples in %.3f s (run directory %s)\n",
               cp_future_double(pi), tasks, per_task,
               (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, cp_run_dir());
    else
        fprintf(stderr, "pi: %s\n", cp_future_error(pi));
    for (long i = 0; i < tasks; i++)
        cp_future_release(parts[i]);
    free(parts);
    cp_future_release(all);
    cp_future_release(pi);
    return cp_shutdown() == 0 && ok ? 0 : 1;
}
