"""Interpreter settings for a process that holds thousands of open streams.

**The garbage collector.** Every open stream keeps about a hundred container objects alive
(its tasks and coroutine frames, the ASGI scope, its mailbox), and a full collection walks
all of them with the event loop stopped. CPython's default thresholds (700, 10, 10) run a
young collection every 700 allocations, and each one promotes whatever is in flight at
that moment, so a busy fan-out fills the oldest generation quickly and triggers a full
collection every few seconds. Measured with 10,000 streams (docs/benchmarks.md): a full
collection every ~5 s, each stopping delivery for 1.5–1.9 s. With the thresholds below,
young collections run about 70 times less often, few objects in flight are promoted, and
full collections are rare.

**The GIL switch interval.** Under load the event loop's thread never blocks, so a poller
thread that wants the GIL back waits a whole switch interval for it, and it wants it back
after every SQLite call (each releases it). With CPython's 5 ms, at 10,000 streams the
price poller published a batch 200–500 ms after its ticks were written, and every delivery
waited for that. At 1 ms it publishes 60–70 ms after the write (median, the 0.1 s poll
interval included) and the p99 at 10,000 streams fell from 0.8–1.0 s to 0.33–0.54 s
(median 0.42 s over 19 runs); 0.5 ms cost throughput and 2 ms kept much of the delay
(docs/benchmarks.md).
"""

from __future__ import annotations

import gc
import sys

GC_THRESHOLDS = (50_000, 20, 100)
SWITCH_INTERVAL_SECONDS = 0.001


def tune_for_many_connections() -> None:
    """Freeze what start-up allocated (never scanned again), raise the GC thresholds and
    shorten the GIL switch interval."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
