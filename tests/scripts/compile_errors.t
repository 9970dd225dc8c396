#!/usr/bin/env bash
# Compile-time checks of cparsl.h's app macros, as TAP: a wrong argument count in
# cp_call and an unsupported parameter type are compile errors; correct apps of 0
# and 8 parameters and nested calls compile. Run with $CC (default cc), then with
# clang when it is installed. Compiles only; nothing is linked or run.
set -u
cd "$(dirname "$0")/../.." || { echo "1..0 # SKIP cannot find the repository root"; exit 0; }
ROOT=$PWD
CC=${CC:-cc}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cparsl-compile-XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

n=0
failed=0
FLAGS=(-std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers -pthread -I"$ROOT/include")

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
    n=$((n + 1)); failed=$((failed + 1))
    echo "not ok $n - $1"
    [ -s "$TMP/err" ] && sed -e 's/^/#   /' "$TMP/err" | head -n 12
}

# The apps every snippet can call.
cat > "$TMP/apps.h" <<'EOF'
#include <cparsl.h>
struct foo { int x; };
CP_APP(long, answer) { return 42; }
CP_APP(long, add, (long, a), (long, b)) { return a + b; }
CP_APP(long, eight, (long, a), (long, b), (long, c), (long, d), (long, e), (long, f),
       (long, g), (long, h))
{
    return a + b + c + d + e + f + g + h;
}
CP_SHELL_APP(nothing) { return cp_fmt("true"); }
CP_JOIN_APP(join0) { return cp_call(answer); }
EOF

# compile CC NAME [EXTRA FLAGS...] < source: 0 when it compiled; stderr in $TMP/err.
compile() {
    local cc=$1 name=$2
    shift 2
    cat > "$TMP/$name.c"
    rm -f "$TMP/$name.o"
    "$cc" "${FLAGS[@]}" "$@" -I"$TMP" -c "$TMP/$name.c" -o "$TMP/$name.o" 2> "$TMP/err"
}

# should_compile CC DESCRIPTION NAME [FLAGS...] < source
should_compile() {
    local cc=$1 what=$2 name=$3
    shift 3
    if compile "$cc" "$name" "$@" && [ -s "$TMP/$name.o" ]; then
        pass "$cc: $what"
    else
        fail "$cc: $what"
    fi
}

# should_fail CC DESCRIPTION NAME MESSAGE < source: must not compile; when MESSAGE
# is not empty, the compiler's errors must contain it.
should_fail() {
    local cc=$1 what=$2 name=$3 msg=$4
    if compile "$cc" "$name"; then
        fail "$cc: $what (it compiled)"
    elif [ -n "$msg" ] && ! grep -qF -- "$msg" "$TMP/err"; then
        fail "$cc: $what (no \"$msg\" in the errors)"
    else
        pass "$cc: $what"
    fi
}

