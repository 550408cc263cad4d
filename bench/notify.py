"""Notification fan-out: an admin's post -> arrival on N open inbox streams.

Runs `dashboard serve --no-feed` in its own process on a throw-away SQLite file, opens N
`/events?view=inbox` streams as signed-in users (raw HTTP/1.1 from this process), then
posts notifications through the JSON API as the admin would and times each from the moment
the request is sent until the notification's `id:` line arrives at each stream. A post
wakes the poller in the same process, so no poll interval is in these figures.

    .venv/bin/python bench/notify.py --streams 100 1000 --posts 20

Scenarios: `everyone` (every stream gets each post) and `one-percent` (each post goes to
one user; 1 % of the streams belong to that user, the rest must get nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from soak import PASSWORD, Server, free_port, stop_clients_and_server  # noqa: E402

EVENT_ID = re.compile(rb"(?m)^id: (\d+)\r?$")


def prepare(url: str, users: int) -> str:
    from sqlmodel import Session

    from dashboard.accounts import auth, tokens
    from dashboard.store import schema
    from dashboard.store.db import make_engine

    schema.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        admin = auth.create_user(
            session=session, username="admin", password=PASSWORD, is_admin=True
        )
        for i in range(users):
            auth.create_user(session=session, username=f"user{i}", password=PASSWORD)
        assert admin.id is not None
        _, token = tokens.issue(session=session, user_id=admin.id, name="bench")
    engine.dispose()
    return token


def cookie_for(base: str, username: str) -> str:
    with httpx.Client(base_url=base) as client:
        page = client.get("/login").text
        csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
        client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf})
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


async def reader(
    port: int,
    cookie: str,
    arrivals: dict[int, list[float]],
    opened: list[int],
    ready: list[int],
) -> None:
    stream_reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /events?view=inbox HTTP/1.1\r\nHost: b\r\nAccept: text/event-stream\r\n"
        f"Cookie: {cookie}\r\n\r\n".encode()
    )
    opened.append(1)
    seen_badge = False
    try:
        while True:
            chunk = await stream_reader.read(65536)
            if not chunk:
                return
            if not seen_badge and b"unread-count" in chunk:
                seen_badge = True  # replay done: the stream is live
                ready.append(1)
            now = time.perf_counter()
            for found in EVENT_ID.findall(chunk):
                arrivals.setdefault(int(found), []).append(now)
    finally:
        writer.close()


async def scenario(name: str, streams: int, posts: int) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix=f"notify-{name}-"))
    url = f"sqlite:///{workdir / 'bench.db'}"
    users = 10 if name == "everyone" else 100
    token = prepare(url, users)
    port = free_port()
    server = await asyncio.to_thread(Server, url, port, workdir / "serve.log")
    cookies = [await asyncio.to_thread(cookie_for, server.base, f"user{i}") for i in range(users)]
    arrivals: dict[int, list[float]] = {}
    opened: list[int] = []
    ready: list[int] = []
    # Streams spread evenly over the users: with 100 users, each user holds 1 % of them.
    tasks = [
        asyncio.create_task(reader(port, cookies[i % users], arrivals, opened, ready))
        for i in range(streams)
    ]
    connect_started = time.perf_counter()
    while len(ready) < streams:
        await asyncio.sleep(0.05)
    all_live_s = time.perf_counter() - connect_started
    await asyncio.sleep(0.5)
    sent: dict[int, float] = {}
    # Stream i belongs to user i % users; posts of the 1 % scenario go to user0.
    expected_per_post = streams if name == "everyone" else len(range(0, streams, users))
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as api:
        for i in range(posts):
            await asyncio.sleep(random.uniform(0.2, 0.4))
            body = {"title": f"post {i}"}
            if name == "one-percent":
                body |= {"audience": "user", "username": "user0"}
            started = time.perf_counter()
            response = await api.post(
                "/api/notifications", json=body, headers={"Authorization": f"Bearer {token}"}
            )
            sent[response.json()["id"]] = started
    await asyncio.sleep(2.0)
    await stop_clients_and_server(None, tasks, server)
    latencies = sorted(
        (t - sent[nid]) * 1000 for nid, times in arrivals.items() if nid in sent for t in times
    )
    delivered = sum(len(arrivals.get(nid, [])) for nid in sent)
    return {
        "scenario": name,
        "streams": streams,
        "seconds_until_all_streams_live": round(all_live_s, 2),
        "posts": posts,
        "delivered": f"{delivered}/{expected_per_post * posts}",
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 1),
        "max_ms": round(latencies[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--posts", type=int, default=20)
    args = parser.parse_args()
    rows = []
    for name in ("everyone", "one-percent"):
        for n in args.streams:
            row = asyncio.run(scenario(name, n, args.posts))
            print(json.dumps(row), flush=True)
            rows.append(row)
    print("\n| scenario | streams | all live after | posts | delivered | p50 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['scenario']} | {r['streams']} | {r['seconds_until_all_streams_live']} s "
            f"| {r['posts']} | {r['delivered']} | {r['p50_ms']} ms | {r['p99_ms']} ms "
            f"| {r['max_ms']} ms |"
        )


if __name__ == "__main__":
    main()
