"""Summarise a py-spy profile (collapsed stacks, `fanout.py --profile`): where the time went.

    .venv/bin/python bench/profile_top.py bench-profiles/dashboard-10000.folded --top 25

Prints the functions with the most samples on top of the stack (self) and anywhere on it
(inclusive), as shares of all samples. py-spy records no samples of idle threads (it runs
without --idle), so the shares are of the time the process was busy.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folded", type=Path)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in args.folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [frame.split(" (")[0] + " (" + _where(frame) + ")" for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    print(f"{total} samples")
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"\n{title}:")
        for frame, count in counter.most_common(args.top):
            print(f"{count / total:6.1%}  {frame}")


def _where(frame: str) -> str:
    """``file.py`` of a ``name (path/file.py:line)`` frame."""
    inside = frame.partition(" (")[2].rstrip(")")
    path = inside.rsplit(":", 1)[0]
    return "/".join(path.split("/")[-2:])


if __name__ == "__main__":
    main()
