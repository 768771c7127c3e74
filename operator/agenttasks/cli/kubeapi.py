"""The user's connection: their kubeconfig, context, namespace and permissions.

Every call returns plain JSON (dicts), as the API server sent it, so ``-o json`` prints
exactly what the API returns.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from agenttasks.api.meta import GROUP, VERSION
from agenttasks.cli.errors import CliError, friendly_errors

TASKS, SCHEDULES, TRIGGERS = "agenttasks", "agenttaskschedules", "agenttasktriggers"
KINDS = {TASKS: "AgentTask", SCHEDULES: "AgentTaskSchedule", TRIGGERS: "AgentTaskTrigger"}
REQUEST_TIMEOUT = 30
_IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
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


@dataclass
class Session:
    api_client: client.ApiClient
    namespace: str

    @property
    def core(self) -> Any:
        return client.CoreV1Api(self.api_client)

    @property
    def custom(self) -> Any:
        return client.CustomObjectsApi(self.api_client)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> JSON:
        """One API call; the response as plain JSON, without the client's models."""
        response = fn(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        return dict(json.loads(response.data or b"{}"))

    # --- our kinds ------------------------------------------------------------------------
    def list_objects(self, plural: str, namespace: str | None, selector: str = "") -> JSON:
        """The list object (``items``, ``metadata.resourceVersion``); every namespace when
        ``namespace`` is None."""
        if namespace is None:
            return self.call(self.custom.list_cluster_custom_object, GROUP, VERSION, plural,
                             label_selector=selector)
        return self.call(self.custom.list_namespaced_custom_object, GROUP, VERSION, namespace,
                         plural, label_selector=selector)

    def get(self, plural: str, namespace: str, name: str) -> JSON:
        try:
            return self.call(self.custom.get_namespaced_custom_object, GROUP, VERSION,
                             namespace, plural, name)
        except ApiException as exc:
            raise self._not_found(exc, plural, namespace, name) from None

    def exists(self, plural: str, namespace: str, name: str) -> bool:
        try:
            self.get(plural, namespace, name)
        except CliError:
            return False
        return True

    def patch(self, plural: str, namespace: str, name: str, patch: JSON) -> JSON:
        """A JSON merge patch."""
        try:
            return self.call(self.custom.patch_namespaced_custom_object, GROUP, VERSION,
                             namespace, plural, name, patch,
                             _content_type="application/merge-patch+json")
        except ApiException as exc:
            raise self._not_found(exc, plural, namespace, name) from None

    def create(self, plural: str, body: JSON) -> JSON:
        return self.call(self.custom.create_namespaced_custom_object, GROUP, VERSION,
                         body["metadata"]["namespace"], plural, body)

    @staticmethod
    def _not_found(exc: ApiException, plural: str, namespace: str, name: str) -> Exception:
        if exc.status == 404:
            return CliError(f'{KINDS[plural].lower()} "{name}" not found in namespace '
                            f'"{namespace}"')
        return exc

    # --- core objects ---------------------------------------------------------------------
    def events(self, namespace: str, kind: str, name: str) -> list[JSON]:
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        return list(self.call(self.core.list_namespaced_event, namespace,
                              field_selector=selector).get("items") or [])

    def pods(self, namespace: str, selector: str) -> list[JSON]:
        return list(self.call(self.core.list_namespaced_pod, namespace,
                              label_selector=selector).get("items") or [])


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Session:
    """Loads the user's kubeconfig (``--kubeconfig``, ``$KUBECONFIG``, ``~/.kube/config``,
    else the in-cluster ServiceAccount) and picks the namespace: ``-n``, else the context's,
    else ``default``."""
    configuration = client.Configuration()
    if kubeconfig and not Path(kubeconfig).is_file():
        raise CliError(f"kubeconfig {kubeconfig} does not exist")
    from_env = os.environ.get("KUBECONFIG")
    default = Path("~/.kube/config").expanduser()
    if not (kubeconfig or from_env or default.is_file()):
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)
            own = (_IN_CLUSTER_NAMESPACE.read_text().strip()
                   if _IN_CLUSTER_NAMESPACE.is_file() else "default")
            return Session(client.ApiClient(configuration), namespace or own)
        raise CliError("no kubeconfig: pass --kubeconfig, set KUBECONFIG, or create "
                       "~/.kube/config")
    path = kubeconfig or from_env or str(default)
    config.load_kube_config(config_file=path, context=context,
                            client_configuration=configuration)
    if namespace is None:
        contexts, active = config.list_kube_config_contexts(config_file=path)
        chosen = next((c for c in contexts if c["name"] == context), None) if context else active
        namespace = ((chosen or {}).get("context") or {}).get("namespace") or "default"
    return Session(client.ApiClient(configuration), namespace)


def kube_command(f: Callable[..., Any]) -> Callable[..., Any]:
    """Adds ``--kubeconfig``, ``--context`` and ``-n``, passes a connected :class:`Session`
    as the first argument, and turns failures into one line on stderr."""

    @functools.wraps(f)
    def wrapper(*args: Any, kubeconfig: str | None, context: str | None,
                namespace: str | None, **kwargs: Any) -> Any:
        return f(connect(kubeconfig, context, namespace), *args, **kwargs)

    command = friendly_errors(wrapper)
    for option in (
        click.option("-n", "--namespace", metavar="NAMESPACE",
                     help="Namespace; default: the context's, else 'default'."),
        click.option("--context", metavar="NAME", help="kubeconfig context to use."),
        click.option("--kubeconfig", metavar="PATH", envvar=None,
                     help="kubeconfig file; default $KUBECONFIG, then ~/.kube/config."),
    ):
        command = option(command)
    return command
