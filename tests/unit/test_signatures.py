"""Signature verification. Expected signatures are computed here, independently of the module."""

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

import pytest

from agenttasks.core.signatures import (
    CONFIGURATION_REASONS,
    GITHUB,
    HMAC_SHA256,
    STANDARD_WEBHOOKS,
    MalformedSecretError,
    Reason,
    Verdict,
    signing_key,
    verify,
)

# The Standard Webhooks reference libraries' published test vector.
VECTOR_SECRET = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
NOW_SECONDS = int(NOW.timestamp())
BODY = b'{"action": "opened", "number": 7}'
RAW_KEY = b"0123456789abcdef0123456789abcdef"
WHSEC = b"whsec_" + base64.b64encode(RAW_KEY)
GITHUB_SECRET = b"It's a Secret to Everybody"


def standard_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def hex_signature(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def standard_headers(
    signature: str | None = None, msg_id: str = "msg_1", timestamp: int = NOW_SECONDS
) -> dict[str, str]:
    if signature is None:
        signature = standard_signature(RAW_KEY, msg_id, timestamp, BODY)
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature}


def refused(verdict: Verdict, reason: Reason) -> bool:
    return not verdict.accepted and verdict.reason == reason and bool(verdict.message)


# --- the published vector -------------------------------------------------------------------

def test_own_helper_reproduces_the_published_vector() -> None:
    key = base64.b64decode(VECTOR_SECRET.removeprefix(b"whsec_"))
    assert standard_signature(key, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_published_vector_is_accepted() -> None:
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TIMESTAMP),
               "webhook-signature": VECTOR_SIGNATURE}
    now = datetime.fromtimestamp(VECTOR_TIMESTAMP + 10, tz=UTC)
    assert verify(STANDARD_WEBHOOKS, VECTOR_SECRET, headers, VECTOR_BODY, now) == Verdict.accept(
        VECTOR_ID)
    # The same vector with the secret pasted without its prefix.
    unprefixed = VECTOR_SECRET.removeprefix(b"whsec_")
    assert verify(STANDARD_WEBHOOKS, unprefixed, headers, VECTOR_BODY, now).accepted


# --- standard-webhooks ----------------------------------------------------------------------

def test_standard_valid() -> None:
    verdict = verify(STANDARD_WEBHOOKS, WHSEC, standard_headers(), BODY, NOW)
    assert verdict.accepted and verdict.delivery_id == "msg_1"
    assert verdict.reason == "" and verdict.message == ""


def test_standard_forged_with_another_key() -> None:
    forged = standard_signature(b"not the key", "msg_1", NOW_SECONDS, BODY)
    verdict = verify(STANDARD_WEBHOOKS, WHSEC, standard_headers(forged), BODY, NOW)
    assert refused(verdict, Reason.INVALID_SIGNATURE)


def test_standard_body_changed() -> None:
    verdict = verify(STANDARD_WEBHOOKS, WHSEC, standard_headers(), BODY + b" ", NOW)
    assert refused(verdict, Reason.INVALID_SIGNATURE)


def test_standard_id_is_covered_by_the_signature() -> None:
    headers = standard_headers()
    headers["webhook-id"] = "msg_2"
    assert refused(verify(STANDARD_WEBHOOKS, WHSEC, headers, BODY, NOW), Reason.INVALID_SIGNATURE)


def test_standard_key_rotation_second_entry_matches() -> None:
    old = standard_signature(b"old key", "msg_1", NOW_SECONDS, BODY)
    new = standard_signature(RAW_KEY, "msg_1", NOW_SECONDS, BODY)
    verdict = verify(STANDARD_WEBHOOKS, WHSEC, standard_headers(f"{old} {new}"), BODY, NOW)
    assert verdict.accepted and verdict.delivery_id == "msg_1"


def test_standard_ignores_other_versions_and_garbage() -> None:
    good = standard_signature(RAW_KEY, "msg_1", NOW_SECONDS, BODY)
    same_mac_other_version = "v2," + good.removeprefix("v1,")
    assert refused(
        verify(STANDARD_WEBHOOKS, WHSEC, standard_headers(same_mac_other_version), BODY, NOW),
        Reason.INVALID_SIGNATURE)
    noisy = f"v1a,xyz v1,not-base64!! v1 {same_mac_other_version} {good}"
    assert verify(STANDARD_WEBHOOKS, WHSEC, standard_headers(noisy), BODY, NOW).accepted


