#!/usr/bin/env bash
# Builds every libFuzzer target with clang (-fsanitize=fuzzer,address,undefined)
# into OUT_DIR and runs each, one after the other, for SECONDS seconds from a
# fresh copy of its seed corpus (tests/fuzz/corpus/NAME).
#
#   tests/fuzz/run.sh OUT_DIR SECONDS [TARGET...]     (targets: wire ring config core)
#
# Exit status: 0 no target crashed; 1 a target crashed, leaked, timed out or
# broke one of its own checks (its reproducer is OUT_DIR/NAME-crash-*, and
# OUT_DIR/NAME.log has the report); 2 usage or build failure; 77 skipped:
# clang or its libFuzzer runtime is missing, or PKV_SANITIZED=1 (the
# sanitizer pass of scripts/test.sh: the fuzz build is sanitized already, a
# second identical run would only cost time).
#
# Per target it prints libFuzzer's final figures: executions, exec/s, the
# coverage reached (cov: edges, ft: features) and the corpus size.
set -uo pipefail

if [ "${PKV_SANITIZED:-0}" = 1 ]; then
	echo "fuzz: skipped in the sanitizer pass (the fuzz build is sanitized already)"
	exit 77
fi
if [ $# -lt 2 ]; then
	echo "usage: $0 OUT_DIR SECONDS [wire|ring|config|core ...]" >&2
	exit 2
fi
out=$1
secs=$2
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(wire ring config core)
src=$(cd "$(dirname "$0")/../.." && pwd)
CC=${FUZZ_CC:-clang}

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "fuzz: skipped, $CC not found"
	exit 77
fi
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)

flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -D_GNU_SOURCE -I"$src/daemon" -I"$src/include")

# Some clang packages ship without the libFuzzer runtime: skip, not fail.
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }\n' \
	>"$out/probe.c"
if ! "$CC" "${flags[@]}" "$out/probe.c" -o "$out/probe" >"$out/probe.log" 2>&1; then
	echo "fuzz: skipped, $CC cannot link -fsanitize=fuzzer (see $out/probe.log)"
	exit 77
fi

sources() {
	case $1 in
	wire) echo "tests/fuzz/fuzz-wire.c daemon/wire.c daemon/auth.c daemon/msg.c -lsodium" ;;
	ring) echo "tests/fuzz/fuzz-ring.c daemon/ringreq.c daemon/shm.c daemon/shm-ring.c daemon/shm-cache.c daemon/config.c -lpthread" ;;
	config) echo "tests/fuzz/fuzz-config.c daemon/config.c" ;;
	core) echo "tests/fuzz/fuzz-core.c $(cd "$src" && echo daemon/paxos*.c) daemon/store.c daemon/msg.c" ;;
	*) return 1 ;;
	esac
}

# Inputs up to a whole datagram for wire; past 8 KiB the ring and the parser
# meet nothing new (unwritten request bytes read as zeros).
max_len() {
	case $1 in
	wire) echo 65100 ;;
	*) echo 8192 ;;
	esac
}

for t in "${targets[@]}"; do
	s=$(sources "$t") || { echo "fuzz: unknown target $t" >&2; exit 2; }
	# shellcheck disable=SC2086 # $s is a word list on purpose
	(cd "$src" && "$CC" "${flags[@]}" $s -o "$out/fuzz-$t") >"$out/$t.build.log" 2>&1 || {
		cat "$out/$t.build.log"
		echo "fuzz: building fuzz-$t failed"
		exit 2
	}
done

status=0
for t in "${targets[@]}"; do
	corpus=$out/corpus-$t
	rm -rf "$corpus"
	mkdir -p "$corpus"
	cp "$src/tests/fuzz/corpus/$t/"* "$corpus/"
	seeds=$(ls "$corpus" | wc -l)
	rm -f "$out/$t-crash-"* "$out/$t-leak-"* "$out/$t-timeout-"* "$out/$t-oom-"*
	"$out/fuzz-$t" -max_total_time="$secs" -timeout=10 -max_len="$(max_len "$t")" \
		-print_final_stats=1 -artifact_prefix="$out/$t-" "$corpus" >"$out/$t.log" 2>&1
	rc=$?
	# The last status line carries the final figures; the stats give the totals.
	last=$(grep -E '^#[0-9]+' "$out/$t.log" | tail -n 1)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$t.log")
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
	if [ $rc -eq 0 ]; then
		result=none
	else
		# libFuzzer names the reproducer by kind: crash-, timeout- (a hang), leak-, oom-.
		result="FAILED (exit $rc): $(ls "$out/$t-"*-* 2>/dev/null | head -n 1)"
		status=1
	fi
	echo "fuzz-$t: ${secs}s, ${runs:-?} executions, ${rate:-?} exec/s, cov: ${cov:-?}" \
	     "ft: ${ft:-?}, corpus ${corp:-?} (from $seeds seeds), crash: $result"
	if [ $rc -ne 0 ]; then
		grep -A 30 -E '^==[0-9]+==|runtime error|deadly signal' "$out/$t.log" | head -n 60
	fi
done
exit $status
