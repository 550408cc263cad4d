"""Prometheus metrics, read from the hub's and pollers' plain counters at scrape time.

The hot path only bumps integers; the standard client library turns them into the
exposition format when ``/metrics`` is scraped. Each app has its own registry, so several
apps in one process (tests) do not collide.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dashboard.store import wal

if TYPE_CHECKING:
    from dashboard.runtime import Runtime


class DashboardCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[Metric]:
        runtime = self._runtime
        hub = runtime.hub
        streams = GaugeMetricFamily(
            "dashboard_open_streams", "Open streams by kind.", labels=["kind"]
        )
        for kind, count in hub.connections_by_kind().items():
            streams.add_metric([kind], count)
        yield streams
        published = CounterMetricFamily(
            "dashboard_events_published", "Events rendered once and fanned out.", labels=["kind"]
        )
        published.add_metric(["prices"], hub.price_batches)
        published.add_metric(["notification"], hub.notices_published)
        yield published
        yield CounterMetricFamily(
            "dashboard_deliveries",
            "Events handed to connections' mailboxes.",
            value=hub.deliveries,
        )
        yield CounterMetricFamily(
            "dashboard_mailbox_overflows",
            "Connections closed because their notification mailbox overflowed.",
            value=hub.overflows,
        )
        yield CounterMetricFamily(
            "dashboard_stalled_streams_cut_off",
            "Streams cut off because their client stopped reading (sse_send_timeout).",
            value=hub.stalled_cut_offs,
        )
        yield CounterMetricFamily(
            "dashboard_ticks",
            "Ticks read by the price poller.",
            value=runtime.price_poller.ticks_seen,
        )
        skipped = CounterMetricFamily(
            "dashboard_ticks_skipped",
            "Tick rows skipped for breaking the store contract (docs/store-contract.md).",
            labels=["reason"],
        )
        for reason in ("breaks the contract", "names no instrument"):
            skipped.add_metric([reason], runtime.price_poller.rejected.get(reason, 0))
        yield skipped
        lag = GaugeMetricFamily(
            "dashboard_poll_lag_seconds",
            "Seconds since each poller's last success.",
            labels=["poller"],
        )
        failures = CounterMetricFamily(
            "dashboard_poll_failures", "Failed polls (retried).", labels=["poller"]
        )
        for name, poller in runtime.pollers().items():
            seconds = poller.lag()
            if seconds is not None:
                lag.add_metric([name], seconds)
            failures.add_metric([name], poller.failures)
        yield lag
        yield failures
        size = wal.wal_bytes(runtime.engine)
        if size is not None:
            yield GaugeMetricFamily(
                "dashboard_sqlite_wal_bytes", "Size of the SQLite write-ahead log.", value=size
            )


def registry_for(runtime: Runtime) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DashboardCollector(runtime))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
