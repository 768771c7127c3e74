"""Concurrency keys: the label form a Job carries, and a trigger's $(param) references."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from agenttasks.api.concurrency import MAX_KEY_LENGTH, PARAM_REFERENCE, Concurrency

_LABEL_VALUE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_HASHED = "sha256."
_KEY = re.compile(r"\S(.*\S)?")
_REFERENCE = re.compile(PARAM_REFERENCE)


@dataclass(frozen=True, slots=True)
class KeyLimit:
    """A task's concurrency key as the queue counts it."""

    key: str
    """As written in spec.concurrency.key: what messages show."""
    label: str
    """key_label(key): what the task's Jobs carry, and what is counted."""
    limit: int


def key_limit(concurrency: Concurrency | None) -> KeyLimit | None:
    if concurrency is None:
        return None
    return KeyLimit(concurrency.key, key_label(concurrency.key), concurrency.limit)


def key_label(key: str) -> str:
    """The key as a label value: itself when it is a valid one (63 characters at most,
    alphanumerics, '-', '_', '.'), else ``sha256.`` and 48 hex digits of its hash. A key
    that itself starts with ``sha256.`` is hashed too, so no key can pose as another's
    hash."""
    if len(key) <= 63 and _LABEL_VALUE.fullmatch(key) and not key.startswith(_HASHED):
        return key
    return _HASHED + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:48]


def references(key: str) -> list[str]:
    """The param names a trigger's key refers to, as $(NAME)."""
    return _REFERENCE.findall(key)


def expand_key(key: str, values: Mapping[str, str]) -> str:
    """A trigger's key with each $(NAME) replaced by the value of param NAME (empty when the
    payload has none). A result the schema would refuse (empty, too long, starting or ending
    with white space, or spanning lines) becomes ``sha256.`` and its hash: the same values
    still give the same key."""
    expanded = _REFERENCE.sub(lambda m: values.get(m.group(1), ""), key)
    if len(expanded) <= MAX_KEY_LENGTH and _KEY.fullmatch(expanded):
        return expanded
    return _HASHED + hashlib.sha256(expanded.encode("utf-8", "surrogatepass")).hexdigest()
