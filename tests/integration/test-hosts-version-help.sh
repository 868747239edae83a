#!/usr/bin/env bash
# --version on pkvd, pkv and pkv-top prints the project's version and exits
# 0; --help and -h print the usage on stdout and exit 0; a wrong option is
# still a usage error (64). On the code before, `pkv --version` was a usage
# error.
. "$(dirname "$0")/lib.sh"

: "${PKV_VERSION_WANT:?}"
for tool in "$PKVD:pkvd" "$PKV:pkv" "$PKV_TOP:pkv-top"; do
	bin=${tool%%:*} name=${tool##*:}
	for opt in --version -V; do
		rc=0
		out=$("$bin" "$opt" 2>&1) || rc=$?
		[ "$rc" = 0 ] || t_fail "$name $opt exited $rc: $out"
		[ "$out" = "$name $PKV_VERSION_WANT" ] || t_fail "$name $opt printed '$out', not '$name $PKV_VERSION_WANT'"
	done
	for opt in --help -h; do
		rc=0
		out=$("$bin" "$opt" 2>/dev/null) || rc=$?
		[ "$rc" = 0 ] || t_fail "$name $opt exited $rc"
		grep -q "^usage: $name" <<<"$out" || t_fail "$name $opt printed no usage on stdout"
	done
	rc=0
	"$bin" --no-such-option >/dev/null 2>&1 || rc=$?
	[ "$rc" = 64 ] || t_fail "$name --no-such-option exited $rc, not 64"
done
echo ok
