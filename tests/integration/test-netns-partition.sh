#!/usr/bin/env bash
# Real partitions, root only: each of 3 daemons runs in its own network
# namespace, the three joined by veth pairs to a bridge in a fourth namespace,
# with addresses and namespace names chosen per run so parallel runs never
# meet. Packets are really dropped (nftables in a node's namespace, or tc
# netem where nft is missing):
# - node3 cut off both ways loses quorum within the failure timeout while
#   node1+node2 keep it and keep accepting puts; healed, node3 regains quorum
#   and reads every key put meanwhile;
# - node3's egress alone dropped also cuts it off: the others see it gone and
#   keep serving, node3's puts do not succeed; healed, it reads their keys;
# - with 20% of the datagrams lost on every link, concurrent puts of one key
#   succeed and agree, and every daemon reads the chosen value.
# Everything runs inside the namespaces this test creates; the host's own
# interfaces, routes and firewall are never touched. Skips (77) when not
# root, when namespaces cannot be made (a container without CAP_SYS_ADMIN) or
# when the tools are missing.
set -euo pipefail

skip() {
	echo "skipped: $*"
	exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, veth, nftables)"
command -v ip >/dev/null || skip "ip (iproute2) is not installed"

T_FT=1000 # failure timeout, ms: generous, the machine may be loaded
T_HB=50	  # 20 heartbeats a timeout: no false "down" under 20% loss
. "$(dirname "$0")/lib.sh"

# Names unique to this run: the pid plus a random tag, in case a crashed
# earlier run with the same pid left a namespace behind.
NS_TAG="pkvt$$r$RANDOM"
NS_BR="$NS_TAG-br"
NS=("" "$NS_TAG-n1" "$NS_TAG-n2" "$NS_TAG-n3")
NS_MADE=()
PORT=7401
NET="10.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1))"

ns_cleanup() {
	local ns
	t_cleanup # our daemons, by pid, then the run dir
	# Deleting a namespace deletes the veth ends and the bridge inside it.
	for ns in "${NS_MADE[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
}
trap ns_cleanup EXIT
# A signal (meson's timeout, ^C) exits through the EXIT trap, too.
trap 'exit 130' INT TERM HUP

ns_add() {
	ip netns add "$1" 2>/dev/null || return 1
	NS_MADE+=("$1")
	ip -n "$1" link set lo up
}

ns_add "$NS_BR" || skip "ip netns add is not permitted here (no CAP_SYS_ADMIN?)"

# The drop mechanism: nftables in the node's namespace, else tc netem.
DROP=
if command -v nft >/dev/null &&
	ip netns exec "$NS_BR" nft add table inet pkvt-probe 2>/dev/null; then
	DROP=nft
elif command -v tc >/dev/null &&
	ip -n "$NS_BR" link add pkvprobe type dummy 2>/dev/null &&
	tc -n "$NS_BR" qdisc add dev pkvprobe root netem loss 1% 2>/dev/null; then
	DROP=netem
fi
[ -n "$DROP" ] || skip "neither nft (package nftables) nor tc netem (sch_netem) works here"
t_log "dropping packets with $DROP; namespaces $NS_TAG-*, network $NET.0/24"

# The bridge and one veth pair per node: both ends are created inside our
# namespaces, so no interface ever appears in the host's namespace.
ip -n "$NS_BR" link add br0 type bridge
ip -n "$NS_BR" link set br0 up
for i in 1 2 3; do
	ns_add "${NS[$i]}" || t_fail "cannot create namespace ${NS[$i]}"
	ip -n "$NS_BR" link add "b$i" type veth peer name eth0 netns "${NS[$i]}"
	ip -n "$NS_BR" link set "b$i" master br0 up
	ip -n "${NS[$i]}" addr add "$NET.$i/24" dev eth0
	ip -n "${NS[$i]}" link set eth0 up
done

