#!/bin/bash
# The program in README.md compiles against the built library and prints what it
# says, so the README cannot drift from the API.
cd "$(dirname "$0")/../.." || exit 1
BUILD=${CP_BUILD:-build}
CC=${CC:-cc}
echo "1..3"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk '/^```c$/{f=1;next} /^```$/{f=0} f' README.md > "$tmp/prog.c"
san=""
[ -n "${CP_SAN:-}" ] && san="-fsanitize=$CP_SAN -fno-sanitize-recover=all"
# shellcheck disable=SC2046,SC2086
if $CC -std=gnu11 -Wall -Wextra -Werror $san -Iinclude "$tmp/prog.c" "$BUILD/libcparsl.a" \
       $(pkg-config --libs libuv msgpack libsodium yaml-0.1 sqlite3 libssh jansson) -pthread -ldl -lm -o "$tmp/prog" 2>"$tmp/cc.err"; then
    echo "ok 1 - the README program compiles with -Wall -Wextra -Werror"
else
    echo "not ok 1 - the README program compiles"; sed 's/^/# /' "$tmp/cc.err"
fi
out=$(cd "$tmp" && ./prog 2>&1)
rc=$?
if [ "$rc" = 0 ] && [ "$out" = "fib(20) = 6765" ]; then
    echo "ok 2 - it prints fib(20) = 6765 and exits 0"
else
    echo "not ok 2 - it prints fib(20) = 6765 and exits 0 (rc $rc)"; printf '%s\n' "$out" | sed 's/^/# /'
fi
if [ "$(cat "$tmp/hi.txt" 2>/dev/null)" = "hello ada" ]; then
    echo "ok 3 - the shell app wrote hi.txt"
else
    echo "not ok 3 - the shell app wrote hi.txt"
fi
