"""The user's connection: their kubeconfig, context, namespace and permissions, over the
operator's own async client (kube.client.Kube), run under ``asyncio.run`` per command.

Every call returns plain JSON (dicts), as the API server sent it, so ``-o json`` prints
exactly what the API returns.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import click

from agenttasks.api.meta import GROUP
from agenttasks.cli.errors import CliError, friendly_errors
from agenttasks.kube.client import ApiError, Kube
from agenttasks.kube.kubeconfig import Credentials, Loader, load_credentials
from agenttasks.kube.watching import WatchEvent

TASKS, SCHEDULES, TRIGGERS = "agenttasks", "agenttaskschedules", "agenttasktriggers"
KINDS = {TASKS: "AgentTask", SCHEDULES: "AgentTaskSchedule", TRIGGERS: "AgentTaskTrigger"}
JSON = dict[str, Any]


def resource_name(plural: str) -> str:
    """``agenttask.agenttasks.io``, as kubectl writes it in ``-o name``."""
    return f"{KINDS[plural].lower()}.{GROUP}"


def object_name(arg: str, plural: str) -> str:
    """``x``, ``agenttask/x`` or ``agenttask.agenttasks.io/x`` (what ``-o name`` prints) → x."""
    if "/" not in arg:
        return arg
    prefix, name = arg.split("/", 1)
    singular = KINDS[plural].lower()
    if prefix.removesuffix(f".{GROUP}") not in (singular, plural, *_SHORT.get(plural, ())):
        raise CliError(f"{arg!r} is not a {singular} name")
    return name


_SHORT = {TASKS: ("atask",), SCHEDULES: ("atsched",), TRIGGERS: ("attrig",)}


def not_found(plural: str, namespace: str, name: str) -> CliError:
    return CliError(f'{KINDS[plural].lower()} "{name}" not found in namespace "{namespace}"')


@dataclass
class Session:
    """The client, and the namespace the command works in."""

    kube: Kube
    namespace: str

    # --- our kinds ------------------------------------------------------------------------
    async def list_objects(self, plural: str, namespace: str | None, selector: str = ""
                           ) -> JSON:
        """The list object (``items``, ``metadata.resourceVersion``); every namespace when
        ``namespace`` is None."""
        return await self.kube.list_objects(plural, namespace, selector)

    async def get(self, plural: str, namespace: str, name: str) -> JSON:
        """The object; a missing one is a one-line error."""
        found = await self.kube.get_object(plural, namespace, name)
        if found is None:
            raise not_found(plural, namespace, name)
        return found

    async def patch(self, plural: str, namespace: str, name: str, patch: JSON) -> JSON:
        """A JSON merge patch."""
        try:
            return await self.kube.patch_object(plural, namespace, name, patch)
        except ApiError as exc:
            if exc.not_found:
                raise not_found(plural, namespace, name) from None
            raise

    async def create(self, plural: str, body: JSON) -> JSON:
        return await self.kube.create_object(plural, body)

    def watch(self, plural: str, namespace: str | None, selector: str,
              resource_version: str) -> AsyncIterator[WatchEvent]:
        return self.kube.watch_objects(plural, namespace, resource_version, selector)

    # --- core objects ---------------------------------------------------------------------
    async def events(self, namespace: str, kind: str, name: str) -> list[JSON]:
        return await self.kube.list_events(namespace, kind, name, limit=0)  # 0: all of them

    async def pods(self, namespace: str, selector: str) -> list[JSON]:
        return await self.kube.list_pods(namespace, selector)


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Session:
    """The user's credentials by the one kubeconfig rule (kube/connection.py) and the
    namespace: ``-n``, else the context's, else ``default``."""
    credentials = load_credentials(kubeconfig, context)
    return Session(Kube(kubeconfig, context=context,
                        loader=_first_then_fresh(credentials, kubeconfig, context)),
                   namespace or credentials.namespace)


def _first_then_fresh(first: Credentials, kubeconfig: str | None, context: str | None
                      ) -> Loader:
    """The credentials read already (no second run of an exec plugin); after a 401 or a
    reconnect, read afresh (a token that expired during ``-w`` or ``logs -f``)."""
    pending = [first]

    def load() -> Credentials:
        return pending.pop() if pending else load_credentials(kubeconfig, context)

    return load


def kube_command(f: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Adds ``--kubeconfig``, ``--context`` and ``-n``; runs the coroutine ``f`` with a
    connected :class:`Session` as its first argument, and turns failures into one line on
    stderr."""

    @functools.wraps(f)
    def wrapper(*args: Any, kubeconfig: str | None, context: str | None,
                namespace: str | None, **kwargs: Any) -> Any:
        async def run() -> Any:
            session = connect(kubeconfig, context, namespace)
            try:
                return await f(session, *args, **kwargs)
            finally:
                await session.kube.close()

        return asyncio.run(run())

    command = friendly_errors(wrapper)
    for option in (
        click.option("-n", "--namespace", metavar="NAMESPACE",
                     help="Namespace; default: the context's, else 'default'."),
        click.option("--context", metavar="NAME", help="kubeconfig context to use."),
        click.option("--kubeconfig", metavar="PATH", envvar=None,
                     help="kubeconfig file; default $KUBECONFIG, then in-cluster, then "
                     "~/.kube/config."),
    ):
        command = option(command)
    return command
