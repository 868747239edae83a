#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Recipe: a lock whose fencing token a protected resource checks (as
recipes/fenced-lock.c).

The lock is a key held with Client.hold() (it waits for the key to be
free); the value's generation is the fencing token. The protected resource
keeps the highest token it has seen and refuses a write that carries a
lower one, so a holder that lost the lock while it was paused, partitioned
or slow cannot overwrite the next holder's work.
"""
import fcntl
import os

import paxoskv


class Resource:
    """A file that takes writes fenced by a token (first line: the highest seen)."""

    def __init__(self, path):
        self.path = path

    def write(self, token, data):
        """Writes data under token; returns (True, token) or (False, highest seen)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # serialises this host's writers; the token fences
            head = os.pread(fd, 64, 0).split(b"\n", 1)[0]
            seen = int(head) if head else 0
            if token < seen:
                return False, seen
            os.ftruncate(fd, 0)
            os.pwrite(fd, b"%d\n%s" % (token, data), 0)
            os.fsync(fd)
            return True, token
        finally:
            os.close(fd)


class FencedLock:
    """with FencedLock(client, key, owner) as token: resource.write(token, ...)."""

    def __init__(self, client, key, owner, timeout_ms=0):
        self.kv, self.key, self.owner, self.timeout_ms = client, key, owner, timeout_ms
        self.token = None

    def __enter__(self):
        self.token = self.kv.hold(self.key, self.owner, timeout_ms=self.timeout_ms).gen
        return self.token

    def __exit__(self, *exc):
        try:
            self.kv.release(self.key, self.token)
        except paxoskv.Stale:
            pass  # already ended (the lock was lost): nothing to release

