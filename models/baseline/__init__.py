"""The baseline family: TF-IDF features (`features`) and one logistic head per task (`classifier`).

The names below are re-exported because pickled models refer to them as `models.baseline.<name>`: baseline
versions registered before this package was split (one module, `models/baseline.py`) load unchanged.
"""

from models.baseline.classifier import TfidfMultiTaskClassifier, _Head
from models.baseline.features import WordCharTfidf, _WordCache
from models.tasks import TextInputError, as_texts

__all__ = ["TfidfMultiTaskClassifier", "WordCharTfidf", "TextInputError", "as_texts", "_Head", "_WordCache"]
