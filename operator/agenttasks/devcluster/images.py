"""Images the real node needs, built on this machine and cached by their inputs (no image
can be pulled here): the pod sandbox's pause image, compiled from the Kubernetes sources of
the pinned release, and a small shell image from Debian's busybox-static for tests.

Each archive is written once into ``<cache>/agenttasks/images/`` under a name that carries
the hash of its inputs, then loaded into the node's runtime; nothing is pushed anywhere."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from agenttasks.devcluster.oci import ImageFile, ImageSpec, write_archive
from agenttasks.devcluster.realnode import PAUSE_IMAGE, RealNodeError
from agenttasks.devcluster.toolchain import KUBERNETES, cache_root

Say = Callable[[str], None]
BUSYBOX_IMAGE = "agenttasks.local/busybox:1"
BUSYBOX_NAMES = (BUSYBOX_IMAGE, "docker.io/library/busybox:1.36")
BUSYBOX = Path("/bin/busybox")


def images_dir() -> Path:
    return cache_root().parent / "images"


def pause_archive(say: Say) -> Path:
    """The pause image: pause.c of the pinned Kubernetes release, compiled statically."""
    source = _pause_source()
    key = hashlib.sha256(source.read_bytes() + PAUSE_IMAGE.encode()).hexdigest()[:16]
    out = images_dir() / f"pause-{key}.tar"
    if out.exists():
        return out
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise RealNodeError("building the pause image needs a C compiler (gcc)")
    say("Building the pause image from the Kubernetes sources (first time only).")
    with tempfile.TemporaryDirectory() as scratch:
        binary = Path(scratch) / "pause"
        subprocess.run([gcc, "-Os", "-static", "-o", str(binary), str(source),
                        f"-DVERSION={KUBERNETES.version}-agenttasks"], check=True,
                       capture_output=True)
        subprocess.run(["strip", str(binary)], capture_output=True)
        write_archive(ImageSpec((PAUSE_IMAGE,), (ImageFile("pause", binary.read_bytes()),),
                                ("/pause",)), out.with_suffix(".partial"))
    out.with_suffix(".partial").rename(out)
    return out


def busybox_archive(say: Say) -> Path:
    """A shell image: Debian's static busybox with a link per applet. It also carries the name
    the examples use (busybox:1.36), so that they run unchanged on the real node."""
    if not BUSYBOX.exists():
        raise RealNodeError("the shell image needs Debian's busybox-static package")
    data = BUSYBOX.read_bytes()
    key = hashlib.sha256(data + " ".join(BUSYBOX_NAMES).encode()).hexdigest()[:16]
    out = images_dir() / f"busybox-{key}.tar"
    if not out.exists():
        say("Writing the busybox image (first time only).")
        applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True,
                                 check=True).stdout.split()
        links = tuple(ImageFile(f"bin/{a}", symlink="busybox") for a in applets
                      if a != "busybox" and "/" not in a)
        write_archive(ImageSpec(BUSYBOX_NAMES, (ImageFile("bin/busybox", data), *links),
                                ("/bin/sh",)), out.with_suffix(".partial"))
        out.with_suffix(".partial").rename(out)
    return out


def _pause_source() -> Path:
    """pause.c from the Go module cache, where building the control plane put it."""
    mod = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True,
                         check=True).stdout.strip()
    source = Path(mod) / f"k8s.io/kubernetes@{KUBERNETES.version}/build/pause/linux/pause.c"
    if not source.exists():
        subprocess.run(["go", "mod", "download", f"k8s.io/kubernetes@{KUBERNETES.version}"],
                       cwd=KUBERNETES.gomod_dir, check=True, capture_output=True)
    return source


# --- images built with buildah from Dockerfiles ---------------------------------------------

BASE_IMAGE = "agenttasks.local/python:3.11-slim"
OPERATOR_IMAGE = "agenttasks.local/agenttask-operator:dev"
AGENT_IMAGE = "agenttasks.local/example-agent:dev"
# The name examples/agent.yaml uses; the local build carries it too (`load_all`).
AGENT_EXAMPLE_IMAGE = "ghcr.io/agenttasks/example-agent:0.1.0"
SUITE = "bookworm"  # Debian 12: its python3 is 3.11, as the official base image's
BASE_PACKAGES = ("python3", "python3-pip", "python3-venv", "ca-certificates")
RUNROOT = Path("/run/agenttasks-buildah")
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
REPO = Path(__file__).resolve().parents[3]


def _buildah(*args: str) -> str:
    argv = ["buildah", "--root", str(images_dir() / "buildah"), "--runroot", str(RUNROOT),
            "--storage-driver", "overlay", *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RealNodeError(f"buildah {' '.join(args[:2])} failed: {result.stderr[-600:]}")
    return result.stdout.strip()


def debian_mirror() -> str:
    """This machine's Debian mirror, as its apt sources name it."""
    for source in [Path("/etc/apt/sources.list.d/debian.sources"),
                   *Path("/etc/apt/sources.list.d").glob("*.sources")]:
        if source.exists():
            for line in source.read_text().splitlines():
                if line.startswith("URIs:") and not line.rstrip().endswith("-security"):
                    return line.split()[1]
    for line in Path("/etc/apt/sources.list").read_text().splitlines():
        words = line.split()
        if words[:1] == ["deb"] and len(words) > 2:
            return words[1]
    raise RealNodeError("no Debian mirror in /etc/apt/sources.list(.d)")


