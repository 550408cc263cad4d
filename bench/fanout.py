"""Fan-out benchmark: ticks written into the store -> tiles arriving on N open SSE streams.

Runs the real server (`dashboard serve --no-feed`, its own process) on a throw-away SQLite
file, opens N raw HTTP/1.1 `/events` streams from this process, and writes ticks from a
separate process the way any outside writer would, recording when each was committed.
Latency is commit -> arrival at each client, matched by `data-tick-id`.

    .venv/bin/python bench/fanout.py --streams 100 300 --seconds 10

Not collected by pytest. Prices are conflated per poll, so a client sees the newest tick
of each symbol per batch, not every tick: "delivered" counts the tick ids that arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICK_ID = re.compile(rb'id="tile-([A-Z0-9-]+)"[^>]*data-tick-id="(\d+)"')
INSTRUMENTS = 20
TICKS_PER_SECOND_EACH = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(url: str) -> None:
    sys.path.insert(0, str(ROOT))
    from sqlmodel import Session

    from dashboard import schema
    from dashboard.db import make_engine
    from dashboard.models import Instrument

    schema.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        for i in range(INSTRUMENTS):
            session.add(
                Instrument(
                    symbol=f"S{i:02d}",
                    name=f"Symbol {i}",
                    kind="equity",
                    decimals=2,
                    seed_price=100.0,
                    ttl_seconds=60,
                    position=i,
                )
            )
        session.commit()
    engine.dispose()


def publish(url: str, seconds: float, out: str, push_port: int | None = None) -> None:
    """Write 20 symbols x 5 ticks/s into the store; record each tick's commit time.

    With ``push_port`` (the Node baseline, which cannot read SQLite here) each committed tick
    is also POSTed to that server; the commit time stays the start of its latency.
    """
    sys.path.insert(0, str(ROOT))
    import http.client

    from sqlalchemy import insert
    from sqlmodel import Session, col

    from dashboard.db import make_engine
    from dashboard.models import Tick, utcnow

    engine = make_engine(url)
    pusher = http.client.HTTPConnection("127.0.0.1", push_port) if push_port else None
    written: dict[int, float] = {}
    step = 1.0 / TICKS_PER_SECOND_EACH
    started = time.monotonic()
    n = 0
    with Session(engine) as session:
        while time.monotonic() - started < seconds:
            for i in range(INSTRUMENTS):
                tick_id = session.execute(
                    insert(Tick)
                    .values(instrument_id=i + 1, price=100.0 + n * 0.01, ts=utcnow())
                    .returning(col(Tick.id))
                ).scalar_one()
                session.commit()
                written[tick_id] = time.time()
                if pusher is not None:
                    body = json.dumps(
                        {"id": tick_id, "symbol": f"S{i:02d}", "price": 100.0 + n * 0.01}
                    )
                    pusher.request("POST", "/tick", body, {"Content-Type": "application/json"})
                    pusher.getresponse().read()
            n += 1
            delay = started + n * step - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    Path(out).write_text(json.dumps(written))
    engine.dispose()


async def client(
    port: int, arrivals: dict[int, list[float]], stop: asyncio.Event, opened: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
    await writer.drain()
    opened.append(1)
    try:
        while not stop.is_set():
            chunk = await reader.read(65536)
            if not chunk:
                return
            now = time.time()
            for _symbol, tick_id in TICK_ID.findall(chunk):
                arrivals.setdefault(int(tick_id), []).append(now)
    finally:
        writer.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def frozen_reader(port: int) -> socket.socket:
    """A client that opens the stream and never reads it (a small receive buffer, too)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
    return sock


