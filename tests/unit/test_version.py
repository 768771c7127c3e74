"""The version is written once (pyproject.toml); the package and the chart follow it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from agenttasks import __version__
from agenttasks.cli.chart_version import chart_version, with_version

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "agenttask-operator"


def test_package_version_is_pyprojects() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]


def test_chart_follows_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert (chart["version"], chart["appVersion"]) == (__version__, __version__), \
        "run `make generate`"
    result = CliRunner().invoke(chart_version, ["--chart", str(CHART)])
    assert result.exit_code == 0, result.output


def test_the_check_fails_on_a_stale_chart(tmp_path: Path) -> None:
    text = (CHART / "Chart.yaml").read_text()
    (tmp_path / "Chart.yaml").write_text(with_version(text, "9.9.9"))
    stale = CliRunner().invoke(chart_version, ["--chart", str(tmp_path)])
    assert stale.exit_code != 0 and "make generate" in stale.output
    fixed = CliRunner().invoke(chart_version, ["--chart", str(tmp_path), "--write"])
    assert fixed.exit_code == 0, fixed.output
    assert (tmp_path / "Chart.yaml").read_text() == text


def test_with_version_keeps_everything_else() -> None:
    text = "apiVersion: v2\n# a comment\nversion: 0.1.0\nappVersion: \"0.1.0\"\nkubeVersion: x\n"
    assert with_version(text, "1.2.3") == (
        "apiVersion: v2\n# a comment\nversion: 1.2.3\nappVersion: \"1.2.3\"\nkubeVersion: x\n")
    with pytest.raises(ValueError, match="appVersion"):
        with_version("version: 1\n", "2")
