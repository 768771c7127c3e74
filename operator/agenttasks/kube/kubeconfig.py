"""The kubeconfig rule: where the API server is, and how to authenticate to it.

One rule for the operator and the CLI (`load_credentials`):

1. an explicit path (``--kubeconfig``): that file;
2. else ``$KUBECONFIG``: files separated by ``os.pathsep``, merged as kubectl merges them:
   files that do not exist are skipped, and for each named cluster, user and context, and
   for ``current-context``, the first file that sets it wins;
3. else in-cluster when ``KUBERNETES_SERVICE_HOST`` is set: the pod's ServiceAccount;
4. else ``~/.kube/config``.

The context is the one asked for (``--context``) or ``current-context``; the namespace is the
context's, else ``default`` (in-cluster: the ServiceAccount's). Relative paths in a file are
relative to that file. The cluster's ``proxy-url`` is used as given; without one,
``HTTPS_PROXY``/``HTTP_PROXY`` and ``NO_PROXY`` apply as Go's net/http (kubectl) reads them,
which never proxies ``localhost`` or loopback addresses. ``tls-server-name`` is the name the
server's certificate is checked against, and sent as SNI.

The ``kubernetes`` package is used here, and nowhere else in the operator or the CLI, for one
thing: running a user's ``exec`` credential plugin or ``auth-provider`` (its kubeconfig
loader implements them). (The tests use its client as a user would; the operator does not.)
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
import ssl
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

JSON = dict[str, Any]
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_NAMESPACE = "default"
PROXY_SCHEMES = ("http", "https")  # what aiohttp can tunnel through (kubectl also: socks5)


class KubeconfigError(Exception):
    """No usable kubeconfig: missing, unreadable, or without what a connection needs."""


@dataclass(frozen=True)
class Credentials:
    """Where the API server is and how to authenticate to it. Paths and data are never both
    set for one item (the field names are kopf.ConnectionInfo's)."""

    server: str
    namespace: str = DEFAULT_NAMESPACE
    context: str | None = None
    ca_path: str | None = None
    ca_data: bytes | None = field(default=None, repr=False)
    """PEM."""
    insecure: bool = False
    tls_server_name: str | None = None
    proxy_url: str | None = None
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    certificate_path: str | None = None
    certificate_data: bytes | None = field(default=None, repr=False)
    private_key_path: str | None = None
    private_key_data: bytes | None = field(default=None, repr=False)
    source: str = ""
    """Where they were read: the kubeconfig file(s), or ``in-cluster``."""

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.username is not None and self.password is not None:
            pair = f"{self.username}:{self.password}".encode()
            headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
        return headers

    def ssl_context(self) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(
                cafile=self.ca_path, cadata=self.ca_data.decode() if self.ca_data else None)
            if self.certificate_path or self.certificate_data:
                # ssl reads a certificate chain only from files: data lives on disk just for
                # this call.
                with tempfile.TemporaryDirectory(prefix="agenttasks-") as folder:
                    context.load_cert_chain(
                        self.certificate_path or _write(folder, "tls.crt", self.certificate_data),
                        self.private_key_path or _write(folder, "tls.key", self.private_key_data))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise KubeconfigError(f"{self.source}: unusable certificate or key ({exc})") from None
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _write(folder: str, name: str, data: bytes | None) -> str:
    path = Path(folder) / name
    path.touch(0o600)
    path.write_bytes(data or b"")
    return str(path)


# --- the rule ---------------------------------------------------------------------------------
def load_credentials(kubeconfig: str | None = None, context: str | None = None, *,
                     environ: Mapping[str, str] | None = None) -> Credentials:
    """The credentials by the rule above; ``environ`` defaults to the process's."""
    env = os.environ if environ is None else environ
    if kubeconfig:
        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            raise KubeconfigError(f"kubeconfig {kubeconfig} does not exist")
        return _from_files([path], context, env)
    listed = [Path(p).expanduser() for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        present = [p for p in listed if p.is_file()]
        if not present:
            raise KubeconfigError(f"kubeconfig: no file of KUBECONFIG={env['KUBECONFIG']} "
                                  "exists")
        return _from_files(present, context, env)
    if env.get("KUBERNETES_SERVICE_HOST"):
        if context:
            raise KubeconfigError(f"context {context!r} needs a kubeconfig; in a pod without "
                                  "one the ServiceAccount is used, which has no contexts")
        return in_cluster_credentials(env)
    default = Path(env.get("HOME") or Path.home()) / ".kube" / "config"
    if default.is_file():
        return _from_files([default], context, env)
    raise KubeconfigError("no kubeconfig: pass --kubeconfig, set KUBECONFIG, or create "
                          "~/.kube/config")


def in_cluster_credentials(environ: Mapping[str, str],
                           directory: Path = SERVICE_ACCOUNT_DIR) -> Credentials:
    """The pod's ServiceAccount: its token, the cluster CA and its namespace."""
    host = environ["KUBERNETES_SERVICE_HOST"]
    host = f"[{host}]" if ":" in host else host
    server = f"https://{host}:{environ.get('KUBERNETES_SERVICE_PORT') or '443'}"
    try:
        token = (directory / "token").read_text().strip()
    except OSError as exc:
        raise KubeconfigError(f"in-cluster: cannot read the ServiceAccount token ({exc})"
                              ) from None
    ca = directory / "ca.crt"
    namespace_file = directory / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else ""
    return Credentials(server=server, namespace=namespace or DEFAULT_NAMESPACE,
                       ca_path=str(ca) if ca.is_file() else None, token=token,
                       proxy_url=environment_proxy(server, environ), source="in-cluster")


Entry = tuple[JSON, Path]
"""A named cluster, user or context, and the folder of the file that defined it."""


@dataclass
class _Merged:
    source: str
    clusters: dict[str, Entry] = field(default_factory=dict)
    users: dict[str, Entry] = field(default_factory=dict)
    contexts: dict[str, Entry] = field(default_factory=dict)
    current_context: str = ""


def _merge(paths: list[Path]) -> _Merged:
    """kubectl's merge: the first file to set a name (or current-context) wins."""
    merged = _Merged(source=os.pathsep.join(str(p) for p in paths))
    for path in paths:
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise KubeconfigError(f"kubeconfig {path} cannot be read: {exc}") from None
        if not isinstance(document, dict):
            raise KubeconfigError(f"kubeconfig {path} is not a kubeconfig (no mapping)")
        for section, inner, into in (("clusters", "cluster", merged.clusters),
                                     ("users", "user", merged.users),
                                     ("contexts", "context", merged.contexts)):
            for item in document.get(section) or []:
                if isinstance(item, dict) and item.get("name") and item["name"] not in into:
                    into[str(item["name"])] = (dict(item.get(inner) or {}), path.parent)
        merged.current_context = merged.current_context or str(
            document.get("current-context") or "")
    return merged


def _from_files(paths: list[Path], context: str | None, env: Mapping[str, str]) -> Credentials:
    merged = _merge(paths)
    name = context or merged.current_context
    if not name:
        raise KubeconfigError(f"kubeconfig {merged.source} has no current-context: pass "
                              "--context")
    if name not in merged.contexts:
        raise KubeconfigError(f'context "{name}" not found in kubeconfig {merged.source}')
    chosen, _ = merged.contexts[name]
    cluster_name = str(chosen.get("cluster") or "")
    if cluster_name not in merged.clusters:
        raise KubeconfigError(f'cluster "{cluster_name}" of context "{name}" not found in '
                              f"kubeconfig {merged.source}")
    cluster, cluster_dir = merged.clusters[cluster_name]
    user, user_dir = merged.users.get(str(chosen.get("user") or ""), ({}, cluster_dir))
    where = f'kubeconfig {merged.source}, context "{name}"'
    server = str(cluster.get("server") or "")
    if not server:
        raise KubeconfigError(f"{where}: the cluster has no server")
    insecure = bool(cluster.get("insecure-skip-tls-verify"))
    ca_path, ca_data = _file_or_data(cluster, "certificate-authority", cluster_dir, where)
    cert_path, cert_data = _file_or_data(user, "client-certificate", user_dir, where)
    key_path, key_data = _file_or_data(user, "client-key", user_dir, where)
    token = str(user.get("token") or "") or _token_file(user, user_dir, where)
    if not token and ("exec" in user or "auth-provider" in user):
        token, plugin_cert, plugin_key = _plugin_credentials(user, cluster, user_dir, where)
        cert_path, cert_data = (plugin_cert, None) if plugin_cert else (cert_path, cert_data)
        key_path, key_data = (plugin_key, None) if plugin_key else (key_path, key_data)
    proxy = str(cluster.get("proxy-url") or "") or environment_proxy(server, env)
    if proxy and urlsplit(proxy).scheme not in PROXY_SCHEMES:
        raise KubeconfigError(f"{where}: proxy {proxy} is not supported (only "
                              f"{' and '.join(PROXY_SCHEMES)} proxies)")
    return Credentials(
        server=server, namespace=str(chosen.get("namespace") or DEFAULT_NAMESPACE),
        context=name, ca_path=None if insecure else ca_path,
        ca_data=None if insecure else ca_data, insecure=insecure,
        tls_server_name=str(cluster.get("tls-server-name") or "") or None,
        proxy_url=proxy or None, token=token or None,
        username=_str_or_none(user.get("username")), password=_str_or_none(user.get("password")),
        certificate_path=cert_path, certificate_data=cert_data, private_key_path=key_path,
        private_key_data=key_data, source=merged.source)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _file_or_data(section: JSON, key: str, folder: Path, where: str
                  ) -> tuple[str | None, bytes | None]:
    """``<key>-data`` (base64, preferred as kubectl does) or the file ``<key>``."""
    data = section.get(f"{key}-data")
    if data:
        try:
            # Line breaks and spaces are not data (Go's decoder skips them too).
            return None, base64.b64decode("".join(str(data).split()), validate=True)
        except ValueError:
            raise KubeconfigError(f"{where}: {key}-data is not base64") from None
    path = section.get(key)
    return (str(folder / Path(str(path)).expanduser()), None) if path else (None, None)


def _token_file(user: JSON, folder: Path, where: str) -> str:
    if not user.get("tokenFile"):
        return ""
    try:
        return (folder / str(user["tokenFile"])).read_text().strip()
    except OSError as exc:
        raise KubeconfigError(f"{where}: cannot read tokenFile ({exc})") from None


def _plugin_credentials(user: JSON, cluster: JSON, folder: Path, where: str
                        ) -> tuple[str, str | None, str | None]:
    """(token, certificate file, key file) from an exec plugin or an auth-provider, run by
    the kubernetes package's loader (see the module's docstring)."""
    from kubernetes import client
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigLoader

    only = {k: user[k] for k in ("exec", "auth-provider") if k in user}
    document = {"current-context": "c",
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": only}]}
    configuration = client.Configuration()
    # The loader logs a failed plugin (on the root logger) and carries on without
    # credentials: its message belongs in our error, not on stderr as a second line.
    failures = _Collected()
    logging.getLogger().addHandler(failures)
    try:
        KubeConfigLoader(document, config_base_path=str(folder)).load_and_set(configuration)
    except (ConfigException, OSError, ValueError) as exc:
        raise KubeconfigError(f"{where}: {exc}") from None
    finally:
        logging.getLogger().removeHandler(failures)
    token = str(configuration.api_key.get("BearerToken") or "").removeprefix("Bearer ")
    if not token and not configuration.cert_file:
        why = "; ".join(failures.messages) or "no token and no client certificate"
        raise KubeconfigError(f"{where}: the user's exec plugin or auth-provider gave no "
                              f"credentials ({why})")
    return token, configuration.cert_file, configuration.key_file


class _Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split()))


# --- proxies from the environment --------------------------------------------------------------
def environment_proxy(server: str, environ: Mapping[str, str]) -> str | None:
    """The proxy for ``server`` from HTTPS_PROXY (https) or HTTP_PROXY (http), unless NO_PROXY
    or a loopback host exempts it; as Go's net/http reads them."""
    url = urlsplit(server)
    names = ("HTTPS_PROXY", "https_proxy") if url.scheme == "https" else (
        "HTTP_PROXY", "http_proxy")
    proxy = next((environ[n] for n in names if environ.get(n)), "")
    if not proxy or not url.hostname:
        return None
    no_proxy = environ.get("NO_PROXY") or environ.get("no_proxy") or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    if _exempt(url.hostname.lower(), port, no_proxy):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _exempt(host: str, port: int, no_proxy: str) -> bool:
    ip = _ip(host)
    if host == "localhost" or (ip is not None and ip.is_loopback):
        return True
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if entry == "*":
            return True
        if not entry:
            continue
        if "/" in entry:  # a CIDR range
            try:
                if ip is not None and ip in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        if _ip(entry) is not None:
            if ip == _ip(entry):
                return True
            continue
        name, _, entry_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name.removeprefix("*")
        # "example.com" is the domain and its subdomains; ".example.com" only subdomains.
        if host.endswith(name if name.startswith(".") else f".{name}") or host == name:
            return True
    return False


def _has_port(entry: str) -> bool:
    return ":" in entry and entry.rpartition(":")[2].isdigit()


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


Loader = Callable[[], Credentials]
"""Where a connection gets its credentials (the rule, or ones the CLI has read)."""
