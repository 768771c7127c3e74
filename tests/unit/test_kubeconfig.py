"""The one kubeconfig rule (kube/connection.py), over temporary kubeconfig files; and the
session built from it, against local TLS servers: tls-server-name, client certificates, and
a real HTTP CONNECT proxy (pure Python, loopback only)."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from agenttasks.devcluster.pki import ensure_client_cert, ensure_pki
from agenttasks.kube.client import Kube
from agenttasks.kube.kubeconfig import (
    Credentials,
    KubeconfigError,
    environment_proxy,
    in_cluster_credentials,
    load_credentials,
)

JSON = dict[str, Any]


def kubeconfig(path: Path, contexts: dict[str, tuple[str, str, str]],
               clusters: dict[str, JSON], users: dict[str, JSON] | None = None,
               current: str | None = None) -> Path:
    """contexts: name → (cluster, user, namespace)."""
    document: JSON = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in (users or {}).items()],
        "contexts": [{"name": n, "context": {"cluster": c, "user": u,
                                             **({"namespace": ns} if ns else {})}}
                     for n, (c, u, ns) in contexts.items()]}
    if current:
        document["current-context"] = current
    path.write_text(yaml.safe_dump(document))
    return path


def simple(path: Path, server: str = "https://api.example:6443", **cluster: Any) -> Path:
    return kubeconfig(path, {"main": ("c", "u", "")}, {"c": {"server": server, **cluster}},
                      {"u": {"token": "t0k"}}, current="main")


# --- which file, which context ----------------------------------------------------------------
def test_an_explicit_file_and_its_contexts(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config", {"dev": ("one", "alice", "reports"),
                                            "prod": ("two", "bob", "")},
                      {"one": {"server": "https://one:6443"}, "two": {"server": "https://two"}},
                      {"alice": {"token": "a"}, "bob": {"username": "bob", "password": "pw"}},
                      current="dev")
    env = {"KUBECONFIG": str(tmp_path / "ignored"), "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    dev = load_credentials(str(path), environ=env)
    assert (dev.server, dev.context, dev.namespace, dev.token) == (
        "https://one:6443", "dev", "reports", "a")
    assert dev.headers()["Authorization"] == "Bearer a"
    prod = load_credentials(str(path), "prod", environ=env)
    assert (prod.server, prod.namespace, prod.token) == ("https://two", "default", None)
    assert prod.headers()["Authorization"] == "Basic " + base64.b64encode(b"bob:pw").decode()
    with pytest.raises(KubeconfigError, match='context "nope" not found'):
        load_credentials(str(path), "nope", environ=env)
    with pytest.raises(KubeconfigError, match=r"kubeconfig .*missing does not exist"):
        load_credentials(str(tmp_path / "missing"), environ=env)


def test_kubeconfig_list_merges_first_file_wins(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ca.crt").write_text("CA of a")
    first = kubeconfig(tmp_path / "a" / "config", {"shared": ("c", "u", "first")},
                       {"c": {"server": "https://first", "certificate-authority": "ca.crt"}},
                       {"u": {"token": "first-token"}}, current="shared")
    second = kubeconfig(tmp_path / "second", {"shared": ("c", "u", "second"),
                                              "extra": ("c2", "u", "")},
                        {"c": {"server": "https://second"}, "c2": {"server": "https://c2"}},
                        {"u": {"token": "second-token"}}, current="extra")
    listed = f"{tmp_path / 'absent'}:{first}::{second}"
    env = {"KUBECONFIG": listed, "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    chosen = load_credentials(environ=env)
    # current-context, the context, its cluster and its user: all from the first file.
    assert (chosen.context, chosen.namespace, chosen.server, chosen.token) == (
        "shared", "first", "https://first", "first-token")
    assert chosen.ca_path == str(tmp_path / "a" / "ca.crt")  # relative to its own file
    extra = load_credentials(context="extra", environ=env)  # only the second file has it
    assert (extra.server, extra.token) == ("https://c2", "first-token")
    with pytest.raises(KubeconfigError, match="no file of KUBECONFIG"):
        load_credentials(environ={"KUBECONFIG": str(tmp_path / "absent")})


def test_in_cluster_before_home_and_home_last(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    simple(tmp_path / ".kube" / "config")
    home = {"HOME": str(tmp_path)}
    assert load_credentials(environ=home).server == "https://api.example:6443"
    # KUBERNETES_SERVICE_HOST: the ServiceAccount, even with a ~/.kube/config.
    with pytest.raises(KubeconfigError, match="in-cluster: cannot read the ServiceAccount"):
        load_credentials(environ={**home, "KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    with pytest.raises(KubeconfigError, match="needs a kubeconfig"):
        load_credentials(context="x", environ={**home, "KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    with pytest.raises(KubeconfigError, match="no kubeconfig: pass --kubeconfig"):
        load_credentials(environ={"HOME": str(tmp_path / "nobody")})


def test_in_cluster_credentials(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token\n")
    (tmp_path / "ca.crt").write_text("CA")
    (tmp_path / "namespace").write_text("agenttasks-system")
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "8443",
           "HTTPS_PROXY": "proxy.corp:3128", "NO_PROXY": ".svc"}
    found = in_cluster_credentials(env, tmp_path)
    assert (found.server, found.token, found.ca_path, found.namespace, found.source) == (
        "https://[fd00::1]:8443", "sa-token", str(tmp_path / "ca.crt"), "agenttasks-system",
        "in-cluster")
    assert found.proxy_url == "http://proxy.corp:3128"  # an IP is not under .svc
    (tmp_path / "namespace").unlink()
    assert in_cluster_credentials({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, tmp_path
                                  ).namespace == "default"


def test_cluster_and_user_fields(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    path = kubeconfig(
        tmp_path / "config", {"a": ("c", "u", ""), "b": ("insecure", "files", "")},
        {"c": {"server": "https://x", "certificate-authority-data":
               base64.b64encode(b"PEM").decode(), "certificate-authority": "ignored.crt",
               "tls-server-name": "kubernetes.default"},
         "insecure": {"server": "https://y", "insecure-skip-tls-verify": True,
                      "certificate-authority": "ca.crt"}},
        {"u": {"client-certificate-data": base64.encodebytes(b"CERT" * 30).decode(),
               "client-key-data": base64.b64encode(b"KEY").decode()},
         "files": {"tokenFile": "token", "client-certificate": "tls.crt",
                   "client-key": "tls.key"}}, current="a")
    a = load_credentials(str(path), environ={})
    assert (a.ca_data, a.ca_path, a.tls_server_name) == (b"PEM", None, "kubernetes.default")
    # (encodebytes breaks lines every 76 characters, as some tools write them)
    assert (a.certificate_data, a.private_key_data, a.token) == (b"CERT" * 30, b"KEY", None)
    assert "PEM" not in repr(a) and "KEY" not in repr(a)
    b = load_credentials(str(path), "b", environ={})
    assert (b.insecure, b.ca_path, b.token) == (True, None, "from-file")
    assert (b.certificate_path, b.private_key_path) == (str(tmp_path / "tls.crt"),
                                                        str(tmp_path / "tls.key"))
    broken = simple(tmp_path / "broken", **{"certificate-authority-data": "***"})
    with pytest.raises(KubeconfigError, match="not base64"):
        load_credentials(str(broken), environ={})
    no_server = kubeconfig(tmp_path / "ns", {"a": ("c", "u", "")}, {"c": {}}, current="a")
    with pytest.raises(KubeconfigError, match="has no server"):
        load_credentials(str(no_server), environ={})
    no_current = kubeconfig(tmp_path / "nc", {"a": ("c", "u", "")}, {"c": {"server": "x"}})
    with pytest.raises(KubeconfigError, match="no current-context"):
        load_credentials(str(no_current), environ={})


def test_an_exec_plugin_gives_the_token(tmp_path: Path) -> None:
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1",
                  "kind": "ExecCredential", "status": {"token": "from-plugin"}}
    path = kubeconfig(tmp_path / "config", {"a": ("c", "u", "")},
                      {"c": {"server": "https://x"}},
                      {"u": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                      "command": sys.executable,
                                      "args": ["-c", f"print({json.dumps(credential)!r})"]}}},
                      current="a")
    assert load_credentials(str(path), environ={}).token == "from-plugin"


def test_a_failing_exec_plugin_is_one_error(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config", {"a": ("c", "u", "")},
                      {"c": {"server": "https://x"}},
                      {"u": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                      "command": sys.executable,
                                      "args": ["-c", "import sys; sys.exit('no login')"]}}},
                      current="a")
    with pytest.raises(KubeconfigError, match=r"gave no credentials.*no login"):
        load_credentials(str(path), environ={})
    # The loader's log line is part of that error, not a second line on the CLI's stderr.
    cli = subprocess.run([sys.executable, "-m", "agenttasks", "list", "--kubeconfig",
                          str(path)], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1
    assert cli.stderr.splitlines() == [
        f'error: kubeconfig {path}, context "a": the user\'s exec plugin or auth-provider '
        "gave no credentials (exec: process returned 1. no login)"]


# --- proxies ----------------------------------------------------------------------------------
def test_proxy_url_wins_over_the_environment(tmp_path: Path) -> None:
    env = {"HTTPS_PROXY": "http://env-proxy:3128"}
    given = simple(tmp_path / "given", **{"proxy-url": "http://corp-proxy:8080"})
    assert load_credentials(str(given), environ=env).proxy_url == "http://corp-proxy:8080"
    assert load_credentials(str(simple(tmp_path / "env")), environ=env
                            ).proxy_url == "http://env-proxy:3128"
    socks = simple(tmp_path / "socks", **{"proxy-url": "socks5://127.0.0.1:1080"})
    with pytest.raises(KubeconfigError, match="not supported"):
        load_credentials(str(socks), environ={})


@pytest.mark.parametrize(("server", "env", "proxy"), [
    ("https://api.example:6443", {"HTTPS_PROXY": "http://p:3128"}, "http://p:3128"),
    ("https://api.example:6443", {"https_proxy": "p:3128"}, "http://p:3128"),
    ("https://api.example:6443", {"HTTP_PROXY": "http://p:3128"}, None),  # https needs HTTPS_
    ("http://api.example:8080", {"HTTP_PROXY": "http://p:3128"}, "http://p:3128"),
    ("https://127.0.0.1:6443", {"HTTPS_PROXY": "http://p:3128"}, None),  # loopback
    ("https://localhost:6443", {"HTTPS_PROXY": "http://p:3128"}, None),
    ("https://[::1]:6443", {"HTTPS_PROXY": "http://p:3128"}, None),
    ("https://api.example", {"HTTPS_PROXY": "p", "NO_PROXY": "*"}, None),
    ("https://api.example", {"HTTPS_PROXY": "p", "NO_PROXY": "other, api.example"}, None),
    ("https://x.api.example", {"HTTPS_PROXY": "p", "NO_PROXY": "api.example"}, None),
    ("https://api.example", {"HTTPS_PROXY": "p", "NO_PROXY": ".api.example"}, "http://p"),
    ("https://x.api.example", {"HTTPS_PROXY": "p", "no_proxy": "*.api.example"}, None),
    ("https://notapi.example", {"HTTPS_PROXY": "p", "NO_PROXY": "api.example"}, "http://p"),
    ("https://api.example:6443", {"HTTPS_PROXY": "p", "NO_PROXY": "api.example:443"},
     "http://p"),
    ("https://api.example:6443", {"HTTPS_PROXY": "p", "NO_PROXY": "api.example:6443"}, None),
    ("https://10.1.2.3:6443", {"HTTPS_PROXY": "p", "NO_PROXY": "10.0.0.0/8"}, None),
    ("https://11.1.2.3:6443", {"HTTPS_PROXY": "p", "NO_PROXY": "10.0.0.0/8"}, "http://p"),
    ("https://10.1.2.3:6443", {"HTTPS_PROXY": "p", "NO_PROXY": "10.1.2.3"}, None),
])
def test_environment_proxy(server: str, env: dict[str, str], proxy: str | None) -> None:
    assert environment_proxy(server, env) == proxy


# --- against local TLS servers ----------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, and a server certificate for localhost, kubernetes, 127.0.0.1 and others
    (the local control plane's names)."""
    folder = tmp_path_factory.mktemp("pki")
    ensure_pki(folder)
    return folder


