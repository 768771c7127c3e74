"""Field values shared by the three kinds: valid, edge and invalid ones."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import strategies as st

from agenttasks.api.duration import DURATION_PATTERN

# Text as users paste it: any Unicode scalar (JSON cannot carry lone surrogates).
unicode_text = st.characters(exclude_categories=("Cs",))


def text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(unicode_text, max_size=max_size)


def exact_text(size: int) -> st.SearchStrategy[str]:
    """Exactly ``size`` characters, many of them multi-byte: maxLength counts characters."""
    return st.sampled_from(["a", "é", "日", "🦀", "\u0000"]).map(lambda c: c * size)


valid_duration: st.SearchStrategy[Any] = st.one_of(
    st.integers(0, 3600),
    st.sampled_from(["0s", "1s", "30s", "1.5s", "250ms", "10m", "1h30m", "2d", "1h0m0.5s"]),
)
edge_duration: st.SearchStrategy[Any] = st.sampled_from(
    [0, "0ms", "0.000001s", 86400 * 365, "3650d", "999999d", "1d1d1d"])
invalid_duration: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(["", " ", "10", "-5s", "10 s", "1e3s", "5", "1y", "PT1H", "forever", "s",
                     "1.s", ".5s", "1h-1m", "٣s", -1, 2.5, True, [], {}]),
    st.text(unicode_text, min_size=1, max_size=12).filter(
        lambda s: not s.strip().isdigit() and not re.fullmatch(DURATION_PATTERN, s)),
)
# Durations the CRD's CEL rule admits but that exceed what the operator can represent.
huge_duration: st.SearchStrategy[Any] = st.sampled_from(
    [10**15, 2**62, "100000000000d", "99999999999999999999s", "9223372036854775807s"])

valid_time = st.sampled_from(
    ["2000-01-01T00:00:00Z", "2020-02-29T12:00:00+05:45", "2099-12-31T23:59:59Z",
     "1970-01-01T00:00:00Z", "2030-06-01T00:00:00.5Z"])
edge_time = st.sampled_from(
    ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z",
     "2030-01-01T00:00:00-23:59"])
invalid_time: st.SearchStrategy[Any] = st.sampled_from(
    ["tomorrow", "2030-13-01T00:00:00Z", "2030-02-30T00:00:00Z", "", "12:00", 1700000000,
     "2030-01-01 00:00", True])

wrong_type: st.SearchStrategy[Any] = st.sampled_from(
    ["a string", 3, -1, 1.5, True, [], ["x"], {}, {"k": "v"}])
