"""Fan-out benchmark: ticks written into the store -> tiles arriving on N open SSE streams.

Runs the real server (`dashboard serve --no-feed`, its own process) on a throw-away SQLite
file, opens N raw HTTP/1.1 `/events` streams from this process, and writes ticks from a
separate process the way any outside writer would, recording when each was committed.
Latency is commit -> arrival at each client, matched by a whole tile's `data-tick-id` or by
a quote part's symbol and price (each step writes one price, the same for every symbol).

    .venv/bin/python bench/fanout.py --streams 100 300 --seconds 10

Targets: the dashboard; "naive", the tutorial pattern (bench/baselines/naive_sse.py);
"node", a broadcaster sent every tick as its own event (bench/baselines/node_sse.js); and
"node-same", a Node.js server of the dashboard's own design and bytes: it reads the same
store every 100 ms and writes one message of quote parts per poll to every stream
(bench/baselines/node/fanout.js, better-sqlite3 12); and "python-same", that server on the
customer's required stack, FastAPI, uvicorn and sse-starlette, and nothing more
(bench/baselines/python_same.py): the floor of that stack.

Not collected by pytest. Prices are conflated per poll, so a client sees the newest tick
of each symbol per batch, not every tick: "delivered" counts the tick ids that arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import queue
import random
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any, cast

import uvloop

ROOT = Path(__file__).resolve().parents[1]
# A whole tile's newest tick id, or a quote part's symbol and price (the dashboard's price
# updates carry no tick id: docs/protocol.md, "Tiles").
TICK = re.compile(rb'data-tick-id="(\d+)"|<p id=q-([^ >]+)(?: [^>]*)?><b>([^<]+)</b>')
TICK_MARKS = (b'data-tick-id="', b"<p id=q-")
LONGEST_TAIL = 300
INSTRUMENTS = 20
TICKS_PER_SECOND_EACH = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(url: str) -> None:
    """The store: :data:`INSTRUMENTS` instruments, each with a price already (one tick of
    99.00), as a running dashboard's store has. A first price sends pages the whole tile
    (~1.1 KB) instead of its quote (~90 bytes): without these ticks the run's first batch
    was 20 whole tiles to every stream, a start-up burst rather than the steady state the
    figures are of (at 10,000 streams it set the run's p99, 660-900 ms against 270-380 for
    the last batch)."""
    sys.path.insert(0, str(ROOT))
    from sqlmodel import Session

    from dashboard.models import Instrument, Tick, utcnow
    from dashboard.store import schema
    from dashboard.store.db import make_engine

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
                    # Invented prices: the soak's contention run lets the simulated feed
                    # write to them (the fan-out runs publish their own ticks).
                    simulated=True,
                )
            )
        session.commit()
        session.add_all(
            Tick(instrument_id=i + 1, price=99.0, ts=utcnow()) for i in range(INSTRUMENTS)
        )
        session.commit()
    engine.dispose()


def publish(
    url: str,
    seconds: float,
    out: str,
    done: EventType,
    may_exit: EventType,
    push_port: int | None = None,
) -> None:
    """Write 20 symbols x 5 ticks/s into the store; record each tick's commit time.

    With ``push_port`` (the Node baseline, which cannot read SQLite here) each committed tick
    is also POSTed to that server, from a thread, so a busy Node slows its own deliveries and
    not the writing; the commit time stays the start of its latency.

    Sets ``done`` when every tick is written (and handed to Node), then waits for
    ``may_exit`` before it writes the record and exits: its exit takes CPU, and on a 2-core
    machine it would take it from the server during the last batch's deliveries, the one
    batch every reader receives.
    """
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import insert
    from sqlmodel import Session, col

    from dashboard.models import Tick, utcnow
    from dashboard.store.db import make_engine

    engine = make_engine(url)
    to_push: queue.Queue[bytes | None] = queue.Queue()
    pusher = (
        threading.Thread(target=push_ticks, args=(push_port, to_push), daemon=True)
        if push_port
        else None
    )
    if pusher is not None:
        pusher.start()
    written: dict[int, tuple[float, str]] = {}  # id -> (commit time, "SYMBOL|price")
    step = 1.0 / TICKS_PER_SECOND_EACH
    started = time.monotonic()
    n = 0
    with Session(engine) as session:
        while time.monotonic() - started < seconds:
            for i in range(INSTRUMENTS):
                price = 100.0 + n * 0.01
                tick_id = session.execute(
                    insert(Tick)
                    .values(instrument_id=i + 1, price=price, ts=utcnow())
                    .returning(col(Tick.id))
                ).scalar_one()
                session.commit()
                written[tick_id] = (time.time(), f"S{i:02d}|{price:,.2f}")
                if pusher is not None:
                    tick = {"id": tick_id, "symbol": f"S{i:02d}", "price": price}
                    to_push.put(json.dumps(tick).encode())
            n += 1
            delay = started + n * step - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    if pusher is not None:
        # A Node far behind is not waited for: the ticks it has not been sent never arrive,
        # and the figures show it (converged below 100 %).
        to_push.put(None)
        pusher.join(timeout=30)
    done.set()
    may_exit.wait(timeout=120)
    Path(out).write_text(json.dumps(written))
    engine.dispose()


def push_ticks(port: int, ticks: queue.Queue[bytes | None]) -> None:
    """POST each tick to the Node baseline, in order, on one kept-alive connection."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port)
    while (body := ticks.get()) is not None:
        connection.request("POST", "/tick", body, {"Content-Type": "application/json"})
        connection.getresponse().read()
    connection.close()


