"""Which users a destination's server-side rollout covers.

The plan gives each destination a rollout percentage. The sidecar sends an event to a
destination only when the event's ``client_id`` falls in the rollout; the browser tag for the
same destination fires for exactly the other users (``examples/rollout/sgtm-rollout.js``
computes the same bucket), so every user is counted once, by one side.

Formula (both languages must keep it byte-for-byte identical):

    key    = UTF-8 bytes of  destination + ":" + client_id
    h      = FNV-1a 32-bit over key      (offset 0x811C9DC5, prime 0x01000193)
    h      = murmur3 fmix32(h)           (>>16, *0x85EBCA6B, >>13, *0xC2B2AE35, >>16; mod 2**32)
    bucket = h mod 100                   (0..99)
    in_rollout = bucket < percent

Why not SHA-256: the browser must decide synchronously while the tag fires; WebCrypto's digest
is asynchronous (and absent on plain http), and a hand-written SHA-256 would triple the
snippet. The bucket is not a secret and a user can pick their own client_id anyway, so only
uniformity matters, which fmix32 provides over FNV-1a's weak low bits. The destination name
is part of the key so that a user in the first 10% of one destination is not automatically in
the first 10% of every other one.

The split is monotonic: a user in the rollout at 10% stays in it at 50% and 100%, so raising
the percentage only ever moves users from the browser tag to the server.
"""

from __future__ import annotations

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK = 0xFFFFFFFF
BUCKETS = 100


def _fnv1a32(data: bytes) -> int:
    h = _FNV_OFFSET
    for byte in data:
        h ^= byte
        h = (h * _FNV_PRIME) & _MASK
    return h


def _fmix32(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h


def bucket(client_id: str, destination: str) -> int:
    """The user's bucket (0..99) for one destination; the same inputs always give the same one."""
    if not isinstance(client_id, str):
        raise TypeError(f"client_id must be a string, not {type(client_id).__name__}")
    if not isinstance(destination, str) or not destination:
        raise ValueError("destination must be a non-empty string")
    # surrogatepass: JS strings may carry lone surrogates and the browser side encodes them
    # the same way (as 3-byte sequences), so both sides agree even on malformed ids.
    key = f"{destination}:{client_id}".encode("utf-8", "surrogatepass")
    return _fmix32(_fnv1a32(key)) % BUCKETS


def in_rollout(client_id: str, destination: str, percent: int) -> bool:
    """True when the server sends this user's events to ``destination`` at ``percent``%."""
    if isinstance(percent, bool) or not isinstance(percent, int):
        raise TypeError(f"percent must be an integer 0..100, not {percent!r}")
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be between 0 and 100, got {percent}")
    return bucket(client_id, destination) < percent
