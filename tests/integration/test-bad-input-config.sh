#!/usr/bin/env bash
# pkvd refuses malformed configuration files and bad key files, exiting
# non-zero before it touches anything, with a message that names the file
# (and the line, for a line's mistake): unknown settings, settings given
# twice, duplicate node names and addresses, host names, missing or bad
# ports, unbracketed IPv6, out-of-range and non-numeric numbers, garbage
# lines, NUL bytes, an over-long line, self naming no node, too few nodes for
# cluster_size, heartbeat not below the failure timeout; a missing config
# file; a missing, world-readable, group-readable, unreadable (as a non-root
# user), truncated, empty or over-long key file, or a directory in its place.
# A daemon already running from the same run dir keeps serving its data.
. "$(dirname "$0")/lib.sh"

t_keygen
P1=$((T_PORT_BASE + 1)) P2=$((T_PORT_BASE + 2))
good_head="cluster_size = 1
run_dir = $T_DIR
failure_timeout_ms = 600
self = node1"
nodes="node node1 127.0.0.1:$P1
node node2 127.0.0.1:$P2"

# The good configuration runs; its data must survive everything below.
printf '%s\n%s\n' "$good_head" "$nodes" >"$T_DIR/good.conf"
"$PKVD" -c "$T_DIR/good.conf" --bootstrap >>"$T_DIR/good.log" 2>&1 &
T_PID[good]=$!
t_wait_for "the well-configured daemon serves" "$PKV" -n node1 wait --timeout 1
[ "$(t_pkv -n node1 put kept kept-value)" = kept-value ] || t_fail "put kept"

