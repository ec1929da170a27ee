"""Cells that are safe to open in a spreadsheet (OWASP guidance on CSV formula injection).

Post text is untrusted input: a post starting with `=HYPERLINK(...)` must not run when the safety team opens
the export in Excel. Every CSV meant for people goes through `spreadsheet_safe`.
"""

from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")


def spreadsheet_safe(value: Any) -> str:
    """The value as text, prefixed with `'` when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
