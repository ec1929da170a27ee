"""`occ adapt`: teach the encoder clinicians' language from the unlabeled posts a team already has.

Domain-adaptive pretraining (Gururangan et al. 2020, "Don't Stop Pretraining: Adapt Language Models to Domains
and Tasks"): continue the encoder's masked-language-model training on in-domain text before fine-tuning. Labels
are scarce (hundreds per task) but ingested posts are plentiful, and a general-purpose encoder has never seen
"GLP-1 RA", "eGFR < 30" or "prior auth". The adapted encoder is an ordinary local encoder folder: `occ train
--encoder runs:/<run_id>/encoder` fine-tunes from it, and the trained model carries it inside its artifact.

Masking is transformers' `DataCollatorForLanguageModeling` (BERT's 80/10/10 rule); the masked-LM head is
`AutoModelForMaskedLM`'s. Sentence-transformers checkpoints (the packaged MiniLM) ship no masked-LM head: it
starts from its initialisation, with its output layer tied to the word embeddings, which is why the held-out
masked-LM loss is measured before and after: the run shows what the adaptation bought.
Only ingested posts are read, so the text is already redacted of personal data.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from common.errors import OccError
from common.progress import Progress
from common.settings import AdaptSettings, Settings

logger = logging.getLogger(__name__)

ENCODER_ARTIFACT = "encoder"
"""Where an `occ adapt` run keeps the adapted encoder: `runs:/<run_id>/encoder`."""


class AdaptError(OccError, ValueError):
    """The posts or the encoder cannot be used for adaptation; the message says what to fix."""


@dataclass
class AdaptResult:
    encoder_dir: Path
    posts: int
    held_out: int
    loss_before: float
    loss_after: float
    seconds: float
    history: list[dict[str, float]]


def read_post_texts(folders: Sequence[Path], max_posts: int | None, seed: int) -> list[str]:
    """Distinct non-empty texts of ingested post folders (posts.parquet), a seeded sample beyond `max_posts`."""
    from labeling.dataset import read_posts

    texts: list[str] = []
    for folder in folders:
        frame = read_posts(Path(folder))
        texts.extend(t for t in frame["text"].fillna("").astype(str) if t.strip())
    texts = list(dict.fromkeys(texts))
    if not texts:
        raise AdaptError(f"no post text in {', '.join(map(str, folders))}; run `occ ingest` on a dump first")
    if max_posts is not None and len(texts) > max_posts:
        rng = np.random.default_rng(seed)
        texts = [texts[i] for i in sorted(rng.choice(len(texts), max_posts, replace=False))]
    return texts


def _masked_lm_loss(model, batches) -> float:  # noqa: ANN001 - torch objects, imported lazily
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            out = model(**batch)
            n = int((batch["labels"] != -100).sum())
            total += float(out.loss) * n
            count += n
    return total / max(count, 1)


def adapt_encoder(texts: Sequence[str], encoder_dir: str | Path, out_dir: str | Path, settings: AdaptSettings,
                  max_length: int = 128, progress: bool = True) -> AdaptResult:
    """Continue masked-LM training of `encoder_dir` on `texts`; save the encoder and tokenizer to `out_dir`."""
    import torch
    from transformers import AutoModelForMaskedLM, DataCollatorForLanguageModeling

    from models.transformer.encoder import check_encoder_dir, load_tokenizer, quiet_hub_progress

    folder = check_encoder_dir(encoder_dir)
    if len(texts) < 2:
        raise AdaptError(f"adaptation needs at least 2 posts, got {len(texts)}")
    started = time.monotonic()
    tokenizer = load_tokenizer(folder)
    with quiet_hub_progress():
        model = AutoModelForMaskedLM.from_pretrained(str(folder), local_files_only=True)
    rng = np.random.default_rng(settings.seed)
    order = rng.permutation(len(texts))
    n_held = max(1, int(round(len(texts) * settings.held_out_fraction))) if settings.held_out_fraction > 0 else 0
    held = [texts[i] for i in order[:n_held]]
    train = [texts[i] for i in order[n_held:]]
    encoded = tokenizer(train, truncation=True, max_length=max_length, return_special_tokens_mask=True)
    features = [{k: encoded[k][i] for k in ("input_ids", "attention_mask", "special_tokens_mask")}
                for i in range(len(train))]
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=settings.mlm_probability)

    def held_out_batches():  # noqa: ANN202 - a fixed masking (seeded) so before and after see the same task
        if not held:
            return []
        enc = tokenizer(held, truncation=True, max_length=max_length, return_special_tokens_mask=True)
        rows = [{k: enc[k][i] for k in ("input_ids", "attention_mask", "special_tokens_mask")} for i in range(len(held))]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(settings.seed + 1)
            return [collator(rows[i : i + settings.batch_size]) for i in range(0, len(rows), settings.batch_size)]

    evaluation = held_out_batches()
    before = _masked_lm_loss(model, evaluation) if evaluation else math.nan
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.01)
    steps = settings.epochs * math.ceil(len(features) / settings.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / max(1, steps)))
    torch.manual_seed(settings.seed)
    history: list[dict[str, float]] = []
    bar = Progress("masked-LM adaptation", total=steps, unit="batches", enabled=progress)
    for epoch in range(1, settings.epochs + 1):
        model.train()
        loss_sum, batches = 0.0, 0
        epoch_order = order_for(epoch, len(features), settings.seed)
        for start in range(0, len(features), settings.batch_size):
            batch = collator([features[i] for i in epoch_order[start : start + settings.batch_size]])
            loss = model(**batch).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss.detach())
            batches += 1
            bar.update(1)
        record = {"epoch": float(epoch), "train_loss": loss_sum / max(1, batches)}
        if evaluation:
            record["held_out_loss"] = _masked_lm_loss(model, evaluation)
        history.append(record)
        logger.info("adapt epoch %d: train masked-LM loss %.4f%s", epoch, record["train_loss"],
                    f", held-out {record['held_out_loss']:.4f}" if evaluation else "")
    bar.close()
    after = history[-1].get("held_out_loss", math.nan)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = getattr(model, model.base_model_prefix)
    with quiet_hub_progress():
        base.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return AdaptResult(out, len(train), len(held), before, after, time.monotonic() - started, history)


def order_for(epoch: int, n: int, seed: int) -> np.ndarray:
    """The shuffled order of one epoch (seeded per epoch, so a run is reproducible)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def run_adaptation(posts: Sequence[Path], settings: Settings, encoder: str | Path | None = None) -> tuple[str, AdaptResult]:
    """`occ adapt`: adapt the encoder on the posts in one MLflow run; returns (run id, result)."""
    import tempfile

    import mlflow

    from common.settings import to_dict
    from models.tracking import ensure_experiment
    from models.transformer.encoder import default_encoder_dir

    base = Path(str(encoder or settings.transformer.encoder or default_encoder_dir()))
    texts = read_post_texts(posts, settings.adapt.max_posts, settings.adapt.seed)
    ensure_experiment(settings.registry.experiment)
    mlflow.set_experiment(settings.registry.experiment)
    with mlflow.start_run(run_name=f"adapt-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.set_tags({"occ.kind": "encoder-adaptation", "occ.base_encoder": base.name})
        mlflow.log_params({**{f"adapt.{k}": v for k, v in to_dict(settings.adapt).items()},
                           "transformer.max_length": settings.transformer.max_length, "posts": len(texts),
                           "sources": ", ".join(str(p) for p in posts)[:500]})
        with tempfile.TemporaryDirectory() as tmp:
            result = adapt_encoder(texts, base, Path(tmp) / ENCODER_ARTIFACT, settings.adapt,
                                   settings.transformer.max_length)
            for record in result.history:
                mlflow.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=int(record["epoch"]))
            mlflow.log_metrics({"held_out_loss_before": result.loss_before, "held_out_loss_after": result.loss_after,
                                "adapt_seconds": result.seconds})
            mlflow.log_artifacts(str(result.encoder_dir), artifact_path=ENCODER_ARTIFACT)
    return run.info.run_id, result


def resolve_encoder(encoder: str, workdir: Path) -> Path:
    """A local encoder folder for `occ train --encoder`: a folder as is, an MLflow URI downloaded into `workdir`."""
    from models.transformer.encoder import check_encoder_dir

    if "://" in encoder or encoder.startswith(("runs:/", "models:/")):
        if not encoder.startswith(("runs:/", "models:/")):
            raise AdaptError(f"--encoder {encoder!r}: give a local folder or an MLflow runs:/ or models:/ URI "
                             "(hub ids and web addresses are never downloaded)")
        import mlflow

        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=encoder, dst_path=str(workdir / "encoder-download"))
        except Exception as exc:  # noqa: BLE001 - MLflow raises several types for a missing run or path
            raise AdaptError(f"--encoder {encoder}: cannot fetch it from MLflow ({exc}); check the run id printed "
                             "by `occ adapt`") from exc
        return check_encoder_dir(local)
    return check_encoder_dir(encoder)
