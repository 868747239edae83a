#!/usr/bin/env bash
# The operator's path, as README "Configuring real hosts" tells it: `meson
# install` into a DESTDIR, then three hosts (alpha, beta, gamma) that each run
# the installed unit's exact ExecStart line with the installed example
# configuration, filled in as its comments say (one key per host made with
# the installed pkv-keygen, three node lines on loopback). Each host is its
# own mount and UTS namespace: its host name is its node name (so `self`
# comes from it), and its own directories are mounted over the unit's
# /run/paxoskv (RuntimeDirectory=), /var/lib/paxoskv (StateDirectory=) and
# SYSCONFDIR/paxoskv. The daemon runs as an unprivileged user paxoskv, with a
# clean environment and NOTIFY_SOCKET, as systemd would start it; the test
# waits for READY=1 (and a WATCHDOG=1). Then, inside one host, `pkv wait`
# with a clean environment finds the well-known socket, and a put and a get;
# a member of the group paxoskv may get, another user may not; the unit's
# ExecReload works; every log line carries its journald level. Then every
# daemon is SIGKILLed, the run dirs are emptied (a reboot: /run is a tmpfs),
# they start again the same way, and nothing is lost.
# Needs root and unshare; skips (77) without them.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${PKV_BUILD_ROOT:?}" "${PKV_NOTIFY_LISTEN:?}" "${PKV_INSTALL_PREFIX:?}"
: "${PKV_INSTALL_BINDIR:?}" "${PKV_INSTALL_SBINDIR:?}" "${PKV_INSTALL_SYSCONFDIR:?}"
: "${PKV_INSTALL_LIBDIR:?}" "${PKV_INSTALL_MANDIR:?}" "${PKV_INSTALL_DEV_TOOLS:?}"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (mount and UTS namespaces, another user)"; exit 77; }
unshare -m -u true 2>/dev/null ||
	{ echo "SKIP: unshare -m -u is not permitted here"; exit 77; }
for tool in setpriv nsenter ldconfig; do
	command -v "$tool" >/dev/null || t_fail "$tool is missing (util-linux, libc-bin)"
done

HOSTS=(alpha beta gamma)
D=$T_DIR/destdir
# the daemons run as another user and must reach their binaries in here
chmod 0755 "$T_DIR"
t_log "meson install --destdir $D"
"${MESON:-meson}" install -C "$PKV_BUILD_ROOT" --destdir "$D" --no-rebuild --quiet \
	>"$T_DIR/install.log" 2>&1 || { cat "$T_DIR/install.log"; t_fail "meson install failed"; }

# What a host gets, and what it does not.
unit=$(find "$D" -name pkvd.service -path '*/systemd/system/*' | head -n 1)
[ -n "$unit" ] || t_fail "no pkvd.service installed under */systemd/system/"
installed() { [ -e "$D$1" ] || t_fail "not installed: $1"; }
installed "$PKV_INSTALL_SBINDIR/pkvd"
for b in pkv pkv-top pkv-keygen; do installed "$PKV_INSTALL_BINDIR/$b"; done
for m in man8/pkvd.8 man1/pkv.1 man1/pkv-top.1 man1/pkv-keygen.1 man5/paxoskv.conf.5 \
	man3/libpaxoskv-client.3; do
	installed "$PKV_INSTALL_MANDIR/$m"
done
installed "$PKV_INSTALL_SYSCONFDIR/paxoskv/paxoskv.conf"
[ -n "$(find "$D" -path '*/sysusers.d/paxoskv.conf')" ] || t_fail "no sysusers.d/paxoskv.conf"
[ -n "$(find "$D" -path '*/tmpfiles.d/paxoskv.conf')" ] || t_fail "no tmpfiles.d/paxoskv.conf"
[ -n "$(find "$D" -path '*/bash-completion/completions/pkv')" ] || t_fail "no bash completion"
for dev in pkv-bench pkv-cluster; do
	if [ "$PKV_INSTALL_DEV_TOOLS" = true ]; then
		installed "$PKV_INSTALL_BINDIR/$dev"
	elif [ -e "$D$PKV_INSTALL_BINDIR/$dev" ]; then
		t_fail "$dev installed without -Dinstall_dev_tools=true"
	fi
