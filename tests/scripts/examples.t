#!/bin/bash
# Every example workflow under examples/workflows, run through parsl-run in a
# scratch copy, gives the result a scientist would expect; the expected values
# are computed here independently of the workflows.
# Env: CP_BUILD (build dir), CC, CP_TEST_TIMEOUT_MULTIPLIER (slow sanitizer builds).
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${CP_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUN=$BUILD/parsl-run
CC=${CC:-cc}
MULT=${CP_TEST_TIMEOUT_MULTIPLIER:-1}
export LC_ALL=C
unset CPARSL_TEMPLATE_PATH CPARSL_LOG_LEVEL

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -R examples/workflows "$tmp/wf"
X=$tmp/wf

secs() { awk -v s="$1" -v m="$MULT" 'BEGIN { printf "%g", s * m }'; }
prun() { timeout -k 5 "$(secs 300)" "$RUN" "$@"; }

n=0
report() {
    local st=$1 desc=$2 f
    shift 2
    n=$((n + 1))
    if [ "$st" = 0 ]; then
        echo "ok $n - $desc"
    else
        echo "not ok $n - $desc"
        for f in "$@"; do [ -f "$f" ] && sed 's/^/#   /' "$f" | head -n 40; done
    fi
}

known="failure pi sweep wordcount"
yamls=("$X"/*/*.yaml)
echo "1..$((21 + ${#yamls[@]}))"

# Every example is one this script runs, and every one passes --check.
extra=""
for d in "$X"/*/; do
    d=${d%/}
    case " $known " in *" ${d##*/} "*) ;; *) extra="$extra ${d##*/}" ;; esac
done
[ -z "$extra" ]
report $? "every example under examples/workflows is run here (not covered:${extra:- none})"

"$CC" -shared -fPIC -Iinclude -o "$X/pi/libpi.so" "$X/pi/libpi.c" 2>"$tmp/cc.err"
report $? "libpi.so builds with $CC" "$tmp/cc.err"

