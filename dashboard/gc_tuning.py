"""Garbage-collector settings for a process that holds thousands of open streams.

Every open stream keeps about a hundred container objects alive (its tasks and coroutine
frames, the ASGI scope, its mailbox), and a full collection walks all of them with the
event loop stopped. CPython's default thresholds (700, 10, 10) run a young collection
every 700 allocations, and each one promotes whatever is in flight at that moment, so a
busy fan-out fills the oldest generation quickly and triggers a full collection every few
seconds. Measured with 10,000 streams (docs/benchmarks.md): a full collection every ~5 s,
each stopping delivery for 1.5–1.9 s. With the thresholds below, young collections run
about 70 times less often, few objects in flight are promoted, and full collections are
rare.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)


def tune_for_many_connections() -> None:
    """Freeze what start-up allocated (never scanned again) and raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