async def run_one(
    port: int,
    pid: int,
    url: str,
    streams: int,
    seconds: float,
    push_port: int | None = None,
    frozen: float = 0.0,
) -> dict[str, float]:
    """``frozen``: the share of the ``streams`` that never read; figures are the others'."""
    arrivals: dict[int, list[float]] = {}
    stop = asyncio.Event()
    opened: list[int] = []
    rss_before = rss_kib(pid)
    frozen_count = int(streams * frozen)
    stuck = [frozen_reader(port) for _ in range(frozen_count)]
    streams -= frozen_count
    tasks = [asyncio.create_task(client(port, arrivals, stop, opened)) for _ in range(streams)]
    deadline = time.monotonic() + 30
    while len(opened) < streams and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # let every stream receive its snapshot
    rss_idle = rss_kib(pid)
    arrivals.clear()
    cpu_before = cpu_seconds(pid)
    out = str(Path(url.removeprefix("sqlite:///")).with_name(f"written-{streams}.json"))
    publisher = multiprocessing.Process(target=publish, args=(url, seconds, out, push_port))
    publisher.start()
    while publisher.is_alive():
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # the last poll's deliveries
    cpu = cpu_seconds(pid) - cpu_before
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for sock in stuck:
        sock.close()
    written = {int(k): v for k, v in json.loads(Path(out).read_text()).items()}
    latencies = [
        (t - written[tick_id]) * 1000
        for tick_id, times in arrivals.items()
        if tick_id in written
        for t in times
    ]
    latencies.sort()
    last_per_symbol = sorted(written)[-INSTRUMENTS:]
    converged = sum(len(arrivals.get(t, [])) for t in last_per_symbol) / (INSTRUMENTS * streams)
    delivered_updates = len(latencies)
    return {
        "frozen": frozen_count,
        "cpu_ms_per_delivered_update": cpu * 1000 / delivered_updates
        if delivered_updates
        else float("nan"),
        "streams": streams,
        "ticks_written": len(written),
        "deliveries": len(latencies),
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "converged": converged,
        "server_cpu_s_per_1000_client_s": cpu / (streams * seconds) * 1000,
        "rss_kib_per_idle_stream": (rss_idle - rss_before) / streams,
    }


def start_server(target: str, url: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DASHBOARD_DATABASE_URL": url, "DASHBOARD_SECRET_KEY": "bench-secret-key"}
    if target == "dashboard":
        command = [sys.executable, "-m", "dashboard.cli", "serve", "--port", str(port), "--no-feed"]
    elif target == "naive":
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.baselines.naive_sse:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
    else:
        command = ["node", str(ROOT / "bench" / "baselines" / "node_sse.js"), str(port)]
    server = subprocess.Popen(
        command,
        env=env,
        cwd=ROOT if target == "naive" else workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"the {target} server did not start") from None
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--targets",
        nargs="+",
        default=["dashboard", "naive", "node"],
        choices=["dashboard", "naive", "node"],
    )
    parser.add_argument(
        "--frozen",
        type=float,
        default=0.0,
        help="also run each N with this share of clients that never read (e.g. 0.05)",
    )
    parser.add_argument("--out", type=Path, help="write the results here as JSON (for plot.py)")
    args = parser.parse_args()
    results = []
    for target in args.targets:
        workdir = Path(tempfile.mkdtemp(prefix=f"dashboard-bench-{target}-"))
        url = f"sqlite:///{workdir / 'bench.db'}"
        prepare(url)
        port = free_port()
        server = start_server(target, url, port, workdir)
        try:
            for n in args.streams:
                for frozen in sorted({0.0, args.frozen}):
                    push = port if target == "node" else None
                    result = asyncio.run(
                        run_one(port, server.pid, url, n, args.seconds, push, frozen)
                    )
                    result["target"] = target
                    results.append(result)
                    print(json.dumps(result), flush=True)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    print()
    print(
        "| server | streams | frozen | ticks | deliveries | p50 ms | p99 ms | max ms | converged "
        "| CPU s / 1000 client-s | CPU ms / delivered update | KiB / idle stream |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['target']} | {r['streams']} | {r['frozen']} | {r['ticks_written']} "
            f"| {r['deliveries']} "
            f"| {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['max_ms']:.0f} | {r['converged']:.1%} "
            f"| {r['server_cpu_s_per_1000_client_s']:.2f} | {r['cpu_ms_per_delivered_update']:.3f} "
            f"| {r['rss_kib_per_idle_stream']:.1f} |"
        )
    by_key = {(r["target"], r["streams"]): r for r in results if not r["frozen"]}
    print()
    for n in args.streams:
        ours = by_key.get(("dashboard", n))
        for other in ("naive", "node"):
            theirs = by_key.get((other, n))
            if ours and theirs:
                ratio = (
                    ours["server_cpu_s_per_1000_client_s"]
                    / theirs["server_cpu_s_per_1000_client_s"]
                )
                print(f"{n} streams: dashboard CPU per client-second = {ratio:.2f} x {other}")


if __name__ == "__main__":
    main()
