#!/usr/bin/env bash
# Runs `troupe status` against a real supervised tree (samples:supervised_workers
# --hold, in a private run directory base) and checks what it prints against
# /proc: names, pids, parents, nesting, and restart counts that go up after a
# crash the test causes itself. It waits on the sample's own "started" line
# and polls `troupe status` until a condition holds, with a deadline; never
# on a fixed sleep. Prints "N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh"
troupe=$1
sample=$2
py=/usr/bin/python3


# Short: ipc:// paths must fit 107 bytes, and Bazel's TEST_TMPDIR is long.
base=$(mktemp -d /tmp/trst.XXXXXX)
export TROUPE_RUN_DIR=$base
log=$base.out
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$base" "$log"
}
trap cleanup EXIT

# ---- the command line, with nothing running ---------------------------------
out=$("$troupe" --help)
check "troupe --help exits 0 and lists status" "$?: $out" '^0: .*status'
out=$("$troupe" status --help)
check "troupe status --help exits 0" "$?: $out" '^0: usage: troupe status'
"$troupe" frobnicate >/dev/null 2>&1
check "an unknown command is a usage error" "$?" '^2$'
"$troupe" status --timeout x >/dev/null 2>&1
check "a bad --timeout is a usage error" "$?" '^2$'
"$troupe" status --dir "$base/none" >/dev/null 2>&1
check "--dir of no system is an error" "$?" '^1$'
out=$("$troupe" status 2>&1)
check "nothing running: exit 0 and says so" "$?: $out" '^0: no running troupe system$'

# ---- a tree ---------------------------------------------------------------------
"$sample" --hold --json >"$log" 2>&1 &
pid=$!
started() { grep -q '^top\[[0-9]*\] started' "$log"; }
if ! wait_for 30 started; then
    echo "FAILED: the sample did not start: $(cat "$log")"
    exit 1
fi
line=$(grep '^top\[' "$log")
top_pid=$(sed 's/^top\[\([0-9]*\)\].*/\1/' <<<"$line")
run_dir=$(sed 's/.*run directory //' <<<"$line")

ppid_of() { awk '{print $4}' "/proc/$1/stat" 2>/dev/null; }
comm_of() { cat "/proc/$1/comm" 2>/dev/null; }
# Field k (1: pid, 2: state, 3: restarts, 5...: last exit) after name's cell.
field() { awk -v n="$2" -v k="$3" '{for (i = 1; i < NF; i++) if ($i == n) {
    if (k == 5) {s = $(i+5); for (j = i+6; j <= NF; j++) s = s " " $j; print s}
    else print $(i+k); exit}}' <<<"$1"; }

out=$("$troupe" status)
check "status exits 0" "$?" '^0$'
check "the system and its root" "$out" "(^|
)system $run_dir \\(root pid $pid\\)
NAME +PID +STATE +RESTARTS +UPTIME +LAST EXIT
top +$top_pid +running +0 "
check "workers under top, aux last" "$out" "
├─ worker-1 .*
├─ worker-2 .*
├─ worker-3 .*
└─ aux "
check "aux's children nested under it" "$out" "
   ├─ feeder .*
   └─ chaos "
# Every pid is the process of that name, child of the right parent.
aux_pid=$(field "$out" aux 1)
for name in top worker-1 worker-2 worker-3 aux feeder chaos; do
    p=$(field "$out" $name 1)
    case $name in
    top) parent=$pid ;;
    feeder | chaos) parent=$aux_pid ;;
    *) parent=$top_pid ;;
    esac
    check "$name: pid $p is $name, child of $parent" "$(comm_of "$p") $(ppid_of "$p")" \
        "^$name $parent\$"
    check "$name: running, never restarted" "$(field "$out" $name 2) $(field "$out" $name 3)" \
        '^running 0$'
done
check "--dir gives the same tree" "$("$troupe" status --dir "$run_dir/" | tail -n +2 |
    awk '{print $1, $2, $3}' | sed -n '2,3p')" "^top $top_pid running
├─ worker-1 $(field "$out" worker-1 1)\$"

json_check='
import json, sys
def ppid(p): return int(open("/proc/%d/stat" % p).read().rsplit(")", 1)[1].split()[1])
def comm(p): return open("/proc/%d/comm" % p).read().strip()
doc = json.load(sys.stdin)
want_root, want_top = int(sys.argv[1]), int(sys.argv[2])
[system] = doc["systems"]
assert system["root_pid"] == want_root and system["root_alive"] is True, system
[top] = system["supervisors"]
assert (top["name"], top["pid"], top["strategy"]) == ("top", want_top, "one_for_one"), top
names = [c["name"] for c in top["children"]]
assert names == ["worker-1", "worker-2", "worker-3", "aux"], names
for c in top["children"]:
    assert comm(c["pid"]) == c["name"] and ppid(c["pid"]) == want_top, c
    assert c["state"] == "running" and c["restart"] == "permanent", c
    assert ("supervisor" in c) == (c["name"] == "aux"), c
