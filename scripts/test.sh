#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every
# default test twice: in a plain build and under AddressSanitizer +
# UndefinedBehaviorSanitizer; then the client library's suites (ring, cache,
# library: the shared-memory protocol between threads and processes) a third
# time under ThreadSanitizer. Ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

PKV_EXTRA_PACKAGES="spin tmux nftables clang libclang-rt-dev python3-prometheus-client" BUILD_DIR=build-test MESON_ARGS="-Dwerror=true -Dfault_injection=true" \
	scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
BUILD_DIR=build-asan MESON_ARGS="-Dwerror=true -Dfault_injection=true -Db_sanitize=address,undefined -Db_lundef=false" \
	scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

# ThreadSanitizer: only the client tests are built. -Wno-tsan: GCC warns that
# it does not model atomic_thread_fence; every shared byte those fences order
# is itself accessed atomically (pkv-shm.h, pkv_shm_copy_*), so no report
# hangs on them (docs/design.md §8).
tsan_targets="tests/client/test-client-ring tests/client/test-client-cache tests/client/test-client-lib"
if [ ! -f build-tsan/build.ninja ]; then
	meson setup build-tsan -Dwerror=true -Db_sanitize=thread -Db_lundef=false -Dc_args=-Wno-tsan \
		>/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
# shellcheck disable=SC2086
ninja -C build-tsan $tsan_targets || { echo "0 passed, 1 failed"; exit 1; }

passed=0 failed=0 skipped=0
notok=$(mktemp)
run() { # build dir, extra env, then -- and meson test arguments
	local dir=$1 out
	shift
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	out=$(mktemp)
	env "${envs[@]}" meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" 2>&1 | tee "$out"
	local ok fail exp unexp to skip
	ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$out")
	exp=$(sed -n 's/^Expected Fail: *\([0-9]*\).*/\1/p' "$out")
	fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$out")
	unexp=$(sed -n 's/^Unexpected Pass: *\([0-9]*\).*/\1/p' "$out")
	to=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$out")
	skip=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$out")
	if [ -z "$ok$fail" ]; then
		rm -f "$out"
		failed=$((failed + 1)) # meson itself failed
		echo "$dir: meson test did not run" >>"$notok"
		return
	fi
	passed=$((passed + ${ok:-0} + ${exp:-0}))
	failed=$((failed + ${fail:-0} + ${unexp:-0} + ${to:-0}))
	skipped=$((skipped + ${skip:-0}))
	# Every test that did not pass is named again at the end, where a
	# reader of the last lines sees it. A test that failed or timed out
	# runs once more, alone: if it passes then, it counts as passed and is
	# named as flaky at the end (its first failure's log is above); a
	# failure that repeats counts as one failure.
	local line name
	while IFS= read -r line; do
		echo "$dir: $line" >>"$notok"
		case "$line" in *" UNEXPECTEDPASS "*) continue ;; esac
		name=$(sed -n 's|^ *[0-9]*/[0-9]* [^ ]* / \([^ ]*\) .*|\1|p' <<<"$line")
		[ -n "$name" ] || continue
		echo "== $dir: running $name again, alone"
		if env "${envs[@]}" meson test -C "$dir" --no-rebuild --print-errorlogs "$name" 2>&1 |
			tee "$out.again" && grep -q '^Ok: *1' "$out.again"; then
			failed=$((failed - 1))
			passed=$((passed + 1))
			echo "$dir:   (flaky: $name passed when run again alone)" >>"$notok"
		else
			echo "$dir:   ($name failed again when run alone)" >>"$notok"
		fi
		rm -f "$out.again"
	done < <(grep -E '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT|UNEXPECTEDPASS|ERROR) ' "$out")
	rm -f "$out"
}
run build-test
# The short fuzz run, in its own suite outside the default run (it runs
# alone, a core per fuzzer, and the default run stays under 10 minutes).
run build-test -- --no-rebuild --suite fuzz
run build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 PKV_SANITIZED=1
run build-tsan TSAN_OPTIONS=halt_on_error=1:exitcode=66 PKV_SANITIZED=1 -- --no-rebuild ring cache library
if [ -s "$notok" ]; then
	echo "Did not pass the first time:"
	cat "$notok"
fi
rm -f "$notok"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
