#!/usr/bin/env bash
# The Python module (python/paxoskv) and its pytest tests against a
# 3-node dev cluster; skipped without python3's pytest.
. "$(dirname "$0")/lib.sh"
: "${PKV_PYTHON_DIR:?}" "${PKV_CLIENT_LIB:?}"
# The first python3 with pytest: the PATH's, else Debian's (python3-pytest).
py=
for p in python3 /usr/bin/python3; do
	"$p" -c 'import pytest' 2>/dev/null && { py=$p; break; }
done
[ -n "$py" ] || { echo "SKIP: no pytest (python3-pytest)"; exit 77; }
# A sanitized library cannot be loaded into an uninstrumented python3 (the
# ASan runtime must come first in the process); the plain pass runs this.
if [ "${PKV_SANITIZED:-0}" = 1 ]; then
	echo "SKIP: the sanitizer pass (python3 is not built with the sanitizers)"
	exit 77
fi
t_start_cluster 3
export PKV_RUN_DIR=$T_DIR PKV_CLIENT_LIB PYTHONPATH=$PKV_PYTHON_DIR
"$py" -m pytest -q -p no:cacheprovider "$PKV_PYTHON_DIR/tests" || t_fail "pytest"
