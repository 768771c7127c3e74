"""Builds the control plane's Go tools into the per-machine cache, only when missing."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable

from agenttasks.devcluster.toolchain import ALL_TOOLS, GoTool

Say = Callable[[str], None]


class BuildError(RuntimeError):
    pass


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def find_go() -> str:
    go = shutil.which("go")
    if not go:
        raise BuildError(
            "Go is not installed: the local control plane is built from Go modules and needs "
            "Go 1.26 or newer on PATH. Alternatively point KUBECONFIG at an existing cluster."
        )
    return go


def ensure_built(tools: Iterable[GoTool] = ALL_TOOLS, say: Say = _say) -> None:
    """Builds every tool whose binaries are not all in the cache yet."""
    pending = [t for t in tools if t.missing()]
    if not pending:
        return
    go = find_go()
    say(
        "Building the local control plane into "
        f"{pending[0].bin_dir.parent} (first time only; 15-25 minutes on 2 cores)."
    )
    started = time.monotonic()
    for tool in pending:
        _build(go, tool, say)
    say(f"Control plane built in {time.monotonic() - started:.0f}s.")


def _build(go: str, tool: GoTool, say: Say) -> None:
    log = tool.bin_dir.parent / f"build-{tool.name}-{tool.version}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    staging = tool.bin_dir.with_name(tool.bin_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    say(f"  building {tool.name} {tool.version} (log: {log})")
    started = time.monotonic()
    with log.open("w") as out:
        for command in tool.build_commands(go, staging):
            out.write(f"$ {' '.join(command)}\n")
            out.flush()
            proc = subprocess.Popen(
                command, cwd=tool.gomod_dir, stdout=out, stderr=subprocess.STDOUT
            )
            _heartbeat(proc, tool, started, say)
            if proc.returncode != 0:
                raise BuildError(
                    f"building {tool.name} failed: `{' '.join(command)}` in {tool.gomod_dir} "
                    f"exited {proc.returncode}; see {log}"
                )
    for name in tool.binaries:
        if not (staging / name).is_file():
            raise BuildError(f"building {tool.name} produced no {name}; see {log}")
    shutil.rmtree(tool.bin_dir, ignore_errors=True)
    staging.rename(tool.bin_dir)
    say(f"  built {tool.name} in {time.monotonic() - started:.0f}s")


def _heartbeat(proc: subprocess.Popen[bytes], tool: GoTool, started: float, say: Say) -> None:
    """Prints a line every minute, so a long build is visibly alive."""
    done = threading.Event()

    def tick() -> None:
        while not done.wait(60):
            say(f"  … still building {tool.name} ({time.monotonic() - started:.0f}s)")

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        proc.wait()
    finally:
        done.set()

