#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check.sh — exhaustive safety check of a model of this directory with spin.
#
#   check.sh [--model=FILE] [--expect-violation] [-DNAME[=VALUE] ...]
#
# FILE is a .pml file of this directory (default paxoskv.pml; also the
# MODEL environment variable). The -D options are passed to spin (model
# switches, see the .pml file).
# Exit status: 0 when the search is complete and found no assertion
# violation or invalid end state (with --expect-violation: 0 only when spin
# reports an assertion violation), 1 otherwise, 77 (skip) when spin or a C
# compiler is missing. Environment: CC (default cc), PAN_MEMLIM (MiB, default
# 4096), PAN_DEPTH (default 10000), KEEP=1 keeps the work directory.
set -u

here=$(cd "$(dirname "$0")" && pwd)
mname=${MODEL:-paxoskv.pml}
expect=0
defs=""
for a in "$@"; do
	case "$a" in
	--expect-violation) expect=1 ;;
	--model=*) mname=${a#--model=} ;;
	-D*) defs="$defs $a" ;;
	*) echo "check.sh: unknown argument: $a" >&2; exit 2 ;;
	esac
done

model="$here/$mname"
[ -f "$model" ] || { echo "check.sh: no model $model" >&2; exit 2; }

SPIN=${SPIN:-spin}
CC=${CC:-cc}
command -v "$SPIN" >/dev/null 2>&1 || { echo "check.sh: spin not found, skipping"; exit 77; }
command -v "$CC" >/dev/null 2>&1 || CC=gcc
command -v "$CC" >/dev/null 2>&1 || { echo "check.sh: no C compiler, skipping"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/pkv-model.XXXXXX") || exit 1
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
cp "$model" "$work/$mname"
cd "$work" || exit 1

echo "model: $mname${defs:- (defaults)}"
# shellcheck disable=SC2086
if ! "$SPIN" -a $defs "$mname" >spin.out 2>&1; then
	cat spin.out
	echo "check.sh: spin -a failed"
	exit 1
fi
# SAFETY: no cycle detection (only assertions and end states are checked);
# NOREDUCE: the model is one process, partial-order reduction has nothing to
# do; MEMLIM bounds memory; -w26 sizes the hash table for ~10^7 states.
if ! "$CC" -O2 -DSAFETY -DNOREDUCE -DMEMLIM="${PAN_MEMLIM:-4096}" ${PAN_CFLAGS:-} \
	-o pan pan.c >cc.out 2>&1; then
	cat cc.out
	echo "check.sh: compiling pan failed"
	exit 1
fi

./pan -m"${PAN_DEPTH:-10000}" -w26 >pan.out 2>&1
grep -E '^pan:|errors:|states, stored|transitions|total actual memory|elapsed time|Search not completed|max search depth too small|out of memory' pan.out

errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.out | head -n 1)
incomplete=0
grep -qE 'Search not completed|max search depth too small|out of memory|pan: reached -DMEMLIM' pan.out && incomplete=1

if [ "$expect" = 1 ]; then
	if [ "${errors:-0}" != 0 ] && grep -q 'assertion violated' pan.out; then
		# replay the counterexample so the log shows how the rule breaks
		"$SPIN" -t $defs "$mname" >/dev/null 2>&1 &&
			"$SPIN" -t -p -g $defs "$mname" 2>/dev/null | grep -E '^ *[0-9]+:' |
			grep -vE '\[(IF|\.\(goto\)|\(1\))\]' | grep -E '\[\(' | cut -c1-160 | tail -n 40
		echo "PASS: violation found, as expected"
		exit 0
	fi
	echo "FAIL: expected an assertion violation, none found"
	exit 1
fi

if [ "${errors:-}" = 0 ] && [ "$incomplete" = 0 ]; then
	echo "PASS: no assertion violation or invalid end state"
	exit 0
fi
if [ "${errors:-0}" != 0 ]; then
	"$SPIN" -t -p -g $defs "$mname" 2>/dev/null | tail -n 80
	echo "FAIL: spin found a violation (trail above)"
else
	echo "FAIL: search incomplete"
fi
exit 1
