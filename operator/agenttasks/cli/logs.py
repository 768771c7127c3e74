"""``agenttasks logs TASK [--attempt N] [-f]``: the logs of an attempt's pod(s)."""

from __future__ import annotations

import asyncio
import sys

import click

from agenttasks.cli import format as fmt
from agenttasks.cli.errors import CliError, api_message, describe
from agenttasks.cli.kubeapi import JSON, TASKS, Session, kube_command, object_name
from agenttasks.kube.client import ApiError


def unavailable(pod: JSON, exc: ApiError) -> CliError:
    """Why a pod's logs cannot be read, in one line. The API server fetches logs from the
    node's kubelet; a 5xx means it could not (a simulated node, such as kwok's, has none)."""
    name, node = pod["metadata"]["name"], (pod.get("spec") or {}).get("nodeName") or "?"
    message = api_message(exc)
    if exc.status >= 500:
        return CliError(f"logs of pod {name} are not available: the API server could not get "
                        f"them from the kubelet of node {node} ({message})")
    return CliError(f"logs of pod {name}: {message}")


async def _copy(session: Session, pod: JSON, container: str | None, follow: bool,
                prefix: bytes) -> None:
    """Streams one container's log to stdout; with a prefix, line by line, so that lines of
    several pods never interleave mid-line."""
    out = sys.stdout.buffer
    meta = pod["metadata"]
    pending = b""
    try:
        async for chunk in session.kube.pod_log(meta["namespace"], meta["name"], container,
                                                follow):
            if not prefix:
                out.write(chunk)
                out.flush()
                continue
            pending += chunk
            *lines, pending = pending.split(b"\n")
            out.writelines(prefix + line + b"\n" for line in lines)
            out.flush()
    except ApiError as exc:
        raise unavailable(pod, exc) from None
    if pending:
        out.write(prefix + pending + b"\n")
        out.flush()


async def attempt_pods(session: Session, task: JSON, attempt: int | None
                       ) -> tuple[int, list[JSON]]:
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
    pods = await session.pods(task["metadata"]["namespace"], f"job-name={job}")
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
async def logs(session: Session, task: str, attempt: int | None, follow: bool,
               container: str | None) -> None:
    """Print the logs of a task's attempt (its Job's pods). With several pods, each line is
    prefixed with [pod]."""
    obj = await session.get(TASKS, session.namespace, object_name(task, TASKS))
    _, pods = await attempt_pods(session, obj, attempt)

    def prefix(pod: JSON) -> bytes:
        return f"[{pod['metadata']['name']}] ".encode() if len(pods) > 1 else b""

    def chosen(pod: JSON) -> str | None:
        return container or ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name")

    if not follow or len(pods) == 1:
        for pod in pods:
            await _copy(session, pod, chosen(pod), follow, prefix(pod))
        return
    errors: list[str] = []

    async def run(pod: JSON) -> None:
        try:
            await _copy(session, pod, chosen(pod), True, prefix(pod))
        except (CliError, ApiError, OSError) as exc:
            errors.append(describe(exc))

    await asyncio.gather(*(run(pod) for pod in pods))
    if errors:
        raise CliError("; ".join(errors))
