#!/usr/bin/env bash
# Twenty `pkv hold --wait` on one key, spread over three daemons
# (docs/design.md §8.5): each gets the lock exactly once, never two at a
# time, and each holder's fencing token (PKV_GENERATION, the value's
# generation) is higher than every earlier holder's.
. "$(dirname "$0")/lib.sh"

t_start_cluster 3
log=$T_DIR/holds
n=20
for i in $(seq 1 $n); do
	node=node$(( (i - 1) % 3 + 1 ))
	# CMD: start line with the token, a short hold, end line
	t_pkv -n "$node" hold --wait --timeout 240 lk "w$i" -- \
		sh -c "echo \"start w$i \$PKV_GENERATION\" >>'$log'; sleep 0.05; echo \"end w$i\" >>'$log'" &
	T_PID[w$i]=$!
done
for i in $(seq 1 $n); do
	wait "${T_PID[w$i]}" || t_fail "waiter w$i exited $?"
done
[ "$(wc -l <"$log")" = $((2 * n)) ] || t_fail "$(wc -l <"$log") lines, want $((2 * n)): $(cat "$log")"
# one holder at a time: start and end lines alternate, each end the last start's
awk '
	$1 == "start" { if (held != "") { print "two holders: " held " and " $2; bad = 1 } held = $2
		if ($3 + 0 <= last) { print "token " $3 " of " $2 " not above " last; bad = 1 } last = $3 + 0
		if (seen[$2]++) { print $2 " held twice"; bad = 1 } }
	$1 == "end" { if (held != $2) { print "end of " $2 " while " held " held"; bad = 1 } held = "" }
	END { exit bad }' "$log" || t_fail "holds overlap or tokens do not rise: $(cat "$log")"
t_log "$n waiters on 3 daemons each held lk once, one at a time, tokens rising: $(awk '$1=="start"{printf "%s ", $3}' "$log")"
