# SPDX-License-Identifier: MIT
"""The Python recipes (python/recipes) against the dev cluster of
tests/integration/test-python.sh."""
import os
import subprocess
import sys
import tempfile

import paxoskv

RECIPES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes")
sys.path.insert(0, RECIPES)

import fenced_lock  # noqa: E402


def candidate(node, key, name):
    return subprocess.Popen([sys.executable, os.path.join(RECIPES, "leader.py"), node, key, name],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=os.environ)


def test_leader_election_takes_over():
    a = candidate("node1", "py-leader", "a")
    assert a.stdout.readline().split()[:2] == ["leader", "a"]
    b = candidate("node2", "py-leader", "b")
    line = b.stdout.readline().split()
    assert line[:3] == ["follower", "of", "a"]
    term_a = int(line[-1])
    a.kill()  # the leader dies: its key ends, the follower takes over
    a.wait()
    line = b.stdout.readline().split()
    assert line[:2] == ["leader", "b"] and int(line[-1]) > term_a
    b.stdin.write("resign\n")  # a hand-over by release
    b.stdin.flush()
    assert b.stdout.readline().startswith("resigned term")
    assert b.wait(timeout=30) == 0


def test_fenced_lock_refuses_a_stale_holder():
    with tempfile.TemporaryDirectory() as d, paxoskv.Client("node1") as kv:
        res = fenced_lock.Resource(os.path.join(d, "resource"))
        with fenced_lock.FencedLock(kv, "py-fenced", "first") as t1:
            assert res.write(t1, b"one") == (True, t1)
        # the lock released, a later holder writes with a higher token
        with paxoskv.Client("node2") as kv2:
            with fenced_lock.FencedLock(kv2, "py-fenced", "second") as t2:
                assert t2 > t1
                assert res.write(t2, b"two") == (True, t2)
        # the first holder, come back late with its old token: refused
        assert res.write(t1, b"late") == (False, t2)
        with open(res.path, "rb") as f:
            assert f.read() == b"%d\ntwo" % t2
