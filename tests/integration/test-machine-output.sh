#!/usr/bin/env bash
# Machine-readable output (pkv(1), "JSON output", "OpenMetrics output"):
# keys holding a newline, a quote, a backslash, a control byte and a byte
# that is not UTF-8 come back byte for byte through `keys -0`, and escaped
# (\u00XX, \udcXX) in `keys --json` and `get --json`; cluster --json and
# stats --json parse, with numbers as numbers and yes/no as booleans;
# stats --openmetrics has a # TYPE line for every sample's family (the
# latencies as histograms), valid
# metric names, and ends with # EOF.
. "$(dirname "$0")/lib.sh"

t_start_cluster 3

keys=($'new\nline' 'a"quote' 'back\slash' $'ctl\x01byte' $'bad\xffutf8' $'caf\xc3\xa9')
for k in "${keys[@]}"; do
	t_pkv -n node1 put -b odd "$k" "v-$k" >/dev/null || t_fail "put $(printf %q "$k")"
done
t_pkv -n node2 put plain 42 >/dev/null || t_fail "put plain"
# bucket names that look like a field, and one printed as 510 hex digits
long_bucket=$(printf '\001%.0s' $(seq 255))
t_pkv -n node1 put -b 'keys=5' k v >/dev/null || t_fail "put into bucket keys=5"
t_pkv -n node1 put -b "$long_bucket" k v >/dev/null || t_fail "put into a 255-byte bucket"

# -0: each key ended by a NUL, byte for byte (no python needed)
got=()
while IFS= read -r -d '' k; do got+=("$k"); done < <(t_pkv -n node2 keys -b odd -0)
[ "${#got[@]}" = "${#keys[@]}" ] || t_fail "keys -0 gave ${#got[@]} keys, want ${#keys[@]}"
for k in "${keys[@]}"; do
	found=no
	for g in "${got[@]}"; do [ "$g" = "$k" ] && found=yes; done
	[ "$found" = yes ] || t_fail "keys -0 lost $(printf %q "$k")"
done

# the escapes themselves, as bytes on the wire
t_pkv -n node1 keys -b odd --json >"$T_DIR/keys.json" || t_fail "keys --json"
for want in '"new\u000aline"' '"a\"quote"' '"back\\slash"' '"ctl\u0001byte"' '"bad\udcffutf8"'; do
	grep -qF -- "$want" "$T_DIR/keys.json" || t_fail "keys --json lacks $want: $(cat -v "$T_DIR/keys.json")"
done
grep -qF $'"caf\xc3\xa9"' "$T_DIR/keys.json" || t_fail "keys --json escaped valid UTF-8"
t_pkv -n node1 get -b odd --json $'bad\xffutf8' >"$T_DIR/get.json" || t_fail "get --json"
grep -qF '"value":"v-bad\udcffutf8"' "$T_DIR/get.json" || t_fail "get --json: $(cat -v "$T_DIR/get.json")"
t_pkv -n node1 cluster --json >"$T_DIR/cluster.json" || t_fail "cluster --json"
t_pkv -n node1 stats --json >"$T_DIR/stats.json" || t_fail "stats --json"
t_pkv -n node1 stats --openmetrics >"$T_DIR/metrics.txt" || t_fail "stats --openmetrics"
[ "$(tail -n 1 "$T_DIR/metrics.txt")" = "# EOF" ] || t_fail "openmetrics does not end with # EOF"
t_pkv -n node1 stats --prometheus >"$T_DIR/prom.txt" && grep -q '^# TYPE paxoskv_' "$T_DIR/prom.txt" || t_fail "stats --prometheus is not the same form"

# bad input: a clear one-line usage error, nothing printed on stdout
rc=0; out=$(t_pkv -n node1 keys -0 --json 2>/dev/null) || rc=$?
[ "$rc" = 64 ] && [ -z "$out" ] || t_fail "keys -0 --json: exit $rc, out '$out'"
rc=0; t_pkv -n node1 cluster --openmetrics >/dev/null 2>&1 || rc=$?
[ "$rc" = 64 ] || t_fail "cluster --openmetrics exited $rc, want 64"
rc=0; t_pkv -n node1 put --json k v >/dev/null 2>&1 || rc=$?
[ "$rc" = 64 ] || t_fail "put --json exited $rc, want 64"

# The first python3 with the OpenMetrics parser (Debian's
# python3-prometheus-client, which scripts/test.sh installs), else any.
py=
for p in python3 /usr/bin/python3; do
	"$p" -c 'import prometheus_client' 2>/dev/null && { py=$p; break; }
done
[ -n "$py" ] || py=$(command -v python3) || py=
if [ -z "$py" ]; then
	echo "# no python3 here: the JSON and OpenMetrics parser checks are skipped"
	echo ok
	exit 0
fi
for f in keys get cluster stats; do
	"$py" -m json.tool "$T_DIR/$f.json" >/dev/null || t_fail "$f --json does not parse: $(cat -v "$T_DIR/$f.json")"
