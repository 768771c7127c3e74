"""Webhook deliveries: random headers and bodies (never validly signed), and bodies that are
signed correctly for an hmac-sha256 trigger."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from hypothesis import strategies as st

SIGNATURE_HEADERS = ["X-Signature-256", "X-Hub-Signature-256", "X-GitHub-Delivery",
                     "webhook-id", "webhook-timestamp", "webhook-signature", "Content-Type",
                     "Content-Encoding", "Transfer-Encoding-Ext"]

# Header values as raw bytes: http.client sends a str header value as latin-1, so UTF-8 text
# goes through a latin-1 decode to arrive as the sender's bytes.
header_value = st.one_of(
    st.sampled_from(["", "sha256=", "sha256=" + "0" * 64, "sha1=" + "a" * 40, "md5=abc",
                     "v1,", "v1,AAAA", "v2," + "A" * 44, "v1a," + "B" * 44, "1700000000",
                     "-1", "99999999999999999999", "application/json", "gzip", "x" * 8000]),
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=100)
    .map(lambda s: s.encode().decode("latin-1").strip()),
    st.binary(max_size=64).map(lambda b: b.hex()),
)
header_name = st.one_of(st.sampled_from(SIGNATURE_HEADERS),
                        st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,30}\Z"))
headers = st.dictionaries(header_name, header_value, max_size=6)


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4), max_leaves=20)
json_body = json_value.map(lambda v: json.dumps(v).encode())
body = st.one_of(
    st.just(b""), st.binary(max_size=2000), json_body,
    json_value.map(lambda v: json.dumps(v).encode("utf-16")),
    st.sampled_from([_nested(100_000), b"{" * 5000, b"\xff\xfe\x00", b"null", b"[]", b"1e999",
                     b'{"a": NaN}', b"\x00" * 1000, b" " * (1024 * 1024 + 1)]),
)
# Bodies a sender holding the secret may sign: any bytes, but mostly JSON objects.
signed_body = st.one_of(
    json_value.map(lambda v: json.dumps({"event": "fuzz", "value": v}).encode()),
    json_value.map(lambda v: json.dumps({"event": "fuzz", "v": v}).encode("utf-16")),
    st.sampled_from([_nested(100_000), b"not json", b"", b"{}", b'{"number": 1e999}',
                     b'{"commits": [{"id": "\\ud800"}]}']),
    st.binary(max_size=200),
)


def hmac_signature(secret: bytes, payload: bytes) -> str:
    return "sha256=" + hmac.new(secret, payload, hashlib.sha256).hexdigest()


def as_latin1(values: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items()}