done
# an installed pkv-cluster runs the pkvd of its sbindir (not in a user's PATH)
if [ "$PKV_INSTALL_DEV_TOOLS" = true ]; then
	grep -qx "installed_sbindir='$PKV_INSTALL_SBINDIR'" "$D$PKV_INSTALL_BINDIR/pkv-cluster" ||
		t_fail "the installed pkv-cluster does not look for pkvd in $PKV_INSTALL_SBINDIR"
fi

if command -v systemd-analyze >/dev/null; then
	# The unit as installed, but with pkvd and the man pages (Documentation=)
	# looked up in the DESTDIR.
	mkdir -p "$T_DIR/verify"
	sed "s|^ExecStart=$PKV_INSTALL_SBINDIR/|ExecStart=$D$PKV_INSTALL_SBINDIR/|" "$unit" \
		>"$T_DIR/verify/pkvd.service"
	if ! MANPATH=$D$PKV_INSTALL_MANDIR systemd-analyze verify "$T_DIR/verify/pkvd.service" \
		>"$T_DIR/verify.log" 2>&1; then
		cat "$T_DIR/verify.log"
		t_fail "systemd-analyze verify $unit"
	fi
	t_log "systemd-analyze verify: ok$(sed 's/^/; /' "$T_DIR/verify.log" | tr -d '\n')"
else
	t_log "systemd-analyze absent: the unit is not verified"
fi

# The unit's exact command line, run from the DESTDIR.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
read -ra exec_words <<<"$exec_start"
[ "${exec_words[0]}" = "$PKV_INSTALL_SBINDIR/pkvd" ] ||
	t_fail "ExecStart runs ${exec_words[0]}, not the installed $PKV_INSTALL_SBINDIR/pkvd"
exec_words[0]=$D${exec_words[0]}
t_log "ExecStart=$exec_start"
conf_dir=$PKV_INSTALL_SYSCONFDIR/paxoskv
watchdog_s=$(sed -n 's/^WatchdogSec=\([0-9]*\)s\{0,1\}$/\1/p' "$unit")
[ -n "$watchdog_s" ] || t_fail "the unit sets no WatchdogSec= in seconds"

# The user the unit runs as, made from the installed sysusers.d file in a
# copy of this machine's passwd and group (systemd-sysusers --root), which
# the hosts see bind-mounted over their own; by hand without systemd-sysusers.
sysusers=$(find "$D" -path '*/sysusers.d/paxoskv.conf')
tmpfiles=$(find "$D" -path '*/tmpfiles.d/paxoskv.conf')
sysroot=$T_DIR/sysroot
mkdir -p "$sysroot/etc"
cp /etc/passwd /etc/group "$sysroot/etc/"
for f in shadow gshadow; do [ -f "/etc/$f" ] && cp "/etc/$f" "$sysroot/etc/"; done
if command -v systemd-sysusers >/dev/null; then
	systemd-sysusers --root="$sysroot" - <"$sysusers" >"$T_DIR/sysusers.log" 2>&1 ||
		{ cat "$T_DIR/sysusers.log"; t_fail "systemd-sysusers $sysusers"; }
else
	uid=61000
	while getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null; do uid=$((uid + 1)); done
	echo "paxoskv:x:$uid:$uid::/var/lib/paxoskv:/usr/sbin/nologin" >>"$sysroot/etc/passwd"
	echo "paxoskv:x:$uid:" >>"$sysroot/etc/group"
fi
uid=$(sed -n 's/^paxoskv:x:\([0-9]*\):.*/\1/p' "$sysroot/etc/passwd")
gid=$(sed -n 's/^paxoskv:x:\([0-9]*\):.*/\1/p' "$sysroot/etc/group")
[ -n "$uid" ] && [ -n "$gid" ] || t_fail "no user paxoskv from $sysusers"
t_log "user paxoskv: uid $uid gid $gid"

