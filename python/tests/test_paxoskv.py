# SPDX-License-Identifier: MIT
"""The Python module against a dev cluster (run by meson test, suite python:
tests/integration/test-python.sh starts the cluster and sets PKV_RUN_DIR)."""
import os
import subprocess
import sys
import time

import pytest

import paxoskv

NODE1, NODE2 = "node1", "node2"


def test_put_get_keys():
    with paxoskv.Client(NODE1) as kv:
        v = kv.put(b"py-a", b"1")
        assert v.value == b"1" and v.gen >= 1
        assert kv.put("py-a", "2").value == b"1"  # write-once: the first value stays
        with paxoskv.Client(NODE2) as kv2:
            assert kv2.get(b"py-a").value == b"1"
        kv.put(b"py-b", b"x", bucket=b"pyb")
        assert kv.keys(b"pyb") == [b"py-b"]


def test_typed_errors():
    with paxoskv.Client(NODE1) as kv:
        with pytest.raises(paxoskv.NotFound) as e:
            kv.get(b"py-none")
        assert e.value.code == 1000
        with pytest.raises(paxoskv.TooLarge):
            kv.put(b"k" * 1025, b"v")
        with pytest.raises(paxoskv.InvalidValue):
            kv.put(b"py-dead", b"v", until=1000)  # an until in the past
        assert issubclass(paxoskv.Stale, paxoskv.PaxosKVError)


def test_watch_hold_release():
    with paxoskv.Client(NODE1) as kv, paxoskv.Client(NODE2) as kv2:
        w = kv2.watch(b"py-lock")
        held = kv.hold(b"py-lock", b"me", timeout_ms=10000)
        ev = w.next(10000)
        assert (ev.kind, ev.key, ev.gen, ev.value) == (paxoskv.CHOSEN, b"py-lock", held.gen,
                                                        b"me")
        with pytest.raises(paxoskv.NotOwner):
            kv2.release(b"py-lock", held.gen)  # same process, but another daemon's binding
        kv.release(b"py-lock", held.gen)
        ev = w.next(10000)
        assert (ev.kind, ev.gen) == (paxoskv.ENDED, held.gen)
        with pytest.raises(paxoskv.Stale):
            kv.release(b"py-lock", held.gen)
        w.close()


def test_hold_waits_then_times_out():
    with paxoskv.Client(NODE1) as kv:
        kv.hold(b"py-busy", b"first")
        # another process waits in vain: Timeout
        code = ("import paxoskv, sys\n"
                "kv = paxoskv.Client('node1')\n"
                "try:\n"
                "    kv.hold(b'py-busy', b'second', timeout_ms=300)\n"
                "except paxoskv.Timeout:\n"
                "    sys.exit(75)\n")
        r = subprocess.run([sys.executable, "-c", code], env=os.environ)
        assert r.returncode == 75
