#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Recipe: leader election with followers that take over (as recipes/leader.c).

    leader.py NODE KEY NAME

Every candidate puts NAME for KEY bound to its own process (pid=PID_SELF).
The one whose value is chosen leads; its generation is its term, a fencing
token. The others watch KEY from the term they saw and try again as soon
as that lifetime ends: no polling, no session timeout, the daemon erases
the key when the leader's process dies. Prints "leader NAME term G" or
"follower of LEADER term G" on each change; a leader reads "resign" on
stdin and hands over with release().
"""
import sys

import paxoskv


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: leader.py NODE KEY NAME")
    node, key, name = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
    with paxoskv.Client(node) as kv:
        while True:
            v = kv.put(key, name, pid=paxoskv.PID_SELF)
            if v.value == name:
                print(f"leader {name.decode()} term {v.gen}", flush=True)
                for line in sys.stdin:
                    if line.startswith("resign"):
                        break
                kv.release(key, v.gen)
                print(f"resigned term {v.gen}", flush=True)
                return
            print(f"follower of {v.value.decode()} term {v.gen}", flush=True)
            # watch from the term seen: its end cannot slip past
            with kv.watch(key, from_gen=v.gen, timeout_ms=60000) as w:
                for ev in w:
                    if ev.kind == paxoskv.ENDED and ev.gen >= v.gen:
                        break


if __name__ == "__main__":
    main()
