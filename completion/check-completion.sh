#!/usr/bin/env bash
# pkv's bash completion against pkv itself: completing the first word offers
# every command of `pkv -h`, and `pkv -n ` offers the nodes with a control
# socket in $PKV_RUN_DIR.
# usage: check-completion.sh PKV COMPLETION_FILE
set -uo pipefail
pkv=$1
# shellcheck disable=SC1090
. "$2" || { echo "FAIL: $2 does not load"; exit 1; }
fails=0

complete_line() { # WORDS...: COMPREPLY for the last word
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_pkv
}

complete_line "$pkv" ""
offered=" ${COMPREPLY[*]} "
cmds=$("$pkv" -h | sed -n 's/^  \([a-z]\{1,\}\)\( .*\)\{0,1\}$/\1/p' | sort -u)
for c in $cmds; do
	[[ $offered == *" $c "* ]] || { echo "FAIL: 'pkv <TAB>' does not offer '$c'"; fails=$((fails + 1)); }
done

PKV_RUN_DIR=$(mktemp -d)
trap 'rm -rf "$PKV_RUN_DIR"' EXIT
export PKV_RUN_DIR
mkdir "$PKV_RUN_DIR/node1" "$PKV_RUN_DIR/node7" "$PKV_RUN_DIR/gone"
for n in node1 node7; do
	python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
		"$PKV_RUN_DIR/$n/pkvd.sock" 2>/dev/null ||
		{ echo "SKIP: cannot make a socket file (python3, which meson runs on)"; exit 77; }
done
complete_line "$pkv" -n ""
[ "$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')" = "node1 node7 " ] ||
	{ echo "FAIL: 'pkv -n <TAB>' offers '${COMPREPLY[*]}', not 'node1 node7'"; fails=$((fails + 1)); }

complete_line "$pkv" member ""
[ "${COMPREPLY[*]}" = "list add remove" ] ||
	{ echo "FAIL: 'pkv member <TAB>' offers '${COMPREPLY[*]}'"; fails=$((fails + 1)); }
complete_line "$pkv" put --no
[ "${COMPREPLY[*]}" = "--node --no-quorum" ] ||
	{ echo "FAIL: 'pkv put --no<TAB>' offers '${COMPREPLY[*]}'"; fails=$((fails + 1)); }

echo "# checked: $(wc -w <<<"$cmds") commands, -n nodes, member, put options"
[ "$fails" = 0 ]
