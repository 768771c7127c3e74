"""``agenttasks logs TASK [--attempt N] [-f]``: the logs of an attempt's pod(s)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import click
from kubernetes.client.exceptions import ApiException

from agenttasks.cli import format as fmt
from agenttasks.cli.errors import CliError, api_message, describe
from agenttasks.cli.kubeapi import JSON, TASKS, Session, kube_command, object_name

CHUNK = 4096


def _chunks(session: Session, pod: JSON, container: str | None, follow: bool) -> Iterator[bytes]:
    meta = pod["metadata"]
    response = session.core.read_namespaced_pod_log(
        meta["name"], meta["namespace"], container=container, follow=follow,
        _preload_content=False, _request_timeout=None if follow else 60)
    try:
        yield from response.stream(CHUNK, decode_content=True)
    finally:
        response.release_conn()


def unavailable(pod: JSON, exc: ApiException) -> CliError:
    """Why a pod's logs cannot be read, in one line. The API server fetches logs from the
    node's kubelet; a 5xx means it could not (a simulated node, such as kwok's, has none)."""
    name, node = pod["metadata"]["name"], (pod.get("spec") or {}).get("nodeName") or "?"
    message = api_message(exc)
    if (exc.status or 0) >= 500:
        return CliError(f"logs of pod {name} are not available: the API server could not get "
                        f"them from the kubelet of node {node} ({message})")
    return CliError(f"logs of pod {name}: {message}")


def _copy(session: Session, pod: JSON, container: str | None, follow: bool,
          prefix: bytes, lock: threading.Lock) -> None:
    out = sys.stdout.buffer
    pending = b""
    try:
        for chunk in _chunks(session, pod, container, follow):
            if not prefix:
                with lock:
                    out.write(chunk)
                    out.flush()
                continue
            pending += chunk
            *lines, pending = pending.split(b"\n")
            with lock:
                out.writelines(prefix + line + b"\n" for line in lines)
                out.flush()
    except ApiException as exc:
        raise unavailable(pod, exc) from None
    if pending:
        with lock:
            out.write(prefix + pending + b"\n")
            out.flush()


def attempt_pods(session: Session, task: JSON, attempt: int | None) -> tuple[int, list[JSON]]:
    status = task.get("status") or {}
    name = task["metadata"]["name"]
    number = attempt or int(status.get("attempts") or 0)
    if number < 1:
        raise CliError(f"agenttask {name} has not started an attempt yet "
                       f"({status.get('phase') or 'no status'}"
                       f"{', ' + status['reason'] if status.get('reason') else ''})")
    if number > int(status.get("attempts") or 0):
        raise CliError(f"agenttask {name} has no attempt {number} "
                       f"(attempts so far: {status.get('attempts') or 0})")
    job = fmt.job_for_attempt(task, number)
    pods = session.pods(task["metadata"]["namespace"], f"job-name={job}")
    if not pods:
        raise CliError(f"no pod found for attempt {number} of agenttask {name} (Job {job}): "
                       "the Job may be deleted (only the last 5 attempts keep theirs) or not "
                       "have started its pod yet")
    return number, sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")


@click.command()
@click.argument("task")
@click.option("--attempt", type=click.IntRange(min=1),
              help="Attempt number; default: the current (latest) attempt.")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new log lines.")
@click.option("-c", "--container", help="Container; default: the pod's only or first one.")
@kube_command
def logs(session: Session, task: str, attempt: int | None, follow: bool,
         container: str | None) -> None:
    """Print the logs of a task's attempt (its Job's pods). With several pods, each line is
    prefixed with [pod]."""
    obj = session.get(TASKS, session.namespace, object_name(task, TASKS))
    _, pods = attempt_pods(session, obj, attempt)
    lock = threading.Lock()

    def prefix(pod: JSON) -> bytes:
        return f"[{pod['metadata']['name']}] ".encode() if len(pods) > 1 else b""

    def chosen(pod: JSON) -> str | None:
        return container or ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name")

    if not follow or len(pods) == 1:
        for pod in pods:
            _copy(session, pod, chosen(pod), follow, prefix(pod), lock)
        return
    errors: list[str] = []

    def run(pod: JSON) -> None:
        try:
            _copy(session, pod, chosen(pod), True, prefix(pod), lock)
        except (CliError, ApiException, OSError) as exc:
            errors.append(describe(exc))

    threads = [threading.Thread(target=run, args=(pod,), daemon=True) for pod in pods]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)
    if errors:
        raise CliError("; ".join(errors))
