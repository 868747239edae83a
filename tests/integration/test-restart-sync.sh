#!/usr/bin/env bash
# A daemon SIGKILLed and restarted under load rejoins through the sync rule
# (it answers no prepare/accept until it copied a majority's acceptor state)
# without breaking agreement: afterwards every daemon reads, for every key,
# the value the writers were told.
. "$(dirname "$0")/lib.sh"

t_start_cluster 3
keys=3000 # upper bound; the writers stop once the restart is behind them
writer() { # node, tag: puts k1, k2, … with its own values, records answers
	local node=$1 tag=$2 i v
	for i in $(seq 1 $keys); do
		[ -f "$T_DIR/stop" ] && break
		if v=$(t_pkv -n "node$node" put --timeout 20000 "k$i" "$tag-$i" 2>/dev/null); then
			echo "k$i $v"
		fi
	done >"$T_DIR/writer-$tag"
}
writer 1 a &
wa=$!
writer 3 b &
wb=$!
lines_at_least() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
t_wait_for "writers under way" lines_at_least "$T_DIR/writer-a" 30
t_stop 2 KILL
t_log "node2 killed mid-load"
t_wait_for "node1 sees node2 down" t_connected_is 1 2
t_start 2
t_wait_for "node2 synced" t_field_is 2 synced yes
t_log "node2 restarted and synced"
# Load goes on across the restart and after it.
t_wait_for "writers past the restart" lines_at_least "$T_DIR/writer-a" $(($(wc -l <"$T_DIR/writer-a") + 50))
touch "$T_DIR/stop"
wait "$wa" "$wb"
cat "$T_DIR/writer-a" "$T_DIR/writer-b" | sort -u >"$T_DIR/answers"
dups=$(cut -d' ' -f1 "$T_DIR/answers" | uniq -d)
[ -z "$dups" ] || t_fail "two writers were told different values for: $dups"
while read -r k v; do
	for n in 1 2 3; do
		got=$(t_pkv -n "node$n" get "$k") || t_fail "node$n: get $k failed"
		[ "$got" = "$v" ] || t_fail "node$n: $k is '$got', a writer was told '$v'"
	done
done <"$T_DIR/answers"
t_log "$(wc -l <"$T_DIR/answers") keys agree on all 3 daemons"
echo ok
