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


def ensure_ca(folder: Path, common_name: str) -> Path:
    """ca.crt and ca.key in ``folder``, made once; returns the certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "ca.crt").exists():
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                 "-keyout", "ca.key", "-out", "ca.crt", "-subj", f"/CN={common_name}",
                 cwd=folder)
    return folder / "ca.crt"


def ensure_pki(pki: Path) -> str:
    """Creates the CA, the serving certificate, the service-account key pair and the
    admin token once; returns the admin token."""
    ensure_ca(pki, "agenttasks-local-ca")
    if not (pki / "apiserver.crt").exists():
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key",
                 "-out", "apiserver.csr", "-subj", "/CN=kube-apiserver", cwd=pki)
        (pki / "san.ext").write_text("subjectAltName=" + ",".join(SERVER_NAMES) + "\n")
        _openssl("x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "3650", "-extfile", "san.ext",
                 "-out", "apiserver.crt", cwd=pki)
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
    crt, key = pki / f"{name}.crt", pki / f"{name}.key"
    if not crt.exists():
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key.name,
                 "-out", f"{name}.csr", "-subj", subject, cwd=pki)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "3650", "-out", crt.name, cwd=pki)
    return crt, key


FRONT_PROXY_CLIENT = "front-proxy-client"
"""The common name of the aggregator's client certificate (--requestheader-allowed-names)."""


def ensure_front_proxy(pki: Path) -> tuple[Path, Path, Path]:
    """The aggregator's own CA and the client certificate it calls extension API servers
    with: (CA certificate, client certificate, key). A CA of its own, as kubeadm makes:
    with the cluster CA, every client certificate could claim any user in headers."""
    ca, crt, key = (pki / "front-proxy-ca.crt", pki / f"{FRONT_PROXY_CLIENT}.crt",
                    pki / f"{FRONT_PROXY_CLIENT}.key")
    if not ca.exists():
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                 "-keyout", "front-proxy-ca.key", "-out", ca.name,
                 "-subj", "/CN=agenttasks-local-front-proxy-ca", cwd=pki)
    if not crt.exists():
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key.name,
                 "-out", f"{FRONT_PROXY_CLIENT}.csr", "-subj", f"/CN={FRONT_PROXY_CLIENT}",
                 cwd=pki)
        _openssl("x509", "-req", "-in", f"{FRONT_PROXY_CLIENT}.csr", "-CA", ca.name,
                 "-CAkey", "front-proxy-ca.key", "-CAcreateserial", "-days", "3650",
                 "-out", crt.name, cwd=pki)
    return ca, crt, key


def ensure_serving_cert(pki: Path, name: str, dns_names: tuple[str, ...]) -> Path:
    """A directory ``name`` in ``pki`` with tls.crt and tls.key for ``dns_names``, signed by
    the CA there (ca.crt, ca.key), as a Service's serving certificate is."""
    folder = pki / name
    if not (folder / "tls.crt").exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "san.ext").write_text(
            "subjectAltName=" + ",".join(f"DNS:{n}" for n in dns_names) + "\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tls.key",
                 "-out", "tls.csr", "-subj", f"/CN={dns_names[0]}", cwd=folder)
        _openssl("x509", "-req", "-in", "tls.csr", "-CA", "../ca.crt", "-CAkey", "../ca.key",
                 "-CAcreateserial", "-days", "3650", "-extfile", "san.ext",
                 "-out", "tls.crt", cwd=folder)
    return folder
