"""The Argo CD health checks in charts/agenttask-operator/argocd, run as Argo CD runs them.

Argo CD's own runner (util/lua/health_test.go, TestLuaHealthScript) walks
resource_customizations/, reads each health_test.yaml, loads every inputPath as an object, sets
it as the global ``obj`` in a Lua 5.1 VM (gopher-lua), runs health.lua and compares the
returned ``{status, message}`` with ``healthStatus`` as a whole: an omitted message means "".
This file does the same with lupa's Lua 5.1, twice per case: with the standard libraries (as
Argo CD's tests and built-in scripts run) and with only base, package, table and a safe os (as a
script from argocd-cm runs unless useOpenLibs is set), so the scripts work when pasted there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

REPO = Path(__file__).resolve().parents[2]
ARGOCD = REPO / "charts" / "agenttask-operator" / "argocd"
GROUP = "agenttasks.io"
# Each kind and the health statuses its cases must reach: every branch of the mapping.
KINDS = {
    "AgentTask": {"Progressing", "Healthy", "Degraded", "Suspended", "Unknown"},
    "AgentTaskSchedule": {"Progressing", "Healthy", "Degraded", "Suspended"},
    "AgentTaskTrigger": {"Progressing", "Healthy", "Degraded"},
}
# gitops-engine's HealthStatusCode values; anything else becomes Unknown, as in lua.go.
VALID_STATUSES = {"Unknown", "Progressing", "Suspended", "Healthy", "Degraded", "Missing"}
INVALID_HEALTH_STATUS = "Lua returned an invalid health status"

# What argocd-cm scripts get without useOpenLibs: base, package, table and a safe os. Removing
# the string metatable too makes ("x"):lower() fail here as it fails there.
ARGOCD_CM_LIBS = """
debug.setmetatable("", nil)
local safe_os = {clock = os.clock, date = os.date, difftime = os.difftime, time = os.time}
for _, name in ipairs({"string", "math", "io", "coroutine", "debug", "os", "python"}) do
  _G[name] = nil
  package.loaded[name] = nil
end
os = safe_os
package.loaded.os = safe_os
"""


class _ManifestLoader(yaml.SafeLoader):
    """Reads YAML as sigs.k8s.io/yaml does for Argo CD: timestamps stay strings."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=_ManifestLoader)


@dataclass(frozen=True)
class Case:
    kind: str
    input_path: str
    status: str
    message: str
    message_given: bool

    @property
    def path(self) -> Path:
        return ARGOCD / GROUP / self.kind / self.input_path

    @property
    def name(self) -> str:
        return f"{self.kind}/{self.input_path}"


def cases_of(kind: str) -> list[Case]:
    tests = load_yaml(ARGOCD / GROUP / kind / "health_test.yaml")["tests"]
    return [Case(kind, t["inputPath"], t["healthStatus"]["status"],
                 t["healthStatus"].get("message", ""), "message" in t["healthStatus"])
            for t in tests]


ALL_CASES = [case for kind in KINDS for case in cases_of(kind)]


def script_of(kind: str) -> str:
    return (ARGOCD / GROUP / kind / "health.lua").read_text()


def run_health(script: str, obj: dict[str, Any], *, open_libs: bool = True) -> tuple[str, str]:
    """(status, message) as Argo CD's ExecuteHealthLua returns them."""
    lua = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    if not open_libs:
        lua.execute(ARGOCD_CM_LIBS)
    # Recursively: nested maps become tables, lists 1-based arrays, as decodeValue does in Go.
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script)
    if lua51.lua_type(result) != "table":
        raise TypeError(f"expect table output from Lua script, not {lua51.lua_type(result)}")
    status = result["status"] if result["status"] is not None else ""
    message = result["message"] if result["message"] is not None else ""
    if not isinstance(status, str) or not isinstance(message, str):
        raise TypeError(f"status and message must be strings, got {status!r}, {message!r}")
    if status not in VALID_STATUSES:
        return "Unknown", INVALID_HEALTH_STATUS
    return status, message


@pytest.mark.parametrize("open_libs", [True, False], ids=["open-libs", "argocd-cm-libs"])
@pytest.mark.parametrize("case", ALL_CASES, ids=[case.name for case in ALL_CASES])
def test_health_case(case: Case, open_libs: bool) -> None:
    obj = load_yaml(case.path)
    assert run_health(script_of(case.kind), obj, open_libs=open_libs) == (case.status, case.message)


