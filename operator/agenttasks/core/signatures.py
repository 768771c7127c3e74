"""Verifying that a webhook delivery was signed by someone who holds the trigger's secret.

Three schemes:

- ``standard-webhooks`` (https://www.standardwebhooks.com): ``webhook-id``, ``webhook-timestamp``
  and ``webhook-signature`` headers; the signature covers ``{id}.{timestamp}.{body}`` so a
  captured delivery cannot be replayed outside the timestamp tolerance. Delivery id: webhook-id.
- ``github``: ``X-Hub-Signature-256: sha256=<hex>`` over the body; delivery id: the
  ``X-GitHub-Delivery`` header.
- ``hmac-sha256``: a configured header carrying the hex HMAC-SHA256 of the body (an optional
  ``sha256=`` prefix is accepted). Such senders give no delivery id, so the id is the sha256 of
  the body: an identical body counts as the same delivery, within a dedup window that the
  caller decides (a legitimate repeat of the same body after that window is a new delivery).

Nothing returned here contains the secret or a computed signature: messages end up in
Events, logs and HTTP responses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

STANDARD_WEBHOOKS = "standard-webhooks"
GITHUB = "github"
HMAC_SHA256 = "hmac-sha256"
SCHEMES = frozenset({STANDARD_WEBHOOKS, GITHUB, HMAC_SHA256})

# The Standard Webhooks reference libraries accept five minutes either way.
TIMESTAMP_TOLERANCE = timedelta(minutes=5)

_WHSEC_PREFIX = "whsec_"


class Reason(StrEnum):
    MISSING_SIGNATURE = "MissingSignature"
    INVALID_SIGNATURE = "InvalidSignature"
    MISSING_TIMESTAMP = "MissingTimestamp"
    INVALID_TIMESTAMP = "InvalidTimestamp"
    TIMESTAMP_OUT_OF_TOLERANCE = "TimestampOutOfTolerance"
    MISSING_DELIVERY_ID = "MissingDeliveryId"
    MALFORMED_SECRET = "MalformedSecret"
    UNKNOWN_SCHEME = "UnknownScheme"
    MISSING_HEADER_NAME = "MissingHeaderName"


# Refusals that are the trigger's (our) fault rather than the sender's: worth a 5xx, not a 401.
CONFIGURATION_REASONS = frozenset(
    {Reason.MALFORMED_SECRET, Reason.UNKNOWN_SCHEME, Reason.MISSING_HEADER_NAME}
)


@dataclass(frozen=True)
class Verdict:
    """Accepted with a ``delivery_id``, or refused with a ``reason`` and a human ``message``.

    ``authentic`` is true when the signature matched (always, for an accepted delivery): a
    refusal only the secret's holder can see may say why; any other must look like an
    unknown trigger, so that it does not tell a stranger which triggers exist.
    """

    accepted: bool
    delivery_id: str = ""
    reason: str = ""
    message: str = ""
    authentic: bool = False

    @classmethod
    def accept(cls, delivery_id: str) -> Verdict:
        return cls(accepted=True, delivery_id=delivery_id, authentic=True)

    @classmethod
    def refuse(cls, reason: Reason, message: str, authentic: bool = False) -> Verdict:
        return cls(accepted=False, reason=reason, message=message, authentic=authentic)


class MalformedSecretError(ValueError):
    """The Secret's value cannot be turned into an HMAC key. Never carries the value itself."""


def signing_key(scheme: str, secret: bytes) -> bytes:
    """The HMAC key for ``scheme`` from a Secret's raw value.

    standard-webhooks secrets are ``whsec_<base64>`` (the key is the decoded bytes); a value
    without the prefix is taken as base64 too, and surrounding whitespace (a trailing newline
    from ``echo``) is ignored since it cannot be part of base64. The other schemes use the
    value's bytes exactly as they are. An empty key is refused: anyone could sign with it.
    """
    if scheme != STANDARD_WEBHOOKS:
        if not secret:
            raise MalformedSecretError("the secret is empty")
        return secret
    try:
        text = secret.decode("ascii").strip()
    except UnicodeDecodeError:
        raise MalformedSecretError("a standard-webhooks secret must be ASCII base64") from None
    text = text.removeprefix(_WHSEC_PREFIX)
    try:
        # Senders often drop base64 padding; re-add it rather than refuse.
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise MalformedSecretError(
            "a standard-webhooks secret must be 'whsec_' followed by base64"
        ) from None
    if not key:
        raise MalformedSecretError("the secret is empty")
    return key