aux = top["children"][3]["supervisor"]
assert aux["strategy"] == "rest_for_one" and aux["pid"] == top["children"][3]["pid"], aux
assert [c["name"] for c in aux["children"]] == ["feeder", "chaos"], aux
for c in aux["children"]:
    assert comm(c["pid"]) == c["name"] and ppid(c["pid"]) == aux["pid"], c
print(json.dumps({c["name"]: [c["restarts"], c["last_exit"]]
                  for c in top["children"] + aux["children"]}, sort_keys=True))
'
out=$("$troupe" status --json)
check "status --json exits 0" "$?" '^0$'
res=$("$py" -c "$json_check" "$pid" "$top_pid" <<<"$out" 2>&1)
check "status --json: the same tree, true to /proc" "$res" \
    '^\{"aux": \[0, null\], "chaos": \[0, null\], "feeder": \[0, null\], "worker-1": \[0, null\]'

# ---- crashes: restart counts go up -------------------------------------------------
# worker-2 aborts (as the sample's own crashes do): top restarts it alone.
w2=$("$py" -c 'import json,sys; d=json.load(sys.stdin); print([c["pid"] for c in
    d["systems"][0]["supervisors"][0]["children"] if c["name"] == "worker-2"][0])' <<<"$out")
kill -ABRT "$w2"
restarted() {
    out=$("$troupe" status) &&
        [ "$(field "$out" worker-2 3)" = 1 ] && [ "$(field "$out" worker-2 2)" = running ]
}
wait_for 20 restarted
check "worker-2 restarted once" "$(field "$out" worker-2 3) $(field "$out" worker-2 5)" \
    '^1 killed by SIGABRT$'
w2new=$(field "$out" worker-2 1)
check "worker-2 has a new pid, child of top" \
    "$([ "$w2new" != "$w2" ] && echo new) $(comm_of "$w2new") $(ppid_of "$w2new")" \
    "^new worker-2 $top_pid\$"
check "top counts the restart it made, others untouched" \
    "$(field "$out" top 3) $(field "$out" worker-1 3) $(field "$out" worker-3 3)" '^1 0 0$'

# feeder aborts: aux (rest_for_one) restarts it and, after it, chaos.
kill -ABRT "$(field "$out" feeder 1)"
aux_restarted() {
    out=$("$troupe" status) && [ "$(field "$out" aux 3)" = 1 ] &&
        [ "$(field "$out" chaos 3)" = 1 ] && [ "$(field "$out" chaos 2)" = running ]
}
wait_for 20 aux_restarted
check "feeder restarted after its crash" "$(field "$out" feeder 3) $(field "$out" feeder 5)" \
    '^1 killed by SIGABRT$'
check "chaos restarted with it (stopped by SIGTERM)" \
    "$(field "$out" chaos 3) $(field "$out" chaos 5)" '^1 killed by SIGTERM$'
res=$("$troupe" status --json | "$py" -c "$json_check" "$pid" "$top_pid" 2>&1)
check "status --json after the crashes" "$res" \
    '^\{"aux": \[0, null\], "chaos": \[1, -15\], "feeder": \[1, -6\], "worker-1": \[0, null\], "worker-2": \[1, -6\], "worker-3": \[0, null\]\}$'

# ---- a supervisor that does not answer ----------------------------------------------
aux_pid=$(field "$out" aux 1)
kill -STOP "$aux_pid"
out=$("$troupe" status --timeout 200)
rc=$?
kill -CONT "$aux_pid"
check "a stopped aux: exit 1, the rest still shown" "$rc: $out" \
    "^1: .*top +$top_pid .*worker-3 .*
└─ aux +$aux_pid .*
   \\(not answering: timed out\\)\$"
answering() { "$troupe" status >/dev/null; }
wait_for 20 answering
check "aux answers again once continued" "$?" '^0$'

# ---- the end ----------------------------------------------------------------------
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
check "the sample stops its tree on SIGTERM and exits 0" "$rc" '^0$'
check "its last line counts the crashes it ordered (none) and the restarts (3)" \
    "$(tail -n 1 "$log")" '^\{"seconds":[0-9.]+,"jobs":[0-9]+,"crashes":0,"restarts":3,"workers":3\}$'
out=$("$troupe" status --json 2>/dev/null)
check "nothing running any more" "$?: $out" '^0: \{"systems":\[\]\}$'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
