#!/usr/bin/env bash
# pkv on bad command lines: unknown commands and options, missing and extra
# arguments, bad numbers (negative, not a number, overflowing --ttl, --until,
# --timeout, --pid, resize, wait --timeout), empty or long names, -n and -S
# together. Each exits 64 with one line on stderr naming the problem and
# prints nothing on stdout. No daemon: exit 69 with one line. With a
# daemon: bindings that are already dead (a dead pid, an unknown node, an
# absent key, an until in the past) exit 3 and store nothing; hold of a
# command that does not exist exits 127 and releases the key; a key put
# before all of this still reads the same.
. "$(dirname "$0")/lib.sh"

# refused EXIT PATTERN -- ARGS...: pkv ARGS exits EXIT, one stderr line matching PATTERN
refused() {
	local want=$1 pattern=$2 rc=0
	shift 3
	"$PKV" "$@" >"$T_DIR/out" 2>"$T_DIR/err" </dev/null || rc=$?
	local what="pkv $*"
	what=${what:0:100}
	[ "$rc" = "$want" ] || t_fail "$what: exit $rc, want $want; stderr: $(cat "$T_DIR/err")"
	[ ! -s "$T_DIR/out" ] || t_fail "$what: printed on stdout: $(head -c 100 "$T_DIR/out")"
	[ "$(wc -l <"$T_DIR/err")" = 1 ] || t_fail "$what: want one line on stderr, got: $(cat "$T_DIR/err")"
	grep -q -- "$pattern" "$T_DIR/err" || t_fail "$what: message '$(cat "$T_DIR/err")' lacks '$pattern'"
	t_log "$what -> $rc: $(cat "$T_DIR/err")"
}

long64=$(head -c 64 /dev/zero | tr '\0' n)
U64_OVER=18446744073709551616

# Usage errors need no daemon: exit 64 before attaching.
refused 64 "no command" --
refused 64 "unknown command 'frobnicate'" -- frobnicate
refused 64 "unknown option -x" -- -x get k
refused 64 "option -n needs a value" -- -n
refused 64 "not both" -- -n node1 -S /tmp/nowhere.sock get k
refused 64 "-n takes a node name" -- -n "" get k
refused 64 "put takes KEY VALUE" -- put
refused 64 "put takes KEY VALUE" -- put k
refused 64 "put takes KEY VALUE" -- put k v extra
refused 64 "get takes one KEY" -- get
refused 64 "get takes one KEY" -- get k extra
refused 64 "pid takes one KEY" -- pid
refused 64 "unknown option --frobnicate" -- put --frobnicate k v
refused 64 "option --ttl needs a value" -- put --ttl
refused 64 "option -b needs a value" -- get -b
# Options come before the operands (so a value may start with '-').
refused 64 "put takes KEY VALUE" -- put k v --ttl 5
refused 64 "empty key" -- put "" v
refused 64 "empty key" -- get ""
for bad in -5 abc "" 1e3 " 5" 5ms $U64_OVER 18446744073709551615; do
	refused 64 "--ttl takes milliseconds" -- put --ttl "$bad" k v
done
for bad in -1 abc "" $U64_OVER; do
	refused 64 "--until takes milliseconds" -- put --until "$bad" k v
done
refused 64 "one of --until and --ttl" -- put --ttl 5 --until 6 k v
for bad in -1 abc 4294967296 ""; do
	refused 64 "--timeout takes milliseconds" -- get --timeout "$bad" k
done
for bad in 0 -1 abc 2147483648 99999999999 ""; do
	refused 64 "--pid takes a process id" -- put --pid "$bad" k v
