"""The Helm chart in charts/agenttask-operator: lint, render and inspect, with no cluster.

Uses the helm binary the dev toolchain builds (`agenttasks cluster build`); a missing binary is
a failure, not a skip, so that a broken toolchain cannot hide a broken chart.
"""

from __future__ import annotations

import functools
import shutil
import ssl
import subprocess
from base64 import b64decode
from pathlib import Path
from typing import Any

import pytest
import yaml

from agenttasks import __version__
from agenttasks.devcluster.toolchain import binary

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "agenttask-operator"
RELEASE = "agenttask-operator"
NAMESPACE = "agenttasks-system"
FULLNAME = "agenttask-operator"  # the release name contains the chart name
CERT_DIR = "/etc/agenttasks/webhook"

Manifest = dict[str, Any]
Sets = tuple[str, ...]

NAMESPACED: Sets = ("watchNamespaces={a,b}",)
HA: Sets = ("replicas=2",)
SPLIT: Sets = ("receiver.split=true",)
VARIANTS: dict[str, Sets] = {
    "default": (),
    "namespaced": NAMESPACED,
    "ha": HA,
    "ha-namespaced": (*HA, *NAMESPACED),
    "split": SPLIT,
    "split-namespaced": (*SPLIT, *NAMESPACED),
}

OUR_KINDS = {"agenttasks", "agenttaskschedules", "agenttasktriggers"}

# The rules both modes share, in the order of the "agenttask-operator.rbacRules" template.
BASE_RULES: list[Manifest] = [
    {"apiGroups": ["agenttasks.io"], "resources": ["agenttasks"],
     "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
    # patch: the dashboard's run-now annotation
    {"apiGroups": ["agenttasks.io"], "resources": ["agenttaskschedules"],
     "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": ["agenttasks.io"], "resources": ["agenttasktriggers"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["agenttasks.io"],
     "resources": ["agenttasks/status", "agenttaskschedules/status", "agenttasktriggers/status"],
     "verbs": ["patch"]},
    {"apiGroups": ["batch"], "resources": ["jobs"],
     "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
    # pause and resume of a task that names a Kueue LocalQueue (spec.active of its Workload)
    {"apiGroups": ["kueue.x-k8s.io"], "resources": ["workloads"], "verbs": ["list", "patch"]},
    # list: the dashboard's task page
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "list"]},
    # get: an existing payload ConfigMap is used only if its task controls it
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get"]},
    # get only: trigger signing keys. Progress tokens are the pods' own projected tokens.
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    # get: the pod a progress token was bound to; list: a finished attempt's result
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
]
NAMESPACES_RULE: Manifest = {"apiGroups": [""], "resources": ["namespaces"],
                             "verbs": ["get", "list", "watch"]}
# The dashboard's TokenReviews and SubjectAccessReviews: cluster-scoped kinds, so in
# namespaced mode they come in a ClusterRole of their own.
REVIEW_RULES: list[Manifest] = [
    {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"],
     "verbs": ["create"]},
    {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"],
     "verbs": ["create"]},
]
REVIEWS = f"{FULLNAME}-reviews"
RECEIVER = f"{FULLNAME}-receiver"
RECEIVER_USER = f"system:serviceaccount:{NAMESPACE}:{RECEIVER}"
# The split receiver's only rights: what answering a delivery needs.
RECEIVER_RULES: list[Manifest] = [
    {"apiGroups": ["agenttasks.io"], "resources": ["agenttasktriggers"],
     "verbs": ["get", "list", "watch"]},
    # list: a github redelivery by label; delete: only a task it just created whose payload
    # ConfigMap's name is someone else's
    {"apiGroups": ["agenttasks.io"], "resources": ["agenttasks"],
     "verbs": ["get", "list", "create", "delete"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
]


def peering_rule(resource: str) -> Manifest:
    return {"apiGroups": ["kopf.dev"], "resources": [resource],
            "verbs": ["get", "list", "watch", "patch"]}


# --- helpers -------------------------------------------------------------------------------


@functools.cache
def helm_path() -> Path:
    path = binary("helm")
    if not path.is_file():
        pytest.fail(f"the helm binary is missing: {path} does not exist. Build the dev "
                    "toolchain with `.venv/bin/agenttasks cluster build` (or `make test`).",
                    pytrace=False)
    return path


def run_helm(*args: str, chart: Path = CHART) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm_path()), *args, str(chart)], capture_output=True,
                          text=True, timeout=60, check=False)


def template(sets: Sets = (), *extra: str,
             chart: Path = CHART) -> subprocess.CompletedProcess[str]:
    set_args = [arg for value in sets for arg in ("--set", value)]
    return subprocess.run(
        [str(helm_path()), "template", RELEASE, str(chart), "--namespace", NAMESPACE,
         *set_args, *extra], capture_output=True, text=True, timeout=60, check=False)


@functools.cache
def _rendered(sets: Sets, extra: tuple[str, ...]) -> str:
    result = template(sets, *extra)
    assert result.returncode == 0, f"helm template {sets} failed:\n{result.stderr}"
    return result.stdout


def render(*sets: str, extra: tuple[str, ...] = ()) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(_rendered(sets, extra)) if doc]


def of_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    """The chart's objects of ``kind``, but the ClusterRoles for people (user_roles)."""
    people = [id(role) for role in user_roles(docs).values()]
    return [doc for doc in docs if doc["kind"] == kind and id(doc) not in people]


AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def user_roles(docs: list[Manifest]) -> dict[str, Manifest]:
    """The ClusterRoles aggregated into the built-in view, edit and admin, by that role."""
    found = {}
    for doc in docs:
        labels = doc["metadata"].get("labels") or {}
        for label in labels:
            if doc["kind"] == "ClusterRole" and label.startswith(AGGREGATE):
                found[label.removeprefix(AGGREGATE)] = doc
    return found


def one(docs: list[Manifest], kind: str) -> Manifest:
    found = of_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def operator_only(docs: list[Manifest]) -> list[Manifest]:
    """The documents that are not the split receiver's."""
    return [doc for doc in docs if doc["metadata"]["name"] != RECEIVER]


