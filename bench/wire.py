"""Bytes on the wire for one open page: what `/events` sends a browser per hour.

Runs the real server (`dashboard serve`, its simulated feed on) on a throw-away SQLite
file, opens one raw HTTP/1.1 `/events` stream as a page does, and counts every byte the
socket receives (HTTP chunk framing included) after the stream's first snapshot, for two
workloads:

- **demo**: the demo page, `dashboard demo`'s 12 instruments with a day of history and the
  feed's 2 ticks/s each;
- **bench**: the fan-out benchmark's workload, 20 instruments at 5 ticks/s each, written
  by another process (`fanout.publish`).

A "price update" is one symbol's new quote in a message (a quote part, or a whole tile
when more than the quote changed). Sparklines are sent when a 15-minute bucket closes,
which a short run may not see: their cost per hour is added from the measured size of
each tile's sparkline (one per instrument per bucket). Targets (issue "Price screens"):
<= 250 bytes per price update on average, <= 10 MB per hour for the demo page and
<= 40 MB per hour for the bench workload.

    .venv/bin/python bench/wire.py --seconds 60

Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from fanout import free_port, prepare, publish, wait_for_port  # noqa: E402

QUOTE = re.compile(rb"<p id=q-")
WHOLE = re.compile(rb'<article id="tile-')
TIME = re.compile(rb"<time id=t-")
SPARKLINE = re.compile(rb"<svg id=s-[^>]*>.*?</svg>")
WHOLE_TILE = re.compile(rb'<article id="tile-.*?</article>')
TARGETS_MB_PER_HOUR = {"demo": 10.0, "bench": 40.0}
TARGET_BYTES_PER_UPDATE = 250.0


def start(workload: str, url: str, workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DASHBOARD_DATABASE_URL": url,
        "DASHBOARD_SECRET_KEY": "bench-secret-key",
    }
    cli = [sys.executable, "-m", "dashboard.cli"]
    serve = [*cli, "serve", "--port", str(port)]
    if workload == "demo":  # the demo's instruments and history, and its simulated feed
        subprocess.run([*cli, "migrate"], env=env, cwd=workdir, check=True, capture_output=True)
        subprocess.run([*cli, "demo"], env=env, cwd=workdir, check=True, capture_output=True)
    else:
        prepare(url)  # 20 instruments; ticks come from fanout.publish
        serve.append("--no-feed")
    server = subprocess.Popen(
        serve,
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, "dashboard")
    return server


def measure(port: int, seconds: float, url: str | None = None) -> dict[str, float]:
    """One page's stream: bytes and price updates received over ``seconds`` after the
    first snapshot; with ``url``, while ``fanout.publish`` writes ticks into that store."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"GET /events?after=0 HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n"
        )
        first = b""
        while b"event: ready" not in first:  # the headers, the snapshot and "ready"
            first += sock.recv(65536)
        sparklines = SPARKLINE.findall(first)
        tiles = WHOLE_TILE.findall(first)
        may_exit = multiprocessing.Event()
        if url is not None:
            out = str(Path(url.removeprefix("sqlite:///")).with_name("written.json"))
            publisher = multiprocessing.Process(
                target=publish, args=(url, seconds, out, multiprocessing.Event(), may_exit)
            )
            publisher.start()
        sock.settimeout(0.5)
        received = bytearray()
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            received += chunk
        may_exit.set()
    data = bytes(received)
    updates = len(QUOTE.findall(data)) + len(WHOLE.findall(data))
    sparkline_bytes = sum(len(s) for s in sparklines)  # one bucket's worth, every tile
    per_hour = len(data) / elapsed * 3600 + sparkline_bytes * 4  # 4 buckets of 15 min
    return {
        "seconds": round(elapsed, 1),
        "bytes": len(data),
        "price_updates": updates,
        "time_parts": len(TIME.findall(data)),
        "bytes_per_update": round(len(data) / updates, 1) if updates else 0.0,
        "sparkline_bytes_per_bucket": sparkline_bytes,
        "mb_per_hour": round(per_hour / 1e6, 2),
        # The same updates sent as whole tiles, as every update was before the parts.
        "whole_tile_bytes": round(sum(map(len, tiles)) / len(tiles)),
        "as_whole_tiles_mb_per_hour": round(
            sum(map(len, tiles)) / len(tiles) * updates / elapsed * 3600 / 1e6, 1
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workloads", nargs="+", default=["demo", "bench"])
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    results = []
    for workload in args.workloads:
        workdir = Path(tempfile.mkdtemp(prefix=f"dashboard-wire-{workload}-"))
        url = f"sqlite:///{workdir / 'wire.db'}"
        port = free_port()
        server = start(workload, url, workdir, port)
        try:
            writes = url if workload == "bench" else None
            result = {"workload": workload, **measure(port, args.seconds, writes)}
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=15)
        results.append(result)
        print(json.dumps(result), flush=True)
    print()
    print(
        "| workload | price updates/s | bytes per update | MB per hour | as whole tiles "
        "(before) | target | met |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        target = TARGETS_MB_PER_HOUR[str(r["workload"])]
        met = r["mb_per_hour"] <= target and r["bytes_per_update"] <= TARGET_BYTES_PER_UPDATE
        rate = r["price_updates"] / r["seconds"]
        print(
            f"| {r['workload']} | {rate:.1f} | {r['bytes_per_update']} | "
            f"{r['mb_per_hour']} | {r['as_whole_tiles_mb_per_hour']} MB/h "
            f"({r['whole_tile_bytes']} B each) | "
            f"≤ {target:g} MB/h, ≤ {TARGET_BYTES_PER_UPDATE:g} B | "
            f"{'yes' if met else 'no'} |"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