def test_each_kind_has_a_script_and_cases_for_every_branch() -> None:
    assert sorted(p.name for p in (ARGOCD / GROUP).iterdir()) == sorted(KINDS)
    for kind, statuses in KINDS.items():
        folder = ARGOCD / GROUP / kind
        cases = cases_of(kind)
        assert len(cases) >= 4, kind
        assert {case.status for case in cases} == statuses, kind
        inputs = {case.input_path for case in cases}
        assert len(inputs) == len(cases), f"{kind}: a testdata file is listed twice"
        on_disk = {f"testdata/{p.name}" for p in (folder / "testdata").glob("*.yaml")}
        assert inputs == on_disk, f"{kind}: testdata files and health_test.yaml differ"
        for case in cases:
            obj = load_yaml(case.path)
            assert obj["apiVersion"] == f"{GROUP}/v1alpha1", case.name
            assert obj["kind"] == kind, case.name


def test_every_case_states_its_message() -> None:
    # Argo CD compares the whole HealthStatus, so an omitted message would expect "": state it.
    assert [case.name for case in ALL_CASES if not case.message_given] == []


def test_the_object_reaches_lua_as_nested_tables_and_arrays() -> None:
    obj = load_yaml(ARGOCD / GROUP / "AgentTask" / "testdata" / "retry-scheduled.yaml")
    probe = """
    local c = obj.status.conditions
    return {
      status = "Healthy",
      message = table.concat({
        type(obj.status), type(c), tostring(#c), tostring(c[0]), c[1].type, c[2].type,
        type(obj.spec.template.spec.containers[1].command), obj.spec.template.spec.containers[1]
          .command[3], type(obj.status.nextRetryTime), tostring(obj.status.attempts + 1),
        tostring(obj.spec.retries.limit), tostring(obj.status.missing),
      }, "|"),
    }
    """
    _, message = run_health(probe, obj)
    assert message.split("|") == [
        "table", "table", "2", "nil", "Ready", "Reconciling", "table", "echo working",
        "string", "2", "2", "nil",
    ]


def test_unquoted_timestamps_stay_strings() -> None:
    obj = yaml.load("status: {startTime: 2025-03-01T10:00:00Z}", Loader=_ManifestLoader)
    assert obj == {"status": {"startTime": "2025-03-01T10:00:00Z"}}


def test_invalid_status_and_non_table_results_are_handled_as_argo_cd_does() -> None:
    assert run_health('return {status = "Fine", message = "x"}', {}) == (
        "Unknown", INVALID_HEALTH_STATUS)
    assert run_health("return {}", {}) == ("Unknown", INVALID_HEALTH_STATUS)
    with pytest.raises(TypeError):
        run_health('return "Healthy"', {})


def test_argocd_cm_libs_are_restricted() -> None:
    for probe in ('return {status = string.lower("Healthy")}',
                  'return {status = ("Healthy"):lower()}',
                  "return {status = tostring(math.floor(1.5))}"):
        with pytest.raises(lua51.LuaError):
            run_health(probe, {}, open_libs=False)
    assert run_health('return {status = string.lower("HEALTHY"):gsub("^h", "H")}', {},
                      open_libs=True) == ("Healthy", "")


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_wrong_status_fails_some_case(kind: str) -> None:
    """Mutations of each script: every status it assigns, swapped for another, breaks a case."""
    script = script_of(kind)
    cases = cases_of(kind)
    assigned = sorted(set(re.findall(r'hs\.status = "(\w+)"', script)))
    assert assigned, kind
    for status in assigned:
        wrong = "Healthy" if status != "Healthy" else "Degraded"
        mutant = script.replace(f'hs.status = "{status}"', f'hs.status = "{wrong}"')
        results = [run_health(mutant, load_yaml(case.path)) for case in cases]
        assert any(got != (case.status, case.message) for got, case in zip(results, cases,
                                                                          strict=True)), \
            f"{kind}: returning {wrong} instead of {status} breaks no case"


def test_readme_snippet_carries_the_scripts() -> None:
    readme = (ARGOCD / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.DOTALL)
    configmaps = [doc for block in blocks for doc in yaml.safe_load_all(block)
                  if isinstance(doc, dict) and doc.get("kind") == "ConfigMap"]
    assert len(configmaps) == 1
    data = configmaps[0]["data"]
    for kind in KINDS:
        assert data[f"resource.customizations.health.{GROUP}_{kind}"] == script_of(kind), kind