def container(docs: list[Manifest]) -> Manifest:
    containers = one(operator_only(docs), "Deployment")["spec"]["template"]["spec"][
        "containers"]
    assert len(containers) == 1
    result: Manifest = containers[0]
    return result


def args(docs: list[Manifest]) -> list[str]:
    return list(container(docs)["args"])


def roles(docs: list[Manifest]) -> list[Manifest]:
    return of_kind(docs, "ClusterRole") + of_kind(docs, "Role")


# --- lint ----------------------------------------------------------------------------------


EVERYTHING: Sets = (*HA, "podDisruptionBudget.enabled=true", "ingress.enabled=true",
                    "ingress.host=hooks.example.com", "serviceMonitor.enabled=true",
                    "networkPolicy.enabled=true", "priorityAging=1/5m",
                    "maxRunningPerNamespace=2", "dashboard.readOnlyWithoutToken=true",
                    "dashboard.tokenAudiences={agenttasks-dashboard}",
                    *SPLIT, "receiver.replicas=2", "metricsPort=9090",
                    "tasks.defaultTTLAfterFinished=7d")


@pytest.mark.parametrize("strict", [False, True], ids=["lint", "strict"])
@pytest.mark.parametrize("variant", ["default", "namespaced", "ha", "split-namespaced",
                                     "everything"])
def test_helm_lint_is_clean(variant: str, strict: bool) -> None:
    sets = EVERYTHING if variant == "everything" else VARIANTS[variant]
    set_args = [arg for value in sets for arg in ("--set", value)]
    result = run_helm("lint", *(["--strict"] if strict else []), *set_args)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "0 chart(s) failed" in output, output
    assert "[WARNING]" not in output and "[ERROR]" not in output, output


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "agenttask-operator"
    assert chart["version"] == __version__
    assert chart["appVersion"] == __version__


# --- RBAC ----------------------------------------------------------------------------------


def test_cluster_wide_mode_has_cluster_role_and_binding() -> None:
    docs = render()
    assert of_kind(docs, "Role") == [] and of_kind(docs, "RoleBinding") == []
    cluster_role = one(docs, "ClusterRole")
    assert cluster_role["metadata"]["name"] == FULLNAME
    assert cluster_role["rules"] == [*BASE_RULES, NAMESPACES_RULE, *REVIEW_RULES]
    binding = one(docs, "ClusterRoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole", "name": FULLNAME}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME,
                                    "namespace": NAMESPACE}]
    assert not any(a.startswith("--namespace") for a in args(docs))


def test_namespaced_mode_has_a_role_and_binding_per_namespace() -> None:
    docs = render(*NAMESPACED)
    # The only cluster-wide permission: the dashboard's reviews (see the test below).
    assert [r["metadata"]["name"] for r in of_kind(docs, "ClusterRole")] == [REVIEWS]
    assert [b["metadata"]["name"] for b in of_kind(docs, "ClusterRoleBinding")] == [REVIEWS]
    role_list = of_kind(docs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in role_list) == ["a", "b"]
    for role in role_list:
        assert role["metadata"]["name"] == FULLNAME
        assert role["rules"] == BASE_RULES  # no namespaces rule: that one is cluster-wide
    bindings = of_kind(docs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["a", "b"]
    for binding in bindings:
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                      "kind": "Role", "name": FULLNAME}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME,
                                        "namespace": NAMESPACE}]
    assert [a for a in args(docs) if a.startswith("--namespace")] == [
        "--namespace=a", "--namespace=b"]


def test_namespaced_mode_creates_nothing_cluster_scoped_but_the_webhook_and_reviews() -> None:
    docs = render(*NAMESPACED, "rbac.userRoles.create=false")
    cluster_scoped = sorted(d["kind"] for d in docs if "namespace" not in d["metadata"])
    assert cluster_scoped == ["ClusterRole", "ClusterRoleBinding",
                              "ValidatingWebhookConfiguration"]
    without_webhook = render(*NAMESPACED, "admissionWebhook.enabled=false",
                             "rbac.userRoles.create=false")
    assert sorted(d["kind"] for d in without_webhook if "namespace" not in d["metadata"]) == [
        "ClusterRole", "ClusterRoleBinding"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_people_get_roles_aggregated_into_view_edit_and_admin(variant: str) -> None:
    roles = user_roles(render(*VARIANTS[variant]))
    assert sorted(roles) == ["admin", "edit", "view"]
    assert {r["metadata"]["name"] for r in roles.values()} == {
        "agenttasks-view", "agenttasks-edit", "agenttasks-admin"}
    kinds = {"agenttasks", "agenttaskschedules", "agenttasktriggers"}
    for name, role in roles.items():
        assert all(rule["apiGroups"] == ["agenttasks.io"] for rule in role["rules"])
        verbs = {(res, verb) for rule in role["rules"] for res in rule["resources"]
                 for verb in rule["verbs"]}
        assert {(k, "list") for k in kinds} <= verbs
        writes = {v for res, v in verbs if res in kinds} - {"get", "list", "watch"}
        assert writes == (set() if name == "view" else
                          {"create", "update", "patch", "delete", "deletecollection"})
        # Status is the operator's: people read it, never write it.
        assert not {v for res, v in verbs if res.endswith("/status")} - {"get", "list", "watch"}


def test_people_roles_can_be_renamed_or_left_out() -> None:
    renamed = user_roles(render("rbac.userRoles.namePrefix=tasks2"))
    assert renamed["edit"]["metadata"]["name"] == "tasks2-edit"
    assert user_roles(render("rbac.userRoles.create=false")) == {}


def test_the_writer_rights_check_is_on_unless_turned_off() -> None:
    assert "--no-writer-rights-check" not in args(render())
    assert "--no-writer-rights-check" in args(render("admissionWebhook.checkWriterRights=false"))


@pytest.mark.parametrize("variant", ["namespaced", "ha-namespaced"])
def test_namespaced_mode_reviews_cluster_role_grants_only_reviews(variant: str) -> None:
    docs = render(*VARIANTS[variant])
    role = one(docs, "ClusterRole")
    assert role["metadata"]["name"] == REVIEWS
    assert role["rules"] == REVIEW_RULES  # create-only: a review asks, it grants nothing
    binding = one(docs, "ClusterRoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole", "name": REVIEWS}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME,
                                    "namespace": NAMESPACE}]
    for namespaced_role in of_kind(docs, "Role"):  # a Role cannot grant cluster-scoped kinds
        for rule in namespaced_role["rules"]:
            assert not set(rule["resources"]) & {"tokenreviews", "subjectaccessreviews"}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_dashboard_permissions_in_every_mode(variant: str) -> None:
    """Run-now patches schedules, the task page lists Events, and the reviews are granted,
    whatever the mode; no role may read or write anything the dashboard does not need."""
    rules = [rule for role in roles(render(*VARIANTS[variant])) for rule in role["rules"]]

    def verbs(group: str, resource: str) -> set[str]:
        return {v for r in rules if group in r["apiGroups"] and resource in r["resources"]
                for v in r["verbs"]}

    assert "patch" in verbs("agenttasks.io", "agenttaskschedules")
    assert verbs("agenttasks.io", "agenttasktriggers") == {"get", "list", "watch"}
    assert verbs("", "events") == {"create", "list"}
    assert verbs("authentication.k8s.io", "tokenreviews") == {"create"}
    assert verbs("authorization.k8s.io", "subjectaccessreviews") == {"create"}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_progress_needs_no_write_on_secrets_in_any_mode(variant: str) -> None:
    """Progress reports carry the pods' own projected tokens: the operator reviews them and
    reads the pod they name, and writes no Secret (it only reads trigger signing keys)."""
    rules = [rule for role in roles(render(*VARIANTS[variant], "peering.enabled=true"))
             for rule in role["rules"]]

    def verbs(group: str, resource: str) -> set[str]:
        return {v for r in rules if group in r["apiGroups"] and resource in r["resources"]
                for v in r["verbs"]}

    assert verbs("", "secrets") == {"get"}
    assert verbs("", "pods") == {"get", "list"}
    assert verbs("", "serviceaccounts/token") == set()  # the kubelet mints them, not us
    assert verbs("authentication.k8s.io", "tokenreviews") == {"create"}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_no_rbac_rule_has_a_wildcard(variant: str) -> None:
    docs = render(*VARIANTS[variant], "peering.enabled=true")
    rules = [rule for role in roles(docs) for rule in role["rules"]]
    assert rules, "no RBAC rules rendered"
    for rule in rules:
        for field in ("verbs", "resources", "apiGroups"):
            assert rule[field], f"empty {field} in {rule}"
            assert not any("*" in item for item in rule[field]), f"wildcard in {rule}"
        assert set(rule) == {"verbs", "resources", "apiGroups"}, rule


