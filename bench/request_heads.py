"""What bounding request heads costs and buys: uvicorn's plain httptools protocol against
the dashboard's (dashboard.web.http_protocol), the same app, the same client, one run.

    .venv/bin/python bench/request_heads.py --seconds 5 --connections 20

For each server: requests per second and server CPU per request for ``GET /healthz`` on
keep-alive connections; the server's RSS after twenty 8 MB request heads; and how long a
head sent one line every 4 s holds its connection (capped at 30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fanout import cpu_seconds, free_port, rss_kib, wait_for_port  # noqa: E402

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
SLOW_HEAD_CAP_SECONDS = 30.0


def start(target: str, url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DASHBOARD_DATABASE_URL": url,
        "DASHBOARD_SECRET_KEY": "bench-secret-key",
        "DASHBOARD_FEED_ENABLED": "false",
        "DASHBOARD_LOG_LEVEL": "warning",
    }
    if target == "bounded":
        command = [sys.executable, "-m", "dashboard.cli", "serve", "--port", str(port)]
    else:
        command = [
            *(sys.executable, "-m", "uvicorn", "--factory", "--http", "httptools"),
            *("dashboard.web.app:create_app_from_env", "--port", str(port)),
            *("--log-level", "warning", "--no-access-log"),
        ]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_port(port, target)
    return server


async def keep_asking(port: int, until: float) -> int:
    """Requests answered on one keep-alive connection before ``until``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answered = 0
    while time.monotonic() < until:
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        answered += 1
    writer.close()
    return answered


async def throughput(port: int, connections: int, seconds: float, pid: int) -> tuple[float, float]:
    """(requests per second, server CPU µs per request)."""
    cpu_before = cpu_seconds(pid)
    until = time.monotonic() + seconds
    counts = await asyncio.gather(*(keep_asking(port, until) for _ in range(connections)))
    total = sum(counts)
    return total / seconds, (cpu_seconds(pid) - cpu_before) / total * 1e6


def big_head(port: int, size: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(b"GET /events HTTP/1.1\r\nHost: bench\r\nLast-Event-ID: ")
            chunk = b"a" * 65536
            for _ in range(size // len(chunk)):
                sock.sendall(chunk)
            sock.sendall(b"\r\n\r\n")
            sock.recv(100)
        except OSError:
            pass  # refused part-way: the point


def slow_head_held(port: int) -> float:
    """Seconds a head sent one line every 4 s keeps its connection (capped)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(4)
        sock.sendall(b"GET / HTTP/1.1\r\n")
        while time.monotonic() - started < SLOW_HEAD_CAP_SECONDS:
            try:
                sock.recv(100)  # an answer (408) or the close: the server has ended it
                break
            except TimeoutError:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    break
            except OSError:
                break
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=20)
    args = parser.parse_args()
    from dashboard.store import schema

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        schema.upgrade(url)
        for target in ("httptools", "bounded"):
            port = free_port()
            server = start(target, url, port)
            try:
                asyncio.run(throughput(port, args.connections, 1.0, server.pid))  # warm up
                rate, cpu_us = asyncio.run(
                    throughput(port, args.connections, args.seconds, server.pid)
                )
                rss_before = rss_kib(server.pid) / 1024
                for _ in range(20):
                    big_head(port, 8 * 1024 * 1024)
                rss_after = rss_kib(server.pid) / 1024
                held = slow_head_held(port)
            finally:
                server.terminate()
                server.wait(15)
            rows.append((target, rate, cpu_us, rss_before, rss_after, held))
    print(
        "| server | requests/s | CPU µs per request | RSS before | RSS after 20 × 8 MB heads "
        "| a slow head held |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for target, rate, cpu_us, before, after, held in rows:
        cap = "≥ " if held >= SLOW_HEAD_CAP_SECONDS else ""
        print(
            f"| {target} | {rate:,.0f} | {cpu_us:.0f} | {before:.0f} MB | {after:.0f} MB "
            f"| {cap}{held:.1f} s |"
        )
    print(f"\nbounded/httptools CPU per request: {rows[1][2] / rows[0][2]:.2f}")


if __name__ == "__main__":
    main()
