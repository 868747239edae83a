#!/usr/bin/env bash
# pkv-top -b prints, for one daemon, every bucket with its key count and
# every peer with its state, and keys bound by each lifetime; -c 2 prints two refreshes separated by a blank
# line; -b --json prints each refresh as one JSON object on one line; a
# daemon that is not running exits 69 with a message.
. "$(dirname "$0")/lib.sh"
: "${PKV_TOP:?}"

t_start_cluster 3
for i in 1 2 3; do t_wait_for "node$i sees 3 connected" t_connected_is $i 3; done
for k in a1 a2 a3; do t_pkv put -b alpha "$k" "v-$k" >/dev/null || t_fail "put alpha $k"; done
for k in b1 b2; do t_pkv -n node2 put -b beta "$k" "v-$k" >/dev/null || t_fail "put beta $k"; done
# Names the daemon prints as 0x and hex: one with a space, one not UTF-8.
t_pkv put -b "sp ace" s1 v >/dev/null || t_fail "put to bucket 'sp ace'"
t_pkv put -b $'\xffb' x1 v >/dev/null || t_fail "put to bucket 0xff62"

# Chosen values reach node1's store through its learner: wait until it counts them.
bucket_keys() { # NODE BUCKET: the KEYS column of BUCKET in one batch screen
	"$PKV_TOP" -b -n "$1" | awk -v b="$2" '$1 == "BUCKET" { t = 1; next } t && $1 == b { print $2 }'
}
keys_are() { [ "$(bucket_keys "$1" "$2")" = "$3" ]; }
t_wait_for "node1 counts 3 keys in alpha" keys_are node1 alpha 3
t_wait_for "node1 counts 2 keys in beta" keys_are node1 beta 2
t_wait_for "node1 counts 1 key in 'sp ace'" keys_are node1 0x737020616365 1
t_wait_for "node1 counts 1 key in 0xff62" keys_are node1 0xff62 1

out=$("$PKV_TOP" -b -n node1) || t_fail "pkv-top -b exited $?"
echo "$out" | sed 's/^/  | /'
grep -Eq '^pkv-top +node node1 ' <<<"$out" || t_fail "header does not name node1"
grep -Eq '^quorum yes +cluster_size 3 +connected 3 ' <<<"$out" || t_fail "header quorum line"
grep -Eq '^alpha +3 ' <<<"$out" || t_fail "bucket alpha with 3 keys missing"
grep -Eq '^beta +2 ' <<<"$out" || t_fail "bucket beta with 2 keys missing"
for p in node2 node3; do
	grep -Eq "^$p +[^ ]+ +up +voter " <<<"$out" || t_fail "peer $p not listed as up"
done
grep -Eq '^rejected datagrams: 0 ' <<<"$out" || t_fail "rejected datagrams line"
grep -Eq '^local: clients [0-9]+ ' <<<"$out" || t_fail "local line"
# A single screen has no previous reading: rates are unknown, never invented.
grep -Eq '^alpha +3 +[0-9]+ +3 +- +- ' <<<"$out" || t_fail "first screen shows rates"
t_log "one batch screen lists buckets and peers"

# Bound keys are counted by lifetime, and an ended one shows as an erasure.
t_pkv put -b gamma --node node3 g-node v >/dev/null || t_fail "put gamma g-node"
t_pkv put -b gamma --ttl 600000 g-until v >/dev/null || t_fail "put gamma g-until"
t_pkv put -b gamma --key g-node g-key v >/dev/null || t_fail "put gamma g-key"
t_pkv put -b gamma --ttl 300 g-short v >/dev/null || t_fail "put gamma g-short"
gamma_row() { "$PKV_TOP" -b -n node1 | awk '$1 == "BUCKET" { t = 1; next } t && $1 == "gamma"'; }
gamma_settled() { # 4 keys, 3 chosen and live: node 1, key 1, until 1 (g-short ended)
	grep -Eq '^gamma +4 +[0-9]+ +3 +[^ ]+ +[^ ]+ +0/1/1/1 +0 ' <<<"$(gamma_row)"
}
t_wait_for "node1 counts gamma's bound keys and the expiry" gamma_settled
t_log "bound keys counted per lifetime: $(gamma_row)"

