"""Memory quantities ("512Mi", "2G", "1048576"), as far as raising a limit needs them.

Only the plain forms are understood (a number with an optional binary or decimal suffix);
anything else (exponents, milli-bytes) is reported as None and left as the user wrote it.
"""

from __future__ import annotations

import math
import re

_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_FORMAT_UNITS = (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


def memory_bytes(quantity: str) -> int | None:
    """Bytes of a memory quantity, rounded up; None when the form is not understood."""
    match = _QUANTITY.match(quantity.strip())
    if match is None:
        return None
    return math.ceil(float(match.group(1)) * _UNITS[match.group(2) or ""])


def format_memory(size: int) -> str:
    """``size`` bytes in the largest binary unit that holds it exactly, rounded up to Ki."""
    if size < 2**10:
        return str(size)
    size = math.ceil(size / 2**10) * 2**10
    for suffix, unit in _FORMAT_UNITS:
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)  # unreachable: every size here is a whole number of Ki
