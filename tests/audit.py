"""The dependency audit in `make test`: pip-audit over the runtime lock (requirements/runtime.txt,
what ships in the image), from the lock's pins and hashes alone: nothing is installed.

It asks PyPI's per-version JSON first and OSV when PyPI gives no answer. Outcomes:

- vulnerabilities found: they are printed and the exit status is 1 (make test fails);
- clean: "dependency audit: N packages, no known vulnerabilities (service)", exit 0;
- no database answered (connection errors, 404 for every version, timeouts): one line
  "dependency audit: SKIPPED — ..." with the reasons, exit 0. This is never printed as clean:
  pip-audit itself says "No known vulnerabilities found" and exits 0 when PyPI answers 404 for
  every package, so the outcome is read from its JSON (a skipped package is not an audited one)
  and from its error text, not from its exit status;
- anything else (pip-audit failing for another reason, output it does not explain): exit 2.

`classify` is the pure part (tests/unit/test_audit.py); `main` runs pip-audit.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Any

LOCK = "requirements/runtime.txt"
# In the order asked: PyPI's feed is pip-audit's default; OSV is the fallback.
SERVICES = ("pypi", "osv")
SOCKET_TIMEOUT = 10  # seconds, pip-audit's --timeout for each request
RUN_TIMEOUT = 120.0  # seconds for one whole pip-audit run (one service)

DATABASES = "pypi.org per-version JSON / osv.dev"
NOT_FOUND_ON_PYPI = "Dependency not found on PyPI and could not be audited"


class Kind(Enum):
    VULNERABLE = "vulnerable"
    CLEAN = "clean"
    UNREACHABLE = "unreachable"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    id: str
    aliases: tuple[str, ...] = ()
    fix_versions: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    service: str
    packages: int = 0  # packages in pip-audit's answer (audited or skipped)
    findings: tuple[Finding, ...] = ()
    reason: str = ""  # why unreachable, or what went wrong
    notes: tuple[str, ...] = ()  # e.g. packages skipped beside findings


# The last line of a traceback that means "no answer from the service": requests' network
# errors (DNS, refused, proxy, TLS, timeouts, redirects, a cut-off body).
_NETWORK_ERROR = re.compile(
    r"^requests\.exceptions\.(ConnectionError|ProxyError|SSLError|ConnectTimeout|ReadTimeout"
    r"|Timeout|TooManyRedirects|ChunkedEncodingError|RetryError): (?P<text>.*)$",
    re.MULTILINE,
)
# An HTTP status from the service itself; these mean it did not answer the query.
_HTTP_ERROR = re.compile(
    r"^requests\.exceptions\.HTTPError: (?P<status>\d{3}) (?P<text>.*)$", re.MULTILINE)
_UNANSWERED_STATUS = {404, 408, 429, 500, 502, 503, 504}
# pip-audit's own words for a connection failure it recognises (then it exits 1 with a tip).
_PIP_AUDIT_CONNECTION = re.compile(
    r"^ERROR:pip_audit[\w.]*:(?P<text>Could not connect to .*|PyPI is not redirecting properly)$",
    re.MULTILINE,
)


def _short_network_reason(kind: str, text: str) -> str:
    host = re.search(r"host='([^']+)'", text)
    where = f" to {host.group(1)}" if host else ""
    for pattern in (r"Failed to resolve '[^']+' \(\[Errno -?\d+\] [^)]*\)",
                    r"\[Errno -?\d+\] [^'\")]+",
                    r"Read timed out[^)]*\)?",
                    r"timed out"):
        cause = re.search(pattern, text)
        if cause:
            return f"{kind}{where}: {cause.group(0).strip()}"
    return f"{kind}{where}: {text[:200]}"


def _unreachable_reason(stderr: str) -> str | None:
    """Why the service gave no answer, from pip-audit's error text; None if it does not say."""
    network = list(_NETWORK_ERROR.finditer(stderr))
    if network:
        last = network[-1]
        return _short_network_reason(last.group(1), last.group("text"))
    http = list(_HTTP_ERROR.finditer(stderr))
    if http and int(http[-1].group("status")) in _UNANSWERED_STATUS:
        return f"HTTP {http[-1].group('status')} {http[-1].group('text')[:200]}"
    own = _PIP_AUDIT_CONNECTION.search(stderr)
    if own:
        return own.group("text")
    return None


def _tail(text: str, lines: int = 5) -> str:
    kept = [line for line in text.strip().splitlines() if not line.startswith("WARNING:")]
    return " | ".join(kept[-lines:]) or "(no output)"


def _json_answer(stdout: str) -> dict[str, Any] | None:
    try:
        answer = json.loads(stdout)
    except ValueError:
        return None
    if isinstance(answer, dict) and isinstance(answer.get("dependencies"), list):
        return answer
    return None


