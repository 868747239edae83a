#!/usr/bin/env bash
# `group = NAME`: a client of another uid is admitted when the group is its
# primary group or one of its supplementary groups, and refused otherwise
# with an error naming the group, in its own message and in the daemon's
# log. pkvd creates its run dir 0750 and its node dir with the group, and the
# socket 0660 with the group, so a member can reach the socket at all.
# Clients run under setpriv with a chosen uid, gid and groups. On the code
# before, the run dir was 0700 and only the primary gid counted: the
# supplementary member was refused.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to run clients as other uids"; exit 77; }
command -v setpriv >/dev/null || { echo "SKIP: no setpriv"; exit 77; }
group=
for g in users nogroup daemon; do
	if getent group "$g" >/dev/null; then group=$g; break; fi
done
[ -n "$group" ] || { echo "SKIP: no group to use (users, nogroup, daemon)"; exit 77; }
gid=$(getent group "$group" | cut -d: -f3)
other_uid=4242 other_gid=4242 # nobody's: neither root's nor the group's
[ "$gid" != "$other_gid" ] || { echo "SKIP: group $group has gid $other_gid"; exit 77; }

# Let the other uid reach the run dir inside T_DIR (mktemp made T_DIR 0700).
chmod 0711 "$T_DIR"
run=$T_DIR/run
conf=$T_DIR/paxoskv.conf
t_keygen
cat >"$conf" <<CONF
cluster = group-test
cluster_size = 1
run_dir = $run
key_file = $T_DIR/cluster.key
group = $group
self = node1
node node1 127.0.0.1:$((T_PORT_BASE + 1))
CONF
mkdir -p "$T_DIR/node1"
"$PKVD" -c "$conf" --bootstrap >>"$T_DIR/node1/pkvd.log" 2>&1 &
T_PID[1]=$!
sock=$run/node1/pkvd.sock
t_wait_for "node1 serves" "$PKV" -S "$sock" wait --timeout 1

t_log "modes and groups of what pkvd made"
[ "$(stat -c '%a %G' "$run")" = "750 $group" ] || t_fail "run dir is $(stat -c '%a %G' "$run"), not 750 $group"
[ "$(stat -c '%a %G' "$run/node1")" = "750 $group" ] || t_fail "node dir is $(stat -c '%a %G' "$run/node1")"
[ "$(stat -c '%a %G' "$sock")" = "660 $group" ] || t_fail "socket is $(stat -c '%a %G' "$sock"), not 660 $group"

as() { # UID GID GROUPS(comma list or -) CMD...
	local u=$1 g=$2 gs=$3
	shift 3
	if [ "$gs" = - ]; then
		setpriv --reuid "$u" --regid "$g" --clear-groups env -i PATH=/usr/bin:/bin \
			LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}" "$@"
	else
		setpriv --reuid "$u" --regid "$g" --groups "$gs" env -i PATH=/usr/bin:/bin \
			LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}" "$@"
	fi
}

t_log "a member by its primary group is admitted"
out=$(as $other_uid "$gid" - "$PKV" -S "$sock" put primary-key v1 2>&1) || t_fail "primary-group member refused: $out"
[ "$out" = v1 ] || t_fail "primary-group put printed '$out'"

t_log "a member by a supplementary group is admitted"
out=$(as $other_uid $other_gid "$gid" "$PKV" -S "$sock" put supp-key v2 2>&1) ||
	t_fail "supplementary-group member refused: $out"
[ "$out" = v2 ] || t_fail "supplementary-group put printed '$out'"
out=$(as $other_uid $other_gid "$gid" "$PKV" -S "$sock" cluster 2>&1) ||
	t_fail "supplementary-group member cannot read the cluster view: $out"
grep -q "^node: node1$" <<<"$out" || t_fail "cluster view: $out"

t_log "a non-member cannot pass the run dir; the error names its group"
rc=0
out=$(as $other_uid $other_gid - "$PKV" -S "$sock" get primary-key 2>&1) || rc=$?
[ "$rc" != 0 ] || t_fail "a non-member read a key: $out"
grep -q "directory $run is mode 0750, group '$group': is this user in group '$group'" <<<"$out" ||
	t_fail "the refusal does not name the group: $out"

t_log "with the file modes opened up, the daemon itself refuses a non-member and says why"
chmod 0755 "$run" "$run/node1"
chmod 0666 "$sock"
mark=$(wc -l <"$T_DIR/node1/pkvd.log")
rc=0
out=$(as $other_uid $other_gid - "$PKV" -S "$sock" get primary-key 2>&1) || rc=$?
[ "$rc" != 0 ] || t_fail "a non-member read a key: $out"
grep -q "refused this client: access denied: uid $other_uid .* not in group '$group'" <<<"$out" ||
	t_fail "the daemon's refusal does not reach the client: $out"
rc=0
out=$(as $other_uid $other_gid - "$PKV" -S "$sock" cluster 2>&1) || rc=$?
[ "$rc" != 0 ] || t_fail "a non-member read the cluster view"
grep -q "not in group '$group'" <<<"$out" || t_fail "the cluster refusal does not name the group: $out"
t_wait_for "the daemon logs the refusal" sh -c "tail -n +$((mark + 1)) '$T_DIR/node1/pkvd.log' |
	grep -q \"warning control: refused a connection: access denied: uid $other_uid .* not in group '$group'\""

t_log "the daemon's own uid (root) is admitted, and the keys are there"
[ "$("$PKV" -S "$sock" get supp-key)" = v2 ] || t_fail "root cannot read supp-key"
t_stop 1
echo ok
