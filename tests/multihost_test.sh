#!/usr/bin/env bash
# A multi-host run on one machine: three network namespaces stand for three
# hosts, joined by veth links, each with its own network stack.
#
#   broker host  10.231.1.1/30 --- 10.231.1.2/30  worker host 1 (2 workers)
#                10.231.2.1/30 --- 10.231.2.2/30  worker host 2 (2 workers,
#                                                 and an intruder)
#
# The broker (CURVE on tcp, bound on both links and on the broker host's
# loopback for the producer) and the producer run on the broker host.
# When the producer has about a third of its results, worker host 1 dies:
# its link goes down, then every process in its namespace gets SIGKILL, so
# the broker hears nothing more from it (no FIN, no RST) and finds out by
# heartbeat. Checks: no task lost, every index answered, duplicates no more
# than the tasks worker host 1 could hold at the kill (prefetch x its
# workers); the intruder, whose key is not in the allowed directory, is
# refused (TR-WORK-DENIED in the broker's log) and runs nothing. Keys come
# from `troupe keygen`: broker, producer, w1, w2 (allowed) and intruder.
#
# Needs root (network namespaces), so .ci/run runs it outside Bazel;
# anyone else gets a skip line and exit 0. Everything it makes (namespaces,
# links, processes, files) goes in its EXIT trap. Prints "N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "multihost_test: skipped: network namespaces need root"
    exit 0
fi

TASKS=20000
WORK_US=500     # busy work per task: a run of several seconds on 2 cores
PREFETCH=8
PER_HOST=2      # workers per worker host
PORT=5670

