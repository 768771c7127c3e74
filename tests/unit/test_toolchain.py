"""Every Go tool's build names each binary it expects, whatever Go's own naming rules say.

Go names the binary of ``go.etcd.io/etcd/server/v3`` ``server`` (the element before a
major-version suffix), so a build with ``-o <dir>/`` produced no ``etcd`` on a new machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agenttasks.devcluster.toolchain import ALL_TOOLS, OPTIONAL_TOOLS, GoTool, binary


@pytest.mark.parametrize("tool", (*ALL_TOOLS, *OPTIONAL_TOOLS), ids=lambda t: t.name)
def test_each_binary_is_built_to_its_own_explicit_path(tool: GoTool, tmp_path: Path) -> None:
    commands = tool.build_commands("/usr/bin/go", tmp_path)
    assert len(commands) == len(tool.binaries)
    for command, name in zip(commands, tool.binaries, strict=True):
        assert command[:2] == ["/usr/bin/go", "build"]
        out = command[command.index("-o") + 1]
        assert out == str(tmp_path / name), "the output names the file, not a folder"
        package = command[-1]
        patched = {f"./{p.package_dir}" for p in tool.patches}
        assert package in patched or package.startswith(tool.module.split("/v")[0]) or \
            package.startswith(tool.module), package
        assert command.count("-o") == 1 and not package.startswith("-")


def test_the_binaries_the_cluster_runs_are_all_built() -> None:
    wanted = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl",
              "kwok", "helm"}
    built = {name for tool in ALL_TOOLS for name in tool.binaries}
    assert wanted <= built
    for name in wanted:
        assert binary(name).name == name


def test_etcd_is_named_etcd_not_after_its_module() -> None:
    from agenttasks.devcluster.toolchain import ETCD

    (command,) = ETCD.build_commands("go", Path("/stage"))
    assert command[command.index("-o") + 1] == "/stage/etcd"
    assert command[-1] == "go.etcd.io/etcd/server/v3"


def test_kueue_is_optional_and_its_patched_main_is_built_from_its_copy() -> None:
    from agenttasks.devcluster.toolchain import KUEUE

    assert KUEUE not in ALL_TOOLS, "make test must not build Kueue"
    (command,) = KUEUE.build_commands("go", Path("/stage"))
    assert command[-1] == "./cmd/kueue" and command[command.index("-o") + 1] == "/stage/kueue"
    assert binary("kueue") == KUEUE.bin_dir / "kueue"
    assert KUEUE.version.startswith("v")  # read from tests/cluster/kueue/go.mod
