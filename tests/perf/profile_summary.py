"""What py-spy saw in a benchmark's operator: the functions that held the most samples.

    .venv/bin/python -m tests.perf.profile_summary bench-profiles/operator-bench.txt

Input: py-spy's raw (collapsed) format, one stack per line, root first, then a space and
its sample count. Printed: the busiest functions by self samples (the frame on top), and
by inclusive samples (anywhere in the stack, once per stack), each as a share of all.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def load(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks[tuple(frames.split(";"))] += int(count)
    return stacks


def _function(frame: str) -> str:
    """'handle (agenttasks/web/hooks.py:120)' without the line: one entry per function."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def summary(stacks: Counter[tuple[str, ...]], top: int = 15) -> str:
    total = sum(stacks.values())
    if not total:
        return "no samples"
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks.items():
        functions = [_function(f) for f in frames]
        own[functions[-1]] += count
        for name in set(functions):
            inclusive[name] += count
    lines = [f"{total} samples (50/s while not idle)", "", "self:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines += ["", "inclusive:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main(paths: list[str]) -> int:
    for path in paths:
        print(f"== {path}\n{summary(load(Path(path)))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
