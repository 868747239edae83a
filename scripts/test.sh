#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every
# default test twice: in a plain build and under AddressSanitizer +
# UndefinedBehaviorSanitizer. Ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

PKV_EXTRA_PACKAGES="spin tmux nftables clang libclang-rt-dev" BUILD_DIR=build-test MESON_ARGS="-Dwerror=true -Dfault_injection=true" \
	scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
BUILD_DIR=build-asan MESON_ARGS="-Dwerror=true -Dfault_injection=true -Db_sanitize=address,undefined -Db_lundef=false" \
	scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

passed=0 failed=0 skipped=0
run() { # build dir, extra env
	local dir=$1 out
	shift
	out=$(mktemp)
	env "$@" meson test -C "$dir" --print-errorlogs --num-processes 2 2>&1 | tee "$out"
	local ok fail exp unexp to skip
	ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$out")
	exp=$(sed -n 's/^Expected Fail: *\([0-9]*\).*/\1/p' "$out")
	fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$out")
	unexp=$(sed -n 's/^Unexpected Pass: *\([0-9]*\).*/\1/p' "$out")
	to=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$out")
	skip=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$out")
	rm -f "$out"
	if [ -z "$ok$fail" ]; then
		failed=$((failed + 1)) # meson itself failed
		return
	fi
	passed=$((passed + ${ok:-0} + ${exp:-0}))
	failed=$((failed + ${fail:-0} + ${unexp:-0} + ${to:-0}))
	skipped=$((skipped + ${skip:-0}))
}
run build-test
run build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 PKV_SANITIZED=1
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
