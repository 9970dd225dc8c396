#!/bin/bash
# make install PREFIX=… DESTDIR=… installs a library, header and cparsl.pc that a
# program can build against through pkg-config alone.
cd "$(dirname "$0")/../.." || exit 1
BUILD=${CP_BUILD:-build}
CC=${CC:-cc}
echo "1..4"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
san=""
[ -n "${CP_SAN:-}" ] && san="SAN=$CP_SAN"
if make -s $san install PREFIX=/opt/cparsl DESTDIR="$tmp/root" >"$tmp/make.out" 2>&1; then
    echo "ok 1 - make install into DESTDIR"
else
    echo "not ok 1 - make install into DESTDIR"; sed 's/^/# /' "$tmp/make.out"
fi
root="$tmp/root/opt/cparsl"
if [ -f "$root/include/cparsl.h" ] && [ -f "$root/lib/libcparsl.a" ] &&
   [ -f "$root/lib/libcparsl.so.0" ] && [ -f "$root/lib/pkgconfig/cparsl.pc" ]; then
    echo "ok 2 - header, static and shared library, cparsl.pc installed"
else
    echo "not ok 2 - installed files"; find "$tmp/root" | sed 's/^/# /'
fi
cat > "$tmp/p.c" <<'C'
#include <cparsl.h>
#include <stdio.h>
CP_APP(long, twice, (long, x)) { return 2 * x; }
int main(void) {
    if (cp_load(NULL) != 0) return 2;
    cp_future *f = cp_call(twice, 21);
    printf("%ld\n", cp_future_int(f));
    cp_future_release(f);
    return cp_shutdown();
}
C
export PKG_CONFIG_PATH="$root/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$tmp/root"
flags=$(pkg-config --cflags cparsl) && libs=$(pkg-config --libs --static cparsl)
sanflags=""
[ -n "$san" ] && sanflags="-fsanitize=$CP_SAN"
# shellcheck disable=SC2086
if $CC $sanflags $flags "$tmp/p.c" -o "$tmp/p" -Wl,-Bstatic $libs -Wl,-Bdynamic \
       $(pkg-config --libs libuv msgpack libsodium yaml-0.1 sqlite3 libssh jansson) -pthread -ldl -lm 2>"$tmp/cc.err" ||
   $CC $sanflags $flags "$tmp/p.c" -o "$tmp/p" "$root/lib/libcparsl.a" \
       $(pkg-config --libs libuv msgpack libsodium yaml-0.1 sqlite3 libssh jansson) -pthread -ldl -lm 2>>"$tmp/cc.err"; then
    echo "ok 3 - a program builds with pkg-config --cflags/--libs cparsl"
else
    echo "not ok 3 - a program builds with pkg-config"; sed 's/^/# /' "$tmp/cc.err"
fi
out=$(cd "$tmp" && ./p 2>&1)
if [ "$out" = "42" ]; then echo "ok 4 - and runs"; else echo "not ok 4 - and runs: $out"; fi
