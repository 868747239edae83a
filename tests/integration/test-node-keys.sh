#!/usr/bin/env bash
# A key pair per node: pkv-keygen makes each node's key and prints its
# public key, every configuration lists all of them, and the cluster runs.
# Then what a holder of one node's key tries:
#  - to run as another node with its own key file: pkvd refuses to start,
#    naming the mismatch;
#  - to speak as node2 to node1 (node2 down) with node3's key, from a
#    configuration of its own: node1 rejects the handshakes (bad_auth) and
#    never sees node2 up.
# And pkv-keygen -f replaces a key by rename: a hard link keeps the old one.
. "$(dirname "$0")/lib.sh"

for i in 1 2 3; do
	mkdir -p "$T_DIR/node$i"
	pk[$i]=$("$PKV_KEYGEN" "$T_DIR/node$i/node.key")
	[ "${#pk[$i]}" = 64 ] || t_fail "pkv-keygen printed '${pk[$i]}', not a public key"
	[ "$("$PKV_KEYGEN" -p "$T_DIR/node$i/node.key")" = "${pk[$i]}" ] ||
		t_fail "pkv-keygen -p disagrees with what pkv-keygen printed"
done
conf() { # conf FILE SELF PK1 PK2 PK3
	cat >"$1" <<CONF
cluster = keys
cluster_size = 3
run_dir = $T_DIR
failure_timeout_ms = $T_FT
self = $2
node node1 127.0.0.1:$((T_PORT_BASE + 1)) $3
node node2 127.0.0.1:$((T_PORT_BASE + 2)) $4
node node3 127.0.0.1:$((T_PORT_BASE + 3)) $5
CONF
}
start() { # start I CONF [args]
	local i=$1 c=$2
	shift 2
	"$PKVD" -c "$c" "$@" >>"$T_DIR/node$i/pkvd.log" 2>&1 &
	T_PID[$i]=$!
}
for i in 1 2 3; do
	conf "$T_DIR/node$i.conf" "node$i" "${pk[1]}" "${pk[2]}" "${pk[3]}"
	start "$i" "$T_DIR/node$i.conf" --bootstrap
done
for i in 1 2 3; do t_wait_for "node$i sees 3 connected" t_connected_is "$i" 3; done
[ "$(t_pkv -n node1 put k v)" = v ] || t_fail "put"
[ "$(t_pkv -n node3 get k)" = v ] || t_fail "get"
t_log "a cluster of three node keys runs"

# node2 goes; node3's key cannot stand in for it.
t_stop 2
t_wait_for "node1 sees node2 gone" t_connected_is 1 2
rc=0
"$PKVD" -c "$T_DIR/node2.conf" --key-file "$T_DIR/node3/node.key" 2>"$T_DIR/err" || rc=$?
[ "$rc" = 78 ] || t_fail "node2 with node3's key file: exit $rc"
grep -q "is not node2's key" "$T_DIR/err" || t_fail "message: $(cat "$T_DIR/err")"
t_log "refused: $(head -n 1 "$T_DIR/err")"

# An impostor with node3's key and a configuration that says it is node2.
mkdir -p "$T_DIR/evil/node2"
cp "$T_DIR/node3/node.key" "$T_DIR/evil/node2/node.key"
conf "$T_DIR/evil.conf" node2 "${pk[1]}" "${pk[3]}" "${pk[2]}"
sed -i "s|^run_dir = .*|run_dir = $T_DIR/evil|" "$T_DIR/evil.conf"
mark=$(wc -l <"$T_DIR/node1/pkvd.log")
bad_auth() { t_field 1 rejected | tr ' ' '\n' | sed -n 's/^bad_auth=//p'; }
before=$(bad_auth)
mkdir -p "$T_DIR/node9"
"$PKVD" -c "$T_DIR/evil.conf" >>"$T_DIR/node9/pkvd.log" 2>&1 &
T_PID[9]=$!
impostor_rejected() { [ "$(bad_auth)" -ge $((before + 3)) ]; }
t_wait_for "node1 rejects the impostor's handshakes (rejects: $(t_field 1 rejected))" \
	impostor_rejected
t_stop 9
t_log "node1 rejects: $(t_field 1 rejected)"
if tail -n +"$((mark + 1))" "$T_DIR/node1/pkvd.log" | grep "node2 up" >/dev/null; then
	t_fail "node1 took the impostor for node2"
fi

# node2 itself comes back and is welcome.
start 2 "$T_DIR/node2.conf"
t_wait_for "node1 sees node2 again" t_connected_is 1 3

# A new key for node3 by rename: a hard link to the old file keeps the old key.
ln "$T_DIR/node3/node.key" "$T_DIR/old-node3.key"
new=$("$PKV_KEYGEN" -f "$T_DIR/node3/node.key")
[ "$new" != "${pk[3]}" ] || t_fail "-f made the same key"
[ "$("$PKV_KEYGEN" -p "$T_DIR/old-node3.key")" = "${pk[3]}" ] ||
	t_fail "pkv-keygen -f wrote through a hard link"
echo ok
