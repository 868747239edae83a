#!/bin/sh
# SPDX-License-Identifier: MIT
# The can-fail scenario runs (tests/scenario/meson.build): a daemon or library
# with one rule left out must make the checker report a violation. A
# violation needs the schedule to bring the racing operations that expose
# the missing rule, and how many a run brings depends on the machine's
# speed (a sanitized build on a loaded machine does a fraction of the
# operations). So the schedule runs up to ROUNDS times, seed SEED, SEED+1,
# …, and stops at the first round whose checker reports a violation.
#
#   find-violation.sh ROUNDS SCENARIO SECONDS SEED [ARGS…]
#
# Exit 1 when a round reported violations (what a should_fail test wants),
# 0 when no round did (the checker missed the broken rule), and 99 when a
# round's harness failed. The rounds' run dirs go (--discard): their
# violations are the expected ones.
set -u
rounds=$1 scenario=$2 seconds=$3 seed=$4
shift 4
i=0
while [ "$i" -lt "$rounds" ]; do
	s=$((seed + i))
	echo "# round $((i + 1)) of $rounds: seed $s"
	"$scenario" --seconds "$seconds" --seed "$s" --discard "$@"
	rc=$?
	case $rc in
	0) ;;
	1) echo "# violations found in round $((i + 1)) (seed $s)"; exit 1 ;;
	*) echo "# round $((i + 1)) (seed $s): harness failed (exit $rc)"; exit 99 ;;
	esac
	i=$((i + 1))
done
echo "# no violation in $rounds rounds: the checker missed the broken rule"
exit 0