@pytest.mark.parametrize("missing, reason", [
    ("webhook-signature", Reason.MISSING_SIGNATURE),
    ("webhook-id", Reason.MISSING_DELIVERY_ID),
    ("webhook-timestamp", Reason.MISSING_TIMESTAMP),
])
def test_standard_missing_headers(missing: str, reason: Reason) -> None:
    headers = standard_headers()
    del headers[missing]
    assert refused(verify(STANDARD_WEBHOOKS, WHSEC, headers, BODY, NOW), reason)


@pytest.mark.parametrize("timestamp", ["soon", "1.5", "-5", ""])
def test_standard_unparseable_timestamp(timestamp: str) -> None:
    headers = standard_headers()
    headers["webhook-timestamp"] = timestamp
    verdict = verify(STANDARD_WEBHOOKS, WHSEC, headers, BODY, NOW)
    expected = Reason.MISSING_TIMESTAMP if not timestamp else Reason.INVALID_TIMESTAMP
    assert refused(verdict, expected)


@pytest.mark.parametrize("offset", [-301, 301, -86400, 86400])
def test_standard_old_and_future_timestamps(offset: int) -> None:
    headers = standard_headers(timestamp=NOW_SECONDS + offset)
    verdict = verify(STANDARD_WEBHOOKS, WHSEC, headers, BODY, NOW)
    assert refused(verdict, Reason.TIMESTAMP_OUT_OF_TOLERANCE)
    assert "out of tolerance" in verdict.message


@pytest.mark.parametrize("offset", [-300, 300, 0])
def test_standard_timestamps_within_tolerance(offset: int) -> None:
    headers = standard_headers(timestamp=NOW_SECONDS + offset)
    assert verify(STANDARD_WEBHOOKS, WHSEC, headers, BODY, NOW).accepted


def test_standard_stale_forgery_reports_the_signature() -> None:
    forged = standard_signature(b"not the key", "msg_1", NOW_SECONDS - 3600, BODY)
    headers = standard_headers(forged, timestamp=NOW_SECONDS - 3600)
    assert refused(verify(STANDARD_WEBHOOKS, WHSEC, headers, BODY, NOW),
                   Reason.INVALID_SIGNATURE)


def test_standard_naive_now_is_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert verify(STANDARD_WEBHOOKS, WHSEC, standard_headers(), BODY, naive).accepted


def test_standard_other_timezone_is_the_same_instant() -> None:
    for hours in (-7, 9):
        now = NOW.astimezone(timezone(timedelta(hours=hours)))
        assert verify(STANDARD_WEBHOOKS, WHSEC, standard_headers(), BODY, now).accepted


def test_headers_are_case_insensitive() -> None:
    headers = {name.title(): value for name, value in standard_headers().items()}
    assert "Webhook-Signature" in headers
    assert verify(STANDARD_WEBHOOKS, WHSEC, headers, BODY, NOW).accepted
    upper = {name.upper(): value for name, value in standard_headers().items()}
    assert verify(STANDARD_WEBHOOKS, WHSEC, upper, BODY, NOW).accepted


# --- secrets --------------------------------------------------------------------------------

def test_signing_key_for_standard_webhooks() -> None:
    assert signing_key(STANDARD_WEBHOOKS, WHSEC) == RAW_KEY
    assert signing_key(STANDARD_WEBHOOKS, base64.b64encode(RAW_KEY)) == RAW_KEY
    assert signing_key(STANDARD_WEBHOOKS, WHSEC + b"\n") == RAW_KEY
    unpadded = b"whsec_" + base64.b64encode(b"12345").rstrip(b"=")
    assert signing_key(STANDARD_WEBHOOKS, unpadded) == b"12345"


def test_signing_key_for_raw_schemes_is_the_bytes_as_they_are() -> None:
    assert signing_key(GITHUB, WHSEC) == WHSEC
    assert signing_key(HMAC_SHA256, b"  spaced\n") == b"  spaced\n"


