"""The transformer family: a shared pretrained encoder with one head per task, fine-tuned with plain torch.

`classifier` (fit / predict / save / load), `network` (the module, batching, loss weights), `encoder` (finding,
loading and building local encoders; nothing is downloaded), `precision` (bf16 / int8 / threads on CPU).

Defaults (common/settings.py `TransformerSettings`) were checked on three public corpora of patients' text
(bench/transformer_public.py: grouped 60/20/20 split, at most ~1,500 training posts, 2 CPU cores) and chosen to
work across them, not on one:
- learning_rate 5e-5 (encoder) with head_learning_rate 1e-3 (fresh heads need a far larger step): 1e-4 was
  level on PsyTAR (+0.008 ADR F1, +0.005 facet macro-F1) but over-fitted the 587 Drugs.com reviews (early
  stop at epoch 4, validation loss rising from epoch 3, test macro-F1 0.477 vs 0.531).
- epochs 8 with patience 2 on the validation ranking score (`early_stopping: ranking`: average precision for
  binary and multi-label tasks, macro-F1 for single-label ones; `models.metrics.task_ranking_score`).
  Thresholds are tuned after training, so an epoch is judged on the order it gives, not on its decisions at
  0.5, where rare labels count only once the model is confident enough to cross it. Replayed on the same
  fine-tunes (bench/early_stopping.py, 5 seeds), against macro-F1 at 0.5: LiveQA +3.2 test macro-F1 points,
  drugs.com negative +2.7 (3 seeds), PsyTAR ADR +0.3 (2.4 epochs instead of 3.0), MedQA and the demo (1 seed)
  level, CADEC -1.2; +0.8 on average. Validation loss rises from epoch 3 while both still climb, so early
  stopping does not watch loss (-0.6 on average). The best epoch's weights are kept as they are: averaging
  them with the next-best epochs' (bench/checkpoint_averaging.py, eight corpora) gained the transformer 0.4 to
  0.6 points alone, nearly all on drugs.com sentiment and CADEC, and nothing inside the ensemble.
- task_weighting "labels": the tasks' losses mix by their number of decisions (a multi-label task one per
  label). With every task weighing the same, the demo's seven evidence-need labels each pulled the shared
  encoder a seventh as hard as sentiment, and the transformer trailed the baseline there by 5.8 points (5
  seeds). Weighted by labels, on the same split and seed: evidence needs 68.1 -> 76.4 test macro-F1,
  perception 80.0 -> 81.5, sentiment 82.2 -> 80.2, adverse events 87.3 -> 87.4. A taxonomy of one task trains
  bit for bit as before, so the single-task public corpora are unchanged. Summing each multi-label task's
  label losses (its label set's log-likelihood) weighs tasks the same way but also scales a lone task's loss,
  which, through gradient clipping, moved LiveQA by -1.3 points (5 seeds, -4.7 to +3.1 per seed).
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
