"""Summarise a ``py-spy record --format raw`` file (collapsed stacks) as two top lists.

    python bench/profile_report.py bench/results/profiles/sqlite-latency-50.txt [--top 25]

*inclusive*: share of samples with the function anywhere on the stack (counted once per
sample); *self*: share of samples with the function as the innermost frame. ``--match tumar``
restricts the inclusive list to frames whose file path contains the text.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# py-spy frames look like "function (path/to/file.py:123)"; strip the line number.
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "/src/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m['func']} ({path})"


def package(frame: str) -> str:
    """The top-level package of a shortened frame: ``sqlalchemy``, ``asyncio``, ``tumar``..."""
    m = FRAME.match(frame)
    path = m["file"] if m else frame
    head = path.split("/", 1)[0]
    return head.removesuffix(".py") if "/" in path or head.endswith(".py") else path


def load(path: Path) -> tuple[Counter[str], Counter[str], Counter[str], int]:
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [short(f) for f in stack.split(";")]
        # The first frame is the thread ("process 123:..." / "thread (0x...)"); skip it.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        self_time[frames[-1]] += count
        packages[package(frames[-1])] += count
    return inclusive, self_time, packages, total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--match", help="only frames whose file contains this text (inclusive list)")
    args = p.parse_args(argv)
    for path in args.files:
        inclusive, self_time, packages, total = load(path)
        print(f"== {path} ({total} samples)")
        if not total:
            continue
        print("-- inclusive")
        shown = 0
        for frame, count in inclusive.most_common():
            if args.match and args.match not in frame:
                continue
            print(f"{100 * count / total:6.1f}%  {frame}")
            shown += 1
            if shown >= args.top:
                break
        print("-- self, by package")
        print("   " + ", ".join(f"{p} {100 * n / total:.0f}%" for p, n in packages.most_common(12)))
        print("-- self")
        for frame, count in self_time.most_common(args.top):
            print(f"{100 * count / total:6.1f}%  {frame}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
