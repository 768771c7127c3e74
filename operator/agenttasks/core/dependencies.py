"""Dependencies between tasks of one namespace: what a task waits for, what failed, cycles."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from agenttasks.api.task import Phase, is_terminal


@dataclass(frozen=True)
class Dependency:
    """What is known of one task that another depends on."""

    phase: str | None
    reason: str | None
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class DependencyState:
    waiting: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    failed: tuple[str, str] | None = None
    """(name, phase) of the first dependency that ended Failed or Cancelled."""
    cycle: tuple[str, ...] | None = None
    """The cycle through this task, as a → b → a."""

    @property
    def satisfied(self) -> bool:
        return not (self.waiting or self.missing or self.failed or self.cycle)

    def waiting_message(self) -> str:
        parts = []
        if self.waiting:
            parts.append("waiting for " + ", ".join(self.waiting) + " to complete")
        if self.missing:
            parts.append("waiting for " + ", ".join(self.missing) + " (not created yet)")
        return "; ".join(parts)


Lookup = Callable[[str], Dependency | None]


def evaluate(name: str, depends_on: Sequence[str], lookup: Lookup) -> DependencyState:
    if not depends_on:
        return DependencyState()
    cycle = find_cycle(name, lambda n: _edges(n, name, depends_on, lookup))
    if cycle:
        return DependencyState(cycle=tuple(cycle))
    waiting, missing = [], []
    for dep in depends_on:
        info = lookup(dep)
        if info is None:
            missing.append(dep)
        elif info.phase == Phase.COMPLETED:
            continue
        elif is_terminal(info.phase, info.reason):
            return DependencyState(failed=(dep, str(info.phase)))
        else:
            waiting.append(dep)
    return DependencyState(waiting=tuple(waiting), missing=tuple(missing))


def _edges(node: str, start: str, start_deps: Sequence[str], lookup: Lookup) -> Sequence[str]:
    if node == start:
        return start_deps
    info = lookup(node)
    return info.depends_on if info else ()


def find_cycle(start: str, edges: Callable[[str], Sequence[str]]) -> list[str] | None:
    """A path start → … → start, if one exists (iterative DFS, bounded by the graph)."""
    stack: list[tuple[str, int]] = [(start, 0)]
    path = [start]
    visited = {start}
    while stack:
        node, index = stack[-1]
        children = edges(node)
        if index >= len(children):
            stack.pop()
            path.pop()
            continue
        stack[-1] = (node, index + 1)
        child = children[index]
        if child == start:
            return [*path, start]
        if child not in visited:
            visited.add(child)
            stack.append((child, 0))
            path.append(child)
    return None


def dependents_of(depends_on: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """The graph turned around: for each task, the tasks whose dependsOn names it, sorted.
    (The dashboard's graph and the CLI's tree walk both directions.)"""
    dependents: dict[str, list[str]] = {}
    for task, deps in depends_on.items():
        for dep in deps:
            dependents.setdefault(dep, []).append(task)
    return {name: sorted(names) for name, names in dependents.items()}
