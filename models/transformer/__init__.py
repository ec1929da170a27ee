"""The transformer family: a shared pretrained encoder with one head per task, fine-tuned with plain torch.

`classifier` (fit / predict / save / load), `network` (the module, batching, loss weights), `encoder` (finding,
loading and building local encoders; nothing is downloaded), `precision` (bf16 / int8 / threads on CPU).

Defaults (common/settings.py `TransformerSettings`) were checked on three public corpora of patients' text
(bench/transformer_public.py: grouped 60/20/20 split, at most ~1,500 training posts, 2 CPU cores) and chosen to
work across them, not on one:
- learning_rate 5e-5 (encoder) with head_learning_rate 1e-3 (fresh heads need a far larger step): 1e-4 was
  level on PsyTAR (+0.008 ADR F1, +0.005 facet macro-F1) but over-fitted the 587 Drugs.com reviews (early
  stop at epoch 4, validation loss rising from epoch 3, test macro-F1 0.477 vs 0.531).
- epochs 8 with patience 2 on validation mean macro-F1 (on the demo's 3,800 training posts validation
  macro-F1 still rose from 0.806 at epoch 6 to 0.816 at 8); validation loss rises from epoch 3 while
  macro-F1 still climbs, so early stopping watches macro-F1, not loss.
- max_length 128 (MiniLM was trained on 128-token inputs; most posts fit), batch_size 16.
- class_weighting "inv_sqrt" and BCE pos_weight capped at 10 (a rationale, not compared on the corpora):
  counter imbalance without the over-prediction of full inverse weights on small data; thresholds are
  tuned afterwards by the caller.
"""

from models.transformer.classifier import TransformerClassifier
from models.transformer.network import MultiTaskTransformer, class_weights
from models.transformer.precision import cpu_has_fast_bf16, quantize_int8, resolve_precision

__all__ = ["TransformerClassifier", "MultiTaskTransformer", "class_weights", "cpu_has_fast_bf16", "quantize_int8",
           "resolve_precision"]
