"""The suppression (opt-out) list: people whose posts are dropped before anything is stored, logged or scored.

Why a separate stage at the very front of the row pipeline: an organization must honor opt-outs and may not
profile some people at all, so their rows must not reach quarantine (with raw text), de-duplication records,
scores, the adverse-event export, reports or MLflow. `PostPipeline.process` asks `SuppressionList.matches_record`
right after the column mapping, before the contract check; the row is then counted in its own reconciliation
bucket (`suppressed`) and nothing else about it is kept. Other people's posts must not leak a suppressed
account either: `scrub_mentions` removes it from `mentions` and turns "@handle" in the text into
"@[suppressed]", and `scrub_raw` does the same for the raw text kept in quarantine.

File formats (UTF-8):

- `.txt`: one entry per line; blank lines and `#` comments (whole line, or after whitespace) are ignored.
  `@name` is a handle; `person:p_xxx` or an entry starting with `p_` is a person id; anything else matches
  the author_id *or* the handle.
- `.csv`: a header with an `id` column and optionally a `kind` column (`author_id`, `handle` or `person_id`;
  blank: decided as in a .txt). Other columns (a date, a ticket number) are ignored, and so are blank rows and
  rows whose first cell starts with `#`.

Matching: author ids exactly; handles case-insensitively without the leading "@", against a post's
`author_handle` and also its author_id (many exports use the handle as the author id, and mention accounts
by it: a listed handle must not miss the rows where only the id carries it). Person ids are
assigned after accounts are linked across platforms: they reach the accounts named in a persons table
(`persons_file`: Parquet with `author_id` and `person_id`, e.g. a run's `authors.parquet`; an optional
`author_handle` column adds the accounts' handles to what is scrubbed, and lets a listed handle reach its
account's author id, which matters where other posts mention accounts by id) or in a `person_of` mapping
(author_id -> person_id) passed in. A person id that no table links to an account matches nothing; loading
says how many such entries there are (a count, never the ids).

The entries are never logged, printed or written anywhere: `repr` shows counts only, and errors about the file
name its line and what was expected, not the entry.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from common.errors import OccError

logger = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("author_id", "handle", "person_id")
SUPPRESSED_MENTION = "@[suppressed]"
SUPPRESSED_TOKEN = "[suppressed]"

# A handle or id as it appears in text: word characters, with inner dots or dashes ("dr.smith", "jane-doe");
# not preceded by a word character, "." or "-" (so the tail of an e-mail address or URL is not taken for it).
_AT_TOKEN = re.compile(r"(?<![\w.\-@])@(\w+(?:[.\-]\w+)*)")
_TOKEN = re.compile(r"(?<![\w.\-])(@?)(\w+(?:[.\-]\w+)*)")
_TOKEN_FULL = re.compile(r"\w+(?:[.\-]\w+)*")
_LEAD = re.compile(r"\w+")


class SuppressionError(OccError, ValueError):
    """The suppression list (or the persons table it relies on) cannot be read; the message names the file,
    the line and what was expected, never the entries themselves."""


class SuppressionList:
    """Author ids, handles and person ids whose posts must be dropped, and the names other posts must not show.

    Not changed after construction, and picklable (Spark executors receive it inside the row logic). An empty
    list is falsy, and callers skip every check for it, so an absent list costs nothing.
    """

    __slots__ = ("author_ids", "handles", "person_ids", "source", "_names", "_odd_names", "_linked")

    def __init__(self, author_ids: Iterable[str] = (), handles: Iterable[str] = (), person_ids: Iterable[str] = (),
                 person_of: Mapping[str, str] | None = None, person_handles: Mapping[str, str] | None = None,
                 source: str | None = None) -> None:
        self.author_ids: frozenset[str] = frozenset(author_ids)
        """Matched exactly against a post's author_id."""
        self.handles: frozenset[str] = frozenset(_handle_key(h) for h in handles if _handle_key(h))
        """Lower-cased, without "@"; matched against author_handle and the author_id, case-insensitively."""
        self.person_ids: frozenset[str] = frozenset(person_ids)
        self.source = source
        linked: set[str] = set()
        linked_handles: set[str] = set()
        if self.person_ids and person_of:
            linked = {str(a) for a, p in person_of.items() if p in self.person_ids and a is not None}
        if person_handles:  # the accounts' handles: scrubbed too, and a listed handle reaches its author id
            linked |= {str(a) for a, h in person_handles.items() if h and _handle_key(h) in self.handles}
            linked_handles = {_handle_key(person_handles[a]) for a in linked if person_handles.get(a)}
        self._linked: frozenset[str] = frozenset(linked)
        """Author ids of the suppressed person ids (through the persons table)."""
        names = set(self.handles) | linked_handles | {a.lower() for a in self.author_ids | self._linked}
        names.discard("")
        self._names: frozenset[str] = frozenset(names)
        """Every name other posts must not show: handles and author ids, lower-cased."""
        odd = sorted(n for n in names if not _TOKEN_FULL.fullmatch(n))
        self._odd_names = re.compile("|".join(re.escape(n) for n in odd), re.IGNORECASE) if odd else None
        """Names a token pattern cannot find (an id with ':' or spaces): replaced as literal text."""
        unlinked = len(self.person_ids - set(person_of.values())) if person_of else len(self.person_ids)
        if unlinked:
            logger.warning("suppression list: %d person id(s) reach no account: no persons table links them to an "
                           "author_id (pass the run's authors.parquet as persons_file); their posts are matched only "
                           "through the list's author ids and handles", unlinked)

    # ---- basics ------------------------------------------------------------------------------------------

    def __bool__(self) -> bool:
        return bool(self.author_ids or self.handles or self.person_ids)

    def __len__(self) -> int:  # match keys: a plain .txt entry counts twice (author id and handle)
        return len(self.author_ids) + len(self.handles) + len(self.person_ids)

    def __repr__(self) -> str:  # counts only: a repr ends up in logs and tracebacks
        return (f"SuppressionList({len(self.author_ids)} author id(s), {len(self.handles)} handle(s), "
                f"{len(self.person_ids)} person id(s), {len(self._linked)} linked account(s))")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SuppressionList) and self.digest() == other.digest()

    def __hash__(self) -> int:
        return hash(self.digest())

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def digest(self) -> str | None:
        """A checksum of what is matched (None for an empty list), so a resumed run can refuse a changed list."""
        if not self:
            return None
        text = "\x1e".join("\x1f".join(sorted(s)) for s in (self.author_ids, self.handles, self.person_ids,
                                                             self._linked))
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()

    # ---- matching ----------------------------------------------------------------------------------------

    def matches(self, author_id: Any, handle: Any = None, person_id: Any = None) -> bool:
        """Whether a post by this account must be dropped. Handles are compared with `handle` and the author_id."""
        author = _as_text(author_id)
        if author is not None and (author in self.author_ids or author in self._linked):
            return True
        if self.handles:
            name = _as_text(handle)
            if name is not None and _handle_key(name) in self.handles:
                return True
            if author is not None and _handle_key(author) in self.handles:
                return True
        person = _as_text(person_id)
        return person is not None and person in self.person_ids

    def matches_record(self, mapped: Mapping[str, Any], record: Mapping[str, Any] | None = None) -> bool:
        """`matches` on a mapped record (contract field names, values not yet type-checked).

        `author_handle` and `person_id` are read from the mapped record, else from the source `record`, so the
        check works whether or not the contract and the column mapping carry them.
        """
        return self.matches(mapped.get("author_id"), _field(mapped, record, "author_handle"),
                            _field(mapped, record, "person_id"))

    @property
    def names(self) -> frozenset[str]:
        """Every name other posts must not show (handles and author ids, lower-cased, without "@")."""
        return self._names

    def is_suppressed_name(self, name: Any) -> bool:
        """Whether a mention (an author id or a handle, with or without "@") names a suppressed account."""
        text = _as_text(name)
        return text is not None and _handle_key(text) in self._names

    # ---- scrubbing other people's posts ------------------------------------------------------------------

    def scrub_text(self, text: str) -> str:
        """"@handle" of a suppressed account -> "@[suppressed]" (case-insensitive)."""
        if not self._names or "@" not in text:
            return text
        text = _AT_TOKEN.sub(lambda m: self._replace(m, "@", SUPPRESSED_MENTION), text)
        if self._odd_names is not None:
            text = re.sub(r"@(?:" + self._odd_names.pattern + r")", SUPPRESSED_MENTION, text, flags=re.IGNORECASE)
        return text

    def scrub_mentions(self, row: dict[str, Any]) -> dict[str, Any]:
        """Remove suppressed accounts from the row's `mentions` (and `author_links`) and "@handle" from its `text`
        (and `author_bio`); returns the row.

        For rows of *other* authors (a suppressed author's own rows are dropped whole): without this, a reply
        or a mention would keep the suppressed account in the outputs and in the report's interaction graph.
        """
        if not self._names:
            return row
        mentions = row.get("mentions")
        if mentions:
            kept = [m for m in mentions if not self.is_suppressed_name(m)]
            if len(kept) != len(mentions):
                row["mentions"] = kept
        for name in ("text", "author_bio"):  # the bio: a profile may point at another account too
            value = row.get(name)
            if isinstance(value, str):
                row[name] = self.scrub_text(value)
        links = row.get("author_links")  # "platform:handle" of other profiles the author's profile names
        if links:
            kept = [link for link in links
                    if not (isinstance(link, str) and self.is_suppressed_name(re.split(r"[:/]", link)[-1]))]
            if len(kept) != len(links):
                row["author_links"] = kept
        return row

    def names_in(self, text: str | None) -> bool:
        """Whether `text` (e.g. an unparseable raw line) names a suppressed account anywhere, as a whole token."""
        if not text or not self._names:
            return False
        if any(self._suppressed_token(m.group(2)) for m in _TOKEN.finditer(text)):
            return True
        return self._odd_names is not None and self._odd_names.search(text) is not None

    def scrub_raw(self, text: str) -> str:
        """Every whole-token occurrence of a suppressed id or handle -> "[suppressed]" (keeping an "@").

        For raw text kept in quarantine, where a mention also appears bare (a JSON `mentions` array).
        """
        if not text or not self._names:
            return text
        text = _TOKEN.sub(lambda m: self._replace(m, m.group(1), m.group(1) + SUPPRESSED_TOKEN), text)
        if self._odd_names is not None:
            text = self._odd_names.sub(SUPPRESSED_TOKEN, text)
        return text

    def _suppressed_token(self, token: str) -> bool:
        lowered = token.lower()
        return lowered in self._names or _LEAD.match(lowered).group(0) in self._names  # type: ignore[union-attr]

    def _replace(self, match: re.Match[str], prefix: str, replacement: str) -> str:
        """The token of `match` (its last group) as `replacement` when it names a suppressed account; also when
        only its leading word does ("@jane.x": X handles have no dots, so that is "@jane" and ".x")."""
        token = match.group(match.lastindex or 0)
        lowered = token.lower()
        if lowered in self._names:
            return replacement
        lead = _LEAD.match(lowered).group(0)  # type: ignore[union-attr]
        if lead != lowered and lead in self._names:
            return replacement + token[len(lead):]
        return match.group(0)

    # ---- tables (reports on runs scored before an opt-out) -----------------------------------------------

    def table_mask(self, table: pa.Table) -> pa.ChunkedArray | pa.Array:
        """A boolean array: True for the rows of `table` (a scored or ingested table) written by a suppressed
        account, judged as `matches` judges a row (vectorized with pyarrow)."""
        n = table.num_rows
        mask: Any = pa.array([False] * n, pa.bool_())
        if n == 0 or not self:
            return mask
        names = table.column_names
        author = table.column("author_id").cast(pa.string()) if "author_id" in names else pa.nulls(n, pa.string())
        ids = pa.array(sorted(self.author_ids | self._linked), pa.string())
        mask = pc.fill_null(pc.is_in(author, value_set=ids), False)
        if self.handles:
            handles = pa.array(sorted(self.handles), pa.string())
            candidates = [author] + ([table.column("author_handle").cast(pa.string())] if "author_handle" in names else [])
            for column in candidates:
                key = pc.utf8_lower(pc.utf8_ltrim(pc.utf8_trim_whitespace(column), characters="@"))
                mask = pc.or_(mask, pc.fill_null(pc.is_in(key, value_set=handles), False))
        if self.person_ids and "person_id" in names:
            person = pc.fill_null(pc.is_in(table.column("person_id").cast(pa.string()),
                                           value_set=pa.array(sorted(self.person_ids), pa.string())), False)
            mask = pc.or_(mask, person)
        return mask


