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
        write_archive(ImageSpec(PAUSE_IMAGE, (ImageFile("pause", binary.read_bytes()),),
                                ("/pause",)), out.with_suffix(".partial"))
    out.with_suffix(".partial").rename(out)
    return out


def busybox_archive(say: Say) -> Path:
    """A shell image for tests: Debian's static busybox as /bin/busybox and /bin/sh."""
    if not BUSYBOX.exists():
        raise RealNodeError("the test shell image needs Debian's busybox-static package")
    data = BUSYBOX.read_bytes()
    key = hashlib.sha256(data + BUSYBOX_IMAGE.encode()).hexdigest()[:16]
    out = images_dir() / f"busybox-{key}.tar"
    if not out.exists():
        say("Writing the busybox test image (first time only).")
        write_archive(ImageSpec(BUSYBOX_IMAGE, (ImageFile("bin/busybox", data),
                                                ImageFile("bin/sh", data)), ("/bin/sh",)),
                      out.with_suffix(".partial"))
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