# The installed library, as ldconfig after an install would list it.
printf '%s\ninclude /etc/ld.so.conf.d/*.conf\n' "$D$PKV_INSTALL_LIBDIR" >"$T_DIR/ld.so.conf"
ldconfig -X -f "$T_DIR/ld.so.conf" -C "$T_DIR/ld.so.cache" 2>/dev/null ||
	t_fail "ldconfig for $D$PKV_INSTALL_LIBDIR"

# Each host's configuration: the installed example with three node lines.
example=$D$conf_dir/paxoskv.conf
lines=()
for i in 1 2 3; do
	h=${HOSTS[i - 1]}
	hd=$T_DIR/node-$h
	mkdir -p "$hd/etc" "$hd/run" "$hd/state"
	pub=$("$D$PKV_INSTALL_BINDIR/pkv-keygen" "$hd/etc/node.key") || t_fail "pkv-keygen on $h"
	lines+=("node $h 127.0.0.1:$((T_PORT_BASE + i)) $pub")
done
for h in "${HOSTS[@]}"; do
	hd=$T_DIR/node-$h
	{ cat "$example"; printf '%s\n' "${lines[@]}"; } >"$hd/etc/paxoskv.conf"
	chmod 0644 "$hd/etc/paxoskv.conf"
	# /run/paxoskv as the unit's RuntimeDirectory= makes it
	chown "$uid:$gid" "$hd/run"
	chmod "$(sed -n 's/^RuntimeDirectoryMode=//p' "$unit")" "$hd/run"
	# the rest as the installed tmpfiles.d file says
	while read -r type path mode user group _; do
		case $type in d | z) ;; *) continue ;; esac
		case $path in
		"$conf_dir") target=$hd/etc ;;
		"$conf_dir/node.key") target=$hd/etc/node.key ;;
		/var/lib/paxoskv) target=$hd/state ;;
		*) t_fail "$tmpfiles: a path the test does not know: $path" ;;
		esac
		[ "$user" = paxoskv ] && user=$uid # known only inside the hosts
		[ "$group" = paxoskv ] && group=$gid
		chown "$user:$group" "$target"
		chmod "$mode" "$target"
	done < <(grep -v '^#' "$tmpfiles")
done

# A mount point for DIR in a host's namespace. A directory of the unit that
# this machine lacks is made under a tmpfs mounted (in that namespace only)
# over its nearest existing parent below /; only /etc itself is never
# covered: a missing SYSCONFDIR/paxoskv under /etc is made on the machine.
mount_over() { # SRC DIR, run inside the host's namespace
	local src=$1 dir=$2 up
	if [ ! -d "$dir" ]; then
		up=$(dirname "$dir")
		while [ ! -d "$up" ]; do up=$(dirname "$up"); done
		if [ "$up" = / ] || [ "$up" = /etc ] || [ "$up" = /usr ]; then
			mkdir -p "$dir"
		else
			# the machine's $up stays as it is; this host sees an empty one
			mount -t tmpfs -o mode=0755 tmpfs "$up"
			mkdir -p "$dir"
		fi
	fi
	mount --bind "$src" "$dir"
}