EMPTY = SuppressionList()
"""The no-op list (no file configured)."""


def load_suppression(path: str | Path | None, *, person_of: Mapping[str, str] | None = None,
                     persons_file: str | Path | None = None) -> SuppressionList:
    """Read a suppression list; `None` (nothing configured) gives the empty, no-op list.

    A path that is configured but missing is an error, not an empty list: an opt-out that silently does not
    apply is the failure this list exists to prevent.
    """
    if path is None or str(path) == "":
        return EMPTY
    path = Path(path)
    text = _read_text(path, "suppression list")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        entries = _parse_txt(text, path)
    elif suffix == ".csv":
        entries = _parse_csv(text, path)
    else:
        raise SuppressionError(f"suppression list {path}: expected a .txt file (one entry per line) or a .csv file "
                               f"(a header with `id` and optionally `kind`), found {path.suffix or 'no extension'}; "
                               "rename or convert it")
    mapping: dict[str, str] = dict(person_of or {})
    handles_of: dict[str, str] = {}
    if persons_file is not None:
        linked, handles_of = read_persons(persons_file)
        mapping.update(linked)
    by_kind: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for kind, value in entries:
        if kind == "either":
            by_kind["author_id"].add(value)
            by_kind["handle"].add(value)
        else:
            by_kind[kind].add(value)
    result = SuppressionList(by_kind["author_id"], by_kind["handle"], by_kind["person_id"], mapping or None,
                             handles_of or None, source=str(path))
    logger.info("suppression list %s: %d entries (%d author ids, %d handles, %d person ids)", path.name,
                len(entries), len(by_kind["author_id"]), len(by_kind["handle"]), len(by_kind["person_id"]))
    return result


