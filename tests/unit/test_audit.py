"""The dependency audit's classification of pip-audit's outputs (tests/audit.py).

The texts below are what pip-audit 2.10.1 printed on this project's machine, over
requirements/runtime.txt with `--require-hashes --disable-pip --format json`: cut to a few
packages and to the traceback's last lines, otherwise verbatim. Vulnerable, clean, 503 and
read-timeout answers came from a stand-in OSV server on the loopback (`--osv-url`), since no
real database answers here.
"""

from __future__ import annotations

import json

from tests.audit import EXIT, Kind, Outcome, classify, combine, render

WARNINGS = (
    "WARNING:pip_audit._cli:The --require-hashes flag with --service osv only enforces hash "
    "presence NOT hash validity. Use --service pypi to enforce hash validity.\n"
)

# PyPI's per-version JSON answers 404 here: pip-audit skips every package, says it found
# nothing and exits 0.
PYPI_404_STDOUT = json.dumps({"dependencies": [
    {"name": "aiohappyeyeballs", "skip_reason":
        "Dependency not found on PyPI and could not be audited: aiohappyeyeballs (2.7.1)"},
    {"name": "aiohttp", "skip_reason":
        "Dependency not found on PyPI and could not be audited: aiohttp (3.14.5)"},
    {"name": "attrs", "skip_reason":
        "Dependency not found on PyPI and could not be audited: attrs (26.1.0)"},
], "fixes": []})
PYPI_404_STDERR = "No known vulnerabilities found\n"

# api.osv.dev does not resolve here: a traceback, exit 1, nothing on standard output.
OSV_DNS_STDERR = WARNINGS + """\
Traceback (most recent call last):
  File "/work/.venv/lib/python3.11/site-packages/urllib3/connection.py", line 239, in _new_conn
    sock = connection.create_connection(
socket.gaierror: [Errno -2] Name or service not known

The above exception was the direct cause of the following exception:

urllib3.exceptions.NameResolutionError: HTTPSConnection(host='api.osv.dev', port=443): \
Failed to resolve 'api.osv.dev' ([Errno -2] Name or service not known)

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/work/.venv/lib/python3.11/site-packages/requests/adapters.py", line 729, in send
    raise ConnectionError(e, request=request)
requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.osv.dev', port=443): Max \
retries exceeded with url: /v1/query (Caused by NameResolutionError("HTTPSConnection(\
host='api.osv.dev', port=443): Failed to resolve 'api.osv.dev' ([Errno -2] Name or service \
not known)"))
"""

PROXY_REFUSED_STDERR = """\
  File "/work/.venv/lib/python3.11/site-packages/requests/adapters.py", line 723, in send
    raise ProxyError(e, request=request)
requests.exceptions.ProxyError: HTTPSConnectionPool(host='pypi.org', port=443): Max retries \
exceeded with url: /pypi/aiohappyeyeballs/2.7.1/json (Caused by ProxyError('Unable to connect \
to proxy', NewConnectionError("HTTPSConnection(host='127.0.0.1', port=1): Failed to establish \
a new connection: [Errno 111] Connection refused")))
"""

READ_TIMEOUT_STDERR = WARNINGS + """\
  File "/work/.venv/lib/python3.11/site-packages/requests/adapters.py", line 742, in send
    raise ReadTimeout(e, request=request)
requests.exceptions.ReadTimeout: HTTPConnectionPool(host='127.0.0.1', port=18765): Read timed \
out. (read timeout=3)
"""

HTTP_503_STDERR = WARNINGS + """\
Traceback (most recent call last):
requests.exceptions.HTTPError: 503 Server Error: Service Unavailable for url: \
http://127.0.0.1:18765/v1/query

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/work/.venv/lib/python3.11/site-packages/pip_audit/_service/osv.py", line 79, in query
    raise ServiceError from http_error
pip_audit._service.interface.ServiceError
"""

# pip-audit's own message for a connect timeout (pip_audit/_service/pypi.py and _cli.py).
CONNECT_TIMEOUT_STDERR = """\
ERROR:pip_audit._cli:Could not connect to PyPI's vulnerability feed
ERROR:pip_audit._cli:Tip: your network may be blocking this service. Try another service \
with `-s SERVICE`
"""

VULN_STDOUT = json.dumps({"dependencies": [
    {"name": "aiohttp", "version": "3.14.5", "vulns": [
        {"id": "PYSEC-TEST-aiohttp", "fix_versions": ["99.0"], "aliases": ["CVE-2099-0001"],
         "description": "a made-up hole in aiohttp"}]},
    {"name": "attrs", "version": "26.1.0", "vulns": []},
    {"name": "jinja2", "version": "3.1.6", "vulns": [
        {"id": "PYSEC-TEST-jinja2", "fix_versions": ["99.0"], "aliases": ["CVE-2099-0001"],
         "description": "a made-up hole in jinja2"}]},
], "fixes": []})
VULN_STDERR = WARNINGS + "Found 2 known vulnerabilities in 2 packages\n"

CLEAN_STDOUT = json.dumps({"dependencies": [
    {"name": "aiohappyeyeballs", "version": "2.7.1", "vulns": []},
    {"name": "aiohttp", "version": "3.14.5", "vulns": []},
    {"name": "attrs", "version": "26.1.0", "vulns": []},
], "fixes": []})
CLEAN_STDERR = WARNINGS + "No known vulnerabilities found\n"

NO_HASH_STDERR = WARNINGS + (
    "ERROR:pip_audit._cli:requirement aiohttp==3.14.5 does not contain a hash\n")