done
"$py" - "$T_DIR" "${keys[@]}" <<'PY' || t_fail "python checks"
import json, os, re, sys
d = sys.argv[1]
want = sorted(os.fsencode(k) for k in sys.argv[2:])
def load(n):
    with open(os.path.join(d, n + ".json"), "rb") as f:
        return json.loads(f.read().decode("utf-8"))
def fail(msg):
    print("FAIL:", msg); sys.exit(1)
# \udcXX gives the bytes back
got = sorted(k.encode("utf-8", "surrogateescape") for k in load("keys"))
if got != want: fail("keys --json round trip: %r != %r" % (got, want))
g = load("get")
if g["key"].encode("utf-8", "surrogateescape") != b"bad\xffutf8": fail("get key %r" % g)
if g["value"].encode("utf-8", "surrogateescape") != b"v-bad\xffutf8": fail("get value %r" % g)
if type(g["generation"]) is not int or g["generation"] < 1: fail("get generation %r" % g)
if g["stale"] is not False or g["bucket"] != "odd": fail("get %r" % g)
c = load("cluster")
if c["quorum"] is not True or c["cluster_size"] != 3: fail("cluster %r" % c)
if c["voters"] != ["node1", "node2", "node3"] or sorted(c["connected"]) != c["voters"]: fail("cluster lists %r" % c)
if not set(c["voters"]) <= set(c["nodes"]): fail("cluster nodes %r" % c)
if c["lease"]["value"] is not True or type(c["lease"]["left_ms"]) is not int: fail("lease %r" % c["lease"])
up = [p for p in c["peer"] if p["state"] == "up"]
if {p["name"] for p in up} != {"node2", "node3"}: fail("peers %r" % c["peer"])
if any(type(p["rtt_us"]) is not int or type(p["last_heard_ms"]) is not int for p in up): fail("peers %r" % up)
if type(c["rejected"]) is not dict or type(c["datagrams"]["in"]) is not int: fail("cluster %r" % c)
s = load("stats")
if type(s["paxos"]["puts"]) is not int or s["paxos"]["entries"] < 7: fail("stats paxos %r" % s["paxos"])
b = {x["name"]: x for x in s["bucket"]}
if b["odd"]["keys"] != 6: fail("stats buckets %r" % s["bucket"])
if b.get("keys=5", {}).get("keys") != 1 or b.get("0x" + "01" * 255, {}).get("keys") != 1:
    fail("stats buckets named like a field or long: %r" % sorted(b))
# OpenMetrics: every sample's family typed before it, names valid, # EOF last
name = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
types, fams, samples = {}, [], set()
lines = open(os.path.join(d, "metrics.txt")).read().split("\n")
if lines[-2:] != ["# EOF", ""]: fail("openmetrics end %r" % lines[-3:])
for ln in lines[:-2]:
    if ln.startswith("# TYPE "):
        _, _, fam, typ = ln.split(" ")
        if not name.match(fam) or fam in types or typ not in ("counter", "gauge", "histogram"): fail("TYPE %r" % ln)
        types[fam] = typ; fams.append(fam); continue
    if ln.startswith("#"): fail("comment %r" % ln)
    m = re.match(r"^([^{ ]+)(\{[a-z]+=\"(?:[^\"\\\\]|\\\\.)*\"\})? (-?[0-9]+(\.[0-9]+)?)$", ln)
    if not m: fail("sample %r" % ln)
    n = m.group(1); fam = n[:-6] if n.endswith("_total") and types.get(n[:-6]) == "counter" else n
    for suf in ("_bucket", "_count", "_sum"):
        if n.endswith(suf) and types.get(n[:-len(suf)]) == "histogram": fam = n[:-len(suf)]
    if types.get(fam) == "histogram" and n == fam: fail("histogram sample %r without a suffix" % ln)
    if fam not in types or fam != fams[-1]: fail("sample %r outside its family" % ln)
    if types[fam] == "counter" and not n.endswith("_total"): fail("counter %r without _total" % ln)
    if (n, m.group(2)) in samples: fail("sample %r twice" % ln)
    samples.add((n, m.group(2)))
if types.get("paxoskv_latency_put_seconds") != "histogram" or s["latency"][0]["name"] != "put" or \
        not any(l.startswith('paxoskv_latency_put_seconds_bucket{le="+Inf"} ') for l in lines):
    fail("put latency histogram: %r" % [l for l in lines if "latency_put" in l])
for need in ("paxoskv_quorum", "paxoskv_connected_peers", "paxoskv_paxos_keys", "paxoskv_paxos_puts"):
    if need not in types: fail("no %s" % need)
if "paxoskv_quorum 1" not in lines or "paxoskv_connected_peers 2" not in lines: fail("gauges %r" % lines)
for want in ('paxoskv_bucket_keys{bucket="odd"} 6', 'paxoskv_bucket_keys{bucket="keys=5"} 1',
             'paxoskv_bucket_keys{bucket="0x%s"} 1' % ("01" * 255)):
    if want not in lines: fail("no bucket gauge %s" % want)
try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError:
    print("# prometheus_client not installed: its parser check is skipped")
else:
    fams = list(text_string_to_metric_families(open(os.path.join(d, "metrics.txt")).read()))
    print("# prometheus_client's OpenMetrics parser read %d metric families" % len(fams))
PY
echo ok