def read_persons(path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """(author_id -> person_id, author_id -> handle) from a persons table (Parquet: author_id, person_id, and
    optionally author_handle), such as the authors.parquet of a run that linked accounts across platforms."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise SuppressionError(f"persons table {path}: no such file; pass the authors.parquet (author_id, person_id) "
                               "that links accounts to persons, or leave it out")
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise SuppressionError(f"persons table {path}: expected a Parquet file, it cannot be read as one ({exc})") from exc
    missing = [c for c in ("author_id", "person_id") if c not in schema.names]
    if missing:
        raise SuppressionError(f"persons table {path}: expected columns author_id and person_id, missing "
                               f"{', '.join(missing)} (found: {', '.join(schema.names) or 'none'})")
    columns = ["author_id", "person_id"] + (["author_handle"] if "author_handle" in schema.names else [])
    table = pq.read_table(path, columns=columns)
    authors = table.column("author_id").cast(pa.string()).to_pylist()
    persons = table.column("person_id").cast(pa.string()).to_pylist()
    person_of = {a: p for a, p in zip(authors, persons) if a is not None and p is not None}
    handles: dict[str, str] = {}
    if "author_handle" in columns:
        handles = {a: h for a, h in zip(authors, table.column("author_handle").cast(pa.string()).to_pylist())
                   if a is not None and h}
    return person_of, handles


# ---- parsing ---------------------------------------------------------------------------------------------------

def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise SuppressionError(f"{what} {path}: no such file; fix the path (--suppress or ingest.suppress_file) "
                               "or remove the setting")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SuppressionError(f"{what} {path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SuppressionError(f"{what} {path}, line {line}: expected UTF-8 text, found byte {exc.start} that is "
                               "not UTF-8; save the file as UTF-8") from exc


def _classify(entry: str) -> tuple[str, str] | None:
    """(kind, value) of a .txt entry, or None when the entry is empty after its prefix."""
    if entry.startswith("@"):
        value = entry[1:].strip()
        return ("handle", value) if value else None
    if entry.lower().startswith("person:"):
        value = entry[len("person:"):].strip()
        return ("person_id", value) if value else None
    if entry.startswith("p_"):
        return "person_id", entry
    return "either", entry


def _parse_txt(text: str, path: Path) -> list[tuple[str, str]]:
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
        if not entry:
            continue
        if any(ch.isspace() for ch in entry):
            raise SuppressionError(f"suppression list {path}, line {number}: expected one entry per line (an author "
                                   "id, @handle or person:p_id), found several words; put each entry on its own "
                                   "line and start comments with #")
        kind = _classify(entry)
        if kind is None:
            raise SuppressionError(f"suppression list {path}, line {number}: expected a name after "
                                   f"{'@' if entry.startswith('@') else 'person:'}, found nothing")
        entries.append(kind)
    return entries


def _parse_csv(text: str, path: Path) -> list[tuple[str, str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise SuppressionError(f"suppression list {path}, line 1: expected a CSV header, it cannot be parsed ({exc})") from exc
    if header is None:
        return []
    columns = [h.strip().lower() for h in header]
    if "id" not in columns:
        raise SuppressionError(f"suppression list {path}, line 1: expected a header with an `id` column (and "
                               f"optionally `kind`), found columns: {', '.join(c for c in columns if c) or 'none'}")
    id_at = columns.index("id")
    kind_at = columns.index("kind") if "kind" in columns else None
    entries = []
    try:
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue  # blank rows and comment rows
            if len(row) != len(columns):
                raise SuppressionError(f"suppression list {path}, line {number}: expected {len(columns)} fields as in "
                                       f"the header, found {len(row)}; quote cells that contain commas")
            value = row[id_at].strip()
            kind = row[kind_at].strip().lower() if kind_at is not None else ""
            if not value:
                raise SuppressionError(f"suppression list {path}, line {number}: expected an id, found an empty "
                                       "`id` cell; fill it in or delete the row")
            if kind == "":
                classified = _classify(value)
            elif kind in KINDS:
                if kind == "handle":
                    value = value.lstrip("@").strip()
                elif kind == "person_id" and value.lower().startswith("person:"):
                    value = value[len("person:"):].strip()
                classified = (kind, value) if value else None
            else:
                raise SuppressionError(f"suppression list {path}, line {number}: expected `kind` to be one of "
                                       f"{', '.join(KINDS)} (or empty), found {kind[:40]!r}")
            if classified is None:
                raise SuppressionError(f"suppression list {path}, line {number}: expected a name after the prefix, "
                                       "found nothing")
            entries.append(classified)
    except csv.Error as exc:
        raise SuppressionError(f"suppression list {path}, line {reader.line_num}: expected CSV, it cannot be parsed "
                               f"({exc}); check the quoting") from exc
    return entries


# ---- helpers ---------------------------------------------------------------------------------------------------

def _handle_key(value: str) -> str:
    return value.strip().lstrip("@").strip().lower()


def _as_text(value: Any) -> str | None:
    """An id as the contract would store it (numbers as their decimal text), or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


def _field(mapped: Mapping[str, Any], record: Mapping[str, Any] | None, name: str) -> Any:
    value = mapped.get(name)
    if value is None and record is not None:
        value = record.get(name)
    return value