class StreamClient(asyncio.Protocol):
    """One raw HTTP/1.1 `/events` reader: notes when each tick id arrives.

    A Protocol, not a StreamReader, so that 10,000 of them cost this process little. Each
    read only keeps its time and the tick ids found in it (one C-level regex pass); turning
    them into per-tick arrivals waits for :meth:`collect`, after the ticks, so that this
    process takes as little of the machine as it can while the server is measured. A tile
    split across two reads is not lost: the unmatched tail of one read starts the next.
    """

    # When any stream last read something (to tell when the server has gone quiet).
    last_read = 0.0

    def __init__(self, *, keep_ids: bool = False) -> None:
        # (time, tokens): a tick id, or "SYMBOL|price" for a quote part
        self.reads: list[tuple[float, list[bytes]]] = []
        self.bytes = 0  # received since the last reset_counts()
        self.tail = b""
        self.first_data: float | None = None
        # Every tick id this stream received, when asked (the storm checks its snapshot).
        self.ids: set[int] | None = set() if keep_ids else None
        self.closed = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(
            b"GET /events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n"
        )

    def data_received(self, data: bytes) -> None:
        now = StreamClient.last_read = time.time()
        self.bytes += len(data)
        if self.first_data is None:
            self.first_data = now  # served: the response has begun (the snapshot, here)
        buffer = self.tail + data if self.tail else data
        found = TICK.findall(buffer)
        if found:
            self.reads.append((now, [i or s + b"|" + p for i, s, p in found]))
        # Keep what may be a tile id or quote cut by this read, and never a whole one (it
        # would be counted twice): an unfinished last one, else less than a marker's length.
        last = max(buffer.rfind(mark) for mark in TICK_MARKS)
        if last >= 0 and TICK.match(buffer, last) is None:
            self.tail = buffer[last : last + LONGEST_TAIL]
        else:
            self.tail = buffer[-(len(TICK_MARKS[0]) - 1) :]

    def collect(self, arrivals: dict[int, list[float]], quotes: dict[bytes, int]) -> None:
        """Move what this stream has read into ``arrivals`` (tick id -> arrival times);
        ``quotes`` gives the tick id of a quote's "SYMBOL|price"."""
        for now, tokens in self.reads:
            for token in tokens:
                tick_id = int(token) if token.isdigit() else quotes.get(token, 0)
                if not tick_id:
                    continue
                arrivals.setdefault(tick_id, []).append(now)
                if self.ids is not None:
                    self.ids.add(tick_id)
        self.reads.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def reset(self) -> None:
        """Drop the connection the way a lost network does: RST, no TIME_WAIT left behind."""
        if self.transport is not None:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.close()


async def open_streams(
    port: int, count: int, *, at_once: int, keep_ids: bool = False
) -> tuple[list[StreamClient], int]:
    """Open ``count`` streams, ``at_once`` connection attempts in flight; retry refusals.

    Returns the clients and how many attempts were refused or reset before being served.
    """
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(at_once)
    refused = 0

    async def one() -> StreamClient:
        nonlocal refused
        delay = 0.05
        while True:
            async with gate:
                try:
                    _, protocol = await loop.create_connection(
                        lambda: StreamClient(keep_ids=keep_ids), "127.0.0.1", port
                    )
                    return protocol
                except OSError:
                    refused += 1
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 2.0)

    clients = await asyncio.gather(*(one() for _ in range(count)))
    return list(clients), refused


