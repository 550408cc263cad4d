"""Ingest benchmark: what writing ticks costs, with the floor references in the same run.

    .venv/bin/python bench/ingest.py --lines 200000 --seconds 5 --out docs/bench-ingest.json

Sections (``--sections``, all by default):

``import``
    A generated CSV of ``--lines`` lines (20 symbols, ISO times) into a fresh SQLite store:
    ``ingest.import_records`` in its own process (the import alone is timed), the whole
    ``dashboard ingest FILE`` command (start-up and migrations check included), and a bare
    ``sqlite3`` ``executemany`` of the same rows into the same ``tick`` table. Ticks/s and
    the process's peak RSS.
``post``
    ``POST /api/ticks`` with an admin's token, one tick per request and 100 per request, on
    ``--connections`` kept-alive connections for ``--seconds``: server CPU per request and
    per tick (from /proc), for the dashboard (``dashboard serve --no-feed``), a bare
    FastAPI endpoint with ``sqlite3`` (bench/baselines/bare_ticks.py) and a Node.js server
    with better-sqlite3 (bench/baselines/node/ticks.js; ``npm install`` there first). All
    three write into a SQLite file of the dashboard's schema. The dashboard's figure
    includes its price poller turning the ticks into tiles.
``postgres``
    ``--pg-lines`` ticks per importer on PostgreSQL (a schema created and dropped here):
    one importer, then four in parallel (separate processes, files and symbols), while a
    dashboard server runs on the same schema; afterwards its price poller's tick count
    (``dashboard_ticks_total`` on /metrics) is compared with the rows in the store, so a
    tick the poller skipped shows. How many of the machine's cores were busy (importers,
    PostgreSQL and the server together, from /proc/stat) tells how much faster more
    writers could be at all.
``ws``
    ``WS /ws/ingest`` with ``--ws-streams`` ``/events`` streams open: ticks/s sustained by
    ``--ws-clients`` sockets keeping ``--ws-window`` messages of ``--ws-batch`` ticks
    unacknowledged, offered at each ``--ws-rate`` in turn (20,000/s, then as fast as acks
    come), and tick -> tile latency (message sent -> the tile with that tick id
    read on an SSE stream; ticks are conflated per poll, so only the newest tick of each
    symbol per poll is seen).

``--profile DIR`` records the dashboard server (post, ws) and the importer with py-spy.
Not collected by pytest. Figures are of this machine and this run; never assert them.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import json
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fanout import (  # noqa: E402  (bench/ is scripts, not a package)
    StreamClient,
    cpu_seconds,
    free_port,
    open_streams,
    profile,
    stop_profile,
    wait_for_port,
)

POSTGRES = os.environ.get(
    "DASHBOARD_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
NODE_DIR = ROOT / "bench" / "baselines" / "node"
SYMBOLS = [f"S{i:02d}" for i in range(20)]
SECRET = "bench-secret-key"


# -- the store -------------------------------------------------------------------------


def prepare(url: str, symbols: list[str]) -> str:
    """A migrated store with ``symbols`` as instruments and an admin; the admin's token."""
    from sqlmodel import Session

    from dashboard.accounts import auth, tokens
    from dashboard.models import Instrument
    from dashboard.store import schema
    from dashboard.store.db import make_engine

    schema.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        for i, symbol in enumerate(symbols):
            session.add(
                Instrument(
                    symbol=symbol,
                    name=f"Symbol {symbol}",
                    kind="equity",
                    decimals=2,
                    seed_price=100.0,
                    ttl_seconds=60,
                    position=i,
                )
            )
        session.commit()
        admin = auth.create_user(
            session=session, username="admin", password="bench-password-1", is_admin=True
        )
        assert admin.id is not None
        _, token = tokens.issue(session=session, user_id=admin.id, name="bench")
    engine.dispose()
    return token


