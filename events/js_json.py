"""Webhook bodies serialised exactly as JavaScript's `JSON.stringify` would re-serialise them.

Why: the documents' Express receivers (api_integration_guide.md §Signature Verification,
user_guide.md §Verify Webhook Signature) verify the HMAC over `JSON.stringify(req.body)`, not
over the bytes received. Python's `json.dumps` writes `0.0` where JavaScript writes `0`, and
`1e-05` where it writes `0.00001`, so those receivers rejected every body carrying such a
number. Written here with JavaScript's number format (ECMAScript Number::toString on the
shortest round-trip digits, which Python's `repr` also gives), compact separators and raw
non-ASCII, the body survives a parse + `JSON.stringify` byte for byte. Receivers should still
verify the raw bytes (README §Webhooks); this only makes the documented shortcut hold."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any


def js_number(value: float) -> str:
    """`String(value)` in JavaScript for a finite float (non-finite: `null`, as JSON.stringify)."""
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"  # -0 too: JSON.stringify(-0) is "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = exponent + k  # value = 0.digits x 10^n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + ("e+" if e >= 0 else "e-") + str(abs(e))
    return ("-" if sign else "") + text


def _js_key_order(item: tuple[str, Any]) -> tuple[int, int]:
    """A JavaScript object lists array-index keys ("0", "17") first, ascending, then the others."""
    key = item[0]
    if key.isdigit() and key.isascii() and (key == "0" or key[0] != "0") and int(key) < 2**32 - 1:
        return (0, int(key))
    return (1, 0)


def dumps(value: Any) -> str:
    """Compact JSON of dicts, lists/tuples, str, int, float, bool and None (ints beyond 2**53
    are written exactly; JavaScript would round them)."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return js_number(value)
    if isinstance(value, dict):
        items = sorted(((str(k), v) for k, v in value.items()), key=_js_key_order)  # stable: insertion order kept
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + dumps(v) for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
