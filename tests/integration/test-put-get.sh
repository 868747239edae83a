#!/usr/bin/env bash
# put/get/keys through real daemons: 60 concurrent puts of different values to
# one key from all 3 daemons return one value that every daemon's get agrees
# on; write-once; not found and --default; bucket isolation; keys deduplicated
# across daemons; oversized keys and values refused with exit 65.
. "$(dirname "$0")/lib.sh"

t_start_cluster 3

# 60 concurrent puts, 20 through each daemon, each with its own value.
out=$T_DIR/puts
mkdir -p "$out"
pids=()
for i in $(seq 1 60); do
	node=$((i % 3 + 1))
	(t_pkv -n "node$node" put contested "value-$i" >"$out/$i.val" 2>"$out/$i.err"; echo $? >"$out/$i.rc") &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for i in $(seq 1 60); do
	[ "$(cat "$out/$i.rc")" = 0 ] || t_fail "put $i exited $(cat "$out/$i.rc"): $(cat "$out/$i.err")"
done
distinct=$(cat "$out"/*.val | sort -u)
[ "$(echo "$distinct" | wc -l)" = 1 ] || t_fail "puts returned different values: $distinct"
case "$distinct" in value-*) ;; *) t_fail "chosen value is not one of the proposals: $distinct" ;; esac
for n in 1 2 3; do
	got=$(t_pkv -n "node$n" get contested) || t_fail "get on node$n failed"
	[ "$got" = "$distinct" ] || t_fail "node$n get says '$got', puts said '$distinct'"
done
t_log "60 concurrent puts agreed on $distinct"

# write-once
[ "$(t_pkv -n node2 put once first)" = first ] || t_fail "first put"
[ "$(t_pkv -n node3 put once second)" = first ] || t_fail "second put changed a chosen key"
[ "$(t_pkv -n node1 get once)" = first ] || t_fail "get after second put"

# not found, default
rc=0; t_pkv -n node1 get missing >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || t_fail "get of a missing key exited $rc, want 1"
[ "$(t_pkv -n node2 get --default dflt missing)" = dflt ] || t_fail "get --default"

# buckets: the same key in two buckets holds two values
[ "$(t_pkv -n node1 put -b alpha shared a)" = a ] || t_fail "put alpha"
[ "$(t_pkv -n node2 put -b beta shared b)" = b ] || t_fail "put beta"
[ "$(t_pkv -n node3 get -b alpha shared)" = a ] || t_fail "alpha leaked"
[ "$(t_pkv -n node3 get -b beta shared)" = b ] || t_fail "beta leaked"
rc=0; t_pkv -n node1 get -b gamma shared >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || t_fail "a new bucket is not empty"

# keys: deduplicated across daemons, per bucket
t_pkv -n node1 put -b alpha k2 x >/dev/null
keys=$(t_pkv -n node3 keys -b alpha | sort | tr '\n' ' ')
[ "$keys" = "k2 shared " ] || t_fail "keys -b alpha: '$keys'"
keys=$(t_pkv -n node2 keys | sort | tr '\n' ' ')
[ "$keys" = "contested once " ] || t_fail "keys of the default bucket: '$keys'"

# limits: refused with a clear error, never truncated
big=$(head -c 1025 /dev/zero | tr '\0' k)
rc=0; t_pkv -n node1 put "$big" v >/dev/null 2>"$T_DIR/err" || rc=$?
[ "$rc" = 65 ] || t_fail "oversized key exited $rc, want 65"
grep -q "too large" "$T_DIR/err" || t_fail "oversized key message: $(cat "$T_DIR/err")"
bigv=$(head -c 60001 /dev/zero | tr '\0' v)
rc=0; t_pkv -n node1 put bigvalue "$bigv" >/dev/null 2>&1 || rc=$?
[ "$rc" = 65 ] || t_fail "oversized value exited $rc, want 65"
maxv=$(head -c 60000 /dev/zero | tr '\0' v)
[ "$(t_pkv -n node2 put maxvalue "$maxv" | wc -c)" = 60001 ] || t_fail "a 60000-byte value"
[ "$(t_pkv -n node3 get maxvalue | wc -c)" = 60001 ] || t_fail "get of a 60000-byte value"
echo ok
