# SPDX-License-Identifier: MIT
"""PaxosKV from Python: the client library (libpaxoskv-client) over ctypes.

    import paxoskv
    with paxoskv.Client() as kv:            # the host's daemon, or PKV_SOCKET/PKV_NODE
        v = kv.put(b"leader", b"alice", pid=paxoskv.PID_SELF)
        print(v.value, v.gen)               # the chosen value and its generation
        for ev in kv.watch(b"leader", from_gen=v.gen):
            print(ev.kind, ev.key, ev.gen, ev.value)

Keys, values and bucket names are bytes (str is encoded as UTF-8). Status
codes become exceptions: NotFound, NoQuorum, InvalidValue, TooLarge,
Timeout, Unavailable, BadRequest, NotInSync, NoMemory, Stale, NotOwner, all
subclasses of PaxosKVError (its .code is the C status). The library is
found as $PKV_CLIENT_LIB, else libpaxoskv-client.so.0 on the loader path.
"""
import ctypes
import ctypes.util
import os

__all__ = [
    "Client", "Value", "WatchEvent", "PaxosKVError", "NotFound", "NoQuorum",
    "InvalidValue", "TooLarge", "Timeout", "Unavailable", "BadRequest",
    "NotInSync", "NoMemory", "Stale", "NotOwner", "PID_SELF", "CHOSEN", "ENDED",
]

PID_SELF = -1
CHOSEN = "chosen"
ENDED = "ended"
_WATCH_QUEUE = 1 << 1


