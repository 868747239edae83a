#!/usr/bin/env bash
# A key rotation without a whole-cluster restart (README "Rotating a node's
# key"), on a running cluster of three node keys, while a writer puts a new
# key every few ms through node1:
#  1. node2's new key is made; every configuration lists both of node2's
#     keys; node1 and node3 reload them on SIGHUP;
#  2. node2 restarts with its new key (the others are never restarted);
#  3. the old key leaves every configuration; SIGHUP again;
#  4. the old key is refused: node2 stopped, a daemon holding the old key
#     and claiming to be node2 gets only bad_auth from node1.
# Every put of the writer succeeds throughout. (The code before this took
# SIGHUP as a stop, and a node line with two keys as a configuration error.)
. "$(dirname "$0")/lib.sh"

for i in 1 2 3; do
	mkdir -p "$T_DIR/node$i"
	pk[$i]=$("$PKV_KEYGEN" "$T_DIR/node$i/node.key")
done
conf() { # conf FILE SELF NODE2-KEYS…
	local f=$1 self=$2
	shift 2
	cat >"$f" <<CONF
cluster = keys
cluster_size = 3
run_dir = $T_DIR
failure_timeout_ms = $T_FT
self = $self
node node1 127.0.0.1:$((T_PORT_BASE + 1)) ${pk[1]}
node node2 127.0.0.1:$((T_PORT_BASE + 2)) $*
node node3 127.0.0.1:$((T_PORT_BASE + 3)) ${pk[3]}
CONF
}
start() { # start I CONF [args]
	local i=$1 c=$2
	shift 2
	"$PKVD" -c "$c" "$@" >>"$T_DIR/node$i/pkvd.log" 2>&1 &
	T_PID[$i]=$!
}
all_confs() { # all_confs NODE2-KEYS…
	for i in 1 2 3; do conf "$T_DIR/node$i.conf" "node$i" "$@"; done
}
# reload I WHAT: SIGHUP node I and wait for its log to say the keys were reloaded.
reload() {
	local i=$1 n
	n=$(grep -c "reload: peer keys reloaded" "$T_DIR/node$i/pkvd.log" || true)
	kill -HUP "${T_PID[$i]}"
	t_wait_for "node$i reloads the keys ($2)" \
		sh -c "[ \$(grep -c 'reload: peer keys reloaded' '$T_DIR/node$i/pkvd.log') -gt $n ]"
	kill -0 "${T_PID[$i]}" || t_fail "node$i stopped on SIGHUP"
}

all_confs "${pk[2]}"
for i in 1 2 3; do start "$i" "$T_DIR/node$i.conf" --bootstrap; done
for i in 1 2 3; do t_wait_for "node$i sees 3 connected" t_connected_is "$i" 3; done

# The writer: a fresh key every few ms through node1; a failed put is written down.
writer() {
	local n=0
	while [ ! -e "$T_DIR/stop-writer" ]; do
		n=$((n + 1))
		if ! "$PKV" -n node1 put -b rot "w$n" "v$n" >/dev/null 2>>"$T_DIR/writer.err"; then
			echo "w$n" >>"$T_DIR/writer.failed"
		fi
		echo "$n" >"$T_DIR/writer.count"
	done
}
writer &
WRITER=$!
T_PID[writer]=$WRITER
puts() { cat "$T_DIR/writer.count" 2>/dev/null || echo 0; }
more_puts() { # more_puts N: N more puts were made from now
	local want=$(($(puts) + $1))
	t_wait_for "$1 more puts" sh -c "[ \$(cat '$T_DIR/writer.count') -ge $want ]"
}
more_puts 5

# 1. node2's new key, listed beside the old one everywhere; node1 and node3 reload.
cp "$T_DIR/node2/node.key" "$T_DIR/old-node2.key"
new=$("$PKV_KEYGEN" "$T_DIR/node2/node.key.new")
all_confs "${pk[2]}" "$new"
reload 1 "both of node2's keys"
reload 3 "both of node2's keys"
more_puts 5
t_connected_is 1 3 || t_fail "node1 lost a node on the reload"

# 2. node2 restarts with its new key.
t_stop 2
mv "$T_DIR/node2/node.key.new" "$T_DIR/node2/node.key"
start 2 "$T_DIR/node2.conf"
for i in 1 3; do t_wait_for "node$i sees node2 with its new key" t_connected_is "$i" 3; done
t_wait_for "node2 sees 3 connected" t_connected_is 2 3
more_puts 5
[ "$(t_pkv -n node2 get -b rot w1)" = v1 ] || t_fail "node2 cannot read after its restart"

# 3. The old key leaves every configuration.
all_confs "$new"
reload 1 "node2's new key only"
reload 3 "node2's new key only"
reload 2 "node2's new key only"
more_puts 5
for i in 1 2 3; do t_connected_is "$i" 3 || t_fail "node$i lost a node when the old key left"; done

# The writer's puts all succeeded, through every step.
touch "$T_DIR/stop-writer"
wait "$WRITER"
unset "T_PID[writer]"
total=$(puts)
[ ! -s "$T_DIR/writer.failed" ] ||
	t_fail "$(wc -l <"$T_DIR/writer.failed") of $total puts failed during the rotation: $(head -n 3 "$T_DIR/writer.err")"
t_log "$total puts during the rotation, none failed"
n=$(t_pkv -n node3 keys -b rot | wc -l)
[ "$n" = "$total" ] || t_fail "node3 lists $n keys of bucket rot, want $total"

# 4. The old key is refused: node2 steps aside, the old key claims to be node2.
t_stop 2
t_wait_for "node1 sees node2 gone" t_connected_is 1 2
mkdir -p "$T_DIR/old/node2"
cp "$T_DIR/old-node2.key" "$T_DIR/old/node2/node.key"
chmod 600 "$T_DIR/old/node2/node.key"
conf "$T_DIR/old.conf" node2 "${pk[2]}"
sed -i "s|^run_dir = .*|run_dir = $T_DIR/old|" "$T_DIR/old.conf"
bad_auth() { t_field 1 rejected | tr ' ' '\n' | sed -n 's/^bad_auth=//p'; }
before=$(bad_auth)
mark=$(wc -l <"$T_DIR/node1/pkvd.log")
mkdir -p "$T_DIR/node9"
"$PKVD" -c "$T_DIR/old.conf" >>"$T_DIR/node9/pkvd.log" 2>&1 &
T_PID[9]=$!
old_refused() { [ "$(bad_auth)" -ge $((before + 3)) ]; }
t_wait_for "node1 refuses node2's old key (rejects: $(t_field 1 rejected))" old_refused
t_stop 9
if tail -n +"$((mark + 1))" "$T_DIR/node1/pkvd.log" | grep "node2 up" >/dev/null; then
	t_fail "node1 took the old key for node2"
fi
t_log "node1 rejects: $(t_field 1 rejected)"
# And node2 with its new key is welcome again.
start 2 "$T_DIR/node2.conf"
t_wait_for "node1 sees node2 again" t_connected_is 1 3
echo ok
