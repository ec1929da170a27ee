"""Product mention matching from a dictionary of surface forms (brand, generic, abbreviations, misspellings).

Terms and texts are split into the same lowercase alphanumeric tokens and matched as token n-grams through a
dict, so a lookup costs O(tokens x longest term) whatever the dictionary size, matches are case-insensitive,
and word boundaries come for free ("GVX" never matches inside "GVXL"; "#Glucavex" and "Glucavex's" match).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from common.errors import OccError

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


class ProductDictionaryError(OccError, ValueError):
    """The product dictionary file is malformed; the message names the problem."""


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def default_products_path() -> Path:
    return Path(str(resources.files("labeling.ingest") / "products.yaml"))


@dataclass(frozen=True)
class ProductDictionary:
    """Canonical product -> surface forms; also the form that travels inside a model artifact."""

    products: dict[str, list[str]]
    classes: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"products": {name: {"class": self.classes.get(name, ""), "terms": terms} for name, terms in self.products.items()}}


def products_from_dict(data: Any, source: str = "<dict>") -> ProductDictionary:
    if not isinstance(data, dict) or not isinstance(data.get("products"), dict) or not data["products"]:
        raise ProductDictionaryError(f"product dictionary {source}: expected a top-level `products:` mapping of name -> terms")
    products: dict[str, list[str]] = {}
    classes: dict[str, str] = {}
    for name, entry in data["products"].items():
        if isinstance(entry, list):
            terms, klass = entry, ""
        elif isinstance(entry, dict):
            terms, klass = entry.get("terms") or [], str(entry.get("class") or "")
        else:
            raise ProductDictionaryError(f"product dictionary {source}: product {name!r} needs a list of terms")
        clean = [str(t) for t in [name, *terms] if str(t).strip() and _tokens(str(t))]
        products[str(name)] = list(dict.fromkeys(clean))
        classes[str(name)] = klass
    return ProductDictionary(products, classes)


def load_products(path: str | Path | None = None) -> ProductDictionary:
    """Load a product dictionary YAML; `None` loads the default (the demo corpus's fictional products)."""
    target = Path(path) if path else default_products_path()
    try:
        data = yaml.safe_load(target.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProductDictionaryError(f"product dictionary {target}: cannot read it ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise ProductDictionaryError(f"product dictionary {target}: not valid YAML ({exc})") from exc
    return products_from_dict(data, str(target))


class ProductMatcher:
    """Finds canonical products mentioned in a text, in order of first mention, without repeats."""

    def __init__(self, dictionary: ProductDictionary) -> None:
        self._lookup: dict[tuple[str, ...], str] = {}
        for product, terms in dictionary.products.items():
            for term in terms:
                key = tuple(_tokens(term))
                existing = self._lookup.get(key)
                if existing is not None and existing != product:
                    raise ProductDictionaryError(
                        f"term {term!r} maps to both {existing!r} and {product!r}; each term must name one product"
                    )
                self._lookup[key] = product
        self._max_len = max((len(k) for k in self._lookup), default=1)
        self._first_tokens = {k[0] for k in self._lookup}

    def find(self, text: str) -> list[str]:
        tokens = _tokens(text)
        found: dict[str, None] = {}
        lookup, first, max_len = self._lookup, self._first_tokens, self._max_len
        for i, token in enumerate(tokens):
            if token not in first:
                continue
            for n in range(min(max_len, len(tokens) - i), 0, -1):  # longest match first
                product = lookup.get(tuple(tokens[i : i + n]))
                if product is not None:
                    found[product] = None
                    break
        return list(found)