async def until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


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
    storm: bool = False,
    profile_stem: Path | None = None,
) -> dict[str, float]:
    """``frozen``: the share of the ``streams`` that never read; figures are the others'.

    ``storm``: after the ticks, every reading stream is reset at once and reconnects at once.
    ``profile_stem``: record the server with py-spy while the ticks flow (and in the storm).
    """
    rss_before = rss_kib(pid)
    frozen_count = int(streams * frozen)
    stuck = [frozen_reader(port) for _ in range(frozen_count)]
    streams -= frozen_count
    connect_started = time.monotonic()
    clients, _ = await open_streams(port, streams, at_once=256)
    if not await until(lambda: all(c.first_data for c in clients), 120):
        raise SystemExit(f"not every one of {streams} streams was answered")
    all_live_s = time.monotonic() - connect_started
    rss_idle = rss_kib(pid)
    for client in clients:
        client.reads.clear()  # the snapshots
        client.bytes = 0
    profiler = profile(pid, profile_stem) if profile_stem else None
    cpu_before, own_cpu_before = cpu_seconds(pid), time.process_time()
    out = str(Path(url.removeprefix("sqlite:///")).with_name(f"written-{streams}.json"))
    done, may_exit = multiprocessing.Event(), multiprocessing.Event()
    publisher = multiprocessing.Process(
        target=publish, args=(url, seconds, out, done, may_exit, push_port)
    )
    publisher.start()
    await until(done.is_set, seconds + 60)
    # The last batches' deliveries: until nothing has arrived for a second (a server that
    # is still sending after 10 s is given up on), then the reads become arrivals.
    await until(lambda: time.time() - StreamClient.last_read > 1.0, 10)
    cpu = cpu_seconds(pid) - cpu_before
    own_cpu = time.process_time() - own_cpu_before
    if profiler is not None:
        stop_profile(profiler)
    may_exit.set()
    await until(lambda: not publisher.is_alive(), 60)
    record = json.loads(Path(out).read_text()).items()
    written = {int(k): committed for k, (committed, _) in record}
    quotes = {quote.encode(): int(k) for k, (_, quote) in record}
    last_per_symbol = sorted(written)[-INSTRUMENTS:]
    arrivals: dict[int, list[float]] = {}
    for client in clients:
        client.collect(arrivals, quotes)
    arrived_everywhere = sum(len(arrivals.get(t, [])) for t in last_per_symbol)
    elapsed = time.monotonic() - connect_started - all_live_s
    latencies = sorted(
        (t - written[tick_id]) * 1000
        for tick_id, times in arrivals.items()
        if tick_id in written
        for t in times
    )
    delivered_updates = len(latencies)
    received = sum(client.bytes for client in clients)
    # A tick superseded before a slow reader sent it never reaches that reader (conflated),
    # so the figures above leave the slowest deliveries of every batch but the last out.
    # The last batch has no successor: every reader gets it, and its tail is a full round.
    last_batch = sorted(
        (t - written[tick_id]) * 1000
        for tick_id in last_per_symbol
        for t in arrivals.get(tick_id, [])
    )
    result: dict[str, float] = {
        "frozen": frozen_count,
        "streams": streams,
        "seconds_until_all_live": all_live_s,
        "ticks_written": len(written),
        "deliveries": delivered_updates,
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "last_batch_p99_ms": last_batch[int(len(last_batch) * 0.99) - 1]
        if last_batch
        else float("nan"),
        "converged": arrived_everywhere / (INSTRUMENTS * streams),
        "server_cpu_s_per_1000_client_s": cpu / (streams * seconds) * 1000,
        "cpu_ms_per_delivered_update": cpu * 1000 / delivered_updates
        if delivered_updates
        else float("nan"),
        "rss_kib_per_idle_stream": (rss_idle - rss_before) / streams,
        # What the streams received while the ticks flowed (HTTP framing included).
        "mb_received": received / 1e6,
        "bytes_per_delivered_update": received / delivered_updates if delivered_updates else 0.0,
        "mb_per_client_hour": received / streams / elapsed * 3600 / 1e6,
        # How busy this load generator was: near 1.0, its own lag is in the latencies.
        "load_generator_cpu_share": own_cpu / elapsed,
    }
    if storm:
        storm_stem = profile_stem.with_name(f"{profile_stem.name}-storm") if profile_stem else None
        result |= await reconnect_storm(port, pid, clients, set(last_per_symbol), storm_stem)
    for client in clients:
        client.reset()
    for sock in stuck:
        sock.close()
    return result