n=0
# bad_conf EXIT PATTERN TEXT: a config with TEXT is refused with EXIT and PATTERN
bad_conf() { # [LINE]: the message must also say "FILE: line LINE: "
	local want=$1 pattern=$2 text=$3 line=${4:-} rc=0
	n=$((n + 1))
	local f=$T_DIR/bad$n.conf
	printf '%s' "$text" >"$f"
	"$PKVD" -c "$f" >"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
	[ "$rc" = "$want" ] || t_fail "config $n ($pattern): exit $rc, want $want: $(cat "$T_DIR/err")"
	grep -qF -- "$pattern" "$T_DIR/err" ||
		t_fail "config $n: message '$(cat "$T_DIR/err")' lacks '$pattern'"
	[ -z "$line" ] || grep -qF -- "pkvd: $f: line $line: " "$T_DIR/err" ||
		t_fail "config $n: message '$(cat "$T_DIR/err")' does not name $f and line $line"
	t_log "config $n -> $rc: $(head -n 1 "$T_DIR/err")"
}
# Mistakes on one line: the message names the file and the line.
conf_line() { # EXIT LINE_PATTERN LINE: the line is line 5, after the good head
	bad_conf "$1" "$2" "$(printf '%s\n%s\n%s\n' "$good_head" "$3" "$nodes")" 5
}
conf_after() { # EXIT LINE_PATTERN LINE: the line is line 7, after the nodes
	bad_conf "$1" "$2" "$(printf '%s\n%s\n%s\n' "$good_head" "$nodes" "$3")" 7
}
conf_line 78 "unknown setting 'clustr_size'" "clustr_size = 3"
conf_line 78 "'cluster_size' already set on line 1" "cluster_size = 1"
conf_line 78 "expected 'setting = value' or a node line" "hello"
conf_line 78 "missing setting name before '='" "= 5"
conf_line 78 "expected 'node NAME ADDRESS:PORT'" "node node3"
conf_after 78 "duplicate node name 'node1' (first on line 5)" "node node1 127.0.0.1:$((P2 + 1))"
conf_after 78 "duplicate node address 127.0.0.1:$P1 (node 'node1', line 5)" "node node3 127.0.0.1:$P1"
conf_line 78 "bad address 'localhost:$P2'" "node node3 localhost:$P2"
conf_line 78 "missing ':PORT'" "node node3 127.0.0.1"
conf_line 78 "bad port (need 1..65535)" "node node3 127.0.0.1:0"
conf_line 78 "bad port (need 1..65535)" "node node3 127.0.0.1:65536"
conf_line 78 "bad port (need 1..65535)" "node node3 127.0.0.1:-5"
conf_line 78 "an IPv6 address needs brackets" "node node3 ::1:7000"
conf_line 78 "need [IPV6]:PORT" "node node3 [::1]7000"
conf_line 78 "bad address '300.1.1.1:7000'" "node node3 300.1.1.1:7000"
conf_line 78 "bad node name 'no/de'" "node no/de 127.0.0.1:7000"
bad_conf 78 "failure_timeout_ms '10' out of range" "$(echo "$good_head" | sed 's/^failure_timeout_ms = 600/failure_timeout_ms = 10/')
$nodes
" 3
conf_line 78 "heartbeat_ms '5' out of range" "heartbeat_ms = 5"
conf_line 78 "heartbeat_ms '-200' out of range" "heartbeat_ms = -200"
conf_line 78 "heartbeat_ms '99999999999999999999' out of range" "heartbeat_ms = 99999999999999999999"
conf_line 78 "heartbeat_ms 'abc' out of range" "heartbeat_ms = abc"
conf_line 78 "encrypt must be yes or no, not 'maybe'" "encrypt = maybe"
conf_line 78 "bad group name" "group = a b"
conf_line 78 "empty key_file" "key_file ="
head_no_size=$(echo "$good_head" | sed 1d)
bad_conf 78 "cluster_size '0' out of range (1..64)" "cluster_size = 0
$head_no_size
$nodes
" 1
bad_conf 78 "cluster_size '65' out of range (1..64)" "cluster_size = 65
$head_no_size
$nodes
" 1
bad_conf 78 "cluster_size '-1' out of range (1..64)" "cluster_size = -1
$head_no_size
$nodes
" 1
printf '%s\nself = node1\0x\n%s\n' "$(echo "$good_head" | sed '$d')" "$nodes" >"$T_DIR/nul.conf"
rc=0; "$PKVD" -c "$T_DIR/nul.conf" 2>"$T_DIR/err" || rc=$?
[ "$rc" = 78 ] && grep -qF "$T_DIR/nul.conf: line 4: NUL byte" "$T_DIR/err" ||
	t_fail "a NUL byte: exit $rc: $(cat "$T_DIR/err")"
{ echo "$good_head"; printf 'run_dir = %*s\n' 5000 x; } >"$T_DIR/long.conf"
rc=0; "$PKVD" -c "$T_DIR/long.conf" 2>"$T_DIR/err" || rc=$?
[ "$rc" = 78 ] && grep -qF "$T_DIR/long.conf: line 5: line too long" "$T_DIR/err" ||
	t_fail "an over-long line: exit $rc: $(cat "$T_DIR/err")"

# Mistakes of the whole file: exit 78 and a message that names the mistake.
bad_conf 78 "self 'node9' is not a configured node" "$(echo "$good_head" | sed 's/^self = node1/self = node9/')
$nodes
"
bad_conf 78 "no nodes configured" "$good_head
"
bad_conf 78 "cluster_size 5 needs at least 3 configured nodes" "$(echo "$good_head" | sed 's/^cluster_size = 1/cluster_size = 5/')
$nodes
"
bad_conf 78 "heartbeat_ms 600 must be at least 10 and below failure_timeout_ms 600" "$good_head
heartbeat_ms = 600
$nodes
"
rc=0; "$PKVD" -c "$T_DIR/no-such.conf" 2>"$T_DIR/err" || rc=$?
[ "$rc" = 66 ] && grep -qF "cannot read $T_DIR/no-such.conf: No such file" "$T_DIR/err" ||
	t_fail "a missing config file: exit $rc: $(cat "$T_DIR/err")"

