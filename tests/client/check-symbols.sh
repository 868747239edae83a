#!/bin/sh
# The library exports the calls of paxoskv.h and nothing else: every defined
# dynamic symbol is pkv_* (or the version node), and each one is in the map.
set -eu
lib=$1
map=$2
nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort -u > syms.$$
trap 'rm -f syms.$$ map.$$' EXIT
bad=$(grep -v -e '^pkv_' -e '^PAXOSKV_CLIENT_0$' syms.$$ || true)
if [ -n "$bad" ]; then
	echo "exported symbols outside pkv_*:" $bad
	exit 1
fi
grep -o 'pkv_[a-z_]*' "$map" | sort -u > map.$$
missing=$(grep '^pkv_' syms.$$ | comm -13 map.$$ - || true)
if [ -n "$missing" ]; then
	echo "exported but not in the version script:" $missing
	exit 1
fi
unexported=$(grep '^pkv_' syms.$$ | comm -23 map.$$ - || true)
if [ -n "$unexported" ]; then
	echo "in the version script but not exported:" $unexported
	exit 1
fi
count=$(grep -c '^pkv_' syms.$$)
[ "$count" -gt 0 ] || { echo "no pkv_ symbols exported"; exit 1; }
echo "ok: $count pkv_ symbols"
