#!/usr/bin/env bash
# More daemons than voters never weakens safety. A 3-node cluster gets a
# fourth daemon (as `pkv-cluster start 4` would start it): it serves,
# forwards and learns, but the voters are node1..node3 and it does not vote.
# Split {node1, node2} from {node3, node4}: were node4 a voter, both halves
# would be majorities of 3 and could each choose a value for one key. The
# side with two voters chooses; the side with one voter and the extra
# daemon answers no quorum, and after the heal every daemon reads the one
# chosen value.
. "$(dirname "$0")/lib.sh"
: "${PKV_FAULT:?}" "${PKV_TOP:?}"
fault() { "$PKV_FAULT" "$T_DIR/node$1/pkvd.sock" "$2" >/dev/null || t_fail "fault $1 $2"; }

t_start_cluster 3
t_start 4
t_wait_for "node4 ready" "$PKV" -n node4 wait --timeout 1
[ "$(t_field 4 voter)" = "no (does not vote)" ] || t_fail "node4 voter: $(t_field 4 voter)"
[ "$(t_field 1 voter)" = yes ] || t_fail "node1 is not a voter"
[ "$(t_field 4 voters)" = "node1 node2 node3" ] || t_fail "voters seen by node4: $(t_field 4 voters)"
grep -q "not a voter" "$T_DIR/node4/pkvd.log" || t_fail "node4 did not say it does not vote"
grep -q "NOT A VOTER" <<<"$("$PKV_TOP" -b -n node4)" || t_fail "pkv-top on node4 does not say it does not vote"
! grep -q "NOT A VOTER" <<<"$("$PKV_TOP" -b -n node1)" || t_fail "pkv-top on node1 says it does not vote"
# The extra daemon serves: a put through it is chosen by the voters.
[ "$(t_pkv -n node4 put via-extra x)" = x ] || t_fail "put through node4"
[ "$(t_pkv -n node2 get via-extra)" = x ] || t_fail "node2 does not read node4's put"

# The split: {1,2} | {3,4}.
fault 1 "block=3,4"; fault 2 "block=3,4"; fault 3 "block=1,2"; fault 4 "block=1,2"
t_wait_for "node3 loses quorum" t_quorum_is 3 no
t_wait_for "node4 sees no quorum" t_quorum_is 4 no
t_wait_for "node1 keeps quorum" t_quorum_is 1 yes
rc=0; t_pkv -n node4 put --timeout 2000 split-key from-34 >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || t_fail "a put on the {3,4} side: exit $rc (want 2, no quorum)"
rc=0; t_pkv -n node3 put --timeout 2000 split-key from-34 >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || t_fail "a put on node3: exit $rc (want 2, no quorum)"
[ "$(t_pkv -n node1 put split-key from-12)" = from-12 ] || t_fail "the {1,2} side did not choose"

for n in 1 2 3 4; do fault "$n" ""; done
t_wait_for "node3 regains quorum" t_quorum_is 3 yes
t_wait_for "node4 regains quorum" t_quorum_is 4 yes
for n in 1 2 3 4; do
	[ "$(t_pkv -n "node$n" get split-key)" = from-12 ] || t_fail "node$n reads another value"
done
# pkv member: the list, and add/remove of the one node that can change.
t_pkv -n node1 member list >"$T_DIR/members" || t_fail "member list"
grep -Eq '^node1 +voter +up \(this daemon\)$' "$T_DIR/members" || t_fail "member list: $(cat "$T_DIR/members")"
grep -Eq '^node4 +non-voter +up$' "$T_DIR/members" || t_fail "member list: $(cat "$T_DIR/members")"
grep -Eq '^node5 +non-voter +down$' "$T_DIR/members" || t_fail "member list: $(cat "$T_DIR/members")"
rc=0; t_pkv -n node1 member add node5 2>"$T_DIR/err" || rc=$?
[ "$rc" = 3 ] && grep -q "only node4 can be added" "$T_DIR/err" || t_fail "member add node5: exit $rc, $(cat "$T_DIR/err")"
[ "$(t_pkv -n node1 member add node4)" = ok ] || t_fail "member add node4"
t_wait_for "node4 votes" t_field_is 4 voter yes
rc=0; t_pkv -n node2 member remove node3 2>"$T_DIR/err" || rc=$?
[ "$rc" = 3 ] && grep -q "only node4 can be removed" "$T_DIR/err" || t_fail "member remove node3: exit $rc, $(cat "$T_DIR/err")"
[ "$(t_pkv -n node2 member remove node4)" = ok ] || t_fail "member remove node4"
t_wait_for "node4 votes no more" t_field_is 4 voter "no (does not vote)"
s=$(t_pkv -n node1 stats | tr ' ' '\n' | sed -n 's/^not_voter_dropped=//p')
t_log "after the heal all four read from-12; node1 dropped ${s:-?} messages of the non-voter"
echo ok
