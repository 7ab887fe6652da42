"""One end-to-end harness for the demo, the benchmarks and the tests: the local loop (plan ->
generated container served by the local sGTM runtime -> sidecar -> worker), the vendor
stand-in that plays every destination's host, the payloads a shop sends, and free ports (one copy
of each, so a fix to one reaches all three users)."""

from __future__ import annotations

from sgtm.harness.ports import free_port

__all__ = ["free_port"]
