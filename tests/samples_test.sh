#!/usr/bin/env bash
# Runs the samples with --json and checks what they report: every message
# received exactly once, round trips measured, crashes answered by restarts,
# every task of the work queue answered.
# Prints "N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh"
pc=$1
pp=$2
dp=$3
sw=$4
sg=$5
dw=$6

# The default run, and the shapes the issue names: 1 and 8 consumers.
for args in "" "--consumers 1 --messages 20000" "--consumers 8 --messages 50000 --size 256"; do
    out=$("$pc" --json $args 2>&1)
    rc=$?
    last=$(printf '%s\n' "$out" | tail -n 1)
    check "producer_consumer $args exits 0" "$rc" '^0$'
    check "producer_consumer $args counts" "$last" \
        '^\{"sent":([0-9]+),"received":\1,"lost":0,"duplicates":0,"per_consumer":\[[0-9,]+\],"seconds":[0-9.]+,"msgs_per_s":[0-9]+\}$'
done

out=$("$pp" --json --rounds 2000 2>&1)
rc=$?
check "pipe_pingpong exits 0" "$rc" '^0$'
check "pipe_pingpong reports" "$(printf '%s\n' "$out" | tail -n 1)" \
    '^\{"rounds":2000,"size":64,"p50_us":[0-9.]+,"p99_us":[0-9.]+\}$'

# A behaviour dispatching on two types; one invalid message refused.
out=$("$dp" --adds 500 2>&1)
rc=$?
check "dispatch exits 0" "$rc" '^0$'
check "dispatch totals" "$out" 'total 125250 \(expected 125250\), 501 messages decoded, 1 refused'
check "dispatch logs the refusal" "$out" 'TR-CODEC-REJECT .*wrong number of frames'

# Workers crash on purpose about every 100 ms: the crashes are counted by
# the workers as they happen, the restarts read from both supervisors once
# every crashed worker has been replaced, so each crash shows as a restart.
out=$("$sw" --crash-every 100 --seconds 2 --json 2>&1)
rc=$?
last=$(printf '%s\n' "$out" | tail -n 1)
check "supervised_workers exits 0" "$rc" '^0$'
check "supervised_workers reports" "$last" \
    '^\{"seconds":[0-9.]+,"jobs":[0-9]+,"crashes":[0-9]+,"restarts":[0-9]+,"workers":3\}$'
if [[ $last =~ \"jobs\":([0-9]+),\"crashes\":([0-9]+),\"restarts\":([0-9]+) ]]; then
    jobs=${BASH_REMATCH[1]} crashes=${BASH_REMATCH[2]} restarts=${BASH_REMATCH[3]}
    check "supervised_workers crashed, restarted each, kept working" \
        "$((crashes >= 1 && restarts >= crashes && jobs >= 1)): $last" '^1: '
fi
out=$("$sw" --seconds 1 --json 2>&1)
check "supervised_workers without crashes: none counted, none restarted" \
    "$(printf '%s\n' "$out" | tail -n 1)" '"crashes":0,"restarts":0,"workers":3\}$'

# An event as a start gate: every worker woke after the set, each reported
# once, and the worker started after the set did not wait for another.
out=$("$sg" --workers 8 --delay-ms 50 --json 2>&1)
rc=$?
last=$(printf '%s\n' "$out" | tail -n 1)
check "start_gate exits 0" "$rc" '^0$'
check "start_gate reports 8 wake-ups, none failed" "$last" \
    '^\{"workers":8,"delay_ms":50,"latencies_us":\[[0-9.]+(,[0-9.]+){7}\],"max_us":[0-9.]+,"set_us":[0-9.]+,"late_wait_us":[0-9.]+,"failed":0\}$'
if [[ $last =~ \"late_wait_us\":([0-9]+) ]]; then
    check "start_gate's late worker passed at once (under a second)" \
        "${BASH_REMATCH[1]}" '^[0-9]{1,6}$'
fi

# A broker, 3 workers and a producer on this host: every task answered
# with a result that checks out against it (results counts distinct task
# indexes), nothing lost. Duplicates are allowed (at least once) but none
# is expected without a worker dying.
out=$("$dw" --json 2>&1)
rc=$?
last=$(printf '%s\n' "$out" | tail -n 1)
check "distributed_work exits 0" "$rc" '^0$'
check "distributed_work: every task answered, none lost" "$last" \
    '^\{"submitted":([0-9]+),"results":\1,"lost":0,"duplicates":[0-9]+,"seconds":[0-9.]+,"tasks_per_s":[0-9]+\}$'
check "distributed_work submitted its 10000 tasks" "$last" '^\{"submitted":10000,'

# Bad arguments are refused with a usage line, not a crash.
"$pc" --consumers 0 >/dev/null 2>&1
check "producer_consumer refuses --consumers 0" "$?" '^2$'
"$sw" --workers 0 >/dev/null 2>&1
check "supervised_workers refuses --workers 0" "$?" '^2$'
"$sg" --workers 0 >/dev/null 2>&1
check "start_gate refuses --workers 0" "$?" '^2$'
"$dw" --role worker >/dev/null 2>&1
check "distributed_work refuses a worker without --connect" "$?" '^2$'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
