#!/usr/bin/env bash
# SIGHUP no longer stops pkvd: it rereads its configuration file and applies
# what may change at run time (failure_timeout_ms, heartbeat_ms, log_level),
# logging each change; a file that no longer parses, or a heartbeat the
# lease could not follow, is refused with a log line and the old values
# stay; with --log-file the log is reopened, so a rotated file is let go.
# On the code before, the first SIGHUP stopped the daemon.
. "$(dirname "$0")/lib.sh"

conf=$T_DIR/paxoskv.conf
write_conf() { # FT HB LEVEL [EXTRA LINE]
	{
		echo "cluster = reload-test"
		echo "cluster_size = 3"
		echo "run_dir = $T_DIR"
		echo "failure_timeout_ms = $1"
		[ "$2" = - ] || echo "heartbeat_ms = $2"
		[ "$3" = info ] || echo "log_level = $3"
		[ -z "${4:-}" ] || echo "$4"
		for i in 1 2 3; do echo "node node$i 127.0.0.1:$((T_PORT_BASE + i))"; done
	} >"$conf.tmp"
	mv "$conf.tmp" "$conf"
}
start_node() { # I [pkvd args...]
	local i=$1
	shift
	mkdir -p "$T_DIR/node$i"
	"$PKVD" -c "$conf" --name "node$i" --bootstrap "$@" >>"$T_DIR/node$i/pkvd.log" 2>&1 &
	T_PID[$i]=$!
}
alive() { kill -0 "${T_PID[$1]}" 2>/dev/null || t_fail "node$1 exited after SIGHUP"; }
# log_has I PATTERN: PATTERN in node I's log after the mark
log_has() { tail -n +"$((mark + 1))" "$T_DIR/node$1/pkvd.log" | grep -- "$2" >/dev/null; }
mark_log() { mark=$(wc -l <"$T_DIR/node1/pkvd.log"); }

t_keygen
write_conf 600 - info
start_node 1
start_node 2
start_node 3
for i in 1 2 3; do t_wait_for "node$i has quorum" t_quorum_is "$i" yes; done

t_log "an unchanged file: reread, nothing else"
mark_log
kill -HUP "${T_PID[1]}"
t_wait_for "node1 says it reread the file (or exits)" sh -c "gone() { ! kill -0 ${T_PID[1]} 2>/dev/null; }; gone || tail -n +$((mark + 1)) '$T_DIR/node1/pkvd.log' | grep -q 'reload: $conf reread'"
alive 1
log_has 1 "reload: failure_timeout_ms\|changed in\|reload: log_level" && t_fail "an unchanged file logged a change"

t_log "timing and level change: each one logged, the daemon serves on"
write_conf 900 150 debug
mark_log
kill -HUP "${T_PID[1]}"
t_wait_for "node1 reloads" log_has 1 "reload: $conf reread"
alive 1
log_has 1 "notice reload: failure_timeout_ms 600 -> 900" || t_fail "no failure_timeout_ms change logged"
log_has 1 "reload: heartbeat_ms 120 -> 150" || t_fail "no heartbeat_ms change logged"
log_has 1 "reload: log_level info -> debug" || t_fail "no log_level change logged"
[ "$(t_pkv -n node1 put after-reload v1)" = v1 ] || t_fail "put after the reload"

t_log "a file that no longer parses is refused; the old values stay"
write_conf 900 150 debug "bogus_setting = 1"
mark_log
kill -HUP "${T_PID[1]}"
t_wait_for "node1 refuses the broken file" log_has 1 "err reload: $conf: line [0-9]*: unknown setting 'bogus_setting'; keeping the running configuration"
alive 1
log_has 1 "reread" && t_fail "a broken file was applied"
t_quorum_is 1 yes || t_fail "node1 lost quorum over a refused reload"

t_log "a heartbeat the lease cannot follow is refused"
write_conf 900 800 debug
mark_log
kill -HUP "${T_PID[1]}"
t_wait_for "node1 refuses heartbeat 800" log_has 1 "reload: heartbeat_ms 800 is not below the lease"
alive 1

t_log "log_level warning: a peer going down is said, its return (info) is not"
write_conf 900 150 warning
mark_log
kill -HUP "${T_PID[1]}"
t_wait_for "node1 takes log_level warning" log_has 1 "reload: log_level debug -> warning"
t_stop 3
t_wait_for "node1 logs node3 down (warning)" log_has 1 "warning node3 down"
start_node 3
t_wait_for "node1 sees node3 again" sh -c "'$PKV' -n node1 cluster | grep '^connected:' | grep -q node3"
t_wait_for "node1 serves" t_quorum_is 1 yes
log_has 1 "node3 up" && t_fail "an info line was written at log_level warning"

t_log "--log-file: SIGHUP reopens it, so a rotated file is let go"
write_conf 900 150 notice
t_stop 2
start_node 2 --log-file "$T_DIR/node2/file.log"
t_wait_for "node2 logs to its file" grep -q "started" "$T_DIR/node2/file.log"
mv "$T_DIR/node2/file.log" "$T_DIR/node2/file.log.1"
kill -HUP "${T_PID[2]}"
t_wait_for "node2 writes a new log file" sh -c "grep -q 'reload:' '$T_DIR/node2/file.log' 2>/dev/null"
alive 2
grep -q "reload:" "$T_DIR/node2/file.log.1" && t_fail "node2 wrote on into the rotated file"

t_log "SIGTERM still stops"
for i in 1 2 3; do
	pid=${T_PID[$i]}
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	unset "T_PID[$i]"
	[ "$rc" = 0 ] || t_fail "node$i exited $rc on SIGTERM"
done
echo ok
