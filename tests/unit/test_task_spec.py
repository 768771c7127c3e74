"""AgentTaskSpec refuses pod templates whose parts the operator must merge into."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agenttasks.api.task import AgentTaskSpec


@pytest.mark.parametrize("template", [
    {"metadata": "x"}, {"spec": "x"}, {"spec": []}, {"metadata": {"labels": ["a"]}},
    {"metadata": {"annotations": {"a": 1}}}, {"spec": {"containers": "x"}},
    {"spec": {"initContainers": ["x"]}}])
def test_pod_template_parts_must_be_objects(template: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="template"):
        AgentTaskSpec.model_validate({"template": template})


def test_a_plain_pod_template_is_fine() -> None:
    AgentTaskSpec.model_validate({"template": {"metadata": {"labels": {"a": "b"}},
                                               "spec": {"containers": []}}})