def test_every_package_404_on_pypi_is_unreachable_not_clean() -> None:
    outcome = classify("pypi", 0, PYPI_404_STDOUT, PYPI_404_STDERR)
    assert outcome.kind is Kind.UNREACHABLE
    assert "404" in outcome.reason and "all 3 packages" in outcome.reason
    assert EXIT[outcome.kind] == 0
    (line,) = render(outcome)
    assert line.startswith("dependency audit: SKIPPED — ")
    assert "not reachable" in line and "no known vulnerabilities" not in line


def test_osv_name_resolution_failure_is_unreachable() -> None:
    outcome = classify("osv", 1, "", OSV_DNS_STDERR)
    assert outcome.kind is Kind.UNREACHABLE
    assert outcome.reason == (
        "ConnectionError to api.osv.dev: Failed to resolve 'api.osv.dev' "
        "([Errno -2] Name or service not known)")


def test_refused_proxy_timeouts_and_5xx_are_unreachable() -> None:
    refused = classify("pypi", 1, "", PROXY_REFUSED_STDERR)
    assert refused.kind is Kind.UNREACHABLE
    assert refused.reason == "ProxyError to pypi.org: [Errno 111] Connection refused"
    timed_out = classify("osv", 1, "", READ_TIMEOUT_STDERR)
    assert timed_out.kind is Kind.UNREACHABLE
    assert "Read timed out" in timed_out.reason
    unavailable = classify("osv", 1, "", HTTP_503_STDERR)
    assert unavailable.kind is Kind.UNREACHABLE
    assert unavailable.reason.startswith("HTTP 503 Server Error")
    connect = classify("pypi", 1, "", CONNECT_TIMEOUT_STDERR)
    assert connect.kind is Kind.UNREACHABLE
    assert connect.reason == "Could not connect to PyPI's vulnerability feed"


def test_killed_at_the_run_timeout_is_unreachable() -> None:
    outcome = classify("pypi", None, "", "", timeout=120)
    assert outcome.kind is Kind.UNREACHABLE
    assert outcome.reason == "no answer within 120 s"


def test_vulnerabilities_fail_and_are_listed() -> None:
    outcome = classify("osv", 1, VULN_STDOUT, VULN_STDERR)
    assert outcome.kind is Kind.VULNERABLE and EXIT[outcome.kind] == 1
    assert [(f.package, f.id) for f in outcome.findings] == [
        ("aiohttp", "PYSEC-TEST-aiohttp"), ("jinja2", "PYSEC-TEST-jinja2")]
    lines = render(outcome)
    assert lines[0] == ("dependency audit: FAILED — 2 known vulnerabilities in 2 of 3 packages "
                        "(osv):")
    assert lines[1] == ("  aiohttp 3.14.5: PYSEC-TEST-aiohttp (CVE-2099-0001), fixed in 99.0 "
                        "— a made-up hole in aiohttp")


def test_vulnerabilities_beside_skipped_packages_still_fail() -> None:
    answer = json.loads(VULN_STDOUT)
    answer["dependencies"].append({"name": "attrs", "skip_reason":
        "Dependency not found on PyPI and could not be audited: attrs (26.1.0)"})
    outcome = classify("pypi", 1, json.dumps(answer), "")
    assert outcome.kind is Kind.VULNERABLE
    assert render(outcome)[-1] == (
        "  not audited: Dependency not found on PyPI and could not be audited: attrs (26.1.0)")


def test_clean_answer() -> None:
    outcome = classify("osv", 0, CLEAN_STDOUT, CLEAN_STDERR)
    assert outcome == Outcome(Kind.CLEAN, "osv", packages=3)
    assert render(outcome) == ["dependency audit: 3 packages, no known vulnerabilities (osv)"]
    assert EXIT[outcome.kind] == 0


def test_some_packages_skipped_is_not_clean() -> None:
    answer = json.loads(CLEAN_STDOUT)
    answer["dependencies"][1] = json.loads(PYPI_404_STDOUT)["dependencies"][1]
    outcome = classify("pypi", 0, json.dumps(answer), PYPI_404_STDERR)
    assert outcome.kind is Kind.UNREACHABLE
    assert outcome.reason == ("no answer for 1 of 3 packages (aiohttp); "
                              "the other 2 have no known vulnerabilities")


def test_other_failures_are_errors_not_skips() -> None:
    no_hash = classify("pypi", 1, "", NO_HASH_STDERR)
    assert no_hash.kind is Kind.ERROR and EXIT[no_hash.kind] == 2
    assert "does not contain a hash" in no_hash.reason
    assert "WARNING" not in no_hash.reason
    assert classify("pypi", 0, json.dumps({"dependencies": [], "fixes": []}), "").kind is (
        Kind.ERROR)
    assert classify("pypi", 1, CLEAN_STDOUT, "Traceback: something else").kind is Kind.ERROR
    # A 400 is the service refusing pip-audit's query, not the service being away.
    bad_request = "requests.exceptions.HTTPError: 400 Client Error: Bad Request for url: x\n"
    assert classify("osv", 1, "", bad_request).kind is Kind.ERROR


def test_combine_takes_the_first_service_that_answered() -> None:
    pypi = classify("pypi", 0, PYPI_404_STDOUT, PYPI_404_STDERR)
    osv_clean = classify("osv", 0, CLEAN_STDOUT, CLEAN_STDERR)
    assert combine([pypi, osv_clean]) == osv_clean
    osv_away = classify("osv", 1, "", OSV_DNS_STDERR)
    both = combine([pypi, osv_away])
    assert both.kind is Kind.UNREACHABLE
    assert both.reason.startswith("pypi: pypi.org answered 404 ")
    assert "; osv: ConnectionError to api.osv.dev: " in both.reason