def give_prices(url: str) -> None:
    """One tick of 99.0 for every instrument, as a running dashboard's store has: a first
    price sends pages the whole tile (~1.1 KB) instead of its quote (~90 bytes), a
    start-up burst to every stream that is not the steady state measured (see
    bench/fanout.py's ``prepare``)."""
    from sqlalchemy import text

    from dashboard.store.db import make_engine

    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tick (instrument_id, price, ts, received_at) "
                "SELECT id, 99.0, :now, :now FROM instrument"
            ),
            {"now": datetime.now(UTC).replace(tzinfo=None).isoformat(" ")},
        )
    engine.dispose()


def tick_count(url: str) -> int:
    from sqlalchemy import text

    from dashboard.store.db import make_engine

    engine = make_engine(url)
    with engine.connect() as connection:
        count = int(connection.execute(text("SELECT count(*) FROM tick")).scalar_one())
    engine.dispose()
    return count


def write_csv(path: Path, lines: int, symbols: list[str], seed: int = 1) -> None:
    """``lines`` ticks over ``symbols``, the last hour, ISO 8601 times in UTC (ms)."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(hours=1)
    step = 3600.0 / max(lines, 1)
    with path.open("w", newline="") as out:
        out.write("symbol,price,ts\n")
        for n in range(lines):
            when = start + timedelta(seconds=n * step)
            price = 100 + rng.random() * 10
            out.write(
                f"{symbols[n % len(symbols)]},{price:.4f},"
                f"{when.strftime('%Y-%m-%dT%H:%M:%S.')}{when.microsecond // 1000:03d}Z\n"
            )


# -- workers (run as `bench/ingest.py _worker KIND URL FILE`, each in its own process) --


def worker(kind: str, url: str, file: str, wait_for_go: bool) -> None:
    """Import ``file`` into ``url``; print JSON with start/end times and ticks written."""
    if kind == "cli":  # the command itself, in this process (for its peak RSS)
        from dashboard.cli import app

        started = time.time()
        try:
            app(["ingest", file], standalone_mode=False)
        except SystemExit as exit:
            if exit.code:
                raise
        written = tick_count(url)
    elif kind == "dashboard":
        from sqlmodel import Session

        from dashboard.prices import ingest
        from dashboard.store.db import make_engine

        engine = make_engine(url)
        with engine.connect():
            pass  # connected before the clock starts
        if wait_for_go:
            print("ready", flush=True)
            sys.stdin.readline()
        started = time.time()
        with (
            open(file, encoding="utf-8", newline="") as stream,
            Session(engine, expire_on_commit=False) as session,
        ):
            imported = ingest.import_records(
                session=session, records=ingest.iter_records(stream, kind="csv")
            )
        written = imported.written
        engine.dispose()
    else:  # the floor: the csv module, the same rows, one executemany, one transaction
        db = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
        if wait_for_go:
            print("ready", flush=True)
            sys.stdin.readline()
        started = time.time()
        ids = dict(db.execute("SELECT symbol, id FROM instrument WHERE retired_at IS NULL"))
        received = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

        def rows() -> Any:
            with open(file, newline="") as stream:
                reader = csv.reader(stream)
                next(reader)
                for symbol, price, ts in reader:
                    when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
                    when = when.astimezone(UTC).replace(tzinfo=None)
                    yield ids[symbol], float(price), when.isoformat(" ", "microseconds"), received

        with db:
            cursor = db.executemany(
                "INSERT INTO tick (instrument_id, price, ts, received_at) VALUES (?, ?, ?, ?)",
                rows(),
            )
            written = cursor.rowcount
        db.close()
    ended = time.time()
    # VmHWM, not getrusage: ru_maxrss survives exec, so it would be the parent's peak.
    status = Path("/proc/self/status").read_text()
    peak = int(re.search(r"^VmHWM:\s+(\d+)", status, re.MULTILINE).group(1))  # type: ignore[union-attr]
    print(json.dumps({"started": started, "ended": ended, "written": written, "rss_kib": peak}))


def run_workers(
    kind: str, url: str, files: list[Path], profile_stem: Path | None = None
) -> dict[str, float]:
    """Import each file in its own process, all started together; ticks/s over the wall."""
    env = {**os.environ, "DASHBOARD_SECRET_KEY": SECRET}
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "_worker", kind, url, str(file), "--go"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for file in files
    ]
    for process in processes:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise SystemExit(f"a {kind} importer did not start")
    profilers = (
        [
            profile(p.pid, profile_stem.with_name(f"{profile_stem.name}-{i}"))
            for i, p in enumerate(processes)
        ]
        if profile_stem
        else []
    )
    busy_before = machine_jiffies()
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    reports = []
    for process in processes:
        out, _ = process.communicate(timeout=3600)
        if process.returncode:
            raise SystemExit(f"a {kind} importer failed ({process.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    busy_after = machine_jiffies()
    for profiler in profilers:
        stop_profile(profiler)
    wall = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    written = sum(r["written"] for r in reports)
    return {
        "writers": len(files),
        "ticks": written,
        "seconds": wall,
        "ticks_per_s": written / wall,
        "peak_rss_mib": max(r["rss_kib"] for r in reports) / 1024,
        # The whole machine (importers, the store, the server): near the number of cores,
        # more writers cannot go faster.
        "machine_cores_busy": (busy_after[0] - busy_before[0])
        / max(busy_after[1] - busy_before[1], 1)
        * (os.cpu_count() or 1),
    }


def machine_jiffies() -> tuple[int, int]:
    """(busy, all) CPU time of the whole machine so far, in jiffies (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def run_cli(url: str, file: Path) -> dict[str, float]:
    """``dashboard ingest FILE`` as a user runs it: wall time (start-up included) and peak
    RSS of the command."""
    env = {**os.environ, "DASHBOARD_DATABASE_URL": url, "DASHBOARD_SECRET_KEY": SECRET}
    started = time.time()
    out = subprocess.run(
        [sys.executable, __file__, "_worker", "cli", url, str(file)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    wall = time.time() - started
    report = json.loads(out.strip().splitlines()[-1])
    return {
        "writers": 1,
        "ticks": report["written"],
        "seconds": wall,
        "ticks_per_s": report["written"] / wall,
        "peak_rss_mib": report["rss_kib"] / 1024,
    }


def section_import(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    file = tmp / "ticks.csv"
    write_csv(file, args.lines, SYMBOLS)
    results = []
    for target in ("sqlite3 executemany", "import_records", "dashboard ingest (CLI)"):
        url = f"sqlite:///{tmp / f'import-{len(results)}.db'}"
        prepare(url, SYMBOLS)
        if target == "sqlite3 executemany":
            result = run_workers("bare", url, [file])
        elif target == "import_records":
            stem = args.profile / "import" if args.profile else None
            result = run_workers("dashboard", url, [file], stem)
        else:
            result = run_cli(url, file)
        stored = tick_count(url)
        if stored != args.lines:
            raise SystemExit(f"{target}: {stored} rows stored of {args.lines}")
        results.append({"section": "import", "target": target, **result})
        print(json.dumps(results[-1]), flush=True)
    return results


# -- POST /api/ticks -------------------------------------------------------------------


def start_server(target: str, url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DASHBOARD_DATABASE_URL": url,
        "DASHBOARD_SECRET_KEY": SECRET,
        "DASHBOARD_LOG_LEVEL": "warning",
        "DASHBOARD_MAX_STREAMS_PER_ADDRESS": "1000000",
        "DASHBOARD_BENCH_DB": url.removeprefix("sqlite:///"),
    }
    if target == "dashboard":
        command = [sys.executable, "-m", "dashboard.cli", "serve", "--port", str(port), "--no-feed"]
    elif target == "bare FastAPI + sqlite3":
        command = [
            *(sys.executable, "-m", "uvicorn", "bench.baselines.bare_ticks:app"),
            *("--port", str(port), "--log-level", "warning", "--no-access-log"),
        ]
    else:
        if not (NODE_DIR / "node_modules" / "better-sqlite3").is_dir():
            subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
        command = ["node", str(NODE_DIR / "ticks.js"), url.removeprefix("sqlite:///"), str(port)]
    server = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_port(port, target)
    return server


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def bodies(per_request: int, count: int = 200) -> list[bytes]:
    """Request bodies of ``per_request`` ticks (a JSON array), times of the last minute."""
    rng = random.Random(per_request)
    now = datetime.now(UTC)
    out = []
    for n in range(count):
        ticks = [
            {
                "symbol": SYMBOLS[(n * per_request + i) % len(SYMBOLS)],
                "price": round(100 + rng.random() * 10, 4),
                "ts": (now - timedelta(seconds=rng.random() * 60))
                .isoformat()
                .replace("+00:00", "Z"),
            }
            for i in range(per_request)
        ]
        out.append(json.dumps(ticks).encode())
    return out


async def keep_posting(
    port: int, token: str, payloads: list[bytes], until: float, offset: int
) -> tuple[int, int]:
    """(requests answered 200, other answers) on one kept-alive connection until ``until``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    ok = bad = 0
    n = offset
    while time.monotonic() < until:
        body = payloads[n % len(payloads)]
        n += 1
        writer.write(
            b"POST /api/ticks HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        if head.startswith(b"HTTP/1.1 200"):
            ok += 1
        else:
            bad += 1
    writer.close()
    return ok, bad


async def post_load(
    port: int, pid: int, token: str, payloads: list[bytes], connections: int, seconds: float
) -> tuple[float, float, int]:
    """(requests/s, server CPU µs per request, refused requests)."""
    cpu_before = cpu_seconds(pid)
    until = time.monotonic() + seconds
    counts = await asyncio.gather(
        *(keep_posting(port, token, payloads, until, i * 7) for i in range(connections))
    )
    ok = sum(c[0] for c in counts)
    bad = sum(c[1] for c in counts)
    # The poller's last wake-up and tiles: a moment for the server to finish what it took.
    await asyncio.sleep(0.3)
    return ok / seconds, (cpu_seconds(pid) - cpu_before) / max(ok, 1) * 1e6, bad


def section_post(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    results = []
    targets = ["dashboard", "bare FastAPI + sqlite3", "Node.js + better-sqlite3"]
    for target in [t for t in targets if t.split()[0].lower() in args.post_targets]:
        url = f"sqlite:///{tmp / f'post-{len(results)}.db'}"
        token = prepare(url, SYMBOLS)
        port = free_port()
        server = start_server(target, url, port)
        try:
            for per_request in (1, 100):
                payloads = bodies(per_request)
                asyncio.run(post_load(port, server.pid, token, payloads, args.connections, 1.0))
                before = tick_count(url)
                stem = (
                    args.profile / f"post-{target.split()[0]}-{per_request}"
                    if (args.profile and target == "dashboard")
                    else None
                )
                profiler = profile(server.pid, stem) if stem else None
                rate, cpu_us, bad = asyncio.run(
                    post_load(port, server.pid, token, payloads, args.connections, args.seconds)
                )
                if profiler is not None:
                    stop_profile(profiler)
                written = tick_count(url) - before
                results.append(
                    {
                        "section": "post",
                        "target": target,
                        "ticks_per_request": per_request,
                        "requests_per_s": rate,
                        "ticks_per_s": rate * per_request,
                        "cpu_us_per_request": cpu_us,
                        "cpu_us_per_tick": cpu_us / per_request,
                        "refused": bad,
                        "rows_written": written,
                    }
                )
                print(json.dumps(results[-1]), flush=True)
        finally:
            stop_server(server)
    return results


# -- PostgreSQL: one importer against four, and the poller's count ---------------------


def metric(port: int, name: str) -> float:
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else float("nan")


def section_postgres(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    url = (
        make_url(POSTGRES)
        .update_query_dict({"options": f"-csearch_path={name}"})
        .render_as_string(hide_password=False)
    )
    results = []
    try:
        writers = 4
        symbols = [[f"W{w}S{i}" for i in range(5)] for w in range(writers)]
        prepare(url, [s for group in symbols for s in group])
        files = []
        for w in range(writers):
            files.append(tmp / f"pg-{w}.csv")
            write_csv(files[-1], args.pg_lines, symbols[w], seed=w + 10)
        port = free_port()
        server = start_server("dashboard", url, port)
        try:
            for label, chosen in (("1 importer", files[:1]), ("4 importers", files)):
                stem = args.profile / f"pg-{len(chosen)}" if args.profile else None
                result = run_workers("dashboard", url, chosen, stem)
                stored = tick_count(url)
                deadline = time.monotonic() + 120
                seen = metric(port, "dashboard_ticks_total")
                while seen < stored and time.monotonic() < deadline:
                    time.sleep(0.5)
                    seen = metric(port, "dashboard_ticks_total")
                results.append(
                    {
                        "section": "postgres",
                        "target": label,
                        **result,
                        "rows_in_store": stored,
                        "poller_ticks_seen": seen,
                        "skipped": stored - seen,
                    }
                )
                print(json.dumps(results[-1]), flush=True)
        finally:
            stop_server(server)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()
    one, four = results[0]["ticks_per_s"], results[1]["ticks_per_s"]
    results[1]["speed_up"] = four / one
    return results


# -- WS /ws/ingest with /events streams open -------------------------------------------


def ws_sender(
    port: int,
    token: str,
    seconds: float,
    batch: int,
    window: int,
    rate: float,
    index: int,
    sockets: int,
    out: str,
) -> None:
    """One ingest socket (``index`` of ``sockets``): keep ``window`` messages unacknowledged
    for ``seconds``; write each message's send time and the ids its ack carried to ``out``,
    and each tick's "SYMBOL|price" as a page's quote shows it (price updates carry no tick
    id)."""
    import uvloop
    from websockets.asyncio.client import connect

    async def run() -> dict[str, Any]:
        rng = random.Random(index)
        sent: dict[int, float] = {}
        items: dict[int, list[str]] = {}
        acked: dict[int, list[int]] = {}
        errors = 0
        slots = asyncio.Semaphore(window)
        async with connect(
            f"ws://127.0.0.1:{port}/ws/ingest",
            additional_headers={"Authorization": f"Bearer {token}"},
            max_queue=None,
        ) as socket:

            async def receive() -> None:
                nonlocal errors
                async for text in socket:
                    reply = json.loads(text)
                    if "ack" in reply:
                        acked[reply["ack"]] = reply["ids"]
                    else:
                        errors += 1
                    slots.release()
                    if len(acked) + errors == len(sent) and time.monotonic() > stop_at:
                        return

            stop_at = time.monotonic() + seconds
            receiver = asyncio.create_task(receive())
            seq = 0

            def unique(k: int) -> int:  # this socket's numbers, interleaved with the others'
                return (seq * batch + k) * sockets + index

            started = time.monotonic()
            while time.monotonic() < stop_at:
                await slots.acquire()
                now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
                # Every price is one no other tick of the run has (as a page shows it, to
                # two decimals), so the quote a page receives names its tick: with random
                # prices, a quote seen again matched a later tick (negative latencies).
                ticks = [
                    {"symbol": rng.choice(SYMBOLS), "price": 100 + unique(k) / 100, "ts": now}
                    for k in range(batch)
                ]
                message = json.dumps(ticks)
                seq += 1
                sent[seq] = time.time()
                items[seq] = [f"{t['symbol']}|{t['price']:,.2f}" for t in ticks]
                await socket.send(message)
                if rate:
                    ahead = started + seq * batch / rate - time.monotonic()
                    if ahead > 0:
                        await asyncio.sleep(ahead)
            sending_ended = time.monotonic()
            # Every ack may be in before sending stops (a paced sender): then the receiver,
            # which looks only when a message comes, would wait for one that never does.
            deadline = time.monotonic() + 60
            while len(acked) + errors < len(sent) and not receiver.done():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(sent) - len(acked) - errors} messages unanswered")
                await asyncio.sleep(0.01)
            receiver.cancel()
        ticks = sum(len(ids) for ids in acked.values())
        sent_at = {i: sent[seq] for seq, ids in acked.items() for i in ids}
        quotes = {q: i for seq, ids in acked.items() for q, i in zip(items[seq], ids, strict=True)}
        return {
            "ticks": ticks,
            "errors": errors,
            "seconds": sending_ended - started,
            "sent_at": sent_at,
            "quotes": quotes,
        }

    Path(out).write_text(json.dumps(uvloop.run(run())))


async def ws_run(
    args: argparse.Namespace, rate: float, port: int, pid: int, token: str, tmp: Path
) -> dict[str, Any]:
    import multiprocessing

    clients, _ = await open_streams(port, args.ws_streams, at_once=256)
    deadline = time.monotonic() + 60
    while not all(c.first_data for c in clients) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for client in clients:
        client.reads.clear()
    profiler = profile(pid, args.profile / f"ws-{rate:.0f}") if args.profile else None
    cpu_before = cpu_seconds(pid)
    outs = [str(tmp / f"ws-{rate:.0f}-{i}.json") for i in range(args.ws_clients)]
    senders = [
        multiprocessing.Process(
            target=ws_sender,
            args=(
                port,
                token,
                args.seconds,
                args.ws_batch,
                args.ws_window,
                rate / args.ws_clients,
                i,
                args.ws_clients,
                outs[i],
            ),
        )
        for i in range(args.ws_clients)
    ]
    for sender in senders:
        sender.start()
    while any(s.is_alive() for s in senders):
        await asyncio.sleep(0.1)
    while time.time() - StreamClient.last_read < 1.0:
        await asyncio.sleep(0.1)
    cpu = cpu_seconds(pid) - cpu_before
    if profiler is not None:
        stop_profile(profiler)
    reports = [json.loads(Path(out).read_text()) for out in outs]
    sent_at = {int(k): v for r in reports for k, v in r["sent_at"].items()}
    quotes = {k.encode(): v for r in reports for k, v in r["quotes"].items()}
    arrivals: dict[int, list[float]] = {}
    for client in clients:
        client.collect(arrivals, quotes)
    latencies = sorted(
        (t - sent_at[tick_id]) * 1000
        for tick_id, times in arrivals.items()
        if tick_id in sent_at
        for t in times
    )
    ticks = sum(r["ticks"] for r in reports)
    seconds = max(r["seconds"] for r in reports)
    for client in clients:
        client.reset()
    return {
        "section": "ws",
        "target": "dashboard",
        "offered_ticks_per_s": rate,
        "streams": args.ws_streams,
        "sockets": args.ws_clients,
        "ticks_per_message": args.ws_batch,
        "window": args.ws_window,
        "ticks": ticks,
        "errors": sum(r["errors"] for r in reports),
        "ticks_per_s": ticks / seconds,
        "server_cpu_us_per_tick": cpu / max(ticks, 1) * 1e6,
        "deliveries": len(latencies),
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
    }


def section_ws(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    """One run per ``--ws-rate``, each with a server and a store of its own."""
    import uvloop

    results = []
    for rate in args.ws_rate:
        url = f"sqlite:///{tmp / f'ws-{len(results)}-{rate:.0f}.db'}"
        token = prepare(url, SYMBOLS)
        give_prices(url)
        port = free_port()
        server = start_server("dashboard", url, port)
        try:
            result = uvloop.run(ws_run(args, rate, port, server.pid, token, tmp))
        finally:
            stop_server(server)
        result["rows_in_store"] = tick_count(url)
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


# -- the tables ------------------------------------------------------------------------


def print_tables(results: list[dict[str, Any]]) -> None:
    imports = [r for r in results if r["section"] == "import"]
    if imports:
        print("\n| file import (SQLite) | ticks | seconds | ticks/s | peak RSS |")
        print("|---|---:|---:|---:|---:|")
        for r in imports:
            print(
                f"| {r['target']} | {r['ticks']:,} | {r['seconds']:.2f} "
                f"| {r['ticks_per_s']:,.0f} | {r['peak_rss_mib']:.0f} MiB |"
            )
    posts = [r for r in results if r["section"] == "post"]
    if posts:
        print(
            "\n| POST /api/ticks (SQLite) | ticks/request | requests/s | ticks/s "
            "| server CPU µs/request | µs/tick | refused |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in posts:
            print(
                f"| {r['target']} | {r['ticks_per_request']} | {r['requests_per_s']:,.0f} "
                f"| {r['ticks_per_s']:,.0f} | {r['cpu_us_per_request']:,.0f} "
                f"| {r['cpu_us_per_tick']:,.1f} | {r['refused']} |"
            )
    pgs = [r for r in results if r["section"] == "postgres"]
    if pgs:
        print(
            "\n| PostgreSQL import | ticks | seconds | ticks/s | machine cores busy "
            "| rows in store | poller saw | skipped |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in pgs:
            print(
                f"| {r['target']} | {r['ticks']:,} | {r['seconds']:.2f} | {r['ticks_per_s']:,.0f} "
                f"| {r['machine_cores_busy']:.2f} | {r['rows_in_store']:,} "
                f"| {r['poller_ticks_seen']:,.0f} | {r['skipped']:,.0f} |"
            )
        if len(pgs) == 2:
            print(f"\nfour importers / one: {pgs[1]['speed_up']:.2f}x")
    websockets = [r for r in results if r["section"] == "ws"]
    if websockets:
        print(
            "\n| WS /ws/ingest | offered | /events streams | sockets x window x ticks "
            "| ticks/s | server CPU µs/tick | tick->tile p50 | p99 | errors |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in websockets:
        offered = r["offered_ticks_per_s"]
        print(
            f"| dashboard | {f'{offered:,.0f}/s' if offered else 'as fast as acked'} "
            f"| {r['streams']} | {r['sockets']} x {r['window']} x "
            f"{r['ticks_per_message']} | {r['ticks_per_s']:,.0f} "
            f"| {r['server_cpu_us_per_tick']:.1f} | {r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms "
            f"| {r['errors']} |"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4], "--go" in sys.argv)
        return
    gc.disable()  # the SSE readers' kept reads (see fanout.py)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sections",
        nargs="+",
        default=["import", "post", "postgres", "ws"],
        choices=["import", "post", "postgres", "ws"],
    )
    parser.add_argument("--lines", type=int, default=200_000, help="CSV lines to import")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=4, help="POST connections")
    parser.add_argument(
        "--post-targets",
        nargs="+",
        default=["dashboard", "bare", "node.js"],
        choices=["dashboard", "bare", "node.js"],
    )
    parser.add_argument("--pg-lines", type=int, default=100_000, help="ticks per importer")
    parser.add_argument("--ws-streams", type=int, default=1000)
    parser.add_argument("--ws-clients", type=int, default=2)
    parser.add_argument("--ws-window", type=int, default=8)
    parser.add_argument("--ws-batch", type=int, default=200)
    parser.add_argument(
        "--ws-rate",
        type=float,
        nargs="+",
        default=[20_000.0, 0.0],
        help="ticks/s offered, one run each (0: as fast as acked); by default the target "
        "rate of issue 16, then saturation",
    )
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    parser.add_argument("--profile", type=Path, help="py-spy profiles into this directory")
    args = parser.parse_args()
    sections = {
        "import": section_import,
        "post": section_post,
        "postgres": section_postgres,
        "ws": section_ws,
    }
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dashboard-bench-ingest-") as tmp:
        for name in args.sections:
            results += sections[name](args, Path(tmp))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    print_tables(results)


if __name__ == "__main__":
    main()
