"""Cells that are safe to open in a spreadsheet (OWASP guidance on CSV formula injection).

Post text is untrusted input: a post starting with `=HYPERLINK(...)` must not run when the safety team opens
the export in Excel. Every CSV meant for people goes through `spreadsheet_safe`.
"""

from __future__ import annotations

from typing import Any, Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")


def spreadsheet_safe(value: Any) -> str:
    """The value as text, prefixed with `'` when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def spreadsheet_safe_column(values: Sequence[Any]) -> list[str]:
    """`spreadsheet_safe` over a whole column (one list comprehension instead of a call per cell: exports run to
    hundreds of thousands of rows)."""
    texts = ["" if v is None else v if type(v) is str else str(v) for v in values]
    return ["'" + t if t.startswith(FORMULA_START) else t for t in texts]