suite() {
    local cc=$1

    # A control: the harness itself works with this compiler.
    should_compile "$cc" "0-parameter, 8-parameter, shell and join apps compile" good <<'EOF'
#include "apps.h"
int main(void)
{
    cp_future *z = cp_call(answer);
    cp_future *e = cp_call(eight, 1, 2, 3, 4, 5, 6, 7, 8);
    cp_future *s = cp_call(nothing);
    cp_future *j = cp_call(join0);
    long sum = cp_future_int(z) + cp_future_int(e) + cp_future_int(s) + cp_future_int(j);
    cp_future_release(z);
    cp_future_release(e);
    cp_future_release(s);
    cp_future_release(j);
    return (int)(sum & 1);
}
EOF

    should_compile "$cc" "nested cp_call inside cp_call (and cp_call_opts with CP_OPTS commas)" nested <<'EOF'
#include "apps.h"
int main(void)
{
    cp_future *f = cp_call(add, cp_call(add, 1, cp_call(answer)), cp_call(add, 2, 3));
    cp_future *g = cp_call_opts(add, CP_OPTS(.walltime = 5, .priority = -1, .retries = CP_NONE),
                                cp_call(eight, 1, 2, 3, 4, 5, 6, 7, cp_call(answer)),
                                cp_call_opts(add, CP_OPTS(.priority = 2, .cores = 1), 1, 2));
    cp_future_release(f);
    cp_future_release(g);
    return 0;
}
EOF

    should_fail "$cc" "cp_call with too few arguments" few "wrong number of arguments for app" <<'EOF'
#include "apps.h"
int main(void) { cp_future_release(cp_call(add, 1)); return 0; }
EOF

    should_fail "$cc" "cp_call with too many arguments" many "wrong number of arguments for app" <<'EOF'
#include "apps.h"
int main(void) { cp_future_release(cp_call(add, 1, 2, 3)); return 0; }
EOF

    should_fail "$cc" "cp_call with an argument for a 0-parameter app" zero_many \
        "wrong number of arguments for app" <<'EOF'
#include "apps.h"
int main(void) { cp_future_release(cp_call(answer, 1)); return 0; }
EOF

    should_fail "$cc" "cp_call with no argument for an 8-parameter app" eight_none \
        "wrong number of arguments for app" <<'EOF'
#include "apps.h"
int main(void) { cp_future_release(cp_call(eight)); return 0; }
EOF

    should_fail "$cc" "cp_call with 9 arguments for an 8-parameter app" nine \
        "wrong number of arguments for app" <<'EOF'
#include "apps.h"
int main(void) { cp_future_release(cp_call(eight, 1, 2, 3, 4, 5, 6, 7, 8, 9)); return 0; }
EOF

    should_fail "$cc" "a wrong count in a nested cp_call" nested_few \
        "wrong number of arguments for app" <<'EOF'
#include "apps.h"
int main(void) { cp_future_release(cp_call(add, cp_call(add, 1), 2)); return 0; }
EOF

    should_fail "$cc" "cp_call_opts with too few arguments" opts_few \
        "wrong number of arguments for app" <<'EOF'
#include "apps.h"
int main(void) { cp_future_release(cp_call_opts(add, CP_OPTS(.priority = 1), 1)); return 0; }
EOF

    should_fail "$cc" "a wrong count through CP_APP_EXTERN" extern_few \
        "wrong number of arguments for app" <<'EOF'
#include <cparsl.h>
CP_APP_EXTERN(remote_add, 2);
int main(void) { cp_future_release(cp_call(remote_add, 1)); return 0; }
EOF

    # Parameter and result types: the same app with each supported type compiles,
    # and with each unsupported one does not.
    local t
    for t in "long" "int" "double" "bool" "const char *" "cp_bytes" "cp_file *" \
             "const cp_value *"; do
        should_compile "$cc" "supported parameter type ($t, x)" t_good <<EOF
#include <cparsl.h>
struct foo { int x; };
CP_APP(long, typed, ($t, x)) { (void)x; return 1; }
EOF
    done
    for t in "float" "struct foo" "char *" "unsigned" "long long" "short" "void *" \
             "cp_value *" "cp_future *"; do
        should_fail "$cc" "unsupported parameter type ($t, x)" t_bad "" <<EOF
#include <cparsl.h>
struct foo { int x; };
CP_APP(long, typed, ($t, x)) { (void)x; return 1; }
EOF
    done
    should_fail "$cc" "unsupported result type float" r_float "" <<'EOF'
#include <cparsl.h>
CP_APP(float, bad, (double, x)) { return (float)x; }
EOF
    should_fail "$cc" "unsupported parameter type among 8" t_bad8 "" <<'EOF'
#include <cparsl.h>
struct foo { int x; };
CP_APP(long, bad8, (long, a), (long, b), (long, c), (long, d), (long, e), (long, f),
       (long, g), (struct foo, h))
{
    return a + b + c + d + e + f + g + h.x;
}
EOF
    should_fail "$cc" "an argument of an unsupported C type (a struct) in cp_call" a_struct "" <<'EOF'
#include "apps.h"
int main(void) { struct foo x = {1}; cp_future_release(cp_call(add, x, 1)); return 0; }
EOF
    should_fail "$cc" "an argument of an unsupported C type (long *) in cp_call" a_ptr "" <<'EOF'
#include "apps.h"
int main(void) { long x = 1; cp_future_release(cp_call(add, &x, 1)); return 0; }
EOF

    # Plain ISO modes: users often build with -std=c11 or -std=c99.
    should_compile "$cc" "an app with parameters compiles with -std=c11" iso_params -std=c11 <<'EOF'
#include <cparsl.h>
CP_APP(long, add, (long, a), (long, b)) { return a + b; }
long use(void) { cp_future *f = cp_call(add, cp_call(add, 1, 2), 3); long v = cp_future_int(f); cp_future_release(f); return v; }
EOF
    should_compile "$cc" "a 0-parameter app compiles with -std=c11" iso_zero -std=c11 <<'EOF'
#include <cparsl.h>
CP_APP(long, answer) { return 42; }
long use(void) { cp_future *f = cp_call(answer); long v = cp_future_int(f); cp_future_release(f); return v; }
EOF
}

if command -v "$CC" > /dev/null 2>&1; then
    suite "$CC"
else
    n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - compiler '$CC' not found"
fi
cc_id=$("$CC" --version 2>/dev/null | head -n 1)
if command -v clang > /dev/null 2>&1; then
    case $cc_id in
        *clang*) echo "# $CC is clang already" ;;
        *) suite clang ;;
    esac
else
    n=$((n + 1)); echo "ok $n # SKIP clang is not installed"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
