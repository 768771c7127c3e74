"""The validating admission webhook, served by kopf in the operator process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kopf

from agenttasks.api.meta import GROUP, VERSION
from agenttasks.core.admission import check_schedule, check_task, check_trigger
from agenttasks.core.plans import Plan

from .task_view import TaskView
from .template_rights import RightsUnknown, TemplateRights

# The paths the ValidatingWebhookConfiguration points at: /<id>.
TASK_WEBHOOK = "validate-agenttasks"
SCHEDULE_WEBHOOK = "validate-agenttaskschedules"
TRIGGER_WEBHOOK = "validate-agenttasktriggers"


def _pod_template(spec: Any, nested: bool) -> dict[str, Any]:
    """The pod template of a task's spec, or of a schedule's or trigger's taskTemplate."""
    spec = dict(spec or {})
    if nested:
        spec = dict((spec.get("taskTemplate") or {}).get("spec") or {})
    template = spec.get("template")
    return dict(template) if isinstance(template, dict) else {}


def _old_template(old: Any, nested: bool) -> dict[str, Any] | None:
    """The template an UPDATE replaces; None on CREATE."""
    return _pod_template(old.get("spec"), nested) if isinstance(old, dict) else None


async def _check_rights(rights: TemplateRights, kind: str, nested: bool, spec: Any,
                        namespace: str | None, userinfo: kopf.UserInfo, old: Any) -> None:
    """``old`` is the object an UPDATE replaces (kopf passes it, untyped, as ``old``)."""
    try:
        why = await rights.refusal(kind, namespace or "", userinfo, _pod_template(spec, nested),
                                   _old_template(old, nested))
    except RightsUnknown as exc:
        raise kopf.AdmissionError(str(exc), code=503) from None
    if why:
        raise kopf.AdmissionError(why, code=403)


def register_admission(registry: kopf.OperatorRegistry, view: TaskView, plan: Plan,
                       rights: TemplateRights) -> None:

    def depends_on_of(namespace: str) -> Any:
        def lookup(name: str) -> list[str]:
            task = view.summary((namespace, name))
            return list(task.depends_on) if task else []
        return lookup

    @kopf.on.validate(GROUP, VERSION, "agenttasks", id=TASK_WEBHOOK, registry=registry)
    async def validate_task(spec: kopf.Spec, name: str | None, namespace: str | None,
                            userinfo: kopf.UserInfo, **more: Any) -> None:
        why = check_task(name or "", dict(spec), plan, depends_on_of(namespace or ""))
        if why:
            raise kopf.AdmissionError(why, code=422)
        await _check_rights(rights, "AgentTask", False, spec, namespace, userinfo,
                           more.get("old"))

    @kopf.on.validate(GROUP, VERSION, "agenttaskschedules", id=SCHEDULE_WEBHOOK,
                      registry=registry)
    async def validate_schedule(spec: kopf.Spec, namespace: str | None, userinfo: kopf.UserInfo,
                                **more: Any) -> None:
        why = check_schedule(dict(spec), plan)
        if why:
            raise kopf.AdmissionError(why, code=422)
        await _check_rights(rights, "AgentTaskSchedule", True, spec, namespace, userinfo,
                           more.get("old"))

    @kopf.on.validate(GROUP, VERSION, "agenttasktriggers", id=TRIGGER_WEBHOOK,
                      registry=registry)
    async def validate_trigger(spec: kopf.Spec, namespace: str | None, userinfo: kopf.UserInfo,
                               **more: Any) -> None:
        why = check_trigger(dict(spec))
        if why:
            raise kopf.AdmissionError(why, code=422)
        await _check_rights(rights, "AgentTaskTrigger", True, spec, namespace, userinfo,
                           more.get("old"))


def configure_admission(settings: kopf.OperatorSettings, port: int, cert_dir: Path) -> None:
    """HTTPS on ``port`` with tls.crt/tls.key from ``cert_dir`` (mounted by the chart). The
    webhook configuration itself belongs to the chart (or the test), not to the operator."""
    settings.admission.server = kopf.WebhookServer(
        addr="0.0.0.0", port=port, certfile=str(cert_dir / "tls.crt"),
        pkeyfile=str(cert_dir / "tls.key"))
    settings.admission.managed = None