class PaxosKVError(Exception):
    """A status of the library; .code is the C code (enum pkv_code or -errno)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class NotFound(PaxosKVError):
    pass


class NoQuorum(PaxosKVError):
    pass


class InvalidValue(PaxosKVError):
    pass


class TooLarge(PaxosKVError):
    pass


class Timeout(PaxosKVError):
    pass


class Unavailable(PaxosKVError):
    pass


class BadRequest(PaxosKVError):
    pass


class NotInSync(PaxosKVError):
    pass


class NoMemory(PaxosKVError):
    pass


class Stale(PaxosKVError):
    """A release of a generation that has already ended: nothing changed."""


class NotOwner(PaxosKVError):
    """A release of a key not bound to the calling process."""


_ERRORS = {
    1000: NotFound, 1001: NoQuorum, 1002: InvalidValue, 1003: TooLarge, 1004: Timeout,
    1005: Unavailable, 1006: BadRequest, 1007: NotInSync, 1008: NoMemory, 1009: Stale,
    1010: NotOwner,
}


class _Value(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("len", ctypes.c_size_t), ("cap", ctypes.c_size_t),
                ("gen", ctypes.c_uint64), ("until", ctypes.c_uint64),
                ("flags", ctypes.c_uint64), ("reserved", ctypes.c_uint64 * 1)]


class _PutOpts(ctypes.Structure):
    _fields_ = [("bucket", ctypes.c_char_p), ("bucket_len", ctypes.c_size_t),
                ("no_quorum", ctypes.c_int), ("timeout_ms", ctypes.c_uint32),
                ("pid", ctypes.c_int32), ("node", ctypes.c_char_p),
                ("dep_key", ctypes.c_char_p), ("dep_key_len", ctypes.c_size_t),
                ("until", ctypes.c_uint64), ("reserved", ctypes.c_uint64 * 8)]


class _GetOpts(ctypes.Structure):
    _fields_ = [("bucket", ctypes.c_char_p), ("bucket_len", ctypes.c_size_t),
                ("def_", ctypes.c_char_p), ("def_len", ctypes.c_size_t),
                ("timeout_ms", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("reserved", ctypes.c_uint64 * 6)]


class _WatchEvent(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("gen", ctypes.c_uint64), ("until", ctypes.c_uint64),
                ("bucket", ctypes.c_void_p), ("bucket_len", ctypes.c_size_t),
                ("key", ctypes.c_void_p), ("key_len", ctypes.c_size_t),
                ("value", ctypes.c_void_p), ("value_len", ctypes.c_size_t),
                ("reserved", ctypes.c_uint64 * 4)]


def _load():
    path = os.environ.get("PKV_CLIENT_LIB") or ctypes.util.find_library("paxoskv-client") \
        or "libpaxoskv-client.so.0"
    lib = ctypes.CDLL(path)
    P, S, U32, U64 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_uint64
    sigs = {
        "pkv_open": ([ctypes.POINTER(P), ctypes.c_char_p], ctypes.c_int),
        "pkv_close": ([P], None),
        "pkv_put": ([P, ctypes.c_char_p, S, ctypes.c_char_p, S, ctypes.POINTER(_PutOpts),
                     ctypes.POINTER(_Value)], ctypes.c_int),
        "pkv_get": ([P, ctypes.c_char_p, S, ctypes.POINTER(_GetOpts), ctypes.POINTER(_Value)],
                    ctypes.c_int),
        "pkv_value_free": ([ctypes.POINTER(_Value)], None),
        "pkv_keys": ([P, ctypes.c_char_p, S, ctypes.POINTER(P)], ctypes.c_int),
        "pkv_keys_next": ([P, ctypes.POINTER(P), ctypes.POINTER(S)], ctypes.c_int),
        "pkv_keys_free": ([P], None),
        "pkv_watch": ([P, ctypes.c_char_p, S, ctypes.c_char_p, S, U64, ctypes.c_uint,
                       ctypes.POINTER(P)], ctypes.c_int),
        "pkv_watch_next": ([P, ctypes.POINTER(_WatchEvent), U32], ctypes.c_int),
        "pkv_watch_fd": ([P], ctypes.c_int),
        "pkv_unwatch": ([P], None),
        "pkv_release": ([P, ctypes.c_char_p, S, ctypes.c_char_p, S, U64], ctypes.c_int),
        "pkv_lock": ([P, ctypes.c_char_p, S, ctypes.c_char_p, S, ctypes.c_char_p, S, U32,
                      ctypes.POINTER(_Value)], ctypes.c_int),
        "pkv_strerror": ([ctypes.c_int], ctypes.c_char_p),
        "pkv_errmsg": ([], ctypes.c_char_p),
        "pkv_quorum": ([P, ctypes.POINTER(U64)], ctypes.c_int),
    }
    for name, (args, res) in sigs.items():
        f = getattr(lib, name)
        f.argtypes = args
        f.restype = res
    return lib


_lib = None


def _L():
    global _lib
    if _lib is None:
        _lib = _load()
    return _lib


def _b(x):
    if x is None:
        return None
    return x.encode() if isinstance(x, str) else bytes(x)


def _check(r, what):
    if r == 0 or (0 < r < 1000):
        return r
    cls = _ERRORS.get(r, PaxosKVError)
    msg = "%s: %s (%s)" % (what, _L().pkv_strerror(r).decode(), _L().pkv_errmsg().decode())
    raise cls(r, msg)


class Value:
    """A chosen value: .value (bytes), .gen (the generation, a fencing token), .until."""

    def __init__(self, value, gen, until):
        self.value, self.gen, self.until = value, gen, until

    def __repr__(self):
        return "Value(%r, gen=%d)" % (self.value, self.gen)


class WatchEvent:
    """A key event: .kind (CHOSEN or ENDED), .bucket, .key, .gen, .value (CHOSEN)."""

    def __init__(self, kind, bucket, key, gen, value, until):
        self.kind, self.bucket, self.key = kind, bucket, key
        self.gen, self.value, self.until = gen, value, until

    def __repr__(self):
        return "WatchEvent(%s, %r, gen=%d, value=%r)" % (self.kind, self.key, self.gen,
                                                          self.value)


def _take(v):
    out = Value(ctypes.string_at(v.data, v.len) if v.len else b"", v.gen, v.until)
    _L().pkv_value_free(ctypes.byref(v))
    return out


class Watch:
    """An open watch: iterate for events; .fileno() for select/poll; close()."""

    def __init__(self, handle, timeout_ms):
        self._w, self._timeout = handle, timeout_ms

    def fileno(self):
        return _L().pkv_watch_fd(self._w)

    def next(self, timeout_ms=None):
        """The next event, or None when none came within timeout_ms."""
        ev = _WatchEvent()
        t = self._timeout if timeout_ms is None else timeout_ms
        r = _L().pkv_watch_next(self._w, ctypes.byref(ev), t)
        if r == 0:
            return None
        if r != 1:
            _check(r, "watch")
        return WatchEvent(CHOSEN if ev.kind == 1 else ENDED,
                          ctypes.string_at(ev.bucket, ev.bucket_len),
                          ctypes.string_at(ev.key, ev.key_len), ev.gen,
                          ctypes.string_at(ev.value, ev.value_len) if ev.kind == 1 else None,
                          ev.until)

    def __iter__(self):
        while True:
            ev = self.next()
            if ev is not None:
                yield ev

    def close(self):
        if self._w:
            _L().pkv_unwatch(self._w)
            self._w = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class Client:
    """A handle on the local daemon (pkv_open). endpoint: a node name or a socket path."""

    def __init__(self, endpoint=None):
        self._c = ctypes.c_void_p()
        _check(_L().pkv_open(ctypes.byref(self._c), _b(endpoint)), "open")

    def close(self):
        if self._c:
            _L().pkv_close(self._c)
            self._c = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def put(self, key, value, bucket=None, pid=0, node=None, dep_key=None, until=0,
            timeout_ms=0):
        """Proposes value; returns the chosen Value (compare it: it may be another's)."""
        key, value, bucket, dep = _b(key), _b(value), _b(bucket), _b(dep_key)
        o = _PutOpts(bucket=bucket, bucket_len=len(bucket) if bucket else 0,
                     timeout_ms=timeout_ms, pid=pid, node=_b(node), dep_key=dep,
                     dep_key_len=len(dep) if dep else 0, until=until)
        v = _Value()
        _check(_L().pkv_put(self._c, key, len(key), value, len(value), ctypes.byref(o),
                            ctypes.byref(v)), "put")
        return _take(v)

    def get(self, key, bucket=None, timeout_ms=0):
        """The chosen Value of key; raises NotFound when there is none."""
        key, bucket = _b(key), _b(bucket)
        o = _GetOpts(bucket=bucket, bucket_len=len(bucket) if bucket else 0,
                     timeout_ms=timeout_ms)
        v = _Value()
        r = _L().pkv_get(self._c, key, len(key), ctypes.byref(o), ctypes.byref(v))
        if r != 0:
            _L().pkv_value_free(ctypes.byref(v))
            _check(r, "get")
        return _take(v)

    def keys(self, bucket=None):
        """The bucket's keys across the cluster, in bytewise order (a list of bytes)."""
        bucket = _b(bucket)
        it = ctypes.c_void_p()
        _check(_L().pkv_keys(self._c, bucket, len(bucket) if bucket else 0, ctypes.byref(it)),
               "keys")
        out = []
        try:
            k, n = ctypes.c_void_p(), ctypes.c_size_t()
            while True:
                r = _L().pkv_keys_next(it, ctypes.byref(k), ctypes.byref(n))
                if r == 0:
                    break
                if r != 1:
                    _check(r, "keys")
                out.append(ctypes.string_at(k, n.value))
        finally:
            _L().pkv_keys_free(it)
        return out

    def watch(self, key=None, bucket=None, from_gen=0, timeout_ms=1000):
        """A Watch of key (None: every key of the bucket) after generation from_gen."""
        key, bucket = _b(key), _b(bucket)
        w = ctypes.c_void_p()
        _check(_L().pkv_watch(self._c, bucket, len(bucket) if bucket else 0, key,
                              len(key) if key else 0, from_gen, 0, ctypes.byref(w)), "watch")
        return Watch(w, timeout_ms)

    def hold(self, key, value, bucket=None, timeout_ms=0):
        """Waits for the lock key (pkv_lock) and takes it; returns the Value (gen: the token).

        Raises Timeout when timeout_ms (0: forever) passes first."""
        key, value, bucket = _b(key), _b(value), _b(bucket)
        v = _Value()
        r = _L().pkv_lock(self._c, bucket, len(bucket) if bucket else 0, key, len(key), value,
                          len(value), timeout_ms, ctypes.byref(v))
        if r != 0:
            _L().pkv_value_free(ctypes.byref(v))
            _check(r, "hold")
        return _take(v)

    def release(self, key, gen, bucket=None):
        """Ends generation gen of key bound to this process (Stale, NotOwner otherwise)."""
        key, bucket = _b(key), _b(bucket)
        _check(_L().pkv_release(self._c, bucket, len(bucket) if bucket else 0, key, len(key),
                                gen), "release")

    def quorum(self):
        """True when the daemon reports quorum."""
        r = _L().pkv_quorum(self._c, None)
        if r not in (0, 1):
            _check(r, "quorum")
        return r == 1