def test_rbac_only_subset_renders_just_the_service_account_and_rbac() -> None:
    show = ("--show-only", "templates/rbac.yaml", "--show-only", "templates/serviceaccount.yaml")
    cluster = render(extra=show)
    assert sorted(d["kind"] for d in cluster) == [
        "ClusterRole", "ClusterRoleBinding", "ServiceAccount"]
    namespaced = render(*NAMESPACED, extra=show)
    assert sorted(d["kind"] for d in namespaced) == [
        "ClusterRole", "ClusterRoleBinding", "Role", "Role", "RoleBinding", "RoleBinding",
        "ServiceAccount"]


def test_rbac_and_service_account_can_be_left_out() -> None:
    docs = render("rbac.create=false", "serviceAccount.create=false",
                  "serviceAccount.name=existing")
    kinds = {d["kind"] for d in docs}
    assert kinds.isdisjoint({"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                             "ServiceAccount"})
    assert one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == (
        "existing")


# --- peering / HA --------------------------------------------------------------------------


def test_single_replica_is_standalone() -> None:
    docs = render()
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert not any(a.startswith("--peering") for a in args(docs))
    assert of_kind(docs, "ClusterKopfPeering") == of_kind(docs, "KopfPeering") == []
    assert of_kind(docs, "PodDisruptionBudget") == []


def test_ha_cluster_wide_uses_a_cluster_kopf_peering() -> None:
    docs = render(*HA)
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    # A standby is not Ready until it is active: a rolling update would wait for it forever.
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert f"--peering={FULLNAME}" in args(docs)
    peering = one(docs, "ClusterKopfPeering")
    assert peering["apiVersion"] == "kopf.dev/v1"
    assert peering["metadata"]["name"] == FULLNAME
    assert "namespace" not in peering["metadata"]
    assert of_kind(docs, "KopfPeering") == []
    assert one(docs, "ClusterRole")["rules"] == [
        *BASE_RULES, peering_rule("clusterkopfpeerings"), NAMESPACES_RULE, *REVIEW_RULES]
    assert of_kind(docs, "PodDisruptionBudget") == []  # off unless enabled


def test_ha_namespaced_uses_a_kopf_peering_per_namespace() -> None:
    docs = render(*HA, *NAMESPACED)
    assert f"--peering={FULLNAME}" in args(docs)
    assert of_kind(docs, "ClusterKopfPeering") == []
    peerings = of_kind(docs, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["a", "b"]
    assert {p["metadata"]["name"] for p in peerings} == {FULLNAME}
    for role in of_kind(docs, "Role"):
        assert role["rules"] == [*BASE_RULES, peering_rule("kopfpeerings")]


def test_peering_can_be_enabled_with_one_replica() -> None:
    docs = render("peering.enabled=true")
    assert one(docs, "Deployment")["spec"]["replicas"] == 1
    assert f"--peering={FULLNAME}" in args(docs)
    one(docs, "ClusterKopfPeering")


def test_pod_disruption_budget_when_enabled() -> None:
    docs = render(*HA, "podDisruptionBudget.enabled=true")
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] == 1
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_pods_know_their_name_and_namespace() -> None:
    env = {e["name"]: e for e in container(render())["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}}


# --- deployment ----------------------------------------------------------------------------


def test_default_flags() -> None:
    docs = render()
    assert container(docs)["command"] == ["agenttasks", "operator"]
    assert args(docs) == [
        "--http-port=8080", "--workers=8", "--max-running=10", "--plan=enterprise",
        f"--progress-url=http://{FULLNAME}.{NAMESPACE}.svc:80",
        "--admission-port=9443", f"--admission-cert-dir={CERT_DIR}"]
    assert "--dashboard-read-only" not in args(docs)  # a token is needed unless asked for


def test_every_flag_from_values() -> None:
    docs = render("watchNamespaces={team-a}", "httpPort=9000", "workers=4", "maxRunning=20",
                  "maxRunningPerNamespace=5", "priorityAging=1/5m", "plan=growth",
                  "replicas=3", "admissionWebhook.port=10443",
                  "dashboard.readOnlyWithoutToken=true", "dashboard.tokenAudiences={dash}",
                  "tasks.defaultTTLAfterFinished=7d")
    assert args(docs) == [
        "--namespace=team-a", "--http-port=9000", "--workers=4", "--max-running=20",
        "--max-running-per-namespace=5", "--priority-aging=1/5m",
        "--default-ttl-after-finished=7d", "--plan=growth",
        f"--progress-url=http://{FULLNAME}.{NAMESPACE}.svc:80", f"--peering={FULLNAME}",
        "--admission-port=10443", f"--admission-cert-dir={CERT_DIR}",
        "--dashboard-read-only", "--dashboard-token-audience=dash"]
    ports = {p["name"]: p["containerPort"] for p in container(docs)["ports"]}
    assert ports == {"http": 9000, "admission": 10443}


def test_default_ttl_after_finished_is_a_flag() -> None:
    """Empty (the default) or null keeps finished tasks: no flag. Integer seconds pass as
    they are, 0 too (delete at once), so --set without --set-string means the same."""
    def flag(*sets: str) -> list[str]:
        return [a for a in args(render(*sets)) if a.startswith("--default-ttl-after-finished")]
    assert flag() == [] and flag("tasks.defaultTTLAfterFinished=null") == []
    assert flag("tasks.defaultTTLAfterFinished=24h") == ["--default-ttl-after-finished=24h"]
    assert flag("tasks.defaultTTLAfterFinished=3600") == ["--default-ttl-after-finished=3600"]
    assert flag("tasks.defaultTTLAfterFinished=0") == ["--default-ttl-after-finished=0"]


def test_namespace_weights_are_flags() -> None:
    """The map renders one --namespace-weight per namespace, sorted; none by default."""
    assert not [a for a in args(render()) if a.startswith("--namespace-weight")]
    docs = render("namespaceWeights.team-b=1", "namespaceWeights.team-a=3")
    assert [a for a in args(docs) if a.startswith("--namespace-weight")] == [
        "--namespace-weight=team-a=3", "--namespace-weight=team-b=1"]
    flags = args(docs)
    assert flags.index("--namespace-weight=team-a=3") > flags.index("--max-running=10")


def test_token_audiences_are_flags() -> None:
    assert not [a for a in args(render()) if a.startswith("--dashboard-token-audience")]
    docs = render("dashboard.tokenAudiences={agenttasks-dashboard,https://agenttasks.example}")
    assert [a for a in args(docs) if a.startswith("--dashboard-token-audience")] == [
        "--dashboard-token-audience=agenttasks-dashboard",
        "--dashboard-token-audience=https://agenttasks.example"]


def test_security_context_is_restricted() -> None:
    docs = render()
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container(docs)["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 65532
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["readOnlyRootFilesystem"] is True
    assert "privileged" not in sc or sc["privileged"] is False
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container(docs)["volumeMounts"]}
    assert volumes[mounts["/tmp"]]["emptyDir"] == {}


def test_token_is_mounted_by_the_pod_not_the_service_account() -> None:
    docs = render()
    assert one(docs, "ServiceAccount")["automountServiceAccountToken"] is False
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    assert pod["serviceAccountName"] == FULLNAME


def test_probes_ports_and_resources() -> None:
    operator = container(render())
    assert operator["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert operator["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert {p["name"]: p["containerPort"] for p in operator["ports"]} == {
        "http": 8080, "admission": 9443}
    for section in ("requests", "limits"):
        assert set(operator["resources"][section]) == {"cpu", "memory"}


def test_image_defaults_to_app_version() -> None:
    assert container(render())["image"] == f"ghcr.io/agenttasks/agenttask-operator:{__version__}"
    assert container(render("image.tag=dev"))["image"] == (
        "ghcr.io/agenttasks/agenttask-operator:dev")


def test_standard_labels_on_every_object() -> None:
    docs = render(*EVERYTHING)
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "agenttask-operator", doc["kind"]
        assert labels["app.kubernetes.io/instance"] == RELEASE, doc["kind"]
        assert labels["app.kubernetes.io/version"] == __version__, doc["kind"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm", doc["kind"]
        assert labels["helm.sh/chart"] == f"agenttask-operator-{__version__}", doc["kind"]


# --- service, ingress, monitoring, network policy ------------------------------------------


def test_service_ports() -> None:
    service = one(render(), "Service")
    assert service["spec"]["type"] == "ClusterIP"
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {"http": (80, "http"), "webhook": (443, "admission")}


def test_optional_objects_are_off_by_default() -> None:
    kinds = {d["kind"] for d in render()}
    assert kinds.isdisjoint({"Ingress", "ServiceMonitor", "PodDisruptionBudget",
                             "NetworkPolicy"})


def test_ingress_routes_only_hooks() -> None:
    docs = render("ingress.enabled=true", "ingress.className=nginx",
                  "ingress.host=hooks.example.com", "ingress.tls[0].secretName=hooks-tls",
                  "ingress.tls[0].hosts[0]=hooks.example.com")
    ingress = one(docs, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "hooks-tls",
                                       "hosts": ["hooks.example.com"]}]
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "hooks.example.com"
    assert rule["http"]["paths"] == [{
        "path": "/hooks/", "pathType": "Prefix",
        "backend": {"service": {"name": FULLNAME, "port": {"name": "http"}}}}]


def test_service_monitor_scrapes_metrics() -> None:
    docs = render("serviceMonitor.enabled=true", "serviceMonitor.labels.release=prom")
    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics",
                                             "interval": "30s"}]


def test_network_policy() -> None:
    policy = one(render("networkPolicy.enabled=true"), "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]},
                                 {"ports": [{"port": "admission", "protocol": "TCP"}]}]
    assert policy["egress"] == [{}]
    limited = one(render("networkPolicy.enabled=true",
                         "networkPolicy.from[0].ipBlock.cidr=10.0.0.0/8"), "NetworkPolicy")
    assert limited["spec"]["ingress"][0]["from"] == [{"ipBlock": {"cidr": "10.0.0.0/8"}}]
    assert "from" not in limited["spec"]["ingress"][1]


# --- admission webhook ---------------------------------------------------------------------


def test_webhook_is_scoped_to_our_three_kinds() -> None:
    docs = render()
    config = one(docs, "ValidatingWebhookConfiguration")
    assert config["metadata"]["name"] == FULLNAME
    covered: set[str] = set()
    for hook in config["webhooks"]:
        assert hook["failurePolicy"] == "Fail"
        assert hook["timeoutSeconds"] == 5
        assert hook["sideEffects"] == "None"
        assert hook["admissionReviewVersions"] == ["v1"]
        [rule] = hook["rules"]
        assert rule["apiGroups"] == ["agenttasks.io"]
        assert rule["operations"] == ["CREATE", "UPDATE"]
        assert rule["scope"] == "Namespaced"
        assert not any("*" in v for v in rule["apiVersions"] + rule["resources"])
        [plural] = rule["resources"]
        covered.add(plural)
        service = hook["clientConfig"]["service"]
        assert service == {"name": FULLNAME, "namespace": NAMESPACE, "port": 443,
                           "path": f"/validate-{plural}"}
        assert "namespaceSelector" not in hook  # cluster-wide: every namespace
    assert covered == OUR_KINDS
    assert len(config["webhooks"]) == len(OUR_KINDS)


def test_webhook_only_in_watched_namespaces() -> None:
    config = one(render(*NAMESPACED), "ValidatingWebhookConfiguration")
    for hook in config["webhooks"]:
        assert hook["namespaceSelector"] == {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["a", "b"]}]}


def test_webhook_certificate_is_wired_through() -> None:
    docs = render()
    secret = one(docs, "Secret")
    assert secret["metadata"]["name"] == f"{FULLNAME}-webhook-tls"
    assert secret["type"] == "kubernetes.io/tls"
    assert set(secret["data"]) == {"ca.crt", "tls.crt", "tls.key"}
    config = one(docs, "ValidatingWebhookConfiguration")
    for hook in config["webhooks"]:
        assert hook["clientConfig"]["caBundle"] == secret["data"]["ca.crt"]
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v.get("secret"))
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    mount = next(m for m in container(docs)["volumeMounts"] if m["name"] == volume["name"])
    assert mount["mountPath"] == CERT_DIR and mount["readOnly"] is True
    assert {item["path"] for item in volume["secret"]["items"]} == {"tls.crt", "tls.key"}


