#!/usr/bin/env bash
# Machine-readable output (pkv(1), "JSON output", "OpenMetrics output"):
# keys holding a newline, a quote, a backslash, a control byte, a NUL and
# bytes that are not UTF-8 come back byte for byte through `keys -0`, and
# through `keys --json`, `get --json`, `info --json` and `watch -b --json`
# as "key"/"value"/"bucket" strings when they are valid UTF-8 (a NUL as
# \u0000) and as "key_base64"/"value_base64"/"bucket_base64" (RFC 4648)
# when not, read by a JSON parser; cluster --json and
# stats --json parse, with numbers as numbers and yes/no as booleans;
# stats --openmetrics has a # TYPE line for every sample's family (the
# latencies as histograms), valid
# metric names, and ends with # EOF.
. "$(dirname "$0")/lib.sh"
: "${PKV_KEY_EVENTS:?}"

t_start_cluster 3

keys=($'new\nline' 'a"quote' 'back\slash' $'ctl\x01byte' $'bad\xffutf8' $'caf\xc3\xa9' $'\xff\xfe')
for k in "${keys[@]}"; do
	t_pkv -n node1 put -b odd "$k" "v-$k" >/dev/null || t_fail "put $(printf %q "$k")"
done
# a key and a value holding a NUL (valid UTF-8; no command line can hold one)
"$PKV_KEY_EVENTS" put-hex "$T_DIR/node1/pkvd.sock" 6f6464 6e756c006b6579 76006e756c >/dev/null ||
	t_fail "put of nul\\0key"
# a bucket whose name is not UTF-8
t_pkv -n node1 put -b $'b\xff' k $'v\xff\xfe' >/dev/null || t_fail "put into bucket b\\xff"
t_pkv -n node2 put plain 42 >/dev/null || t_fail "put plain"
# bucket names that look like a field, and one printed as 510 hex digits
long_bucket=$(printf '\001%.0s' $(seq 255))
t_pkv -n node1 put -b 'keys=5' k v >/dev/null || t_fail "put into bucket keys=5"
t_pkv -n node1 put -b "$long_bucket" k v >/dev/null || t_fail "put into a 255-byte bucket"

