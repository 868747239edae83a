#!/usr/bin/env bash
# pkvd under a service manager: with $NOTIFY_SOCKET it says READY=1 once it
# is synced and serving (with its STATUS: quorum, configuration, epoch),
# STATUS= again when the quorum goes, WATCHDOG=1 at half of
# $WATCHDOG_USEC, RELOADING=1 then READY=1 around a SIGHUP, STOPPING=1 on
# SIGTERM. With $JOURNAL_STREAM naming its stderr the log lines are
# "<N>node text", syslog priority first and no timestamp of its own; a
# JOURNAL_STREAM that names another file changes nothing.
. "$(dirname "$0")/lib.sh"

sink=$T_DIR/notify.sock
"$PKV_NOTIFY_SINK" "$sink" 120 >"$T_DIR/notify.out" 2>"$T_DIR/sink.err" &
T_PID[sink]=$!
t_wait_for "the sink listens" grep -q listening "$T_DIR/sink.err"

# node1 logs to the file JOURNAL_STREAM names, as under journald
log1=$T_DIR/node1/pkvd.log
mkdir -p "$T_DIR/node1"
: >"$log1"
t_keygen
NOTIFY_SOCKET=$sink WATCHDOG_USEC=400000 JOURNAL_STREAM=$(stat -c '%d:%i' "$log1") \
	t_start 1 --bootstrap
JOURNAL_STREAM=1:1 t_start 2 --bootstrap
t_log "not READY alone: no quorum, not synced"
t_wait_for "a STATUS before READY" grep -q "^STATUS=quorum no" "$T_DIR/notify.out"
t_start 3 --bootstrap
t_wait_for "READY=1 once node1 serves" grep -q "^READY=1|STATUS=quorum yes, configuration [0-9]*, epoch [0-9]*$" "$T_DIR/notify.out"
t_field_is 1 quorum yes || t_fail "READY before quorum"
t_wait_for "WATCHDOG=1 pings" sh -c "[ \$(grep -c '^WATCHDOG=1$' '$T_DIR/notify.out') -ge 3 ]"

t_log "quorum lost: a new STATUS"
t_stop 2
t_stop 3
t_wait_for "STATUS quorum no after READY" sh -c "sed -n '/^READY=1/,\$p' '$T_DIR/notify.out' | grep -q '^STATUS=quorum no'"

t_log "SIGHUP: RELOADING=1, then READY=1"
kill -HUP "${T_PID[1]}"
t_wait_for "RELOADING=1" grep -q "^RELOADING=1|MONOTONIC_USEC=[0-9]*$" "$T_DIR/notify.out"
t_wait_for "READY=1 after the reload" sh -c "sed -n '/^RELOADING=1/,\$p' '$T_DIR/notify.out' | grep -q '^READY=1$'"

t_log "SIGTERM: STOPPING=1"
t_stop 1
t_wait_for "STOPPING=1" grep -q "^STOPPING=1$" "$T_DIR/notify.out"

t_log "journal format on node1, our own on node2"
grep -q "^<5>node1 started: id 1" "$log1" || t_fail "no '<5>node1 started' line under JOURNAL_STREAM"
grep -q "^<4>node1 \[quorum:no\]" "$log1" || t_fail "no '<4>' warning for the lost quorum"
grep -q "^<6>node1 node[23] up" "$log1" || t_fail "no '<6>' info line"
grep -q "^20[0-9-]*T" "$log1" && t_fail "a timestamp of our own under JOURNAL_STREAM"
grep -q "^20[0-9-]*T[0-9:.]* node2 notice started: id 2" "$T_DIR/node2/pkvd.log" ||
	t_fail "a JOURNAL_STREAM naming another file changed node2's format"
echo ok
