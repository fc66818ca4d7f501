# bench/lib.sh: what the bench/run_*.sh drivers share. Source it from the
# repository root; it defines:
#
#   bench_setup NAME   builds //bench:NAME with -c opt and copies the binary
#                      to a temporary directory $tmp (removed at exit), so
#                      that a later build switching bazel-bin cannot change
#                      it mid-run; prints the machine and commit to stderr.
#   bench_rounds R     runs R rounds of the C program ($tmp/NAME with the
#                      array c_args) and the Python one (bench/NAME.py with
#                      py_args), each unpinned and under taskset -c 0, in an
#                      order that rotates per round. Every JSON line that
#                      names a variant is tagged with its round and pinning
#                      ("none" or "cpu0") and appended to $tmp/raw.jsonl
#                      (and echoed to stderr) for the driver to summarise.
#                      Without a bench/NAME.py, only the C program runs.

python=/usr/bin/python3

bench_setup() {
    bench_name=$1
    command -v taskset >/dev/null ||
        { echo "run_$bench_name: taskset (util-linux) is missing" >&2; exit 1; }
    ./bazelw build -c opt "//bench:$bench_name" >&2
    tmp=$(mktemp -d "/tmp/run_$bench_name.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    cp "bazel-bin/bench/$bench_name" "$tmp/$bench_name"
    echo "# $(nproc) CPUs, kernel $(uname -r), $($python --version 2>&1)" >&2
    echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- core bench 2>/dev/null || echo ' (core/ or bench/ modified)')" >&2
}

# bench_tag ROUND PIN CMD...: runs CMD and tags each variant line it prints.
bench_tag() {
    local round=$1 pin=$2
    shift 2
    "$@" | { grep '"variant"' || true; } |
        sed "s/^{/{\"round\":$round,\"pin\":\"$pin\",/" | tee -a "$tmp/raw.jsonl" >&2
}

bench_rounds() {
    local rounds=$1 r k step pin
    local steps=(none:c none:py cpu0:c cpu0:py)
    # A benchmark without a Python counterpart runs the C program alone.
    [ -e "bench/$bench_name.py" ] || steps=(none:c cpu0:c)
    for ((r = 0; r < rounds; r++)); do
        for ((k = 0; k < ${#steps[@]}; k++)); do
            step=${steps[(r + k) % ${#steps[@]}]}
            pin=${step%%:*}
            local cmd=()
            [ "$pin" = cpu0 ] && cmd=(taskset -c 0)
            if [ "${step#*:}" = c ]; then
                cmd+=("$tmp/$bench_name" "${c_args[@]}")
            else
                cmd+=("$python" "bench/$bench_name.py" "${py_args[@]}")
            fi
            bench_tag "$r" "$pin" "${cmd[@]}"
        done
    done
}
