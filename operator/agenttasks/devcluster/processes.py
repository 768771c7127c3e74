"""Starts and stops the control plane's processes, tracked by pid files."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def start(name: str, argv: list[str], run_dir: Path) -> int:
    """Starts ``argv`` in its own session with output in logs/<name>.log."""
    log_path = run_dir / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pid_file(run_dir, name).write_text(f"{proc.pid}\n{argv[0]}\n")
    return proc.pid


def pid_file(run_dir: Path, name: str) -> Path:
    folder = run_dir / "pids"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.pid"


def running_pid(run_dir: Path, name: str) -> int | None:
    """The pid of ``name`` if it is still our process (the pid may have been reused)."""
    path = pid_file(run_dir, name)
    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    pid, exe = int(lines[0]), lines[1] if len(lines) > 1 else ""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if state == "Z" or (exe and cmdline != exe):
        return None
    return pid


def exited(run_dir: Path, name: str) -> bool:
    """True once the process we started for ``name`` has ended. Unlike running_pid this does
    not compare the command line, which lags behind exec for a moment after start."""
    path = pid_file(run_dir, name)
    if not path.exists():
        return True
    return not _alive(int(path.read_text().split()[0]))


def stop(run_dir: Path, name: str, grace: float = 10.0) -> bool:
    """Stops ``name``: SIGTERM, then SIGKILL after ``grace`` seconds. True if it ran."""
    pid = running_pid(run_dir, name)
    pid_file(run_dir, name).unlink(missing_ok=True)
    if pid is None:
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        _signal_group(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaps our own child, so it does not linger as a zombie
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"