@pytest.mark.parametrize("secret", [
    b"whsec_not base64!", b"whsec_", b"", b"whsec_\xff\xfe", b"whsec_abcde", b"   ",
])
def test_malformed_standard_secret(secret: bytes) -> None:
    with pytest.raises(MalformedSecretError):
        signing_key(STANDARD_WEBHOOKS, secret)
    verdict = verify(STANDARD_WEBHOOKS, secret, standard_headers(), BODY, NOW)
    assert refused(verdict, Reason.MALFORMED_SECRET)
    assert verdict.reason in CONFIGURATION_REASONS


@pytest.mark.parametrize("scheme", [GITHUB, HMAC_SHA256])
def test_empty_raw_secret_is_malformed(scheme: str) -> None:
    verdict = verify(scheme, b"", {"X-Sig": "00"}, BODY, NOW, header_name="X-Sig")
    assert refused(verdict, Reason.MALFORMED_SECRET)


def test_messages_never_contain_the_secret_or_the_signature() -> None:
    secret_text = WHSEC.decode()
    expected_mac = standard_signature(RAW_KEY, "msg_1", NOW_SECONDS, BODY + b"x")
    verdicts = [
        verify(STANDARD_WEBHOOKS, WHSEC, standard_headers(), BODY + b"x", NOW),
        verify(STANDARD_WEBHOOKS, b"whsec_sec ret!", standard_headers(), BODY, NOW),
        verify(GITHUB, GITHUB_SECRET, {"X-Hub-Signature-256": "sha256=00"}, BODY, NOW),
        verify(HMAC_SHA256, GITHUB_SECRET, {"X-Sig": "00"}, BODY, NOW, header_name="X-Sig"),
    ]
    for verdict in verdicts:
        assert not verdict.accepted
        for leaked in (secret_text, "sec ret", GITHUB_SECRET.decode(), expected_mac[3:],
                       hex_signature(GITHUB_SECRET, BODY)):
            assert leaked not in verdict.message


def test_unknown_scheme() -> None:
    verdict = verify("md5", WHSEC, standard_headers(), BODY, NOW)
    assert refused(verdict, Reason.UNKNOWN_SCHEME)
    assert verdict.reason in CONFIGURATION_REASONS


# --- github ---------------------------------------------------------------------------------

def github_headers(signature: str | None = None, delivery: str | None = "d-1") -> dict[str, str]:
    headers = {"X-Hub-Signature-256": signature or "sha256=" + hex_signature(GITHUB_SECRET, BODY)}
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    return headers


def test_github_published_example() -> None:
    # From GitHub's "Validating webhook deliveries" documentation.
    body = b"Hello, World!"
    expected = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert hex_signature(GITHUB_SECRET, body) == expected
    headers = {"x-hub-signature-256": "sha256=" + expected, "x-github-delivery": "abc"}
    assert verify(GITHUB, GITHUB_SECRET, headers, body, NOW) == Verdict.accept("abc")


def test_github_valid_with_any_header_case() -> None:
    headers = {name.lower(): value for name, value in github_headers().items()}
    verdict = verify(GITHUB, GITHUB_SECRET, headers, BODY, NOW)
    assert verdict == Verdict.accept("d-1")
    upper_hex = "sha256=" + hex_signature(GITHUB_SECRET, BODY).upper()
    assert verify(GITHUB, GITHUB_SECRET, github_headers(upper_hex), BODY, NOW).accepted


def test_github_forged_and_body_changed() -> None:
    forged = "sha256=" + hex_signature(b"guess", BODY)
    assert refused(verify(GITHUB, GITHUB_SECRET, github_headers(forged), BODY, NOW),
                   Reason.INVALID_SIGNATURE)
    assert refused(verify(GITHUB, GITHUB_SECRET, github_headers(), BODY + b"\n", NOW),
                   Reason.INVALID_SIGNATURE)


@pytest.mark.parametrize("signature", [
    "sha1=" + hex_signature(GITHUB_SECRET, BODY),
    hex_signature(GITHUB_SECRET, BODY),
    "sha256=",
    "sha256=é",
])
def test_github_malformed_signature(signature: str) -> None:
    assert refused(verify(GITHUB, GITHUB_SECRET, github_headers(signature), BODY, NOW),
                   Reason.INVALID_SIGNATURE)


