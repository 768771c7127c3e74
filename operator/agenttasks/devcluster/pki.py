"""Keys and certificates for the local control plane, made with the openssl command."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

SERVER_NAMES = (
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
    "IP:127.0.0.1",
    "IP:10.0.0.1",
    "IP:198.51.100.1",  # the real node's bridge, where pods reach the API server
)


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if not openssl:
        raise RuntimeError("the openssl command is needed to create the local cluster's keys")
    subprocess.run([openssl, *args], cwd=cwd, check=True, capture_output=True)


def ensure_ca(folder: Path, common_name: str, name: str = "ca") -> Path:
    """<name>.crt and <name>.key in ``folder``, a self-signed CA made once; returns the
    certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / f"{name}.crt").exists():
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                 "-keyout", f"{name}.key", "-out", f"{name}.crt", "-subj", f"/CN={common_name}",
                 cwd=folder)
    return folder / f"{name}.crt"


def _signed(folder: Path, name: str, subject: str, ca: Path,
            san: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """<name>.crt and <name>.key in ``folder``, signed by ``ca`` (its key beside it), made
    once; ``san``: subjectAltName entries such as DNS:localhost."""
    crt, key = folder / f"{name}.crt", folder / f"{name}.key"
    if not crt.exists():
        folder.mkdir(parents=True, exist_ok=True)
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key.name,
                 "-out", f"{name}.csr", "-subj", subject, cwd=folder)
        extension: list[str] = []
        if san:
            (folder / f"{name}.ext").write_text("subjectAltName=" + ",".join(san) + "\n")
            extension = ["-extfile", f"{name}.ext"]
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca.resolve()),
                 "-CAkey", str(ca.with_suffix(".key").resolve()), "-CAcreateserial",
                 "-days", "3650", *extension, "-out", crt.name, cwd=folder)
    return crt, key


def ensure_pki(pki: Path) -> str:
    """Creates the CA, the serving certificate, the service-account key pair and the
    admin token once; returns the admin token."""
    ensure_ca(pki, "agenttasks-local-ca")
    _signed(pki, "apiserver", "/CN=kube-apiserver", pki / "ca.crt", SERVER_NAMES)
    if not (pki / "sa.key").exists():
        _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
        _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    tokens = pki / "tokens.csv"
    if not tokens.exists():
        token = secrets.token_hex(24)
        tokens.write_text(f'{token},admin,admin,"system:masters"\n')
        tokens.chmod(0o600)
    return tokens.read_text().split(",", 1)[0]


def ensure_token(pki: Path, user: str, groups: str = "") -> str:
    """A bearer token for ``user`` in tokens.csv (read by the API server at its start)."""
    tokens = pki / "tokens.csv"
    for line in tokens.read_text().splitlines():
        token, name = line.split(",")[:2]
        if name == user:
            return token
    token = secrets.token_hex(24)
    with tokens.open("a") as out:
        out.write(f'{token},{user},{user},"{groups}"\n')
    return token


def ensure_client_cert(pki: Path, name: str, subject: str) -> tuple[Path, Path]:
    """A client certificate signed by the cluster CA: (certificate, key)."""
    return _signed(pki, name, subject, pki / "ca.crt")


FRONT_PROXY_CLIENT = "front-proxy-client"
"""The common name of the aggregator's client certificate (--requestheader-allowed-names)."""


def ensure_front_proxy(pki: Path) -> tuple[Path, Path, Path]:
    """The aggregator's own CA and the client certificate it calls extension API servers
    with: (CA certificate, client certificate, key). A CA of its own, as kubeadm makes:
    with the cluster CA, every client certificate could claim any user in headers."""
    ca = ensure_ca(pki, "agenttasks-local-front-proxy-ca", name="front-proxy-ca")
    crt, key = _signed(pki, FRONT_PROXY_CLIENT, f"/CN={FRONT_PROXY_CLIENT}", ca)
    return ca, crt, key


def ensure_serving_cert(pki: Path, name: str, dns_names: tuple[str, ...]) -> Path:
    """A directory ``name`` in ``pki`` with tls.crt and tls.key for ``dns_names``, signed by
    the CA there (ca.crt, ca.key), as a Service's serving certificate is."""
    folder = pki / name
    _signed(folder, "tls", f"/CN={dns_names[0]}", pki / "ca.crt",
            tuple(f"DNS:{n}" for n in dns_names))
    return folder
