#!/usr/bin/env bash
# pkv-top's interactive screen, driven in a detached tmux terminal of fixed
# size: the header, peer and bucket rows show; Enter lists the selected
# bucket's keys and values, Esc goes back, `s` changes the sort column; `q`
# exits and leaves the terminal as it found it (canonical mode, echo).
. "$(dirname "$0")/lib.sh"
: "${PKV_TOP:?}"
command -v tmux >/dev/null 2>&1 || { echo "SKIP: tmux is not installed"; exit 77; }

# Our own tmux server on a socket in the run dir: never the user's.
T_TMUX="$T_DIR/tmux.sock"
tm() { tmux -S "$T_TMUX" "$@"; }
trap 'tm kill-server 2>/dev/null || true; t_cleanup' EXIT

t_start_cluster 3
for i in 1 2 3; do t_wait_for "node$i sees 3 connected" t_connected_is $i 3; done
for k in a1 a2 a3; do t_pkv put -b alpha "$k" "v-$k" >/dev/null || t_fail "put alpha $k"; done
for k in b1 b2; do t_pkv put -b beta "$k" "v-$k" >/dev/null || t_fail "put beta $k"; done

# After pkv-top, the shell reports that it exited and whether the terminal is
# back in canonical mode with echo, then lingers so the pane can be read.
cat >"$T_DIR/screen.sh" <<EOS
export PKV_RUN_DIR='$PKV_RUN_DIR'
${LD_LIBRARY_PATH:+export LD_LIBRARY_PATH='$LD_LIBRARY_PATH'}
'$PKV_TOP' -n node1 -d 0.2
echo "EXITED rc=\$?"
modes=\$(stty -a | tr ' ;' '\n\n')
echo "\$modes" | grep -qx icanon && echo "\$modes" | grep -qx echo && echo RESTORED
sleep 60
EOS
tm -f /dev/null new-session -d -s top -x 120 -y 40 "sh '$T_DIR/screen.sh'" || t_fail "tmux new-session"

pane() { tm capture-pane -p -t top 2>/dev/null; }
pane_has() { grep -Eq -- "$1" <<<"$(pane)"; }
# Every failure, including a t_wait_for timeout, shows the screen first.
eval "lib_$(declare -f t_fail)"
t_fail() {
	echo "--- pane" >&2
	pane >&2 || true
	lib_t_fail "$@"
}

t_wait_for "the header of node1" pane_has '^pkv-top +node node1 '
t_wait_for "both buckets counted" pane_has '^beta +2 '
t_wait_for "alpha counted" pane_has '^alpha +3 '
screen=$(pane)
echo "$screen" | sed 's/^/  | /'
grep -Eq '^quorum yes +cluster_size 3 +connected 3 ' <<<"$screen" || t_fail "quorum line"
for p in node2 node3; do
	grep -Eq "^$p +[^ ]+ +up +voter " <<<"$screen" || t_fail "peer $p row"
done
grep -Eq '^PEER +ADDRESS +STATE +ROLE ' <<<"$screen" || t_fail "peer table head"
grep -Eq '^BUCKET\* +KEYS +BYTES ' <<<"$screen" || t_fail "bucket table head (sorted by name)"
grep -Eq '\? help +q quit' <<<"$screen" || t_fail "footer"
t_log "the screen shows the header, peers and buckets"

# Sorted by name, the first row (alpha) is selected: Enter lists its keys.
tm send-keys -t top Enter
t_wait_for "the keys of alpha" pane_has '^bucket alpha: 3 keys'
for k in a1 a2 a3; do
	grep -Eq "^$k +1 +- +v-$k\$" <<<"$(pane)" || t_fail "key $k row (gen 1, value v-$k)"
done
tm send-keys -t top Escape
t_wait_for "back to the buckets" pane_has '^BUCKET\* +KEYS '
tm send-keys -t top s
t_wait_for "sorted by keys" pane_has '^BUCKET +KEYS\* '
# Largest first: alpha (3 keys) above beta (2 keys).
pane | awk '$1 == "alpha" { a = NR } $1 == "beta" { b = NR } END { exit !(a && b && a < b) }' ||
	t_fail "sort by keys"
tm send-keys -t top '?'
t_wait_for "the help overlay" pane_has 'any key closes this help'
tm send-keys -t top x
t_wait_for "the help closed" bash -c "! tmux -S '$T_TMUX' capture-pane -p -t top | grep -q 'any key closes'"
t_log "drill-down, sort and help respond to keys"

tm send-keys -t top q
t_wait_for "pkv-top exits on q" pane_has '^EXITED rc=0'
t_wait_for "the terminal restored" pane_has '^RESTORED'
t_log "q exits and restores the terminal"
echo "ok"