async def reconnect_storm(
    port: int,
    pid: int,
    clients: list[StreamClient],
    latest: set[int],
    profile_stem: Path | None = None,
) -> dict[str, float]:
    """Reset every stream at once and reconnect them all at once, as after a network blip.

    Figures: seconds from the reset until each stream has its first message, and whether that
    message held the latest tick of every symbol.
    """
    for client in clients:
        client.reset()
    await asyncio.gather(*(c.closed for c in clients))
    profiler = profile(pid, profile_stem) if profile_stem else None
    cpu_before = cpu_seconds(pid)
    started = time.time()
    clients[:], refused = await open_streams(
        port, len(clients), at_once=len(clients), keep_ids=True
    )
    await until(lambda: all(c.first_data for c in clients), 120)
    cpu = cpu_seconds(pid) - cpu_before
    if profiler is not None:
        stop_profile(profiler)
    await until(lambda: time.time() - StreamClient.last_read > 1.0, 10)  # whole snapshots
    for client in clients:
        client.collect({}, {})
    back = sorted(c.first_data - started for c in clients if c.first_data)
    return {
        "storm_back": len(back) / len(clients),
        "storm_refused_attempts": refused,
        "storm_p50_s": statistics.median(back) if back else float("nan"),
        "storm_p99_s": back[int(len(back) * 0.99) - 1] if back else float("nan"),
        "storm_max_s": back[-1] if back else float("nan"),
        # The ticks have stopped: what a stream received is its first message, the snapshot.
        "storm_current": sum(latest <= (c.ids or set()) for c in clients) / len(clients),
        "storm_cpu_s": cpu,
    }


def start_server(target: str, url: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DASHBOARD_DATABASE_URL": url,
        "DASHBOARD_SECRET_KEY": "bench-secret-key",
        # Every simulated client connects from this one address.
        "DASHBOARD_MAX_STREAMS_PER_ADDRESS": "1000000",
    }
    if target == "dashboard":
        command = [sys.executable, "-m", "dashboard.cli", "serve", "--port", str(port), "--no-feed"]
    elif target == "node-same":
        node_dir = ROOT / "bench" / "baselines" / "node"
        if not (node_dir / "node_modules" / "better-sqlite3").is_dir():
            subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=node_dir, check=True)
        database = url.removeprefix("sqlite:///")
        command = ["node", str(node_dir / "fanout.js"), str(port), database]
    elif target in ("naive", "python-same"):
        module = "naive_sse" if target == "naive" else "python_same"
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            f"bench.baselines.{module}:app",
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
        cwd=ROOT if target in ("naive", "python-same") else workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, target)
    return server