def _handshake(ca: str, cert: str, key: str, hostname: str, folder: Path) -> None:
    """A TLS handshake in memory: the client trusts only `ca` and checks `hostname`."""
    (folder / "tls.crt").write_text(cert)
    (folder / "tls.key").write_text(key)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(folder / "tls.crt", folder / "tls.key")
    client_ctx = ssl.create_default_context(cadata=ca)
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, side in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return
    raise AssertionError("TLS handshake did not finish")


def test_webhook_certificate_is_valid_for_the_service(tmp_path: Path) -> None:
    data = one(render(), "Secret")["data"]
    ca, cert, key = (b64decode(data[k]).decode() for k in ("ca.crt", "tls.crt", "tls.key"))
    for name in (f"{FULLNAME}.{NAMESPACE}.svc", f"{FULLNAME}.{NAMESPACE}.svc.cluster.local"):
        _handshake(ca, cert, key, name, tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(ca, cert, key, "somewhere.else.svc", tmp_path)


def test_webhook_certificate_reuses_the_existing_secret() -> None:
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    assert 'lookup "v1" "Secret" .Release.Namespace $secretName' in helpers


def test_webhook_can_be_disabled() -> None:
    docs = render("admissionWebhook.enabled=false")
    assert of_kind(docs, "ValidatingWebhookConfiguration") == of_kind(docs, "Secret") == []
    assert not any(a.startswith("--admission") for a in args(docs))
    assert [p["name"] for p in container(docs)["ports"]] == ["http"]
    assert [p["name"] for p in one(docs, "Service")["spec"]["ports"]] == ["http"]
    assert [m["mountPath"] for m in container(docs)["volumeMounts"]] == ["/tmp"]


def test_visibility_api_is_off_by_default() -> None:
    docs = render()
    assert of_kind(docs, "APIService") == []
    assert not any(a.startswith("--visibility") for a in args(docs))
    assert "visibility" not in [p["name"] for p in container(docs)["ports"]]
    assert all(b["metadata"].get("namespace") != "kube-system"
               for b in of_kind(docs, "RoleBinding"))
    assert "visibility.agenttasks.io" not in yaml.safe_dump_all(docs)


def test_visibility_api_is_registered_with_the_serving_certificate() -> None:
    docs = render("visibilityAPI.enabled=true")
    api_service = one(docs, "APIService")
    assert api_service["metadata"]["name"] == "v1alpha1.visibility.agenttasks.io"
    assert api_service["spec"]["service"] == {"name": FULLNAME, "namespace": NAMESPACE,
                                              "port": 8444}
    assert api_service["spec"]["caBundle"] == one(docs, "Secret")["data"]["ca.crt"]
    assert {"--visibility-port=8444", f"--visibility-cert-dir={CERT_DIR}"} <= set(args(docs))
    ports = {p["name"]: p for p in one(docs, "Service")["spec"]["ports"]}
    assert (ports["visibility"]["port"], ports["visibility"]["targetPort"]) == \
        (8444, "visibility")
    assert {p["name"]: p["containerPort"] for p in container(docs)["ports"]}["visibility"] == \
        8444
    # The front proxy's CA and header names, from the ConfigMap the built-in role reads.
    [reader] = [b for b in of_kind(docs, "RoleBinding")
                if b["metadata"]["namespace"] == "kube-system"]
    assert reader["roleRef"]["name"] == "extension-apiserver-authentication-reader"
    assert reader["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME,
                                   "namespace": NAMESPACE}]
    # Whoever may read tasks (view, edit, admin) may read the queue.
    roles = user_roles(docs)
    assert set(roles) == {"view", "edit", "admin"}
    for role in roles.values():
        assert {"apiGroups": ["visibility.agenttasks.io"], "resources": ["pendingtasks"],
                "verbs": ["get", "list"]} in role["rules"]