for y in "${yamls[@]}"; do
    rel=${y#"$X"/}
    (cd "${y%/*}" && prun --check "${y##*/}") >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" = 0 ] && [ ! -e "${y%/*}/runinfo" ]
    report $? "examples/workflows/$rel passes --check and writes nothing (exit $rc)" "$tmp/err"
done

# --- pi: map of native samples, native reduce, shell report -------------------------
(cd "$X/pi" && prun pi.yaml) >"$tmp/out" 2>"$tmp/pi.err"
rc=$?
report "$([ "$rc" = 0 ]; echo $?)" "pi: exits 0 (exit $rc)" "$tmp/pi.err"
est=$(sed -n 's/^pi is about \([0-9.]*\) .*/\1/p' "$X/pi/pi.txt" 2>/dev/null)
[ -n "$est" ] && awk -v e="$est" 'BEGIN { d = e - 3.14159; exit !(d < 0.05 && d > -0.05) }'
report $? "pi: pi.txt estimates pi within 0.05 (${est:-nothing}: $(cat "$X/pi/pi.txt" 2>/dev/null))"
grep -q "(16 samples of 200000 darts)" "$X/pi/pi.txt" 2>/dev/null &&
    [ "$(grep -c ' sample\[[0-9]*\] exec_done ' "$tmp/pi.err")" = 16 ]
report $? "pi: 16 sample tasks of 200000 darts each ran" "$tmp/pi.err"

# --- wordcount: split, count per part, merge ---------------------------------------
W=$X/wordcount
(cd "$W" && prun wordcount.yaml) >"$tmp/out" 2>"$tmp/wc.err"
rc=$?
report "$([ "$rc" = 0 ]; echo $?)" "wordcount: exits 0 (exit $rc)" "$tmp/wc.err"
# Words are runs of letters, lowercased; ties are broken by the word.
awk '{ s = tolower($0); gsub(/[^a-z]+/, " ", s); k = split(s, w, " ")
       for (i = 1; i <= k; i++) c[w[i]]++ }
     END { for (x in c) print c[x], x }' "$W/texts/workflows.txt" |
    sort -k1,1nr -k2,2 | head -n 15 >"$tmp/top.want"
[ "$(head -n 1 "$W/top-words.txt" 2>/dev/null)" = "25 the" ] &&
    [ "$(head -n 1 "$tmp/top.want")" = "25 the" ]
report $? "wordcount: the first line of top-words.txt is '25 the' (got: $(head -n 1 "$W/top-words.txt" 2>/dev/null))"
cmp -s "$tmp/top.want" "$W/top-words.txt"
report $? "wordcount: top-words.txt is the 15 most frequent words, as counted here" \
    "$tmp/top.want" "$W/top-words.txt"
cat "$W"/parts/part-*.txt 2>/dev/null | sort >"$tmp/parts"
sort "$W/texts/workflows.txt" >"$tmp/lines"
[ "$(ls "$W/parts" 2>/dev/null | wc -l)" = 4 ] && [ "$(ls "$W/counts" 2>/dev/null | wc -l)" = 4 ] &&
    cmp -s "$tmp/parts" "$tmp/lines" &&
    [ "$(cat "$W"/counts/part-*.txt | awk '{ s += $1 } END { print s + 0 }')" = \
      "$(awk '{ s = tolower($0); gsub(/[^a-z]+/, " ", s); t += split(s, w, " ") } END { print t + 0 }' \
         "$W/texts/workflows.txt")" ]
report $? "wordcount: 4 parts hold every line once, and the 4 counts add up to every word"

# --- sweep: product of parameters, then a table ------------------------------------
S=$X/sweep
(cd "$S" && prun sweep.yaml) >"$tmp/out" 2>"$tmp/sw.err"
rc=$?
report "$([ "$rc" = 0 ]; echo $?)" "sweep: exits 0 (exit $rc)" "$tmp/sw.err"
[ "$(head -n 1 "$S/sweep.txt" 2>/dev/null)" = "alpha n estimate abs_error" ] &&
    [ "$(wc -l <"$S/sweep.txt")" = 13 ]
report $? "sweep: sweep.txt has a header and 12 rows" "$S/sweep.txt"
for a in 0.5 1.5 2.5; do for k in 10 100 1000 10000; do echo "$a $k"; done; done | sort >"$tmp/pairs.want"
tail -n +2 "$S/sweep.txt" 2>/dev/null | awk '{ print $1, $2 }' | sort >"$tmp/pairs.got"
cmp -s "$tmp/pairs.want" "$tmp/pairs.got"
report $? "sweep: one row per (alpha, n) pair of the product" "$tmp/pairs.got"
# Each row: the midpoint rule for x^alpha on [0, 1], computed here, and its error.
tail -n +2 "$S/sweep.txt" 2>/dev/null | awk '
    { s = 0; for (i = 0; i < $2; i++) s += ((i + 0.5) / $2) ^ $1
      est = s / $2; err = est - 1 / ($1 + 1); if (err < 0) err = -err
      d = $3 - est; if (d < 0) d = -d
      r = $4 - err; if (r < 0) r = -r
      if (d > 1e-9 || r > 1e-3 * err + 1e-15) { print "bad row: " $0; bad = 1 } }
    END { exit bad }' >"$tmp/rows"
report $? "sweep: every estimate and error matches the midpoint rule computed here" "$tmp/rows"
tail -n +2 "$S/sweep.txt" 2>/dev/null | sort -k1,1g -k2,2n | awk '
    $1 == a && !($4 < e) { print "error does not decrease: " $0; bad = 1 }
    { a = $1; e = $4 }
    END { exit bad }' >"$tmp/dec"
report $? "sweep: for each alpha the error decreases as n grows" "$tmp/dec" "$S/sweep.txt"

# --- failure: a failing task, dep_fail downstream, an independent branch -------------
F=$X/failure
(cd "$F" && prun failure.yaml) >"$tmp/out" 2>"$tmp/fail.err"
rc=$?
report "$([ "$rc" = 1 ]; echo $?)" "failure: exits 1 (exit $rc)" "$tmp/fail.err"
grep -Eq '(^| )analyse dep_fail ' "$tmp/fail.err" && grep -Eq '(^| )plot dep_fail ' "$tmp/fail.err" &&
    grep -Eq '(^| )calibrate failed .*exit code 3' "$tmp/fail.err"
report $? "failure: calibrate fails with exit 3, analyse and plot end dep_fail" "$tmp/fail.err"
[ "$(grep -c ' calibrate running ' "$tmp/fail.err")" = 2 ]
report $? "failure: calibrate ran twice (retries: 1)" "$tmp/fail.err"
[ -f "$F/inventory.txt" ] && [ "$(tr -d ' ' <"$F/inventory.txt")" = 100 ] && [ -f "$F/data/raw.txt" ]
report $? "failure: the independent branch completes (inventory.txt counts 100 lines)"
[ ! -e "$F/data/analysis.txt" ] && [ ! -e "$F/plot.txt" ]
report $? "failure: data/analysis.txt and plot.txt are not written"
tail -n 1 "$tmp/fail.err" | grep -q "^failure-demo: 5 tasks: 2 done, 1 failed, 2 dep_fail"
report $? "failure: the summary counts 2 done, 1 failed, 2 dep_fail" "$tmp/fail.err"

# Each run left its log beside its workflow.
missing=""
for d in pi wordcount sweep failure; do
    [ -s "$X/$d/runinfo/000/parsl.log" ] || missing="$missing $d"
done
[ -z "$missing" ]
report $? "every run wrote runinfo/000/parsl.log beside its workflow (missing:${missing:- none})"
