#!/usr/bin/env bash
# Rolling restart: each of 3 daemons is restarted in turn (non-durable, so
# each rejoins through the sync rule) while writers keep putting through all
# three; afterwards every key a writer was told reads the same on every
# daemon, and no two writers were told different values for one key.
. "$(dirname "$0")/lib.sh"

t_start_cluster 3
writer() { # tag: puts k1, k2, … round-robin over the daemons until told to stop
	local tag=$1 i v n
	for i in $(seq 1 5000); do
		[ -f "$T_DIR/stop" ] && break
		n=$((i % 3 + 1))
		if v=$(t_pkv -n "node$n" put --timeout 10000 "k$i" "$tag-$i" 2>/dev/null); then
			echo "k$i $v"
		fi
	done >"$T_DIR/writer-$tag"
}
lines_at_least() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
writer a &
wa=$!
writer b &
wb=$!
for n in 1 2 3; do
	t_wait_for "writers under way before restarting node$n" lines_at_least "$T_DIR/writer-a" $((n * 30))
	t_stop "$n"
	t_start "$n"
	t_wait_for "node$n synced" t_field_is "$n" synced yes
	t_log "node$n restarted and synced ($(wc -l <"$T_DIR/writer-a") answers so far)"
done
t_wait_for "writers past the last restart" lines_at_least "$T_DIR/writer-a" $(($(wc -l <"$T_DIR/writer-a") + 30))
touch "$T_DIR/stop"
wait "$wa" "$wb"
cat "$T_DIR/writer-a" "$T_DIR/writer-b" | sort -u >"$T_DIR/answers"
dups=$(cut -d' ' -f1 "$T_DIR/answers" | uniq -d)
[ -z "$dups" ] || t_fail "writers were told different values for: $dups"
while read -r k v; do
	for n in 1 2 3; do
		got=$(t_pkv -n "node$n" get "$k") || t_fail "node$n: get $k failed"
		[ "$got" = "$v" ] || t_fail "node$n: $k is '$got', a writer was told '$v'"
	done
done <"$T_DIR/answers"
grep -q "NEW EPOCH" "$T_DIR"/node*/pkvd.log && t_fail "a rolling restart must not need a new epoch"
t_log "$(wc -l <"$T_DIR/answers") keys read the same on all 3 daemons after a rolling restart"
echo ok
