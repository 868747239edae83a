#!/usr/bin/env bash
# Key inspection (docs/design.md §8.6): `pkv info KEY` shows every daemon's
# acceptor and learner state. With node3 deaf to the others while a value
# is chosen, node1 and node2 show it accepted and chosen and node3 shows no
# value — the lagging acceptor an operator looks for; a stopped node shows
# as not answering.
. "$(dirname "$0")/lib.sh"
: "${PKV_FAULT:?}"

t_start_cluster 3
t_fault 3 "block_in=1,2"
t_pkv -n node1 put lag v1 >/dev/null || t_fail "put"
t_fault 3 ""
t_pkv -n node1 info lag >"$T_DIR/info" || t_fail "info: exit $?"
cat "$T_DIR/info"
for n in 1 2; do
	grep -Eq "^node$n acceptor gen=1 promised=[0-9]+\.[0-9] accepted=[0-9]+\.[0-9] value=v1$" \
		"$T_DIR/info" || t_fail "node$n's acceptor"
	grep -Eq "^node$n learner gen=1 chosen=[0-9]+\.[0-9] value=v1$" "$T_DIR/info" ||
		t_fail "node$n's learner"
done
grep -Eq "^node3 acceptor gen=0 promised=0\.0 accepted=none$" "$T_DIR/info" ||
	t_fail "node3's lagging acceptor"
grep -Eq "^node3 learner gen=0 chosen=none$" "$T_DIR/info" || t_fail "node3's learner"

# JSON: parsed, and the same picture
t_pkv -n node2 info --json lag >"$T_DIR/info.json" || t_fail "info --json"
python3 - "$T_DIR/info.json" <<'PY' || t_fail "info --json: $(cat "$T_DIR/info.json")"
import json, sys
recs = json.load(open(sys.argv[1]))
have = {(r["node"], r["role"]): r for r in recs}
assert have[("node1", "acceptor")]["value"] == "v1"
assert have[("node2", "learner")]["value"] == "v1"
assert "value" not in have[("node3", "acceptor")]
PY

# a stopped node does not answer; the others still do
t_stop 3 KILL
t_pkv -n node1 info --timeout 500 lag >"$T_DIR/info2" || t_fail "info with node3 down"
grep -q "^node3 no answer$" "$T_DIR/info2" || t_fail "node3 down: $(cat "$T_DIR/info2")"
grep -q "^node2 learner gen=1 chosen=" "$T_DIR/info2" || t_fail "node2 with node3 down"
# bad input
rc=0; t_pkv info 2>/dev/null || rc=$?
[ "$rc" = 64 ] || t_fail "info without a key: exit $rc"
rc=0; t_pkv info --timeout x lag 2>/dev/null || rc=$?
[ "$rc" = 64 ] || t_fail "info --timeout x: exit $rc"
t_log "info: node3's acceptor seen lagging"