Seen = dict[str, list[str]]


@asynccontextmanager
async def tls_server(pki: Path, seen: Seen, client_certs: bool = False
                     ) -> AsyncIterator[int]:
    """An HTTPS server answering /version; it records the SNI names it was asked for, the
    Authorization headers, and the client certificates' subjects."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki / "apiserver.crt", pki / "apiserver.key")

    def sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        seen["sni"].append(str(name))

    context.sni_callback = sni
    if client_certs:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki / "ca.crt")

    async def version(request: web.Request) -> web.Response:
        seen["auth"].append(request.headers.get("Authorization", ""))
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        subject = dict(item[0] for item in (peer or {}).get("subject", ()))
        seen["client"].append(str(subject.get("commonName", "")))
        return web.json_response({"gitVersion": "v-test"})

    app = web.Application()
    app.router.add_get("/version", version)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


def fresh_seen() -> Seen:
    return {"sni": [], "auth": [], "client": [], "connect": []}


async def serve_connect_proxy(seen: list[str]) -> asyncio.Server:
    """An HTTP CONNECT proxy on 127.0.0.1 that records each CONNECT line and tunnels the
    bytes; nothing else."""
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = (await reader.readline()).decode().strip()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass  # the request's headers
        method, target, _ = request.split(" ", 2)
        host, port = target.rsplit(":", 1)
        if method != "CONNECT" or host != "127.0.0.1":
            writer.write(b"HTTP/1.1 403 Forbidden\r\n\r\n")
            writer.close()
            return
        seen.append(request)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def ask_version(credentials: Credentials) -> Callable[[], Any]:
    async def call() -> Any:
        kube = Kube(None, loader=lambda: credentials)
        try:
            return await kube.version()
        finally:
            await kube.close()
    return call


def run(coroutine: Callable[[], Any]) -> Any:
    return asyncio.run(coroutine())


def ca_config(tmp_path: Path, pki: Path, port: int, **cluster: Any) -> Path:
    return simple(tmp_path / "config", f"https://127.0.0.1:{port}",
                  **{"certificate-authority": str(pki / "ca.crt"), **cluster})


def test_tls_server_name_is_the_name_checked_and_sent(tmp_path: Path, pki: Path) -> None:
    seen = fresh_seen()

    async def scenario() -> None:
        async with tls_server(pki, seen) as port:
            named = load_credentials(str(ca_config(tmp_path, pki, port,
                                                   **{"tls-server-name": "kubernetes"})),
                                     environ={})
            assert (await ask_version(named)())["gitVersion"] == "v-test"
            wrong = load_credentials(str(ca_config(
                tmp_path, pki, port, **{"tls-server-name": "not-the-server.example"})),
                environ={})
            with pytest.raises(Exception, match="certificate verify failed"):
                await ask_version(wrong)()
            insecure = load_credentials(str(simple(
                tmp_path / "insecure", f"https://127.0.0.1:{port}",
                **{"insecure-skip-tls-verify": True, "tls-server-name": "wrong.example"})),
                environ={})
            assert (await ask_version(insecure)())["gitVersion"] == "v-test"

    run(scenario)
    assert seen["sni"] == ["kubernetes", "not-the-server.example", "wrong.example"]
    assert seen["auth"] == ["Bearer t0k", "Bearer t0k"]


def test_client_certificate_from_data(tmp_path: Path, pki: Path) -> None:
    cert, key = ensure_client_cert(pki, "alice", "/CN=alice/O=team")
    seen = fresh_seen()

    async def scenario() -> None:
        async with tls_server(pki, seen, client_certs=True) as port:
            path = kubeconfig(
                tmp_path / "config", {"a": ("c", "alice", "")},
                {"c": {"server": f"https://127.0.0.1:{port}",
                       "certificate-authority-data": base64.b64encode(
                           (pki / "ca.crt").read_bytes()).decode()}},
                {"alice": {"client-certificate-data": base64.b64encode(
                    cert.read_bytes()).decode(), "client-key-data": base64.b64encode(
                    key.read_bytes()).decode()}}, current="a")
            await ask_version(load_credentials(str(path), environ={}))()

    run(scenario)
    assert seen["client"] == ["alice"] and seen["auth"] == [""]


def test_a_request_goes_through_the_connect_proxy(tmp_path: Path, pki: Path) -> None:
    seen = fresh_seen()

    async def scenario() -> None:
        proxy = await serve_connect_proxy(seen["connect"])
        proxy_port = proxy.sockets[0].getsockname()[1]
        try:
            async with tls_server(pki, seen) as port:
                # A loopback server is never proxied from the environment: only proxy-url.
                config = ca_config(tmp_path, pki, port, **{
                    "proxy-url": f"http://127.0.0.1:{proxy_port}",
                    "tls-server-name": "kubernetes"})
                credentials = load_credentials(str(config), environ={
                    "HTTPS_PROXY": "http://127.0.0.1:1"})  # would fail if it were used
                assert (await ask_version(credentials)())["gitVersion"] == "v-test"
                seen["port"] = [str(port)]
        finally:
            proxy.close()
            await proxy.wait_closed()

    run(scenario)
    assert seen["connect"] == [f"CONNECT 127.0.0.1:{seen['port'][0]} HTTP/1.1"]
    assert seen["sni"] == ["kubernetes"] and seen["auth"] == ["Bearer t0k"]


# --- the kubernetes package's client, for callers not moved yet -------------------------------
