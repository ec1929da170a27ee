"""The one exception type for problems a user can fix, and the line the CLI prints for it.

Why one type: the CLI must tell "your input, file or setting is wrong" (one readable line, exit 2) apart
from "the code is wrong" (a traceback, so it gets reported and fixed). Catching `ValueError` for the first
also swallowed the second. Every package's user-facing error subclasses `OccError`; several also subclass
the builtin they used to be (`ValueError`, `FileNotFoundError`), so library callers catching those still work.
"""

from __future__ import annotations


class OccError(Exception):
    """A problem with the user's input, files, settings or environment; the message says what was expected,
    what was found and how to fix it."""


class SettingsError(OccError, ValueError):
    """A settings file (params.yaml) or value is wrong; the message names the file and the key."""