out=$("$PKV_TOP" -b -n node1 -c 2 -d 0.2) || t_fail "pkv-top -c 2 exited $?"
[ "$(echo "$out" | grep -c '^pkv-top ')" = 2 ] || t_fail "-c 2 did not print two screens"
[ "$(echo "$out" | grep -c '^alpha ')" = 2 ] || t_fail "-c 2: alpha not in both screens"
# The screens are separated by one blank line, right before the second header.
echo "$out" | awk '/^pkv-top / && ++n == 2 && prev != "" { bad = 1 } { prev = $0 } END { exit bad }' ||
	t_fail "no blank line between screens"
# The second screen has rates, computed between the two readings.
echo "$out" | grep -E '^alpha ' | tail -n 1 | grep -Eq '^alpha +3 +[0-9]+ +3 +[0-9]+\.[0-9] +[0-9]+\.[0-9] ' ||
	t_fail "second screen has no rates"
t_log "-c 2 prints two screens with rates in the second"

# --json: one JSON object a refresh, one a line, with what the text shows.
out=$("$PKV_TOP" -b --json -n node1 -c 2 -d 0.2) || t_fail "pkv-top -b --json exited $?"
echo "$out" | sed 's/^/  | /'
[ "$(echo "$out" | wc -l)" = 2 ] || t_fail "-b --json -c 2 did not print two lines"
echo "$out" | /usr/bin/python3 -c '
import json, sys
for n, line in enumerate(sys.stdin):
    o = json.loads(line)
    assert o["node"] == "node1", o["node"]
    assert o["quorum"] is True and o["cluster_size"] == 3, o
    # The voters up; the run dir lists spare non-voters, which are not running.
    up = sorted(p["name"] for p in o["peers"] if p["state"] == "up" and p["role"] == "voter")
    assert up == ["node2", "node3"], o["peers"]
    assert sorted(o["connected"]) == ["node1", "node2", "node3"], o["connected"]
    b = {x.get("bucket"): x for x in o["buckets"]}
    assert b["alpha"]["keys"] == 3 and b["beta"]["keys"] == 2, b
    assert b["sp ace"]["keys"] == 1, b
    # Not UTF-8: the name comes back exactly, in base64.
    raw = {x.get("bucket_base64"): x for x in o["buckets"]}
    assert raw["/2I="]["keys"] == 1 and "bucket" not in raw["/2I="], raw
    assert b["gamma"]["bound"] == {"pid": 0, "node": 1, "key": 1, "until": 1}, b["gamma"]
    rate = b["alpha"]["puts_per_s"]
    # No rates from a single reading; the second has them.
    assert (rate is None) == (n == 0), rate
    assert o["rejected_datagrams"] == 0, o
' || t_fail "-b --json: the objects do not describe the cluster"
t_log "-b --json prints one object a refresh with node, quorum, peers and buckets"
out=$("$PKV_TOP" -b -o json -n node1) || t_fail "pkv-top -b -o json exited $?"
echo "$out" | /usr/bin/python3 -c 'import json,sys; assert json.load(sys.stdin)["node"] == "node1"' ||
	t_fail "-b -o json is not the JSON form"

set +e
err=$("$PKV_TOP" -b -n node7 2>&1 >/dev/null)
rc=$?
set -e
[ "$rc" = 69 ] || t_fail "a node that is not running: exit $rc, expected 69"
grep -q 'unavailable' <<<"$err" || t_fail "no clear message: $err"
set +e
"$PKV_TOP" -b -c 0 >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 64 ] || t_fail "-c 0: exit $rc, expected 64"
set +e
err=$("$PKV_TOP" --json -n node1 2>&1 >/dev/null)
rc=$?
set -e
[ "$rc" = 64 ] || t_fail "--json without -b: exit $rc, expected 64"
[ "$(echo "$err" | wc -l)" = 1 ] || t_fail "--json without -b: not one line: $err"
t_log "exit 69 without a daemon, 64 on bad usage"
echo "ok"