# drop_rules I WHERE SHARE: drop SHARE% (100: all) of node I's UDP datagrams
# on the way out (WHERE=out) or both in and out (WHERE=both).
drop_rules() {
	local i=$1 where=$2 share=$3 ns=${NS[$1]} match
	if [ "$DROP" = nft ]; then
		match="meta l4proto udp"
		[ "$share" -lt 100 ] && match="$match numgen random mod 100 < $share"
		{
			echo "table inet pkvt {"
			echo "  chain out { type filter hook output priority 0; $match drop; }"
			[ "$where" = both ] &&
				echo "  chain in { type filter hook input priority 0; $match drop; }"
			echo "}"
		} | ip netns exec "$ns" nft -f -
	else
		tc -n "$ns" qdisc add dev eth0 root netem loss "$share%"
		[ "$where" = both ] && tc -n "$NS_BR" qdisc add dev "b$i" root netem loss "$share%"
	fi
	return 0
}
heal() { # I
	if [ "$DROP" = nft ]; then
		ip netns exec "${NS[$1]}" nft delete table inet pkvt 2>/dev/null || true
	else
		tc -n "${NS[$1]}" qdisc del dev eth0 root 2>/dev/null || true
		tc -n "$NS_BR" qdisc del dev "b$1" root 2>/dev/null || true
	fi
}

t_keygen
CONF=$T_DIR/cluster.conf
cat >"$CONF" <<EOF
# written by test-netns-partition.sh: one daemon per network namespace
cluster = $NS_TAG
cluster_size = 3
key_file = $T_DIR/cluster.key
run_dir = $T_DIR
failure_timeout_ms = $T_FT
heartbeat_ms = $T_HB
node node1 $NET.1:$PORT
node node2 $NET.2:$PORT
node node3 $NET.3:$PORT
EOF

# `ip netns exec` execs pkvd, so $! is the daemon's own pid. Its control
# socket is a path in the run dir: pkv reaches it from any namespace.
for i in 1 2 3; do
	mkdir -p "$T_DIR/node$i"
	ip netns exec "${NS[$i]}" "$PKVD" -c "$CONF" --name "node$i" --bootstrap \
		>>"$T_DIR/node$i/pkvd.log" 2>&1 &
	T_PID[$i]=$!
done
for i in 1 2 3; do
	t_wait_for "node$i ready" "$PKV" -n "node$i" wait --timeout 1
done
for i in 1 2 3; do
	t_wait_for "node$i sees 3 connected" t_connected_is "$i" 3
done
t_log "3 daemons in 3 namespaces reached quorum"

# put_ok NODE KEY VALUE: the put returns VALUE
put_ok() {
	local got
	got=$(t_pkv -n "node$1" put --timeout 20000 "$2" "$3") || t_fail "put $2 on node$1 exited $?"
	[ "$got" = "$3" ] || t_fail "put $2 on node$1 chose '$got', want '$3'"
}
# get_is NODE KEY VALUE
get_is() {
	local got
	got=$(t_pkv -n "node$1" get --timeout 20000 "$2") || t_fail "get $2 on node$1 exited $?"
	[ "$got" = "$3" ] || t_fail "get $2 on node$1 read '$got', want '$3'"
}
both_see_node3_gone() { t_connected_is 1 2 && t_connected_is 2 2; }
all_connected() { t_connected_is 1 3 && t_connected_is 2 3 && t_connected_is 3 3; }

for i in 1 2 3; do put_ok "$i" "before-$i" "v$i"; done
for i in 1 2 3; do get_is "$i" before-1 v1; done

# 1. node3 cut off in both directions.
cut=$(t_now_ms)
drop_rules 3 both 100
t_wait_for "node3 reports quorum lost" t_quorum_is 3 no
took=$(($(t_now_ms) - cut))
t_log "node3 lost quorum ${took} ms after its packets were dropped (failure timeout ${T_FT} ms)"
# Within the failure timeout plus heartbeats and polling slack; generous,
# as sanitizer builds on a loaded machine are slow.
[ "$took" -le $((T_FT + 5000)) ] || t_fail "quorum loss on node3 took ${took} ms"
t_wait_for "node1 and node2 see node3 gone" both_see_node3_gone
t_quorum_is 1 yes || t_fail "node1 lost quorum with 2 of 3"
t_quorum_is 2 yes || t_fail "node2 lost quorum with 2 of 3"
for k in 1 2 3 4 5 6; do put_ok $((k % 2 + 1)) "cut-$k" "c$k"; done
rc=0
t_pkv -n node3 put cut-off x >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || t_fail "put on cut-off node3 exited $rc, want 2 (no quorum)"
t_quorum_is 1 yes && t_quorum_is 2 yes || t_fail "majority lost quorum during the partition"
t_log "majority side kept quorum and took 6 puts; node3 answered no quorum"

