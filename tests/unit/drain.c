/* Drain before walltime (docs/htex.md): when a high_throughput pool stops taking
 * work, from drain_period, the block's walltime and walltime_margin. */
#include "executors/exec_types.h"
#include "tap.h"

int main(void)
{
    tap_start(10);
    is_dbl(cp__htex_drain_after(0, 0, 60), 0, "no drain_period, no walltime: never");
    is_dbl(cp__htex_drain_after(0, 600, 60), 540, "10 min walltime, 60 s margin: after 9 min");
    is_dbl(cp__htex_drain_after(300, 600, 60), 300, "an earlier drain_period wins");
    is_dbl(cp__htex_drain_after(580, 600, 60), 540, "... a later one does not");
    is_dbl(cp__htex_drain_after(0, 60, 60), 45, "a 1 min walltime keeps 3/4 of it for work");
    is_dbl(cp__htex_drain_after(0, 600, 0), 0, "walltime_margin 0 turns the rule off");
    is_dbl(cp__htex_drain_after(100, 0, 60), 100, "no walltime: drain_period alone");
    is_dbl(cp__htex_drain_after(0, 86400, 600), 85800, "a day, 10 min margin");
    return done_testing();
}
