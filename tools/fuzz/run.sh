#!/usr/bin/env bash
# run.sh: fuzzes the receiving side of typed messages (tr_codec_decode and
# tr_registry_feed, tools/fuzz/codec_fuzz.c) with libFuzzer, for a bounded
# time, on a copy of the seed corpus. CI runs it as `tools/fuzz/run.sh -t 60`.
#
#   tools/fuzz/run.sh [-t SECONDS]   fuzz for SECONDS (default 60)
#   tools/fuzz/run.sh -r FILE...     run the target once on each FILE, e.g. a
#                                    crash file to reproduce or a fixed one
#   tools/fuzz/run.sh -c             regenerate the seed corpus
#                                    tools/fuzz/corpus/codec/ (make_corpus.c;
#                                    files it does not make, such as
#                                    regression seeds, stay)
#
# It builds outside Bazel (Bazel 4.2.3 has no libFuzzer toolchain here), in a
# temporary directory: protoc-c generates codecs/codec_test.pb-c.{c,h}, and
# clang -fsanitize=fuzzer,address,undefined compiles the target with core's
# and codecs' library sources (every core/*.c and codecs/*.c but tests and
# core/testutil.c, which is //core:troupe plus //codecs:codec). UBSan aborts
# on the first report and LeakSanitizer checks every run, so undefined
# behaviour and leaks count as crashes. New inputs found go to the copy of
# the corpus, never into the repository.
#
# Output: libFuzzer's log stays in the temporary directory; this prints one
# line, e.g.
#   fuzz codec: 1234567 runs in 61 s, 0 crashes (cov 345, ft 1234, corpus 80, 20238 exec/s)
# and on a crash the log (without its progress lines) and the crash file's
# path, which is kept, with the temporary directory, for `-r`. libFuzzer also
# prints a small input in base64. Exit status: 0 no crash, 1 a crash (or a
# leak, a timeout, out of memory), 2 a usage, install or build error.
#
# Needs clang, libclang-rt-14-dev, libzmq3-dev, libprotobuf-c-dev and
# protobuf-c-compiler from Debian's archive; run as root, it installs
# whichever are missing (as ./bazelw does for its own).
set -euo pipefail

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

seconds=60
mode=fuzz
while getopts "t:rch" opt; do
    case $opt in
    t) seconds=$OPTARG ;;
    r) mode=reproduce ;;
    c) mode=corpus ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[[ $seconds =~ ^[1-9][0-9]*$ ]] || usage
if [ "$mode" = reproduce ]; then
    [ $# -gt 0 ] || usage
    # Absolute paths: the build below runs from the repository root.
    files=()
    for f in "$@"; do
        [ -f "$f" ] || { echo "run.sh: $f: no such file" >&2; exit 2; }
        files+=("$(realpath "$f")")
    done
elif [ $# -gt 0 ]; then
    usage
fi

packages=(clang libclang-rt-14-dev libzmq3-dev libprotobuf-c-dev protobuf-c-compiler)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -eq 0 ]]; then
        echo "run.sh: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >&2 || exit 2
        apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || exit 2
    else
        echo "run.sh: missing packages: ${missing[*]}" >&2
        echo "run.sh: run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 2
    fi
fi

cd "$(dirname "$0")/../.."
corpus=tools/fuzz/corpus/codec

work=$(mktemp -d /tmp/troupe-fuzz.XXXXXX)
keep_work=0
trap '[ "$keep_work" = 1 ] || rm -rf "$work"' EXIT

# The library's sources: //core:troupe and //codecs:codec, by the rule that
# tests end in _test.c and core/testutil.c is the tests' helper.
lib_sources=()
for f in core/*.c codecs/*.c; do
    case $f in
    *_test.c | core/testutil.c) ;;
    *) lib_sources+=("$f") ;;
    esac
done

protoc-c --c_out="$work" -I. codecs/codec_test.proto || exit 2

# The house warnings (tools/copts.bzl) for the files here; the library's own
# sources and the generated one get -w: Bazel checks those with gcc, and a
# warning only clang gives must not stop the fuzzing.
warn=(-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wpointer-arith -Wcast-qual -Wformat=2 -Wvla)
base=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -I. -Icore -Icodecs -I"$work")
libs=(-lzmq -lpthread -lprotobuf-c)

# build SANITIZERS OUT MAIN: compiles MAIN and the library into OUT.
build() {
    local san=$1 out=$2 main=$3 objs=() src obj
    mkdir -p "$out.o"
    for src in "${lib_sources[@]}" "$work/codecs/codec_test.pb-c.c"; do
        obj="$out.o/$(basename "$src" .c).o"
        clang "${base[@]}" "$san" -fno-sanitize-recover=all -w -c "$src" -o "$obj" || return 1
        objs+=("$obj")
    done
    clang "${base[@]}" "$san" -fno-sanitize-recover=all "${warn[@]}" "$main" "${objs[@]}" \
        "${libs[@]}" -o "$out" || return 1
}

if [ "$mode" = corpus ]; then
    build -fsanitize=address,undefined "$work/make_corpus" tools/fuzz/make_corpus.c || exit 2
    mkdir -p "$corpus"
    "$work/make_corpus" "$corpus" || exit 2
    exit 0
fi

build -fsanitize=fuzzer,address,undefined "$work/codec_fuzz" tools/fuzz/codec_fuzz.c || exit 2

export ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:${ASAN_OPTIONS:-}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}

if [ "$mode" = reproduce ]; then
    "$work/codec_fuzz" "${files[@]}"
    exit $?
fi

cp -r "$corpus" "$work/corpus"
log=$work/fuzz.log
start=$SECONDS
# -timeout: an input that takes 10 s is a hang (decoding one takes
# microseconds), reported as a crash instead of stalling CI for libFuzzer's
# default 20 minutes.
set +e
"$work/codec_fuzz" -max_total_time="$seconds" -timeout=10 -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" >"$log" 2>&1
rc=$?
set -e
elapsed=$((SECONDS - start))

# libFuzzer's last progress line ("#N DONE cov: C ft: F corp: K/S exec/s: E
# ...") and its final stats give the figures.
stat() { sed -n "s/^stat::$1: *\([0-9]*\)$/\1/p" "$log" | tail -n 1; }
runs=$(stat number_of_executed_units)
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
field() { sed -n "s/.* $1: \([0-9]*\).*/\1/p" <<<"$last"; }
figures=""
for f in cov ft corp; do
    v=$(field $f)
    [ -z "$v" ] || figures+="${f/corp/corpus} $v, "
done
figures+="$(stat average_exec_per_sec) exec/s"

if [ "$rc" -eq 0 ]; then
    echo "fuzz codec: ${runs:-?} runs in $elapsed s, 0 crashes ($figures)"
    exit 0
fi

keep_work=1
grep -vE '^#[0-9]+' "$log" || true
crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
echo "fuzz codec: ${runs:-?} runs in $elapsed s, 1 crash: ${crash:-no crash file (libFuzzer exit $rc)} ($figures)"
[ -z "$crash" ] || echo "fuzz codec: reproduce with: tools/fuzz/run.sh -r $crash"
exit 1
