# tests/lib.sh: what the script tests share. Source it; it defines:
#
#   passed, failed     the counts the script prints at its end as
#                      "N passed, N failed" (the line .ci/run counts)
#   check WHAT VALUE PATTERN
#                      counts VALUE matching the bash regex PATTERN as a
#                      pass, else as a failure, and prints "ok: WHAT" or
#                      "FAILED: WHAT: VALUE"
#   wait_for SECONDS COMMAND...
#                      runs COMMAND until it succeeds; returns 1 at the
#                      deadline. It polls a condition, it is not a sleep
#                      standing in for synchronisation.
passed=0
failed=0

check() {
    local what=$1 value=$2 pattern=$3
    if [[ $value =~ $pattern ]]; then
        passed=$((passed + 1))
        echo "ok: $what"
    else
        failed=$((failed + 1))
        echo "FAILED: $what: $value"
    fi
}

wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05 # a poll interval, not a synchronisation
    done
}
