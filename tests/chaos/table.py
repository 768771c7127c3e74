"""The run's summary table: faults injected, then tasks, lost tasks and duplicate Jobs."""

from __future__ import annotations

from tests.chaos.driver import ChaosResult


def table(result: ChaosResult) -> str:
    verdict, config = result.verdict, result.config
    rows = [(f.fault, str(f.injected), f.detail) for f in result.faults]
    rows += [(s.split(":", 1)[0], "0", s.split(":", 1)[1].strip()) for s in result.skipped]
    width = max(len(r[0]) for r in [*rows, ("fault", "", "")])
    lines = [f"{'fault':<{width}}  injected  detail", "-" * (width + 40)]
    lines += [f"{name:<{width}}  {count:>8}  {detail}" for name, count, detail in rows]
    lines += [
        "-" * (width + 40),
        f"{'tasks':<{width}}  {verdict.tasks:>8}  terminal {verdict.terminal}",
        f"{'lost tasks':<{width}}  {len(verdict.lost):>8}  target 0"
        + (f": {', '.join(verdict.lost[:10])}" if verdict.lost else ""),
        f"{'duplicate Jobs':<{width}}  {verdict.duplicate_jobs:>8}  target 0",
        f"{'max running observed':<{width}}  {verdict.peak_running:>8}  limit {verdict.limit}; "
        f"moments over it: {verdict.overruns}",
        f"{'other failed checks':<{width}}  {len(verdict.problems):>8}  target 0",
        f"seed {config.seed}, {result.seconds:.0f}s, "
        f"{'PASS' if verdict.passed else 'FAIL'}",
    ]
    lines += [f"  ! {p}" for p in verdict.problems[:40]]
    return "\n".join(lines)
