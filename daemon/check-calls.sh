#!/bin/sh
# SPDX-License-Identifier: MIT
# Fails when a call between the modules of pkvd's shell is not listed in
# calls.txt. Usage:
#   check-calls.sh CALLS.TXT OBJECT...
#   check-calls.sh CALLS.TXT --target EXE SOURCE...
# The second form (meson's) checks the objects meson built for the sources
# of executable EXE, EXE.p/SOURCE.o next to it.
#
# Each object is mapped to its module by its source name (meson names the
# object of foo.c foo.c.o); `nm -g --defined-only` says which module defines
# each symbol, `nm -u` which symbols each object calls. A symbol called in
# one module and defined in another is an edge; each edge must be allowed.
set -eu
NM=${NM:-nm}
calls=$1
shift
if [ "${1:-}" = --target ]; then
	exe=$2
	shift 2
	for src in "$@"; do
		o="$(dirname "$exe")/$(basename "$exe").p/$(basename "$src").o"
		[ -f "$o" ] || { echo "check-calls: no object $o for $src"; exit 1; }
		set -- "$@" "$o"
		shift
	done
fi
[ $# -gt 0 ] || { echo "check-calls: no objects given"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# object -> module
: > "$tmp/objects"
for o in "$@"; do
	src=$(basename "$o")
	src=${src%.o}
	src=${src%.obj}
	mod=$(awk -v f="$src" '$1 == "module" { for (i = 3; i <= NF; i++) if ($i == f) print $2 }' "$calls")
	if [ -z "$mod" ]; then
		echo "check-calls: $src is in no module of $calls"
		exit 1
	fi
	printf '%s %s\n' "$o" "$mod" >> "$tmp/objects"
done

# symbol -> module that defines it; (module, symbol) for each call
: > "$tmp/defs"
: > "$tmp/uses"
while read -r o mod; do
	"$NM" -P -g --defined-only "$o" | awk -v m="$mod" '{ print $1, m }' >> "$tmp/defs"
	"$NM" -P -u "$o" | awk -v m="$mod" '{ print m, $1 }' >> "$tmp/uses"
done < "$tmp/objects"

# edges: FROM TO SYMBOL (calls within a module are not edges)
awk 'NR == FNR { def[$1] = $2; next }
     ($2 in def) && def[$2] != $1 { print $1, def[$2], $2 }' \
	"$tmp/defs" "$tmp/uses" | sort -u > "$tmp/edges"

awk 'NR == FNR {
	if ($1 == "allow")
		for (i = 3; i <= NF; i++) ok[$2 " " $i] = 1
	next
}
{
	edge = $1 " " $2
	if (!(edge in ok) && !(("* " $2) in ok)) {
		bad[edge] = bad[edge] " " $3
		nbad++
	}
	seen[edge] = 1
}
END {
	n = 0
	for (e in seen) list[++n] = e
	for (i = 2; i <= n; i++)	# a sorted report
		for (j = i; j > 1 && list[j - 1] > list[j]; j--) {
			t = list[j]; list[j] = list[j - 1]; list[j - 1] = t
		}
	for (i = 1; i <= n; i++) {
		split(list[i], p, " ")
		printf "%s -> %s%s\n", p[1], p[2], (list[i] in bad) ? "   NOT ALLOWED:" bad[list[i]] : ""
	}
	if (nbad) {
		printf "check-calls: %d call(s) outside the allowed graph of %s\n", nbad, ARGV[1]
		exit 1
	}
	printf "check-calls: ok, %d edges\n", n
}' "$calls" "$tmp/edges"
