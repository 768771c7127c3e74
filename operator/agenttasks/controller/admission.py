"""The validating admission webhook, served by kopf in the operator process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kopf

from agenttasks.api.meta import GROUP, VERSION
from agenttasks.core.admission import check_schedule, check_task, check_trigger
from agenttasks.core.plans import Plan

from .task_view import TaskView

# The paths the ValidatingWebhookConfiguration points at: /<id>.
TASK_WEBHOOK = "validate-agenttasks"
SCHEDULE_WEBHOOK = "validate-agenttaskschedules"
TRIGGER_WEBHOOK = "validate-agenttasktriggers"


def register_admission(registry: kopf.OperatorRegistry, view: TaskView, plan: Plan) -> None:

    def depends_on_of(namespace: str) -> Any:
        def lookup(name: str) -> list[str]:
            task = view.task((namespace, name))
            return list(task.spec.depends_on) if task and task.spec else []
        return lookup

    @kopf.on.validate(GROUP, VERSION, "agenttasks", id=TASK_WEBHOOK, registry=registry)
    def validate_task(spec: kopf.Spec, name: str | None, namespace: str | None,
                      **_: Any) -> None:
        why = check_task(name or "", dict(spec), plan, depends_on_of(namespace or ""))
        if why:
            raise kopf.AdmissionError(why, code=422)

    @kopf.on.validate(GROUP, VERSION, "agenttaskschedules", id=SCHEDULE_WEBHOOK,
                      registry=registry)
    def validate_schedule(spec: kopf.Spec, **_: Any) -> None:
        why = check_schedule(dict(spec), plan)
        if why:
            raise kopf.AdmissionError(why, code=422)

    @kopf.on.validate(GROUP, VERSION, "agenttasktriggers", id=TRIGGER_WEBHOOK,
                      registry=registry)
    def validate_trigger(spec: kopf.Spec, **_: Any) -> None:
        why = check_trigger(dict(spec))
        if why:
            raise kopf.AdmissionError(why, code=422)


def configure_admission(settings: kopf.OperatorSettings, port: int, cert_dir: Path) -> None:
    """HTTPS on ``port`` with tls.crt/tls.key from ``cert_dir`` (mounted by the chart). The
    webhook configuration itself belongs to the chart (or the test), not to the operator."""
    settings.admission.server = kopf.WebhookServer(
        addr="0.0.0.0", port=port, certfile=str(cert_dir / "tls.crt"),
        pkeyfile=str(cert_dir / "tls.key"))
    settings.admission.managed = None
