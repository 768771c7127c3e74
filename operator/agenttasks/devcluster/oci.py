"""Writes small OCI images by hand (standard library only), for what needs no build tool:
the pod sandbox's pause image. The archive is an OCI image layout in a tar, which
`ctr images import` loads into the node's runtime; nothing is pushed anywhere."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ImageFile:
    path: str
    data: bytes = b""
    mode: int = 0o755
    symlink: str | None = None
    """A symbolic link to this target instead of a file."""


@dataclass(frozen=True)
class ImageSpec:
    """One single-layer image: its files, entrypoint and names (``repo:tag`` each)."""

    names: tuple[str, ...]
    files: tuple[ImageFile, ...]
    entrypoint: tuple[str, ...]
    env: tuple[str, ...] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(files: tuple[ImageFile, ...]) -> tuple[bytes, bytes]:
    """(the uncompressed tar, its gzip) with fixed times and owners: same files, same bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for item in files:
            parts = item.path.strip("/").split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                if folder not in dirs:
                    dirs.add(folder)
                    info = tarfile.TarInfo(folder)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                    tar.addfile(info)
            info = tarfile.TarInfo("/".join(parts))
            info.mode, info.mtime = item.mode, 0
            if item.symlink is not None:
                info.type, info.linkname = tarfile.SYMTYPE, item.symlink
                tar.addfile(info)
            else:
                info.size = len(item.data)
                tar.addfile(info, io.BytesIO(item.data))
    plain = raw.getvalue()
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as out:
        out.write(plain)
    return plain, packed.getvalue()


def write_archive(spec: ImageSpec, out: Path) -> str:
    """Writes ``spec`` as an OCI layout tar at ``out``; returns the manifest digest."""
    plain, packed = _layer(spec.files)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": list(spec.entrypoint), "Env": list(spec.env),
                   "User": spec.user, "Labels": spec.labels},
        "rootfs": {"type": "layers", "diff_ids": [_digest(plain)]},
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _digest(packed), "size": len(packed)}],
    }, sort_keys=True).encode()
    index = json.dumps({
        "schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": _digest(manifest), "size": len(manifest),
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]},
        } for name in spec.names]}, sort_keys=True).encode()
    blobs = {_digest(b): b for b in (config, manifest, packed)}
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w") as tar:
        entries = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index}
        entries |= {f"blobs/sha256/{d.split(':', 1)[1]}": b for d, b in blobs.items()}
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return _digest(manifest)