done
refused 64 "--no-quorum takes return, retry or fail" -- put --no-quorum maybe k v
refused 64 "--node takes a node name of 1..63 bytes" -- put --node "$long64" k v
refused 64 "--node takes a node name" -- put --node "" k v
refused 64 "--key takes a key" -- put --key "" k v
refused 64 "--pid is an option of put" -- get --pid 5 k
refused 64 "--pid is an option of put" -- hold --pid 5 k v -- true
refused 64 "--default is an option of get" -- put --default x k v
refused 64 "--ttl is an option of put" -- get --ttl 5 k
refused 64 "a bucket name is 1..255 bytes" -- put -b "" k v
refused 64 "a bucket name is 1..255 bytes" -- keys -b "$(head -c 256 /dev/zero | tr '\0' b)"
refused 64 "resize takes one argument" -- resize
refused 64 "resize takes one argument" -- resize 3 4
for bad in 0 65 -3 abc 3x ""; do
	refused 64 "a cluster size is 1..64" -- resize "$bad"
done
for bad in -1 abc nan inf 1e99 ""; do
	refused 64 "--timeout takes seconds" -- wait --timeout "$bad"
done
refused 64 "wait: unexpected argument" -- wait extra
refused 64 "keys: unexpected argument" -- keys extra
refused 64 "unknown option -z" -- keys -z
for cmd in now cluster buckets; do
	refused 64 "$cmd takes no arguments" -- "$cmd" extra
done
# watch KEY watches a key: more than one operand, a bad option or a bad --from is refused
refused 64 "watch takes at most one KEY" -- watch k extra
refused 64 "watch: unknown option -z" -- watch -z k
refused 64 "watch: --from takes a generation" -- watch --from -1 k
refused 64 "empty key" -- watch ""
refused 64 "release takes KEY GEN" -- release k
refused 64 "release: GEN is a generation" -- release k 0
refused 64 "release: GEN is a generation" -- release k x
refused 64 "info takes one KEY" -- info
refused 64 "info: --timeout takes milliseconds" -- info --timeout 0 k
refused 64 "hold: --timeout with --wait takes seconds" -- hold --wait --timeout x k v -- true
refused 64 "get: --wait is an option of hold" -- get --wait k
refused 64 "drop takes one argument" -- drop
refused 64 "a bucket name is 1..255 bytes" -- drop ""
refused 64 "hold takes KEY VALUE -- CMD" -- hold k v
refused 64 "hold takes KEY VALUE -- CMD" -- hold k v --
refused 64 "hold takes KEY VALUE -- CMD" -- hold k v true

# No daemon: 69, one line.
refused 69 "cannot attach to the daemon" -- -n node1 get k
refused 69 "cannot attach to the daemon" -- -S "$T_DIR/nowhere.sock" put k v

# A daemon: input the daemon itself refuses.
T_SIZE=1
t_start_cluster 1
[ "$(t_pkv -n node1 put keep kept-value)" = kept-value ] || t_fail "put keep"
true & dead=$!
wait "$dead"
refused 3 "invalid value" -- -n node1 put --pid "$dead" bound-to-dead v
refused 3 "invalid value" -- -n node1 put --node node99 bound-to-unknown-node v
refused 3 "invalid value" -- -n node1 put --key no-such-key bound-to-absent-key v
refused 3 "invalid value" -- -n node1 put --until 1 until-in-the-past v
refused 69 "cannot attach to the daemon" -- -n node7 get keep
for k in bound-to-dead bound-to-unknown-node bound-to-absent-key until-in-the-past; do
	rc=0; t_pkv -n node1 get "$k" >/dev/null 2>&1 || rc=$?
	[ "$rc" = 1 ] || t_fail "refused put of $k: get exited $rc, want 1 (not found)"
done

# hold of a command that cannot run: 127, and the key dies with pkv.
rc=0; t_pkv -n node1 hold held v -- "$T_DIR/no-such-command" 2>"$T_DIR/err" || rc=$?
[ "$rc" = 127 ] || t_fail "hold of a missing command: exit $rc, want 127"
grep -q "no-such-command" "$T_DIR/err" || t_fail "hold message: $(cat "$T_DIR/err")"
key_absent() { ! t_pkv -n node1 get held >/dev/null 2>&1; }
t_wait_for "held released after hold exits" key_absent

[ "$(t_pkv -n node1 get keep)" = kept-value ] || t_fail "keep changed"
echo ok
