"""Pure parts of the real node: hand-written OCI archives, the iptables clean-up filter, and
the host snapshot's comparison."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from agenttasks.devcluster.hostclean import ours as _ours
from agenttasks.devcluster.hoststate import HostState
from agenttasks.devcluster.oci import ImageFile, ImageSpec, write_archive

SPEC = ImageSpec(("agenttasks.local/tiny:1", "example.org/tiny:2"),
                 (ImageFile("bin/tool", b"#!/bin/sh\necho hi\n"),
                  ImageFile("bin/alias", symlink="tool")), ("/bin/tool",))


def test_an_archive_is_a_valid_oci_layout_whose_digests_match(tmp_path: Path) -> None:
    digest = write_archive(SPEC, tmp_path / "a.tar")
    with tarfile.open(tmp_path / "a.tar") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()  # type: ignore[union-attr]
                 if m.isfile()}
    index = json.loads(files["index.json"])
    assert [e["annotations"]["io.containerd.image.name"] for e in index["manifests"]] == [
        "agenttasks.local/tiny:1", "example.org/tiny:2"]
    assert {e["digest"] for e in index["manifests"]} == {digest}
    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            assert name.rsplit("/", 1)[1] == hashlib.sha256(data).hexdigest()
    manifest = json.loads(files[f"blobs/sha256/{digest.split(':')[1]}"])
    config = json.loads(files[f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"])
    assert config["config"]["Entrypoint"] == ["/bin/tool"]
    layer = files[f"blobs/sha256/{manifest['layers'][0]['digest'].split(':')[1]}"]
    with tarfile.open(fileobj=io.BytesIO(layer)) as rootfs:
        link = rootfs.getmember("bin/alias")
        assert link.issym() and link.linkname == "tool"


def test_the_same_image_gives_the_same_bytes(tmp_path: Path) -> None:
    assert write_archive(SPEC, tmp_path / "a.tar") == write_archive(SPEC, tmp_path / "b.tar")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


def test_the_clean_up_removes_only_our_chains_and_the_rules_that_use_them() -> None:
    assert _ours(":KUBE-SERVICES - [0:0]") and _ours(":CNI-HOSTPORT-DNAT - [0:0]")
    assert _ours(":AGT-NODE-FENCE - [0:0]")
    assert _ours("-A OUTPUT -m comment --comment x -j KUBE-SERVICES")
    assert _ours("-A KUBE-SEP-ABC -p tcp -j DNAT --to-destination 198.51.100.2:8080")
    assert not _ours(":DOCKER-USER - [0:0]") and not _ours("-A INPUT -j ACCEPT")
    assert not _ours("*nat") and not _ours("COMMIT") and not _ours(":OUTPUT ACCEPT [0:0]")


def test_left_behind_names_only_what_is_new() -> None:
    empty = HostState((), (), (), (), (), (), ())
    before = HostState(("sshd[1]",), (), (), ("eth0",), ("default",), (), ())
    after = HostState(("sshd[1]", "kubelet[9]"), ("/x/rootfs",), ("cni-1",), ("eth0", "agt0"),
                      ("default",), ("iptables/nat/KUBE-SERVICES",),
                      ("/sys/fs/cgroup/pids/kubepods",))
    assert before.left_behind(before) == {} and empty.left_behind(empty) == {}
    assert after.left_behind(before) == {
        "processes": ["kubelet[9]"], "mounts": ["/x/rootfs"], "netns": ["cni-1"],
        "links": ["agt0"], "chains": ["iptables/nat/KUBE-SERVICES"],
        "cgroups": ["/sys/fs/cgroup/pids/kubepods"]}