def wait_for_port(port: int, name: str, timeout: float = 30.0) -> None:
    """Until something accepts connections on ``port``; exit the run after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"the {name} server did not start") from None
            time.sleep(0.1)


def run_target(target: str, args: argparse.Namespace) -> list[dict[str, object]]:
    """Every stream count (and frozen share) against ``target``, each in a fresh server.

    A fresh process per row keeps the RSS per idle stream honest: a process that already
    held N streams keeps some of that memory after they close.
    """
    results: list[dict[str, object]] = []
    for n in args.naive_streams if target == "naive" else args.streams:
        for frozen in sorted({0.0, args.frozen}):
            workdir = Path(tempfile.mkdtemp(prefix=f"dashboard-bench-{target}-"))
            url = f"sqlite:///{workdir / 'bench.db'}"
            prepare(url)
            port = free_port()
            server = start_server(target, url, port, workdir)
            try:
                push = port if target == "node" else None
                storm = args.storm and not frozen
                result: dict[str, object] = {"target": target}
                stem = args.profile / f"{target}-{n}-{frozen}" if args.profile else None
                result |= uvloop.run(
                    run_one(port, server.pid, url, n, args.seconds, push, frozen, storm, stem)
                )
                results.append(result)
                print(json.dumps(result), flush=True)
            finally:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
    return results


def profile(pid: int, stem: Path) -> subprocess.Popen[bytes]:
    """Sample ``pid`` with py-spy (without pausing it) until interrupted: collapsed stacks."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    py_spy = Path(sys.executable).with_name("py-spy")  # the bench extra's, in the venv
    command = [str(py_spy) if py_spy.exists() else "py-spy", "record", "--pid", str(pid)]
    command += ["--nonblocking", "--rate", "200", "--format", "raw", "--output", f"{stem}.folded"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profile(profiler: subprocess.Popen[bytes]) -> None:
    profiler.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
    profiler.wait(60)


def largest_holding(results: list[dict[str, Any]], target: str, p99_ms: float) -> int | None:
    """The largest N at which every client converged with p99 at most ``p99_ms``."""
    held = [
        r["streams"]
        for r in results
        if r["target"] == target
        and not r["frozen"]
        and r["converged"] >= 1.0
        and r["p99_ms"] <= p99_ms
    ]
    return max(held, default=None)


def print_tables(results: list[dict[str, Any]], streams: list[int]) -> None:
    print()
    print(
        "| server | streams | frozen | ticks | deliveries | p50 ms | p99 ms | max ms "
        "| last batch p99 ms | converged "
        "| CPU s / 1000 client-s | CPU ms / delivered update | KiB / idle stream "
        "| MB received | bytes / update | MB / client-hour | load generator CPU |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['target']} | {r['streams']} | {r['frozen']} | {r['ticks_written']} "
            f"| {r['deliveries']} "
            f"| {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['max_ms']:.0f} "
            f"| {r['last_batch_p99_ms']:.0f} | {r['converged']:.1%} "
            f"| {r['server_cpu_s_per_1000_client_s']:.2f} | {r['cpu_ms_per_delivered_update']:.3f} "
            f"| {r['rss_kib_per_idle_stream']:.1f} | {r['mb_received']:.1f} "
            f"| {r['bytes_per_delivered_update']:.0f} | {r['mb_per_client_hour']:.1f} "
            f"| {r['load_generator_cpu_share']:.0%} |"
        )
    storms = [r for r in results if "storm_back" in r]
    if storms:
        print()
        print(
            "| server | streams | back | refused attempts | p50 s | p99 s | max s "
            "| snapshot current | server CPU s |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in storms:
            print(
                f"| {r['target']} | {r['streams']} | {r['storm_back']:.1%} "
                f"| {r['storm_refused_attempts']} | {r['storm_p50_s']:.2f} "
                f"| {r['storm_p99_s']:.2f} | {r['storm_max_s']:.2f} | {r['storm_current']:.1%} "
                f"| {r['storm_cpu_s']:.2f} |"
            )
    by_key = {(r["target"], r["streams"]): r for r in results if not r["frozen"]}
    print()
    # The dashboard against each reference; the stack's floor against Node of the same design.
    pairs = [("dashboard", other) for other in ("naive", "node", "node-same", "python-same")]
    pairs.append(("python-same", "node-same"))
    for n in streams:
        for target, other in pairs:
            ours, theirs = by_key.get((target, n)), by_key.get((other, n))
            if ours and theirs:
                ratio = (
                    ours["server_cpu_s_per_1000_client_s"]
                    / theirs["server_cpu_s_per_1000_client_s"]
                )
                print(f"{n} streams: {target} CPU per client-second = {ratio:.2f} x {other}")
    for target in dict.fromkeys(r["target"] for r in results):
        for limit in (500, 1000):
            largest = largest_holding(results, target, limit)
            print(f"{target}: largest N tried with p99 <= {limit} ms, all converged: {largest}")


def main() -> None:
    # The reads kept for later are millions of small lists and tuples: with the collector
    # on, its full collections stopped this process for seconds and the stops showed up
    # as server latency. It makes no garbage cycles worth collecting in a run.
    gc.disable()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument(
        "--naive-streams",
        type=int,
        nargs="+",
        default=[100, 300, 500, 700, 1000],
        help="stream counts for the naive baseline (it collapses long before the others)",
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--targets",
        nargs="+",
        default=["dashboard", "naive", "node", "node-same", "python-same"],
        choices=["dashboard", "naive", "node", "node-same", "python-same"],
    )
    parser.add_argument(
        "--frozen",
        type=float,
        default=0.0,
        help="also run each N with this share of clients that never read (e.g. 0.05)",
    )
    parser.add_argument("--storm", action="store_true", help="end each run with a reconnect storm")
    parser.add_argument("--out", type=Path, help="write the results here as JSON (for plot.py)")
    parser.add_argument(
        "--profile", type=Path, help="record the Python servers with py-spy into this directory"
    )
    args = parser.parse_args()
    results = [r for target in args.targets for r in run_target(target, args)]
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    print_tables(results, args.streams)


if __name__ == "__main__":
    main()
