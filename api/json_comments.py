"""`//` line comments in JSON request bodies, tolerated.

Why: the API documents' request bodies carry them (`"session_type": "webcam" // or "mobile"`,
`"target_samples": 5 // ...`), and readers paste those bodies as written. JSON has no comments,
so a body is first parsed strictly; only a body that fails and has a `//` outside every string is
read again without its comments. One regular expression (C speed, linear) finds strings and
comments together, so a `//` inside a string (a URL) is never touched.
"""

from __future__ import annotations

import re

# A JSON string (with its escapes) or a line comment; strings are kept, comments dropped.
_TOKENS = re.compile(r'"(?:\\.|[^"\\\n])*"|//[^\n]*')


def without_line_comments(raw: bytes) -> bytes | None:
    """The body without its `//` line comments, or None when it has none (or is not UTF-8)."""
    if b"//" not in raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    found = False

    def keep_strings(match: re.Match[str]) -> str:
        nonlocal found
        if match.group(0).startswith("//"):
            found = True
            return ""
        return match.group(0)

    stripped = _TOKENS.sub(keep_strings, text)
    return stripped.encode("utf-8") if found else None
