#!/usr/bin/env bash
# The man pages against the code (man/meson.build): each renders without a
# warning (groff -ww; skipped without groff), and each names what the code
# offers, so a new command, option, setting or call without its
# documentation fails here.
# usage: check-man.sh PKV PKVD PKV_TOP PKV_KEYGEN CONFIG_C PAXOSKV_H MANDIR
set -uo pipefail
pkv=$1 pkvd=$2 top=$3 keygen=$4 config_c=$5 header=$6 dir=$7
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# roff writes a hyphen in an option as \-
roff() { sed 's/-/\\-/g' <<<"$1"; }

# has PAGE WORD: WORD starts a bold item (.B, .BR, .BI) of PAGE.
has_item() {
	grep -Eq "^\.B[IR]? +\"?$(roff "$2" | sed 's/[.\\]/\\&/g')( |\"|$)" "$dir/$1"
}
# has_text PAGE TEXT: TEXT (as roff spells it) appears anywhere in PAGE.
has_text() { grep -qF -- "$(roff "$2")" "$dir/$1"; }

if command -v groff >/dev/null; then
	for page in pkvd.8 pkv.1 pkv-top.1 pkv-keygen.1 paxoskv.conf.5 libpaxoskv-client.3; do
		out=$(groff -man -ww -z "$dir/$page" 2>&1)
		[ -z "$out" ] || fail "$page: groff warns: $out"
	done
else
	echo "# groff absent: rendering not checked"
fi

usage=$("$pkv" -h) || fail "pkv -h failed"
cmds=$(sed -n 's/^  \([a-z]\{1,\}\)\( .*\)\{0,1\}$/\1/p' <<<"$usage" | sort -u)
[ "$(wc -w <<<"$cmds")" -ge 10 ] || fail "found only '$cmds' as commands in pkv -h"
for c in $cmds; do has_item pkv.1 "$c" || fail "pkv.1: no item for the command '$c'"; done
for o in $(grep -oE -- '--[a-z][a-z-]*' <<<"$usage" | sort -u); do
	has_text pkv.1 "$o" || fail "pkv.1: no '$o'"
done

usage=$("$pkvd" -h) || fail "pkvd -h failed"
for o in $(grep -oE -- '--[a-z][a-z-]*' <<<"$usage" | sort -u); do
	has_text pkvd.8 "$o" || fail "pkvd.8: no '$o'"
done

for tool in "$top" "$keygen"; do
	name=${tool##*/}
	usage=$("$tool" -h) || fail "$name -h failed"
	for o in $(grep -oE -- '(^|[ [])-[a-zA-Z]\b' <<<"$usage" | tr -d ' [' | sort -u); do
		has_text "$name.1" "$o" || fail "$name.1: no '$o'"
	done
done

settings=$(sed -n 's/^[[:space:]]*\[SET_[A-Z_]*\] = "\([a-z_]*\)",$/\1/p' "$config_c")
[ "$(wc -w <<<"$settings")" -ge 10 ] || fail "found only '$settings' as settings in $config_c"
for s in $settings node; do
	has_item paxoskv.conf.5 "$s" || fail "paxoskv.conf.5: no item for the setting '$s'"
done

calls=$(grep -oE 'PKV_EXPORT [^(]*\bpkv_[a-z_]+\(' "$header" | grep -oE 'pkv_[a-z_]+' | sort -u)
[ "$(wc -w <<<"$calls")" -ge 20 ] || fail "found only '$calls' as calls in $header"
for f in $calls; do
	grep -qw -- "$f" "$dir/libpaxoskv-client.3" || fail "libpaxoskv-client.3: no '$f'"
done

echo "# checked: $(wc -w <<<"$cmds") pkv commands, $(wc -w <<<"$settings") settings, $(wc -w <<<"$calls") calls"
[ "$fails" = 0 ]