def classify(service: str, returncode: int | None, stdout: str, stderr: str,
             timeout: float = RUN_TIMEOUT) -> Outcome:
    """One pip-audit run's outcome, from its exit status (None: killed at `timeout`), its
    standard output (`--format json`) and its standard error."""
    if returncode is None:
        return Outcome(Kind.UNREACHABLE, service, reason=f"no answer within {timeout:g} s")
    answer = _json_answer(stdout)
    if answer is None:
        reason = _unreachable_reason(stderr)
        if reason is not None:
            return Outcome(Kind.UNREACHABLE, service, reason=reason)
        return Outcome(Kind.ERROR, service,
                       reason=f"pip-audit exited {returncode}: {_tail(stderr or stdout)}")

    deps = answer["dependencies"]
    findings: list[Finding] = []
    skipped: list[tuple[str, str]] = []
    for dep in deps:
        if "skip_reason" in dep:
            skipped.append((str(dep.get("name")), str(dep["skip_reason"])))
            continue
        for vuln in dep.get("vulns") or []:
            findings.append(Finding(
                package=str(dep.get("name")), version=str(dep.get("version")),
                id=str(vuln.get("id")), aliases=tuple(vuln.get("aliases") or ()),
                fix_versions=tuple(vuln.get("fix_versions") or ()),
                description=str(vuln.get("description") or "")))
    skip_notes = tuple(f"not audited: {reason}" for _, reason in skipped)

    if findings:
        return Outcome(Kind.VULNERABLE, service, packages=len(deps), findings=tuple(findings),
                       notes=skip_notes)
    if not deps:
        return Outcome(Kind.ERROR, service,
                       reason=f"pip-audit listed no packages (exit {returncode})")
    if skipped:
        not_found = [reason for _, reason in skipped if reason.startswith(NOT_FOUND_ON_PYPI)]
        example = re.sub(r"^.*: ", "", skipped[0][1])
        if len(skipped) == len(deps) and len(not_found) == len(deps):
            reason = (f"pypi.org answered 404 for the per-version JSON of all {len(deps)} "
                      f"packages (e.g. {example})")
        elif len(skipped) == len(deps):
            reason = f"none of the {len(deps)} packages was audited (e.g. {skipped[0][1]})"
        else:
            names = ", ".join(name for name, _ in skipped)
            reason = (f"no answer for {len(skipped)} of {len(deps)} packages ({names}); "
                      f"the other {len(deps) - len(skipped)} have no known vulnerabilities")
        return Outcome(Kind.UNREACHABLE, service, packages=len(deps), reason=reason)
    if returncode != 0:
        return Outcome(Kind.ERROR, service, packages=len(deps),
                       reason=f"pip-audit exited {returncode} with a clean answer: "
                              f"{_tail(stderr)}")
    return Outcome(Kind.CLEAN, service, packages=len(deps))


def combine(outcomes: list[Outcome]) -> Outcome:
    """The audit's outcome from the services asked in order: the first one that answered
    (clean, vulnerable or a failure of its own) decides; all unreachable is unreachable."""
    for outcome in outcomes:
        if outcome.kind is not Kind.UNREACHABLE:
            return outcome
    reason = "; ".join(f"{o.service}: {o.reason}" for o in outcomes)
    return Outcome(Kind.UNREACHABLE, "+".join(o.service for o in outcomes), reason=reason)


def render(outcome: Outcome) -> list[str]:
    """What the audit prints."""
    if outcome.kind is Kind.CLEAN:
        return [f"dependency audit: {outcome.packages} packages, no known vulnerabilities "
                f"({outcome.service})"]
    if outcome.kind is Kind.UNREACHABLE:
        return [f"dependency audit: SKIPPED — the vulnerability database ({DATABASES}) is not "
                f"reachable from this machine: {outcome.reason}"]
    if outcome.kind is Kind.ERROR:
        return [f"dependency audit: ERROR ({outcome.service}) — {outcome.reason}"]
    affected = len({f.package for f in outcome.findings})
    lines = [f"dependency audit: FAILED — {len(outcome.findings)} known "
             f"{'vulnerability' if len(outcome.findings) == 1 else 'vulnerabilities'} in "
             f"{affected} of {outcome.packages} packages ({outcome.service}):"]
    for f in outcome.findings:
        aliases = f" ({', '.join(f.aliases)})" if f.aliases else ""
        fixed = f"fixed in {', '.join(f.fix_versions)}" if f.fix_versions else "no fix yet"
        about = f" — {f.description[:160]}" if f.description else ""
        lines.append(f"  {f.package} {f.version}: {f.id}{aliases}, {fixed}{about}")
    lines.extend(f"  {note}" for note in outcome.notes)
    return lines


EXIT = {Kind.CLEAN: 0, Kind.UNREACHABLE: 0, Kind.VULNERABLE: 1, Kind.ERROR: 2}


def run_pip_audit(service: str, lock: str, timeout: float) -> Outcome:
    command = [
        sys.executable, "-m", "pip_audit",
        "--requirement", lock,
        "--require-hashes",  # every line of the lock is pinned and hashed
        "--disable-pip",  # audit the lock's pins as written: no resolution, no install
        "--vulnerability-service", service,
        "--format", "json",
        "--progress-spinner", "off",
        "--timeout", str(SOCKET_TIMEOUT),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return classify(service, None, "", "", timeout=timeout)
    return classify(service, done.returncode, done.stdout, done.stderr, timeout=timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="pip-audit over the runtime lock; see tests/audit.py")
    parser.add_argument("--lock", default=LOCK, help=f"requirements file (default {LOCK})")
    parser.add_argument("--timeout", type=float, default=RUN_TIMEOUT,
                        help=f"seconds for each service's run (default {RUN_TIMEOUT:g})")
    args = parser.parse_args(argv)
    outcomes: list[Outcome] = []
    for service in SERVICES:
        outcomes.append(run_pip_audit(service, args.lock, args.timeout))
        if outcomes[-1].kind is not Kind.UNREACHABLE:
            break
    outcome = combine(outcomes)
    for line in render(outcome):
        print(line, flush=True)
    return EXIT[outcome.kind]


if __name__ == "__main__":
    sys.exit(main())