# Key files. Each is tried for node2 (not running) so only the key can fail.
kconf() { # KEYFILE: a config for node2 using KEYFILE
	printf '%s\nkey_file = %s\n%s\n' "$(echo "$good_head" | sed 's/^self = node1/self = node2/')" "$1" "$nodes" >"$T_DIR/key.conf"
}
bad_key() { # EXIT PATTERN KEYFILE [runner...]
	local want=$1 pattern=$2 key=$3 rc=0
	shift 3
	kconf "$key"
	"$@" "$PKVD" -c "$T_DIR/key.conf" >"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
	[ "$rc" = "$want" ] || t_fail "key file $key ($pattern): exit $rc, want $want: $(cat "$T_DIR/err")"
	grep -qF -- "$pattern" "$T_DIR/err" || t_fail "key file $key: message '$(cat "$T_DIR/err")' lacks '$pattern'"
	t_log "key file $(basename "$key") -> $rc: $(head -n 1 "$T_DIR/err")"
}
K=$T_DIR/keys
mkdir -p "$K"
bad_key 78 "pkv-keygen $K/missing.key" "$K/missing.key"
cp "$T_DIR/cluster.key" "$K/world.key"; chmod 644 "$K/world.key"
bad_key 78 "key file $K/world.key is readable by group or others (mode 0644); fix it with: chmod 600 $K/world.key" "$K/world.key"
cp "$T_DIR/cluster.key" "$K/group.key"; chmod 640 "$K/group.key"
bad_key 78 "chmod 600 $K/group.key" "$K/group.key"
head -c 33 "$T_DIR/cluster.key" >"$K/truncated.key"; chmod 600 "$K/truncated.key"
bad_key 78 "key file $K/truncated.key is not a key" "$K/truncated.key"
: >"$K/empty.key"; chmod 600 "$K/empty.key"
bad_key 78 "key file $K/empty.key is not a key" "$K/empty.key"
{ cat "$T_DIR/cluster.key"; echo extra; } >"$K/long.key"; chmod 600 "$K/long.key"
bad_key 78 "key file $K/long.key is not a key" "$K/long.key"
mkdir -m 700 "$K/dir.key"
bad_key 78 "key file $K/dir.key is not a regular file" "$K/dir.key"

# Unreadable: root reads any file, so run as nobody (or skip this part).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	NB=$T_DIR/nobody
	mkdir -p "$NB"
	chmod 711 "$T_DIR"
	cp "$T_DIR/cluster.key" "$NB/unreadable.key"
	chmod 000 "$NB/unreadable.key"
	chown -R nobody "$NB"
	printf '%s\nrun_dir = %s\nkey_file = %s/unreadable.key\nself = node2\n%s\n' \
		"cluster_size = 1" "$NB" "$NB" "$nodes" >"$NB/key.conf"
	rc=0
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$PKVD" -c "$NB/key.conf" \
		>"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
	[ "$rc" = 78 ] && grep -qF "cannot open key file $NB/unreadable.key: Permission denied" "$T_DIR/err" ||
		t_fail "an unreadable key file: exit $rc: $(cat "$T_DIR/err")"
	t_log "unreadable key file (as nobody) -> $rc: $(cat "$T_DIR/err")"
elif [ "$(id -u)" != 0 ]; then
	cp "$T_DIR/cluster.key" "$K/unreadable.key"
	chmod 000 "$K/unreadable.key"
	bad_key 78 "cannot open key file $K/unreadable.key: Permission denied" "$K/unreadable.key"
else
	t_log "SKIP the unreadable key file: root without setpriv or user nobody"
fi

# Nothing started, nothing lost: node2 never ran, node1 still serves.
[ ! -S "$T_DIR/node2/pkvd.sock" ] || t_fail "a refused daemon left a socket"
kill -0 "${T_PID[good]}" || t_fail "the running daemon died"
[ "$(t_pkv -n node1 get kept)" = kept-value ] || t_fail "kept changed"
echo ok
