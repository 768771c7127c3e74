"""crds/ is generated from the models; this fails when someone forgets `make crds`."""

from pathlib import Path

from agenttasks.api.crd import agenttask_crd, expected_files

REPO = Path(__file__).resolve().parents[2]


def test_crds_folder_is_fresh() -> None:
    for name, content in expected_files().items():
        path = REPO / "crds" / name
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


def test_every_field_is_described() -> None:
    schema = agenttask_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _walk(schema) == []


def test_schema_is_structural() -> None:
    text = str(agenttask_crd())
    assert "$ref" not in text and "anyOf" not in text and "'title'" not in text