def verify(
    scheme: str,
    secret: bytes,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    header_name: str | None = None,
) -> Verdict:
    """Whether ``body`` with ``headers`` is an authentic delivery, and its delivery id.

    ``secret`` is the Secret's raw value (see `signing_key`). ``header_name`` is required for
    ``hmac-sha256`` and ignored otherwise. A naive ``now`` is taken as UTC.
    """
    if scheme not in SCHEMES:
        return Verdict.refuse(Reason.UNKNOWN_SCHEME, f"unknown signature scheme {scheme!r}")
    try:
        key = signing_key(scheme, secret)
    except MalformedSecretError as error:
        return Verdict.refuse(Reason.MALFORMED_SECRET, str(error))
    lowered = {name.lower(): value for name, value in headers.items()}
    if scheme == STANDARD_WEBHOOKS:
        return _verify_standard_webhooks(key, lowered, body, now)
    if scheme == GITHUB:
        return _verify_github(key, lowered, body)
    if not header_name:
        return Verdict.refuse(
            Reason.MISSING_HEADER_NAME, "the hmac-sha256 scheme needs a signature header name"
        )
    return _verify_hmac_sha256(key, lowered, body, header_name)


def _verify_standard_webhooks(
    key: bytes, headers: Mapping[str, str], body: bytes, now: datetime
) -> Verdict:
    signatures = headers.get("webhook-signature", "")
    delivery_id = headers.get("webhook-id", "")
    timestamp_text = headers.get("webhook-timestamp", "").strip()
    if not signatures.strip():
        return Verdict.refuse(Reason.MISSING_SIGNATURE, "the webhook-signature header is missing")
    if not delivery_id:
        return Verdict.refuse(Reason.MISSING_DELIVERY_ID, "the webhook-id header is missing")
    if not timestamp_text:
        return Verdict.refuse(Reason.MISSING_TIMESTAMP, "the webhook-timestamp header is missing")
    if not (timestamp_text.isascii() and timestamp_text.isdigit()):
        return Verdict.refuse(
            Reason.INVALID_TIMESTAMP, "the webhook-timestamp header is not whole unix seconds"
        )
    timestamp = int(timestamp_text)
    signed = f"{delivery_id}.{timestamp}.".encode("utf-8", "surrogatepass") + body
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    if not any(hmac.compare_digest(expected, given) for given in _v1_signatures(signatures)):
        return Verdict.refuse(
            Reason.INVALID_SIGNATURE, "no v1 entry of webhook-signature matches the delivery"
        )
    # Checked after the signature so that this refusal is only ever about an authentic
    # delivery (a replay or a skewed clock), never a hint to someone without the secret.
    if abs(timestamp - _unix_seconds(now)) > TIMESTAMP_TOLERANCE.total_seconds():
        return Verdict.refuse(
            Reason.TIMESTAMP_OUT_OF_TOLERANCE,
            f"the webhook-timestamp is out of tolerance (more than "
            f"{int(TIMESTAMP_TOLERANCE.total_seconds())}s from the receiver's clock)",
            authentic=True,
        )
    return Verdict.accept(delivery_id)


def _v1_signatures(header: str) -> list[bytes]:
    """The decoded ``v1,<base64>`` entries; other versions and garbled entries are skipped."""
    decoded = []
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            decoded.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return decoded


def _verify_github(key: bytes, headers: Mapping[str, str], body: bytes) -> Verdict:
    given = headers.get("x-hub-signature-256", "").strip()
    if not given:
        return Verdict.refuse(
            Reason.MISSING_SIGNATURE, "the X-Hub-Signature-256 header is missing"
        )
    algorithm, _, hex_digest = given.partition("=")
    if algorithm != "sha256" or not _hex_matches(key, body, hex_digest):
        return Verdict.refuse(
            Reason.INVALID_SIGNATURE, "X-Hub-Signature-256 does not match the delivery"
        )
    delivery_id = headers.get("x-github-delivery", "").strip()
    if not delivery_id:
        return Verdict.refuse(
            Reason.MISSING_DELIVERY_ID, "the X-GitHub-Delivery header is missing",
            authentic=True,
        )
    return Verdict.accept(delivery_id)


def _verify_hmac_sha256(
    key: bytes, headers: Mapping[str, str], body: bytes, header_name: str
) -> Verdict:
    given = headers.get(header_name.lower(), "").strip()
    if not given:
        return Verdict.refuse(Reason.MISSING_SIGNATURE, f"the {header_name} header is missing")
    if not _hex_matches(key, body, given.removeprefix("sha256=")):
        return Verdict.refuse(
            Reason.INVALID_SIGNATURE, f"{header_name} does not match the delivery"
        )
    return Verdict.accept(hashlib.sha256(body).hexdigest())


def _hex_matches(key: bytes, body: bytes, given_hex: str) -> bool:
    expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode("ascii")
    # Compared as bytes: compare_digest raises on non-ASCII str, and this input is the sender's.
    return hmac.compare_digest(expected, given_hex.lower().encode("utf-8", "surrogatepass"))


def _unix_seconds(now: datetime) -> float:
    # A naive datetime's .timestamp() would be read as local time.
    return (now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp()