def base_image(say: Say) -> str:
    """A stand-in for the Dockerfile's FROM image (python:3.11-slim), made from Debian's
    packages with debootstrap: python3 and pip, on PATH as python and pip."""
    key = _key([SUITE, *BASE_PACKAGES])
    stamp = images_dir() / f"base-{key}.done"
    if stamp.exists() and _has_image(BASE_IMAGE):
        return BASE_IMAGE
    say(f"Making the base image from Debian {SUITE} with debootstrap (first time only).")
    with tempfile.TemporaryDirectory(dir=images_dir()) as scratch:
        root = Path(scratch) / "rootfs"
        subprocess.run(["debootstrap", "--variant=minbase",
                        f"--include={','.join(BASE_PACKAGES)}", SUITE, str(root),
                        debian_mirror()], check=True, capture_output=True)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                     "usr/share/man", "usr/share/locale"):
            shutil.rmtree(root / junk, ignore_errors=True)
        # As in the official image: pip installs into the system Python.
        for managed in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            managed.unlink()
        (root / "usr/local/bin").mkdir(parents=True, exist_ok=True)
        (root / "usr/local/bin/python").symlink_to("/usr/bin/python3")
        (root / "usr/local/bin/pip").symlink_to("/usr/bin/pip3")
        container = _buildah("from", "scratch")
        try:
            mount = Path(_buildah("mount", container))
            subprocess.run(f"tar -C {root} -cf - . | tar -C {mount} -xf -", shell=True,
                           check=True)
            _buildah("umount", container)
            _buildah("config", "--env", "LANG=C.UTF-8", "--env",
                     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                     "--cmd", "python3", container)
            _buildah("commit", "-q", container, BASE_IMAGE)
        finally:
            _buildah("rm", container)
    stamp.write_text(BASE_IMAGE)
    return BASE_IMAGE


def operator_archive(say: Say) -> Path:
    """The operator image, from the project's own Dockerfile on the stand-in base."""
    inputs = ["Dockerfile", "pyproject.toml", "README.md", "LICENSE", "requirements/runtime.txt",
              *_files("operator")]
    return _dockerfile_archive("operator", OPERATOR_IMAGE, "Dockerfile", inputs, say)


def agent_archive(say: Say) -> Path:
    """The example agent (examples/agent/), which reports progress with agenttasks.progress."""
    inputs = ["examples/agent/Dockerfile", "examples/agent/agent.py",
              "operator/agenttasks/progress.py"]
    return _dockerfile_archive("agent", AGENT_IMAGE, "examples/agent/Dockerfile", inputs, say)


def _dockerfile_archive(kind: str, tag: str, dockerfile: str, inputs: list[str],
                        say: Say) -> Path:
    base = base_image(say)
    key = _key([base, *(f"{p}\0{(REPO / p).read_text()}" for p in sorted(inputs))])
    out = images_dir() / f"{kind}-{key}.tar"
    if out.exists():
        return out
    say(f"Building the {kind} image from {dockerfile} with buildah.")
    # The build trusts the host's CA bundle for the package registries, mounted for the
    # build only: nothing of it ends up in the image.
    volume = [f"--volume={HOST_CA}:/etc/ssl/certs/ca-certificates.crt:ro"] \
        if HOST_CA.exists() else []
    _buildah("bud", "-q", "--isolation=chroot", "--network=host", "--layers=false",
             f"--build-arg=BASE_IMAGE={base}", *volume, "-f", str(REPO / dockerfile),
             "-t", tag, str(REPO))
    partial = out.with_suffix(".partial")
    _buildah("push", "-q", tag, f"docker-archive:{partial}:{tag}")
    partial.rename(out)
    shutil.rmtree(RUNROOT, ignore_errors=True)
    return out


def _has_image(name: str) -> bool:
    try:
        _buildah("inspect", "--type", "image", name)
    except RealNodeError:
        return False
    return True


def _files(folder: str) -> list[str]:
    return [str(p.relative_to(REPO)) for p in sorted((REPO / folder).rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
            and not any(part.endswith(".egg-info") for part in p.parts)]


def _key(parts: list[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def build_all(say: Say) -> dict[str, Path]:
    """Every image the local real node uses, built (or found in the cache) by their inputs."""
    return {"pause": pause_archive(say), "busybox": busybox_archive(say),
            "operator": operator_archive(say), "agent": agent_archive(say)}


def load_all(say: Say) -> dict[str, Path]:
    """Builds every image and loads it into the running real node's runtime."""
    from agenttasks.devcluster.realnode import ctr, load_image

    archives = build_all(say)
    for archive in archives.values():
        load_image(archive)
    ctr(["images", "tag", "--force", AGENT_IMAGE, AGENT_EXAMPLE_IMAGE])
    return archives
