"""Names shared by the API, the operator and the tools."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

GROUP = "agenttasks.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "agenttasks-all"

LABEL_TASK = f"{GROUP}/task"
LABEL_ATTEMPT = f"{GROUP}/attempt"
LABEL_SCHEDULE = f"{GROUP}/schedule"
LABEL_TRIGGER = f"{GROUP}/trigger"
ANNOTATION_DELIVERY_ID = f"{GROUP}/delivery-id"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
ANNOTATION_RUN_NOW = f"{GROUP}/run-now"  # On a schedule: a token; each new one runs once.
ANNOTATION_RUN_NOW_TOKEN = f"{GROUP}/run-now-token"  # On the task a token created.
ANNOTATION_SCHEDULED_TIME = f"{GROUP}/scheduled-time"
LABEL_RERUN_OF = f"{GROUP}/rerun-of"
ANNOTATION_RERUN_OF = f"{GROUP}/rerun-of"  # On a rerun: the task it runs again.
ANNOTATION_REQUESTED_BY = f"{GROUP}/requested-by"  # Who asked, on a task made by hand.
# On a Job: when the queue granted its slot (RFC 3339, milliseconds); absent if no limit held it.
ANNOTATION_GRANTED_AT = f"{GROUP}/granted-at"
MANAGER_NAME = "agenttask-operator"

Key = tuple[str, str]
"""(namespace, name): how every part of the operator names one object."""

# Object names as Kubernetes validates them (DNS-1123 subdomain).
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class ApiModel(BaseModel):
    """Base of our API models: camelCase on the wire, unknown fields ignored on read
    (the API server has already pruned what the schema does not declare)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