# ---- binaries ----------------------------------------------------------------
if ! build=$(./bazelw build //samples:distributed_work //tools:troupe 2>&1); then
    printf '%s\n' "$build" | tail -n 20
    check "build //samples:distributed_work //tools:troupe" "failed" '^ok$'
    echo "$passed passed, $failed failed"
    exit 1
fi
# Copied out of bazel-bin, which another build may repoint meanwhile.
tmp=$(mktemp -d /tmp/trmh.XXXXXX)
cp bazel-bin/samples/distributed_work bazel-bin/tools/troupe "$tmp/"
dw=$tmp/distributed_work
troupe=$tmp/troupe

# ---- the hosts -----------------------------------------------------------------
# Names carry our pid, so that two runs do not meet; interface names stay
# within 15 characters.
tag=$$
nb=trmh-$tag-b
n1=trmh-$tag-w1
n2=trmh-$tag-w2
pids=()
cleanup() {
    local ns
    exec 2>/dev/null # best effort, and no job notices for what it kills
    for ns in "$n1" "$n2" "$nb"; do
        ip netns pids "$ns" | xargs -r kill -KILL
    done
    for p in "${pids[@]}"; do kill -KILL "$p"; done
    wait
    for ns in "$n1" "$n2" "$nb"; do
        ip netns del "$ns" # takes its ends of the links along
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setup() {
    ip netns add "$nb" && ip netns add "$n1" && ip netns add "$n2" || return 1
    local i ns
    for i in 1 2; do
        ns=$n1
        [ "$i" -eq 2 ] && ns=$n2
        ip link add "tb$i-$tag" netns "$nb" type veth peer name "tw$i-$tag" netns "$ns" &&
            ip -n "$nb" addr add "10.231.$i.1/30" dev "tb$i-$tag" &&
            ip -n "$ns" addr add "10.231.$i.2/30" dev "tw$i-$tag" &&
            ip -n "$nb" link set "tb$i-$tag" up &&
            ip -n "$ns" link set "tw$i-$tag" up &&
            ip -n "$ns" link set lo up || return 1
    done
    ip -n "$nb" link set lo up
}
setup
check "three namespaces joined by two veth links" "$?" '^0$'

# ---- keys ------------------------------------------------------------------------
keys=$tmp/keys
allowed=$tmp/allowed
mkdir -p "$keys" "$allowed"
ok=0
for k in broker producer w1 w2 intruder; do
    "$troupe" keygen "$k" --dir "$keys" >/dev/null || ok=1
done
cp "$keys/producer.pub" "$keys/w1.pub" "$keys/w2.pub" "$allowed/" || ok=1
check "troupe keygen: broker, producer, w1, w2, intruder (intruder not allowed)" "$ok" '^0$'

# ---- the run ----------------------------------------------------------------------
# The broker logs at info: joins and losses show in its log.
ip netns exec "$nb" env TROUPE_LOG_LEVEL=info "$dw" --role broker --json \
    --bind "tcp://10.231.1.1:$PORT,tcp://10.231.2.1:$PORT,tcp://127.0.0.1:$PORT" \
    --key "$keys/broker.key" --allowed "$allowed" \
    >"$tmp/broker.out" 2>"$tmp/broker.err" &
broker=$!
pids+=("$broker")
listening() {
    [ "$(ip netns exec "$nb" ss -Hltn "sport = :$PORT" | wc -l)" -ge 3 ]
}
wait_for 10 listening
check "the broker listens on its three endpoints" "$?" '^0$'
# tcp_open NS ADDR: a TCP connection from NS to ADDR:PORT opens (and closes
# at once; the broker drops a peer that never speaks ZMTP).
tcp_open() {
    ip netns exec "$1" timeout 2 bash -c "exec 3<>/dev/tcp/$2/$PORT" 2>/dev/null
}
tcp_open "$n1" 10.231.1.1
check "worker host 1 reaches the broker host" "$?" '^0$'
tcp_open "$n2" 10.231.2.1
check "worker host 2 reaches the broker host" "$?" '^0$'
tcp_open "$n1" 10.231.2.1
check "worker host 1 has no route to worker host 2's link" "$?" '^[1-9]'

start_worker() { # NS HOST INDEX KEY EXTRA...
    local ns=$1 h=$2 i=$3 key=$4
    shift 4
    ip netns exec "$ns" "$dw" --role worker --connect "tcp://10.231.$h.1:$PORT" \
        --key "$keys/$key.key" --broker-key "$keys/broker.pub" \
        --work-us "$WORK_US" --prefetch "$PREFETCH" --json "$@" \
        >"$tmp/w$h-$i.out" 2>"$tmp/w$h-$i.err" &
    pids+=("$!")
    # Host 1's die by SIGKILL: no job notice from bash for them.
    if [ "$h" -eq 1 ]; then disown "$!"; fi
}
for i in $(seq 1 "$PER_HOST"); do
    start_worker "$n1" 1 "$i" w1
    # Host 2's workers leave once idle, to report what they ran.
    start_worker "$n2" 2 "$i" w2 --idle-exit 4000
done
# The intruder has a key pair of its own and the broker's public key: all a
# stranger could have. Its idle exit also ends a wait for a welcome.
ip netns exec "$n2" "$dw" --role worker --connect "tcp://10.231.2.1:$PORT" \
    --key "$keys/intruder.key" --broker-key "$keys/broker.pub" --idle-exit 3000 --json \
    >"$tmp/intruder.out" 2>"$tmp/intruder.err" &
intruder=$!
pids+=("$intruder")

joined() {
    [ "$(grep -c 'TR-WORK-WORKER .* joined' "$tmp/broker.err")" -ge $((2 * PER_HOST)) ]
}
wait_for 10 joined
check "$((2 * PER_HOST)) workers joined the broker" \
    "$(grep -c 'TR-WORK-WORKER .* joined' "$tmp/broker.err")" "^$((2 * PER_HOST))\$"

t0=$SECONDS
ip netns exec "$nb" "$dw" --role producer --connect "tcp://127.0.0.1:$PORT" \
    --key "$keys/producer.key" --broker-key "$keys/broker.pub" \
    --tasks "$TASKS" --deadline 60 --progress --json \
    >"$tmp/producer.out" 2>"$tmp/producer.err" &
producer=$!
pids+=("$producer")

# The kill, once the producer's progress line shows a third of the results.
progress() {
    sed -n 's/^progress: \([0-9]*\) of .*/\1/p' "$tmp/producer.err" | tail -n 1
}
third() {
    local r
    r=$(progress)
    [ -n "$r" ] && [ "$r" -ge $((TASKS / 3)) ] || ! kill -0 "$producer" 2>/dev/null
}
wait_for 30 third
at_kill=$(progress)
kill -0 "$producer" 2>/dev/null
check "the producer was still running at the kill ($at_kill of $TASKS results)" \
    "$?: ${at_kill:-none}" '^0: [0-9]+$'
ip -n "$n1" link set "tw1-$tag" down
victims=$(ip netns pids "$n1" | wc -l)
ip netns pids "$n1" | xargs -r kill -KILL
check "worker host 1: link down, then SIGKILL to its $victims processes" \
    "$victims" "^$PER_HOST\$"

wait "$producer"
prc=$?
elapsed=$((SECONDS - t0))
result=$(tail -n 1 "$tmp/producer.out")
echo "producer: $result"
check "the producer exits 0" "$prc" '^0$'
want="^\\{\"submitted\":$TASKS,\"results\":$TASKS,\"lost\":0,\"duplicates\":[0-9]+,"
check "the producer's counts: nothing lost, each task answered" "$result" \
    "$want\"seconds\":[0-9.]+,\"tasks_per_s\":[0-9]+\\}\$"
dups=$(sed -n 's/.*"duplicates":\([0-9]*\).*/\1/p' <<<"$result")
bound=$((PREFETCH * PER_HOST))
echo "duplicates: ${dups:-?}; in flight on worker host 1 at the kill: at most $bound" \
    "(prefetch $PREFETCH x $PER_HOST workers)"
check "duplicates <= prefetch x workers killed" "$((${dups:-999999} <= bound))" '^1$'
grep 'TR-WORK-LOST' "$tmp/broker.err" | sed 's/^/broker: /'
check "the broker declared worker host 1's $PER_HOST workers lost" \
    "$(grep -c 'TR-WORK-LOST' "$tmp/broker.err")" "^$PER_HOST\$"

# The intruder gives up by itself: idle exit without a welcome.
intruder_gone() { ! kill -0 "$intruder" 2>/dev/null; }
wait_for 15 intruder_gone
wait "$intruder"
check "the intruder exits 1 (never welcomed)" "$?" '^1$'
check "the intruder ran no task and was not welcomed" "$(tail -n 1 "$tmp/intruder.out")" \
    '^\{"tasks":0,"failed":0,"reconnects":[0-9]+,"refused":0,"welcomed":false\}$'
intruder_key=$(sed -n 's/^public = //p' "$keys/intruder.pub")
check "the broker's log shows TR-WORK-DENIED for the intruder's key" \
    "$(grep 'TR-WORK-DENIED' "$tmp/broker.err" | grep -cF "key $intruder_key")" \
    '^[1-9][0-9]*$'

# Host 2's workers leave once idle and report; then the broker is stopped.
w2tasks=0
for i in $(seq 1 "$PER_HOST"); do
    reported() { grep -q . "$tmp/w2-$i.out"; }
    wait_for 15 reported
    line=$(tail -n 1 "$tmp/w2-$i.out")
    check "worker 2-$i reports, welcomed" "$line" '^\{"tasks":[0-9]+,.*"welcomed":true\}$'
    n=$(sed -n 's/^{"tasks":\([0-9]*\),.*/\1/p' <<<"$line")
    w2tasks=$((w2tasks + ${n:-0}))
done
check "worker host 2 ran tasks ($w2tasks)" "$w2tasks" '^[1-9][0-9]*$'
kill -TERM "$broker"
broker_gone() { ! kill -0 "$broker" 2>/dev/null; }
wait_for 10 broker_gone
wait "$broker"
check "the broker stops on SIGTERM, exit 0" "$?" '^0$'
stats=$(tail -n 1 "$tmp/broker.out")
echo "broker: $stats"
check "the broker counted host 1's workers lost and the intruder denied" "$stats" \
    "\"workers_lost\":$PER_HOST,\"denied\":[1-9][0-9]*\\}\$"

echo "time: ${elapsed}s for $TASKS tasks (kill at ${at_kill:-?} results)"
if [ "$failed" -gt 0 ]; then
    for f in "$tmp"/*.err "$tmp"/*.out; do
        echo "--- $(basename "$f") (last lines)"
        tail -n 5 "$f"
    done
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
