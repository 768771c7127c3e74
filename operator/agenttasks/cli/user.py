"""The commands for users of AgentTasks, acting with their own kubeconfig and permissions."""

from __future__ import annotations

import click

from agenttasks.cli.describe import describe_task, tree
from agenttasks.cli.logs import logs
from agenttasks.cli.queue import queue
from agenttasks.cli.schedules import run, schedules, triggers
from agenttasks.cli.tasks import cancel, list_tasks, pause, rerun, resume

USER_COMMANDS: list[click.Command] = [
    list_tasks, describe_task, tree, queue, pause, resume, cancel, rerun, run, logs,
    schedules, triggers,
]
