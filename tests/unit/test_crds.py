"""crds/ is generated from the models; this fails when someone forgets `make crds`."""

from pathlib import Path
from typing import Any

import pytest

from agenttasks.api.crd import all_crds, expected_files

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("folder", ["crds", "charts/agenttask-operator/crds"])
def test_crds_folders_are_fresh(folder: str) -> None:
    for name, content in expected_files().items():
        path = REPO / folder / name
        assert path.exists(), f"{path} is missing: run `make crds`"
        assert path.read_text() == content, f"{path} is stale: run `make crds`"


def _walk(schema: dict[str, object], path: str = "") -> list[str]:
    """Paths of properties without a description."""
    missing = []
    for name, prop in (schema.get("properties") or {}).items():  # type: ignore[attr-defined]
        here = f"{path}.{name}"
        if name not in ("apiVersion", "kind", "metadata", "kopf") and not prop.get("description"):
            missing.append(here)
        missing += _walk(prop, here)
        if isinstance(prop.get("items"), dict):
            missing += _walk(prop["items"], here + "[]")
    return missing


@pytest.mark.parametrize("crd", all_crds(), ids=lambda c: c["spec"]["names"]["kind"])
def test_every_field_is_described(crd: dict[str, Any]) -> None:
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _walk(schema) == []


@pytest.mark.parametrize("crd", all_crds(), ids=lambda c: c["spec"]["names"]["kind"])
def test_schema_is_structural(crd: dict[str, Any]) -> None:
    text = str(crd)
    assert "$ref" not in text and "anyOf" not in text and "'title'" not in text
