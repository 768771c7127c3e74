"""Builds the control plane's Go tools into the per-machine cache, only when missing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

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
        folder = _prepare_source(go, tool, staging)
        for command in tool.build_commands(go, staging):
            out.write(f"$ {' '.join(command)}\n")
            out.flush()
            proc = subprocess.Popen(
                command, cwd=folder, stdout=out, stderr=subprocess.STDOUT
            )
            _heartbeat(proc, tool, started, say)
            if proc.returncode != 0:
                raise BuildError(
                    f"building {tool.name} failed: `{' '.join(command)}` in {folder} "
                    f"exited {proc.returncode}; see {log}"
                )
    if folder != tool.gomod_dir:
        shutil.rmtree(folder, ignore_errors=True)
    for name in tool.binaries:
        if not (staging / name).is_file():
            raise BuildError(f"building {tool.name} produced no {name}; see {log}")
    shutil.rmtree(tool.bin_dir, ignore_errors=True)
    staging.rename(tool.bin_dir)
    say(f"  built {tool.name} in {time.monotonic() - started:.0f}s")


def _prepare_source(go: str, tool: GoTool, staging: Path) -> Path:
    """The folder to build in: the tool's go.mod folder, or for a tool with patches a copy
    of it beside ``staging`` holding the patched packages (SourcePatch). Finds the module's
    source for that, and for the folders it ships (``copies``, copied into ``staging``),
    downloading it through the module proxy when the cache lacks it."""
    if not tool.patches and not tool.copies:
        return tool.gomod_dir
    found = subprocess.run([go, "mod", "download", "-json", tool.module], cwd=tool.gomod_dir,
                           capture_output=True, text=True)
    if found.returncode != 0:
        raise BuildError(f"`go mod download {tool.module}` failed: {found.stderr.strip()}")
    source = Path(json.loads(found.stdout)["Dir"])
    for folder in tool.copies:
        shutil.copytree(source / folder, staging / Path(folder).name)
    if not tool.patches:
        return tool.gomod_dir
    work = staging.with_name(staging.name + ".src")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    for name in ("go.mod", "go.sum"):
        shutil.copy(tool.gomod_dir / name, work / name)
    for patch in tool.patches:
        package = work / patch.package_dir
        if not package.exists():
            package.mkdir(parents=True)
            for file in (source / patch.package_dir).glob("*.go"):
                if not file.name.endswith("_test.go"):
                    shutil.copy(file, package / file.name)
        target = work / patch.file
        text = target.read_text()
        if patch.old not in text:
            raise BuildError(f"{tool.name} {tool.version}: {patch.file} no longer holds "
                             f"{patch.old!r}; the patch needs updating")
        target.write_text(text.replace(patch.old, patch.new))
    return work


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