# -0: each key ended by a NUL, byte for byte (no python needed)
got=()
while IFS= read -r -d '' k; do got+=("$k"); done < <(t_pkv -n node2 keys -b odd -0)
# bash cannot hold the NUL key: it reads as "nul" and "key"
[ "${#got[@]}" = $((${#keys[@]} + 2)) ] || t_fail "keys -0 gave ${#got[@]} keys, want ${#keys[@]} + 2"
for k in "${keys[@]}"; do
	found=no
	for g in "${got[@]}"; do [ "$g" = "$k" ] && found=yes; done
	[ "$found" = yes ] || t_fail "keys -0 lost $(printf %q "$k")"
done

# the escapes and the base64 themselves, as bytes on the wire
t_pkv -n node1 keys -b odd --json >"$T_DIR/keys.json" || t_fail "keys --json"
for want in '{"key":"new\u000aline"}' '{"key":"a\"quote"}' '{"key":"back\\slash"}' \
	'{"key":"ctl\u0001byte"}' '{"key":"nul\u0000key"}' '{"key_base64":"YmFk/3V0Zjg="}' \
	'{"key_base64":"//4="}'; do
	grep -qF -- "$want" "$T_DIR/keys.json" || t_fail "keys --json lacks $want: $(cat -v "$T_DIR/keys.json")"
done
grep -qF $'{"key":"caf\xc3\xa9"}' "$T_DIR/keys.json" || t_fail "keys --json escaped valid UTF-8"
t_pkv -n node1 get -b odd --json $'bad\xffutf8' >"$T_DIR/get.json" || t_fail "get --json"
grep -qF '"value_base64":"di1iYWT/dXRmOA=="' "$T_DIR/get.json" || t_fail "get --json: $(cat -v "$T_DIR/get.json")"
t_pkv -n node1 get -b $'b\xff' --json k >"$T_DIR/get-bucket.json" || t_fail "get -b b\\xff --json"
t_pkv -n node2 -o json info -b odd $'\xff\xfe' >"$T_DIR/info.json" || t_fail "-o json info"
# a bucket watch starts with every key's value: one line each, then kill it
t_pkv -n node3 -o json watch -b odd >"$T_DIR/watch.jsonl" 2>"$T_DIR/watch.err" &
T_PID[watch]=$!
t_lines() { [ "$(wc -l <"$1")" -ge "$2" ]; }
t_wait_for "the bucket watch's first events" t_lines "$T_DIR/watch.jsonl" $((${#keys[@]} + 1))
kill "${T_PID[watch]}"
wait "${T_PID[watch]}" 2>/dev/null || true
unset "T_PID[watch]"
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
for args in "-o json hold k v -- true" "-o json hold --wait k v -- true" "-o yaml keys" \
	"-o json stats --openmetrics" "-o json pid --stale k"; do
	read -ra words <<<"$args"
	rc=0; out=$(t_pkv -n node1 "${words[@]}" 2>/dev/null) || rc=$?
	[ "$rc" = 64 ] && [ -z "$out" ] || t_fail "pkv $args: exit $rc, out '$out'"
done
t_pkv -n node2 -o json keys -b odd >"$T_DIR/keys-o.json" || t_fail "-o json keys"

# -o json of every other command but hold (issue 19): one object each
t_pkv -n node1 -o json put -b jo pk $'p\xff' >"$T_DIR/put.json" || t_fail "-o json put"
t_pkv -n node2 -o json put -b jo pk other >"$T_DIR/put-lost.json" || t_fail "-o json put (lost)"
sleep 300 & T_PID[bound]=$!
t_pkv -n node1 put -b jo --pid "${T_PID[bound]}" bound v >/dev/null || t_fail "put --pid"
t_pkv -n node1 put -b jo --node node2 nbound v >/dev/null || t_fail "put --node"
t_pkv -n node1 -o json pid -b jo bound >"$T_DIR/pid.json" || t_fail "-o json pid"
t_pkv -n node1 -o json node -b jo nbound >"$T_DIR/node.json" || t_fail "-o json node"
t_pkv -n node1 -o json pid --default 7 -b jo nokey >"$T_DIR/pid-default.json" ||
	t_fail "-o json pid --default"
t_pkv -n node1 -o json now >"$T_DIR/now.json" || t_fail "-o json now"
echo "$(t_now_ms)" >"$T_DIR/now.ms"
t_pkv -n node1 -o json buckets >"$T_DIR/buckets.json" || t_fail "-o json buckets"
t_pkv -n node1 -o json member list >"$T_DIR/member.json" || t_fail "-o json member list"
t_pkv -n node1 -o json wait -b jo >"$T_DIR/wait.json" || t_fail "-o json wait"
t_pkv -n node1 -o json resize 3 >"$T_DIR/resize.json" || t_fail "-o json resize 3"
t_pkv -n node1 put -b jodrop k v >/dev/null || t_fail "put into jodrop"
t_pkv -n node1 -o json drop jodrop >"$T_DIR/drop.json" || t_fail "-o json drop"
# release: the process bound to the key is the one that releases it (exec)
bash -c '"$PKV" -n node1 put -b jo --pid $$ rel v >/dev/null &&
	g=$("$PKV" -n node1 get -g -b jo rel | tail -n 1) &&
	exec "$PKV" -n node1 -o json release -b jo rel "$g"' >"$T_DIR/release.json" ||
	t_fail "-o json release: $(cat "$T_DIR/release.json")"
# an error stays on stderr, with the same status and nothing on stdout
rc=0; out=$(t_pkv -n node1 -o json release -b jo rel 1 2>/dev/null) || rc=$?
[ "$rc" = 1 ] && [ -z "$out" ] || t_fail "-o json release of an ended generation: exit $rc, out '$out'"
rc=0; out=$(t_pkv -n node1 -o json pid -b jo nokey 2>/dev/null) || rc=$?
[ "$rc" = 1 ] && [ -z "$out" ] || t_fail "-o json pid of no key: exit $rc, out '$out'"

# watch without a key: quorum events, one object a line (node2 and node3 stop)
t_pkv -n node1 -o json watch >"$T_DIR/qwatch.jsonl" 2>"$T_DIR/qwatch.err" &
T_PID[qwatch]=$!
t_wait_for "the quorum watch subscribed" t_field_is 1 subscribers 1
t_stop 2
t_stop 3
t_wait_for "quorum_lost from the quorum watch" grep -q quorum_lost "$T_DIR/qwatch.jsonl"
kill "${T_PID[qwatch]}"
wait "${T_PID[qwatch]}" 2>/dev/null || true
unset "T_PID[qwatch]"

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
for f in keys keys-o get get-bucket info cluster stats put put-lost pid node pid-default now \
	buckets member wait resize drop release; do
	"$py" -m json.tool "$T_DIR/$f.json" >/dev/null || t_fail "$f --json does not parse: $(cat -v "$T_DIR/$f.json")"
done
"$py" - "$T_DIR" "${T_PID[bound]}" "${keys[@]}" <<'PY' || t_fail "python checks"
import base64, json, os, re, sys
d = sys.argv[1]
want = sorted([os.fsencode(k) for k in sys.argv[3:]] + [b"nul\0key"])
def load(n):
    with open(os.path.join(d, n + ".json"), "rb") as f:
        return json.loads(f.read().decode("utf-8"))
def fail(msg):
    print("FAIL:", msg); sys.exit(1)
# one of NAME (valid UTF-8) and NAME_base64 (not), never both; the bytes
def field(o, name):
    if (name in o) == (name + "_base64" in o): fail("%s and %s_base64 in %r" % (name, name, o))
    if name in o:
        b = o[name].encode("utf-8")
        try: b.decode("utf-8", "strict")
        except UnicodeDecodeError: fail("%s is not valid UTF-8: %r" % (name, o))
        return b
    b = base64.b64decode(o[name + "_base64"], validate=True)
    if base64.b64encode(b).decode() != o[name + "_base64"]: fail("not padded base64: %r" % o)
    try:
        b.decode("utf-8", "strict"); fail("%s_base64 for valid UTF-8: %r" % (name, o))
    except UnicodeDecodeError: pass
    return b
for n in ("keys", "keys-o"):
    got = sorted(field(k, "key") for k in load(n))
    if got != want: fail("%s.json round trip: %r != %r" % (n, got, want))
g = load("get")
if field(g, "key") != b"bad\xffutf8": fail("get key %r" % g)
if field(g, "value") != b"v-bad\xffutf8": fail("get value %r" % g)
if type(g["generation"]) is not int or g["generation"] < 1: fail("get generation %r" % g)
if g["stale"] is not False or field(g, "bucket") != b"odd": fail("get %r" % g)
g = load("get-bucket")
if field(g, "bucket") != b"b\xff" or field(g, "key") != b"k" or field(g, "value") != b"v\xff\xfe":
    fail("get -b b\\xff %r" % g)
info = [r for r in load("info") if r.get("role")]
if not any(r["role"] == "acceptor" for r in info): fail("info --json without an acceptor %r" % info)
for r in info:
    if ("value" in r or "value_base64" in r) and field(r, "value") != b"v-\xff\xfe": fail("info value %r" % r)
if not any("value_base64" in r for r in info): fail("info --json without a value %r" % info)
ev = {}
with open(os.path.join(d, "watch.jsonl"), "rb") as f:
    for ln in f:
        e = json.loads(ln.decode("utf-8"))
        if e["event"] != "chosen" or "bucket" in e and e["bucket"] != "odd": fail("watch event %r" % e)
        k = field(e, "key")
        if k in ev: fail("watch reported %r twice" % k)
        ev[k] = field(e, "value")
if sorted(ev) != want: fail("watch -b --json keys: %r != %r" % (sorted(ev), want))
for k, v in ev.items():
    if v != (b"v\0nul" if k == b"nul\0key" else b"v-" + k): fail("watch value of %r: %r" % (k, v))
# -o json of the other commands
p = load("put")
if field(p, "bucket") != b"jo" or field(p, "key") != b"pk" or field(p, "value") != b"p\xff" or \
        p["won"] is not True or type(p["generation"]) is not int or p["generation"] < 1: fail("put %r" % p)
q = load("put-lost")
if field(q, "value") != b"p\xff" or q["won"] is not False or q["generation"] != p["generation"]:
    fail("a put that lost %r" % q)
pb = load("pid")
if field(pb, "key") != b"bound" or pb["pid"] != int(sys.argv[2]): fail("pid %r" % pb)
nb = load("node")
if field(nb, "bucket") != b"jo" or nb["node"] != "node2": fail("node %r" % nb)
pd = load("pid-default")
if pd["pid"] is not None or field(pd, "default") != b"7": fail("pid --default %r" % pd)
n = load("now")
with open(os.path.join(d, "now.ms")) as f: ms = int(f.read())
if type(n["now_ms"]) is not int or not 0 <= ms - n["now_ms"] < 60000: fail("now %r (then %d)" % (n, ms))
names = {x["name"] for x in load("buckets")}
if not {"odd", "jo", "keys=5", "0x" + "01" * 255} <= names: fail("buckets %r" % sorted(names))
m = load("member")
if [(x["name"], x["role"], x["state"], x["this_daemon"]) for x in m[:3]] != \
        [("node1", "voter", "up", True), ("node2", "voter", "up", False), ("node3", "voter", "up", False)]:
    fail("member list %r" % m)
if any(x["role"] != "non-voter" or x["state"] != "down" or x["this_daemon"] for x in m[3:]):
    fail("member list's other nodes %r" % m)
if load("wait") != {"ok": True, "bucket": "jo"}: fail("wait %r" % load("wait"))
if load("resize") != {"ok": True, "voters": 3}: fail("resize %r" % load("resize"))
if load("drop") != {"ok": True, "bucket": "jodrop"}: fail("drop %r" % load("drop"))
r = load("release")
if r["ok"] is not True or field(r, "bucket") != b"jo" or field(r, "key") != b"rel" or \
        type(r["generation"]) is not int or r["generation"] < 1: fail("release %r" % r)
with open(os.path.join(d, "qwatch.jsonl"), "rb") as f:
    qe = [json.loads(ln.decode("utf-8")) for ln in f]
if not qe or any(set(e) != {"event"} for e in qe) or "quorum_lost" not in [e["event"] for e in qe]:
    fail("quorum watch %r" % qe)
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
if b["odd"]["keys"] != len(want): fail("stats buckets %r" % s["bucket"])
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
for want in ('paxoskv_bucket_keys{bucket="odd"} %d' % len(want), 'paxoskv_bucket_keys{bucket="keys=5"} 1',
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
