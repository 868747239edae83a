#!/usr/bin/env bash
# Keys, buckets and values at the limits (1024, 255, 60000 bytes) are
# accepted and round-trip; one byte over is refused with PKV_TOO_LARGE (pkv:
# exit 65) and never stored truncated; empty keys and bucket names are
# refused as malformed. Keys, values and buckets are byte strings: NUL bytes
# inside them round-trip through the C API ("a\0b" and "a" are two keys).
# Puts with dead bindings (dead pid, unknown node, absent key, past until)
# are refused. After all the refusals every accepted key reads the same, with
# the same generation, on every daemon.
. "$(dirname "$0")/lib.sh"
: "${PKV_BAD_INPUT:?}"

t_start_cluster 3

# Through the command line first.
key1024=$(head -c 1024 /dev/zero | tr '\0' k)
val60000=$(head -c 60000 /dev/zero | tr '\0' v)
bucket255=$(head -c 255 /dev/zero | tr '\0' b)
# (bucket cli: the C API part below checks the default bucket's listing)
[ "$(t_pkv -n node1 put -b cli "$key1024" at-limit)" = at-limit ] || t_fail "put of a 1024-byte key"
[ "$(t_pkv -n node2 put -b "$bucket255" k in-255)" = in-255 ] || t_fail "put into a 255-byte bucket"
[ "$(t_pkv -n node3 put -b cli v60000 "$val60000" | wc -c)" = 60001 ] || t_fail "put of a 60000-byte value"

# expect_refused EXIT PATTERN DESCRIPTION -- pkv ARGS...: one line on stderr naming the problem
expect_refused() {
	local want=$1 pattern=$2 what=$3 rc=0
	shift 4
	t_pkv "$@" >"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
	[ "$rc" = "$want" ] || t_fail "$what: exit $rc, want $want; stderr: $(cat "$T_DIR/err")"
	[ ! -s "$T_DIR/out" ] || t_fail "$what: printed a value: $(head -c 80 "$T_DIR/out")"
	grep -q -- "$pattern" "$T_DIR/err" || t_fail "$what: message '$(cat "$T_DIR/err")' lacks '$pattern'"
	t_log "$what: exit $rc: $(head -n 1 "$T_DIR/err")"
}
expect_refused 65 "key too large: 1025 bytes" "pkv put of a 1025-byte key" -- \
	-n node1 put "${key1024}k" v
expect_refused 65 "key too large: 1025 bytes" "pkv get of a 1025-byte key" -- \
	-n node2 get "${key1024}k"
expect_refused 65 "value too large: 60001 bytes" "pkv put of a 60001-byte value" -- \
	-n node3 put -b cli v60001 "${val60000}v"
expect_refused 64 "bucket name is 1..255 bytes" "pkv put into a 256-byte bucket" -- \
	-n node1 put -b "${bucket255}b" k v
expect_refused 64 "bucket name is 1..255 bytes" "pkv get from an empty bucket name" -- \
	-n node1 get -b "" k
expect_refused 64 "empty key" "pkv put of an empty key" -- -n node2 put "" v
expect_refused 64 "empty key" "pkv get of an empty key" -- -n node2 get ""
expect_refused 65 "too large" "pkv put bound to a 1025-byte key" -- \
	-n node1 put -b cli --key "${key1024}k" dep-over v

# Then through the C API: binary keys, every call, every limit.
"$PKV_BAD_INPUT" limits node1 node2 node3 || t_fail "limits through the C API"

# Nothing refused was stored; the accepted keys still read the same everywhere.
for n in 1 2 3; do
	[ "$(t_pkv -n "node$n" get -b cli "$key1024")" = at-limit ] || t_fail "node$n: the 1024-byte key"
	[ "$(t_pkv -n "node$n" get -b "$bucket255" k)" = in-255 ] || t_fail "node$n: the 255-byte bucket"
	[ "$(t_pkv -n "node$n" get -b cli v60000)" = "$val60000" ] || t_fail "node$n: the 60000-byte value"
	for k in v60001 dep-over; do
		rc=0; t_pkv -n "node$n" get -b cli "$k" >/dev/null 2>&1 || rc=$?
		[ "$rc" = 1 ] || t_fail "node$n: refused key $k: get exited $rc, want 1 (not found)"
	done
done
echo ok