heal 3
t_wait_for "node3 regains quorum" t_quorum_is 3 yes
t_wait_for "all see 3 connected" all_connected
for k in 1 2 3 4 5 6; do get_is 3 "cut-$k" "c$k"; done
get_is 3 before-2 v2
t_log "healed: node3 reads every key put during the partition"

# 2. Only node3's egress dropped: it still hears the others, they do not
# hear it, so it is cut off all the same.
drop_rules 3 out 100
t_wait_for "node1 and node2 see node3 gone (one-way)" both_see_node3_gone
t_quorum_is 1 yes || t_fail "node1 lost quorum (one-way cut of node3)"
t_quorum_is 2 yes || t_fail "node2 lost quorum (one-way cut of node3)"
for k in 1 2 3 4; do put_ok $((k % 2 + 1)) "oneway-$k" "o$k"; done
rc=0
t_pkv -n node3 put --timeout 2000 oneway-node3 x >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] || t_fail "put on node3 succeeded although nothing it sends arrives"
t_log "one-way cut: majority kept serving; node3 put exited $rc, node3 quorum: $(t_field 3 quorum)"
heal 3
t_wait_for "all see 3 connected after the one-way cut" all_connected
t_wait_for "node3 has quorum after the one-way cut" t_quorum_is 3 yes
for k in 1 2 3 4; do get_is 3 "oneway-$k" "o$k"; done
rc=0
got=$(t_pkv -n node1 get oneway-node3 2>/dev/null) || rc=$?
[ "$rc" = 1 ] || [ "$got" = x ] || t_fail "oneway-node3 on node1: exit $rc, '$got'"
t_log "healed: node3 reads every key put during the one-way cut"

# 3. 20% of the datagrams lost on every link (each node's egress).
for i in 1 2 3; do drop_rules "$i" out 20; done
out=$T_DIR/puts
mkdir -p "$out"
pids=()
for i in $(seq 1 15); do
	(
		rc=0
		t_pkv -n "node$((i % 3 + 1))" put --timeout 30000 lossy "value-$i" \
			>"$out/$i.val" 2>"$out/$i.err" || rc=$?
		echo "$rc" >"$out/$i.rc"
	) &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for i in $(seq 1 15); do
	[ "$(cat "$out/$i.rc")" = 0 ] || t_fail "lossy put $i exited $(cat "$out/$i.rc"): $(cat "$out/$i.err")"
done
chosen=$(sort -u "$out"/*.val)
[ "$(echo "$chosen" | wc -l)" = 1 ] || t_fail "lossy puts returned different values: $chosen"
for k in 1 2 3 4 5 6; do put_ok $((k % 3 + 1)) "lossy-$k" "l$k"; done
for i in 1 2 3; do
	got=$(t_pkv -n "node$i" get --timeout 30000 lossy) || t_fail "lossy get on node$i"
	[ "$got" = "$chosen" ] || t_fail "node$i reads '$got', the puts chose '$chosen'"
	for k in 1 2 3 4 5 6; do get_is "$i" "lossy-$k" "l$k"; done
done
t_log "15 concurrent puts under 20% loss on every link agreed on $chosen"
for i in 1 2 3; do heal "$i"; done

# Stop the daemons cleanly: each exits 0 and logged no sanitizer report.
for i in 1 2 3; do
	pid=${T_PID[$i]}
	kill -TERM "$pid" 2>/dev/null || true
	rc=0
	wait "$pid" || rc=$?
	unset "T_PID[$i]"
	[ "$rc" = 0 ] || t_fail "node$i exited $rc on SIGTERM"
	if grep -q -E 'Sanitizer|runtime error:' "$T_DIR/node$i/pkvd.log"; then
		t_fail "node$i logged a sanitizer report"
	fi
done
echo ok