declare -A NOTIFY_PID=()
# start_host I [extra pkvd args...]: host I's daemon, as systemd starts it.
start_host() {
	local i=$1 h=${HOSTS[$1 - 1]} hd
	shift
	hd=$T_DIR/node-${HOSTS[i - 1]}
	rm -f "$hd/notify.log" "$hd/notify.sock"
	# stderr is the log file, and JOURNAL_STREAM names it, as systemd names
	# the journal's stream: the daemon writes <N> level prefixes
	touch "$hd/pkvd.log"
	local journal_stream
	journal_stream=$(stat -c '%d:%i' "$hd/pkvd.log")
	"$PKV_NOTIFY_LISTEN" "$hd/notify.sock" "$hd/notify.log" &
	NOTIFY_PID[$i]=$!
	T_PID[notify$i]=$!
	t_wait_for "$h's notify socket" test -S "$hd/notify.sock"
	chmod 0666 "$hd/notify.sock" # the daemon's user sends to it
	# Everything below execs: the daemon keeps the pid of unshare.
	unshare -m -u --propagation private bash -c "$(declare -f mount_over)"'
		set -e
		hd=$1 h=$2 uid=$3 gid=$4 conf_dir=$5 wd=$6 js=$7
		shift 7
		hostname "$h"
		mount --bind "$hd/../sysroot/etc/passwd" /etc/passwd
		mount --bind "$hd/../sysroot/etc/group" /etc/group
		mount --bind "$hd/../ld.so.cache" /etc/ld.so.cache
		mount_over "$hd/run" /run/paxoskv
		mount_over "$hd/state" /var/lib/paxoskv
		mount_over "$hd/etc" "$conf_dir"
		cd /
		exec setpriv --reuid="$uid" --regid="$gid" --init-groups \
			env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
			NOTIFY_SOCKET="$hd/notify.sock" WATCHDOG_USEC=$((wd * 1000000)) \
			WATCHDOG_PID=$$ JOURNAL_STREAM="$js" "$@"
	' operator-host "$hd" "$h" "$uid" "$gid" "$conf_dir" 2 "$journal_stream" \
		"${exec_words[@]}" "$@" \
		>>"$hd/pkvd.log" 2>&1 &
	T_PID[$i]=$!
}

stop_host() { # I SIGNAL
	t_stop "$1" "$2"
	kill -KILL "${NOTIFY_PID[$1]}" 2>/dev/null || true
	wait "${NOTIFY_PID[$1]}" 2>/dev/null || true
	unset "T_PID[notify$1]"
}

# on_host I CMD...: CMD inside host I's namespaces, with a clean environment.
on_host() {
	local i=$1
	shift
	nsenter -t "${T_PID[$i]}" -m -u env -i "$D$PKV_INSTALL_BINDIR/$@"
}

# notified I LINE: host I sent LINE; a daemon that exited fails the test.
notified() {
	kill -0 "${T_PID[$1]}" 2>/dev/null || t_fail "${HOSTS[$1 - 1]}'s pkvd exited"
	grep -qx "$2" "$T_DIR/node-${HOSTS[$1 - 1]}/notify.log" 2>/dev/null
}

wait_ready() {
	local i
	for i in 1 2 3; do
		t_wait_for "READY=1 from ${HOSTS[i - 1]}" notified "$i" READY=1
	done
}

# First start: a new cluster, so --bootstrap once (README: the runtime
# drop-in that adds it).
for i in 1 2 3; do start_host "$i" --bootstrap; done
wait_ready
t_log "READY=1 from all three; $(grep -h '^STATUS=' "$T_DIR/node-alpha/notify.log" | tail -n 1)"
# WatchdogSec=2 here: the loop pings within it.
t_wait_for "WATCHDOG=1 from alpha" notified 1 WATCHDOG=1

on_host 1 pkv wait --timeout 30 || t_fail "pkv wait with a clean environment on alpha"
out=$(on_host 1 pkv put operator-key first-value) || t_fail "put on alpha"
[ "$out" = first-value ] || t_fail "put answered '$out'"
out=$(on_host 1 pkv get operator-key) || t_fail "get on alpha"
[ "$out" = first-value ] || t_fail "get answered '$out'"
# A user of the group paxoskv may use the daemon (group = paxoskv, the run
# dir 0750 paxoskv:paxoskv); one outside it may not.
as_nobody() { # I GROUPS CMD...: CMD as uid 65534 with supplementary GROUPS
	local i=$1 groups=$2
	shift 2
	nsenter -t "${T_PID[$i]}" -m -u setpriv --reuid=65534 --regid=65534 $groups \
		env -i "$D$PKV_INSTALL_BINDIR/$@"
}
out=$(as_nobody 1 --groups="$gid" pkv get operator-key) ||
	t_fail "a member of the group paxoskv could not get"
