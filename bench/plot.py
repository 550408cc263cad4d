"""Plot `bench/fanout.py --out` results: p99 latency and server CPU against open streams.

.venv/bin/python bench/plot.py docs/bench-results.json docs/images/bench.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {
    "dashboard": "#2456d6",
    "naive": "#b3261e",
    "node": "#1a7f37",
    "node-same": "#8a5a00",
    "python-same": "#6b3fa0",
}
# node-same is the dashboard's own design in Node.js (same bytes per update), python-same
# that design on the dashboard's stack alone: dashed, as the references its CPU is held to.
DASHED = {"node-same", "python-same"}


def main(source: Path, target: Path) -> None:
    results = [r for r in json.loads(source.read_text()) if not r.get("frozen")]
    fig, (latency, cpu) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for name in COLOURS:
        rows = sorted((r for r in results if r["target"] == name), key=lambda r: r["streams"])
        if not rows:
            continue
        streams = [r["streams"] for r in rows]
        style = {
            "color": COLOURS[name],
            "marker": "o",
            "label": name,
            "linestyle": "--" if name in DASHED else "-",
        }
        latency.plot(streams, [r["p99_ms"] for r in rows], **style)
        cpu.plot(streams, [r["server_cpu_s_per_1000_client_s"] for r in rows], **style)
    latency.axhline(500, color="#888", linestyle="--", linewidth=1, label="500 ms target")
    latency.set(xscale="log", yscale="log", xlabel="open streams", ylabel="p99 latency (ms)")
    latency.set_title("Tick committed → tile at every client, p99")
    cpu.set(xscale="log", xlabel="open streams", ylabel="server CPU s per 1,000 client-s")
    cpu.set_title("Server CPU per client-second")
    for axes in (latency, cpu):
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    fig.suptitle("20 instruments × 5 ticks/s, every client shows all 20 (2-core machine)")
    fig.savefig(target, dpi=110)
    print(f"wrote {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
