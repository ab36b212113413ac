"""Text any database, driver and page can hold.

PostgreSQL refuses a NUL character in text ("text fields cannot contain NUL (0x00)
bytes") and no driver can encode a lone UTF-16 surrogate; both can arrive in a pasted
chat message, a CSV cell or a model's answer. ``storable`` drops NUL and turns a lone
surrogate into U+FFFD, so the same input is saved alike on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str) -> str:
    """``value`` without NUL, and with U+FFFD for each lone surrogate."""
    if not _UNSTORABLE.search(value):
        return value
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)