def test_visibility_api_without_the_webhook_still_has_its_certificate() -> None:
    docs = render("visibilityAPI.enabled=true", "admissionWebhook.enabled=false")
    assert of_kind(docs, "ValidatingWebhookConfiguration") == []
    assert one(docs, "APIService")["spec"]["caBundle"] == one(docs, "Secret")["data"]["ca.crt"]
    assert [m["mountPath"] for m in container(docs)["volumeMounts"]] == ["/tmp", CERT_DIR]
    assert not any(a.startswith("--admission") for a in args(docs))


def test_webhook_can_ignore_failures() -> None:
    config = one(render("admissionWebhook.failurePolicy=Ignore"),
                 "ValidatingWebhookConfiguration")
    assert {h["failurePolicy"] for h in config["webhooks"]} == {"Ignore"}


# --- the split receiver (receiver.split) ---------------------------------------------------


def receiver(docs: list[Manifest], kind: str) -> Manifest:
    found = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == RECEIVER]
    assert len(found) == 1, f"expected the receiver's {kind}, got {len(found)}"
    return found[0]


def receiver_container(docs: list[Manifest]) -> Manifest:
    [only] = receiver(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    result: Manifest = only
    return result


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_the_operator_serves_hooks_itself_by_default() -> None:
    docs = render("ingress.enabled=true")
    assert not [d for d in docs if d["metadata"]["name"] == RECEIVER]
    assert not any(a.startswith(("--no-hooks", "--receiver")) for a in args(docs))
    backend = one(docs, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend["service"]["name"] == FULLNAME


def test_split_renders_the_receivers_deployment_service_and_account() -> None:
    docs = render(*SPLIT, "receiver.replicas=3", "receiver.resources.limits.memory=1Gi")
    deployment = receiver(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == RECEIVER
    assert receiver(docs, "ServiceAccount")["automountServiceAccountToken"] is False
    box = receiver_container(docs)
    assert box["command"] == ["agenttasks", "receiver"]
    assert box["args"] == [
        "--http-port=8080", f"--operator-url=http://{FULLNAME}.{NAMESPACE}.svc:80",
        "--operator-token-file=/var/run/secrets/agenttasks.io/operator/token"]
    assert box["image"] == container(docs)["image"]
    assert box["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert box["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert box["resources"]["limits"] == {"cpu": "1000m", "memory": "1Gi"}
    assert box["securityContext"]["readOnlyRootFilesystem"] is True
    assert box["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert "admission" not in {p["name"] for p in box["ports"]}  # no webhook server there
    service = receiver(docs, "Service")
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
        ("http", 80, "http")]


def test_the_receiver_presents_a_token_only_the_operator_accepts() -> None:
    docs = render(*SPLIT)
    pod = receiver(docs, "Deployment")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "operator-token")
    [source] = volume["projected"]["sources"]
    token = source["serviceAccountToken"]
    assert f"--receiver-audience={token['audience']}" in args(docs)
    assert token["audience"] != "" and token["expirationSeconds"] <= 3600
    mount = next(m for m in receiver_container(docs)["volumeMounts"]
                 if m["name"] == "operator-token")
    assert mount["readOnly"] is True
    assert f"--operator-token-file={mount['mountPath']}/{token['path']}" in \
        receiver_container(docs)["args"]


def test_no_selector_of_the_operator_matches_a_receiver_pod() -> None:
    docs = render(*SPLIT, *HA, "podDisruptionBudget.enabled=true", "networkPolicy.enabled=true",
                  "podLabels.team=hooks")
    receiver_pod = receiver(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    operator_pod = one(operator_only(docs), "Deployment")["spec"]["template"]["metadata"][
        "labels"]
    assert receiver_pod["team"] == "hooks" and receiver_pod["app.kubernetes.io/component"] == \
        "receiver"
    operator_selectors = [
        one(operator_only(docs), "Deployment")["spec"]["selector"]["matchLabels"],
        one(operator_only(docs), "Service")["spec"]["selector"],
        one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        one(operator_only(docs), "NetworkPolicy")["spec"]["podSelector"]["matchLabels"]]
    for selector in operator_selectors:
        assert matches(selector, operator_pod) and not matches(selector, receiver_pod)
    receiver_selectors = [
        receiver(docs, "Deployment")["spec"]["selector"]["matchLabels"],
        receiver(docs, "Service")["spec"]["selector"],
        receiver(docs, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"]]
    for selector in receiver_selectors:
        assert matches(selector, receiver_pod) and not matches(selector, operator_pod)


def test_the_operator_is_told_the_receiver_serves_hooks() -> None:
    flags = args(render(*SPLIT))
    assert "--no-hooks" in flags
    assert f"--receiver-user={RECEIVER_USER}" in flags
    # The rest of the operator is as it was.
    assert {"--http-port=8080", f"--admission-cert-dir={CERT_DIR}"} <= set(flags)


def test_the_ingress_points_at_the_receiver() -> None:
    docs = render(*SPLIT, "ingress.enabled=true", "ingress.host=hooks.example.com")
    [rule] = one(docs, "Ingress")["spec"]["rules"]
    assert rule["http"]["paths"] == [{
        "path": "/hooks/", "pathType": "Prefix",
        "backend": {"service": {"name": RECEIVER, "port": {"name": "http"}}}}]


@pytest.mark.parametrize("variant", ["split", "split-namespaced"])
def test_the_receiver_may_not_run_jobs_or_pods_or_write_secrets(variant: str) -> None:
    docs = render(*VARIANTS[variant])
    theirs = [r for r in roles(docs) if r["metadata"]["name"] == RECEIVER]
    assert theirs, "no receiver role rendered"
    for role in theirs:
        assert role["rules"] == RECEIVER_RULES
        for rule in role["rules"]:
            assert not set(rule["resources"]) & {"jobs", "pods", "pods/exec", "events"}
            assert not any(r.endswith("/status") for r in rule["resources"])
            if "secrets" in rule["resources"]:
                assert rule["verbs"] == ["get"]  # no list, watch, create or patch
    # The operator's own roles keep their rules.
    assert any(r["metadata"]["name"] == FULLNAME and "jobs" in str(r["rules"])
               for r in roles(docs))


def test_the_receiver_is_bound_cluster_wide_or_per_namespace() -> None:
    cluster = render(*SPLIT)
    binding = receiver(cluster, "ClusterRoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole", "name": RECEIVER}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RECEIVER,
                                    "namespace": NAMESPACE}]
    namespaced = render(*SPLIT, *NAMESPACED)
    assert not [r for r in of_kind(namespaced, "ClusterRole") + of_kind(
        namespaced, "ClusterRoleBinding") if r["metadata"]["name"] == RECEIVER]
    role_list = [r for r in of_kind(namespaced, "Role") if r["metadata"]["name"] == RECEIVER]
    assert sorted(r["metadata"]["namespace"] for r in role_list) == ["a", "b"]
    bindings = [b for b in of_kind(namespaced, "RoleBinding")
                if b["metadata"]["name"] == RECEIVER]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["a", "b"]
    for each in bindings:
        assert each["roleRef"]["kind"] == "Role" and each["subjects"][0]["name"] == RECEIVER
    assert [a for a in receiver_container(namespaced)["args"] if a.startswith("--namespace")] \
        == ["--namespace=a", "--namespace=b"]


def test_receiver_rbac_alone_renders_its_account_and_rights() -> None:
    show = ("--show-only", "templates/receiver-rbac.yaml")
    assert sorted(d["kind"] for d in render(*SPLIT, extra=show)) == [
        "ClusterRole", "ClusterRoleBinding", "ServiceAccount"]
    without_rbac = render(*SPLIT, "rbac.create=false", extra=show)
    assert [d["kind"] for d in without_rbac] == ["ServiceAccount"]


def test_metrics_on_their_own_port() -> None:
    docs = render(*SPLIT, "metricsPort=9090", "serviceMonitor.enabled=true",
                  "networkPolicy.enabled=true")
    assert "--metrics-port=9090" in args(docs)
    assert "--metrics-port=9090" in receiver_container(docs)["args"]
    for box in (container(docs), receiver_container(docs)):
        assert {p["name"]: p["containerPort"] for p in box["ports"]}["metrics"] == 9090
    for service in (one(operator_only(docs), "Service"), receiver(docs, "Service")):
        ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
        assert ports["metrics"] == (9090, "metrics")
    assert one(docs, "ServiceMonitor")["spec"]["endpoints"][0]["port"] == "metrics"
    for policy in of_kind(docs, "NetworkPolicy"):
        assert {"port": "metrics", "protocol": "TCP"} in policy["spec"]["ingress"][0]["ports"]
    default = render()
    assert not any(a.startswith("--metrics-port") for a in args(default))
    assert "metrics" not in {p["name"] for p in container(default)["ports"]}


def test_the_service_monitor_scrapes_the_receiver_too() -> None:
    """The receiver counts the webhook requests: its Service must be selected as well."""
    docs = render(*SPLIT, "serviceMonitor.enabled=true")
    selector = one(docs, "ServiceMonitor")["spec"]["selector"]["matchLabels"]
    for service in (one(operator_only(docs), "Service"), receiver(docs, "Service")):
        assert matches(selector, service["metadata"]["labels"])


def test_notes_send_deliveries_to_the_receiver(tmp_path: Path) -> None:
    notes = _notes(tmp_path, *SPLIT)
    assert f"http://{RECEIVER}.{NAMESPACE}.svc:80/hooks/<namespace>/<trigger-name>" in notes
    assert f"rollout status deployment/{RECEIVER}" in notes
    assert "answers 404 on /hooks/" in notes and "{{" not in notes


# --- values and schema ---------------------------------------------------------------------


@pytest.mark.parametrize(("value", "mention"), [
    ("replicas=0", "replicas"),
    ("plan=gold", "plan"),
    ("nosuchvalue=1", "nosuchvalue"),
    ("maxRunning=0", "maxRunning"),
    ("httpPort=70000", "httpPort"),
    ("workers=65", "workers"),
    ("priorityAging=soon", "priorityAging"),
    ("namespaceWeights.team-a=0", "namespaceWeights"),
    ("namespaceWeights.team-a=1001", "namespaceWeights"),
    ("namespaceWeights.team-a=heavy", "namespaceWeights"),
    ("namespaceWeights.Team_A=2", "Team_A"),
    ("watchNamespaces={Team_A}", "watchNamespaces"),
    ("admissionWebhook.failurePolicy=Maybe", "failurePolicy"),
    ("image.tga=1", "tga"),
    ("dashboard.readOnlyWithoutToken=maybe", "readOnlyWithoutToken"),
    ("dashboard.readOnly=true", "readOnly"),
    ("dashboard.tokenAudiences={a b}", "tokenAudiences"),
    ("dashboard.tokenAudiences={x,x}", "tokenAudiences"),
    ("receiver.replicas=0", "replicas"),
    ("receiver.splt=true", "splt"),
    ("receiver.split=yes", "split"),
    ("metricsPort=0", "metricsPort"),
    ("tasks.defaultTTLAfterFinished=soon", "defaultTTLAfterFinished"),
    ("tasks.defaultTTLAfterFinished=-5", "defaultTTLAfterFinished"),
    ("tasks.defaultTTLAfterFinished=1.5", "defaultTTLAfterFinished"),
    ("tasks.defaultTTL=1d", "defaultTTL"),
])
def test_wrong_value_fails_with_a_clear_message(value: str, mention: str) -> None:
    result = template((value,))
    assert result.returncode != 0, f"{value} was accepted"
    assert mention in result.stderr, result.stderr


def test_schema_is_draft_07_and_closed() -> None:
    schema = yaml.safe_load((CHART / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) <= set(schema["properties"])
    assert schema["properties"]["plan"]["enum"] == ["starter", "growth", "enterprise"]
    # a token by default, for the API server's own audience
    assert values["dashboard"] == {"readOnlyWithoutToken": False, "tokenAudiences": []}
    assert values["receiver"]["split"] is False and values["metricsPort"] is None
    assert values["tasks"] == {"defaultTTLAfterFinished": ""}  # finished tasks are kept
    assert schema["properties"]["tasks"]["additionalProperties"] is False
    assert schema["properties"]["receiver"]["additionalProperties"] is False
    dashboard = schema["properties"]["dashboard"]
    assert dashboard["additionalProperties"] is False
    assert dashboard["properties"]["readOnlyWithoutToken"]["type"] == "boolean"
    assert dashboard["properties"]["tokenAudiences"]["type"] == "array"


def test_every_value_is_commented() -> None:
    """Each key in values.yaml has a comment on the line above or at the end of its line."""
    previous = ""
    undocumented = []
    for line in (CHART / "values.yaml").read_text().splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        is_key = not stripped.startswith(("#", "-")) and ":" in stripped
        if is_key and not previous.startswith("#") and " # " not in stripped:
            undocumented.append(stripped)
        previous = stripped
    assert undocumented == []


# --- CRDs and NOTES ------------------------------------------------------------------------


def test_kopf_peering_crds() -> None:
    docs = [d for d in yaml.safe_load_all((CHART / "crds" / "kopf-peering.yaml").read_text())
            if d]
    by_name = {d["metadata"]["name"]: d for d in docs}
    assert set(by_name) == {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"}
    scopes = {"clusterkopfpeerings.kopf.dev": ("Cluster", "ClusterKopfPeering"),
              "kopfpeerings.kopf.dev": ("Namespaced", "KopfPeering")}
    for name, crd in by_name.items():
        assert crd["kind"] == "CustomResourceDefinition"
        assert crd["spec"]["group"] == "kopf.dev"
        assert (crd["spec"]["scope"], crd["spec"]["names"]["kind"]) == scopes[name]
        [version] = crd["spec"]["versions"]
        assert version["name"] == "v1" and version["served"] and version["storage"]
        schema = version["schema"]["openAPIV3Schema"]
        assert schema["type"] == "object"
        for field in ("spec", "status"):
            assert schema["properties"][field] == {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True}
    rendered = render(extra=("--include-crds",))
    names = {d["metadata"]["name"] for d in of_kind(rendered, "CustomResourceDefinition")}
    assert {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"} <= names


def _notes(tmp_path: Path, *sets: str) -> str:
    """NOTES.txt as `helm install` would print it, rendered through a copy of the chart."""
    chart = tmp_path / "agenttask-operator"
    shutil.copytree(CHART, chart)
    shutil.copy(CHART / "templates" / "NOTES.txt", chart / "notes.txt")
    (chart / "templates" / "zz-notes.yaml").write_text(
        'notes: {{ tpl (.Files.Get "notes.txt") . | toJson }}\n')
    result = template(sets, "--show-only", "templates/zz-notes.yaml", chart=chart)
    assert result.returncode == 0, result.stderr
    notes: str = yaml.safe_load(result.stdout)["notes"]
    return notes


def test_notes_explain_how_to_use_the_operator(tmp_path: Path) -> None:
    notes = _notes(tmp_path)
    assert f"rollout status deployment/{FULLNAME}" in notes
    assert "kind: AgentTask" in notes and "kubectl apply" in notes
    assert f"port-forward service/{FULLNAME} 8080:80" in notes
    assert f"http://{FULLNAME}.{NAMESPACE}.svc:80/hooks/<namespace>/<trigger-name>" in notes
    assert f"https://{FULLNAME}.{NAMESPACE}.svc:443/validate-" in notes
    assert "/metrics" in notes
    assert "The dashboard is at http://localhost:8080/" in notes
    assert "kubectl create token <serviceaccount>" in notes
    assert "read-only without a token" not in notes
    assert "{{" not in notes


def test_notes_mint_tokens_for_the_dashboard_audience(tmp_path: Path) -> None:
    assert "--audience" not in _notes(tmp_path / "default")
    notes = _notes(tmp_path / "set", "dashboard.tokenAudiences={agenttasks-dashboard,other}")
    assert "kubectl create token <serviceaccount> -n <namespace> " \
        "--audience=agenttasks-dashboard\n" in notes


def test_notes_warn_about_read_only_dashboard(tmp_path: Path) -> None:
    notes = _notes(tmp_path, "dashboard.readOnlyWithoutToken=true")
    assert "read-only without a token is on" in notes


# --- scheduling and extras that platform teams set -----------------------------------------


def test_scheduling_values_reach_the_pod() -> None:
    docs = render("nodeSelector.agenttasks\\.io/node=real", "priorityClassName=high",
                  "tolerations[0].key=agenttasks.io/real-node",
                  "tolerations[0].operator=Exists", "tolerations[0].effect=NoSchedule",
                  "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
                  "nodeSelectorTerms[0].matchExpressions[0].key=zone",
                  "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
                  "nodeSelectorTerms[0].matchExpressions[0].operator=Exists")
    spec = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"agenttasks.io/node": "real"}
    assert spec["tolerations"] == [{"key": "agenttasks.io/real-node", "operator": "Exists",
                                    "effect": "NoSchedule"}]
    assert spec["priorityClassName"] == "high"
    assert "nodeAffinity" in spec["affinity"]
    assert "priorityClassName" not in one(render(), "Deployment")["spec"]["template"]["spec"]


def test_pod_labels_extra_args_and_env() -> None:
    docs = render("podLabels.team=reports", "podLabels.app\\.kubernetes\\.io/name=evil",
                  "extraArgs={--priority-aging=1/5m}", "extraEnv[0].name=HTTPS_PROXY",
                  "extraEnv[0].value=http://proxy:3128")
    template = one(docs, "Deployment")["spec"]["template"]
    labels = template["metadata"]["labels"]
    assert labels["team"] == "reports"
    assert labels["app.kubernetes.io/name"] == "agenttask-operator", "chart labels win"
    operator = template["spec"]["containers"][0]
    assert operator["args"][-1] == "--priority-aging=1/5m"
    assert {"name": "HTTPS_PROXY", "value": "http://proxy:3128"} in operator["env"]
    assert operator["env"][0]["name"] == "POD_NAME"


def test_extra_env_needs_a_name() -> None:
    result = template(("extraEnv[0].value=x",))
    assert result.returncode != 0 and "name" in result.stderr