[ "$out" = first-value ] || t_fail "a member of the group paxoskv got '$out'"
rc=0
msg=$(as_nobody 1 --clear-groups pkv get operator-key 2>&1) || rc=$?
[ "$rc" != 0 ] || t_fail "a user outside the group paxoskv got '$msg'"
# the refusal says what to do: the unit's /run/paxoskv is closed to others
grep -q "group 'paxoskv'" <<<"$msg" ||
	t_fail "a user outside the group paxoskv is not told about the group: $msg"
t_log "a user outside the group paxoskv: exit $rc, $msg"

# Under journald every line carries its level and no timestamp of its own.
alpha_log=$T_DIR/node-alpha/pkvd.log
bad=$(grep -cv '^<[0-7]>' "$alpha_log" || true)
[ "$bad" = 0 ] || t_fail "$bad lines of alpha's log have no <N> level prefix"
echo "--- alpha's log, as journald receives it"
head -n 12 "$alpha_log"
# systemctl reload: the unit's ExecReload line, with the daemon's pid
reload=$(sed -n 's/^ExecReload=//p' "$unit")
[ -n "$reload" ] || t_fail "the unit has no ExecReload="
${reload//\$MAINPID/${T_PID[1]}} || t_fail "ExecReload=$reload"
t_wait_for "RELOADING=1 from alpha" notified 1 RELOADING=1
t_wait_for "READY=1 again from alpha" \
	sh -c "[ \$(sed -n '/^RELOADING=1/,\$p' '$T_DIR/node-alpha/notify.log' | grep -cx READY=1) -ge 1 ]"
on_host 1 pkv get operator-key >/dev/null || t_fail "get on alpha after the reload"
t_log "ExecReload=$reload: RELOADING=1, then READY=1"
echo "--- pkv cluster on alpha"
on_host 1 pkv cluster || t_fail "pkv cluster on alpha"
echo "---"

# A power cut on every host, and a reboot: /run is empty again.
for i in 1 2 3; do stop_host "$i" KILL; done
for h in "${HOSTS[@]}"; do
	find "$T_DIR/node-$h/run" -mindepth 1 -delete
	[ -n "$(ls -A "$T_DIR/node-$h/state")" ] || t_fail "$h kept nothing in its state dir"
done
t_log "state dirs: $(ls "$T_DIR/node-alpha/state" | tr '\n' ' ')"
for i in 1 2 3; do start_host "$i"; done
wait_ready
on_host 2 pkv wait --timeout 30 || t_fail "pkv wait on beta after the restart"
out=$(on_host 2 pkv get operator-key) || t_fail "get on beta after the restart"
[ "$out" = first-value ] || t_fail "after the restart get answered '$out'"
# gamma answers from what its log restored once it holds a lease (its own
# quorum and a majority's echoes, docs/design.md §5.1), as beta did
on_host 3 pkv wait --timeout 30 || t_fail "pkv wait on gamma after the restart"
out=$(on_host 3 pkv put operator-key second-value) || t_fail "put on gamma after the restart"
[ "$out" = first-value ] || t_fail "after the restart a second put chose '$out'"
echo "--- pkv cluster on beta after the restart"
on_host 2 pkv cluster || t_fail "pkv cluster on beta"
echo "---"
# systemctl stop: SIGTERM, a clean exit (0), and nothing a sanitizer build
# complains about
for i in 1 2 3; do
	pid=${T_PID[$i]} rc=0
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	unset "T_PID[$i]"
	[ "$rc" = 0 ] || t_fail "${HOSTS[i - 1]}'s pkvd exited $rc on SIGTERM"
	stop_host "$i" TERM
done
if grep -E 'ERROR: [A-Za-z]*Sanitizer|runtime error:' "$T_DIR"/node-*/pkvd.log; then
	t_fail "a sanitizer report in the daemons' logs"
fi
echo "ok: installed, started from the unit's ExecStart on three hosts, and nothing lost across a SIGKILL of all three"
