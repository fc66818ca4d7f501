#!/usr/bin/env bash
# Runs the samples with --json and checks what they report: every message
# received exactly once, round trips measured. Prints "N passed, N failed".
set -u
pc=$1
pp=$2
dp=$3
passed=0
failed=0

check() {
    local what=$1 line=$2 pattern=$3
    if [[ $line =~ $pattern ]]; then
        passed=$((passed + 1))
        echo "ok: $what"
    else
        failed=$((failed + 1))
        echo "FAILED: $what: $line"
    fi
}

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

# Bad arguments are refused with a usage line, not a crash.
"$pc" --consumers 0 >/dev/null 2>&1
check "producer_consumer refuses --consumers 0" "$?" '^2$'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
