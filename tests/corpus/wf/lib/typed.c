/* tests/corpus/wf/lib/typed.c — native apps with parameters of every type, for
 * workflow type checks (tests/corpus/wf/type_*.yaml, tests/unit/wf_load.c).
 * Built as lib/typed.so next to the workflow files that name it. */
#include <cparsl.h>
#include <string.h>

CP_APP(long, add_long, (long, a), (long, b)) { return a + b; }
CP_APP(int, twice_int, (int, n)) { return 2 * n; }
CP_APP(double, scale, (double, x), (double, f)) { return x * f; }
CP_APP(bool, negate, (bool, b)) { return !b; }
CP_APP(const char *, echo_str, (const char *, s)) { return s; }
CP_APP(long, str_len, (cp_bytes, b)) { return (long)b.len; }
CP_APP(const char *, file_path, (cp_file *, f)) { return cp_file_path(f); }
CP_APP(long, count_items, (const cp_value *, xs)) { return (long)cp_value_list_len(xs); }
CP_APP(double, mean, (const cp_value *, xs))
{
    size_t n = cp_value_list_len(xs);
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += cp_value_double(cp_value_list_at(xs, i));
    return n ? s / (double)n : 0;
}
CP_APP(long, area, (long, w), (long, h)) { return w * h; }
CP_SHELL_APP(shell_echo, (const char *, s)) { return cp_fmt("echo %s", cp_q(s)); }