def test_github_missing_headers() -> None:
    no_signature = {"X-GitHub-Delivery": "d-1"}
    assert refused(verify(GITHUB, GITHUB_SECRET, no_signature, BODY, NOW),
                   Reason.MISSING_SIGNATURE)
    assert refused(verify(GITHUB, GITHUB_SECRET, github_headers(delivery=None), BODY, NOW),
                   Reason.MISSING_DELIVERY_ID)


# --- hmac-sha256 ----------------------------------------------------------------------------

def test_hmac_sha256_valid_with_and_without_prefix() -> None:
    signature = hex_signature(GITHUB_SECRET, BODY)
    body_id = hashlib.sha256(BODY).hexdigest()
    for value in (signature, "sha256=" + signature):
        verdict = verify(HMAC_SHA256, GITHUB_SECRET, {"x-my-signature": value}, BODY, NOW,
                         header_name="X-My-Signature")
        assert verdict == Verdict.accept(body_id)


def test_hmac_sha256_forged_body_changed_and_missing() -> None:
    signature = hex_signature(GITHUB_SECRET, BODY)
    headers = {"X-My-Signature": signature}
    assert refused(verify(HMAC_SHA256, b"other", headers, BODY, NOW, header_name="x-my-signature"),
                   Reason.INVALID_SIGNATURE)
    assert refused(verify(HMAC_SHA256, GITHUB_SECRET, headers, b"{}", NOW,
                          header_name="X-My-Signature"), Reason.INVALID_SIGNATURE)
    assert refused(verify(HMAC_SHA256, GITHUB_SECRET, headers, BODY, NOW,
                          header_name="X-Other"), Reason.MISSING_SIGNATURE)


def test_hmac_sha256_needs_a_header_name() -> None:
    verdict = verify(HMAC_SHA256, GITHUB_SECRET, {}, BODY, NOW)
    assert refused(verdict, Reason.MISSING_HEADER_NAME)
    assert verdict.reason in CONFIGURATION_REASONS


def test_sender_faults_are_not_configuration_faults() -> None:
    for reason in (Reason.INVALID_SIGNATURE, Reason.MISSING_SIGNATURE,
                   Reason.TIMESTAMP_OUT_OF_TOLERANCE, Reason.MISSING_DELIVERY_ID):
        assert reason not in CONFIGURATION_REASONS


# --- who may be told why (issue 17: one answer for unknown and unauthenticated) -------------

def test_only_refusals_after_a_matching_signature_are_authentic() -> None:
    old = NOW_SECONDS - 3600
    stale = verify(STANDARD_WEBHOOKS, WHSEC,
                   standard_headers(standard_signature(RAW_KEY, "msg_1", old, BODY),
                                    timestamp=old), BODY, NOW)
    assert refused(stale, Reason.TIMESTAMP_OUT_OF_TOLERANCE) and stale.authentic
    github_without_id = verify(GITHUB, GITHUB_SECRET, {
        "X-Hub-Signature-256": "sha256=" + hex_signature(GITHUB_SECRET, BODY)}, BODY, NOW)
    assert refused(github_without_id, Reason.MISSING_DELIVERY_ID)
    assert github_without_id.authentic
    strangers = [
        verify(STANDARD_WEBHOOKS, WHSEC, standard_headers("v1," + "A" * 44), BODY, NOW),
        verify(STANDARD_WEBHOOKS, WHSEC, {"webhook-signature": "v1,x"}, BODY, NOW),
        verify(GITHUB, GITHUB_SECRET, {"X-GitHub-Delivery": "d"}, BODY, NOW),
        verify(GITHUB, GITHUB_SECRET, {"X-Hub-Signature-256": "sha256=00",
                                       "X-GitHub-Delivery": "d"}, BODY, NOW),
        verify(HMAC_SHA256, GITHUB_SECRET, {"X-Sig": "00"}, BODY, NOW, "X-Sig"),
    ]
    assert all(not v.accepted and not v.authentic for v in strangers)
    accepted = verify(GITHUB, GITHUB_SECRET, {
        "X-Hub-Signature-256": "sha256=" + hex_signature(GITHUB_SECRET, BODY),
        "X-GitHub-Delivery": "d"}, BODY, NOW)
    assert accepted.accepted and accepted.authentic
