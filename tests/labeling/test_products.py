from __future__ import annotations

import pytest

from labeling.ingest.products import ProductDictionaryError, ProductMatcher, load_products, products_from_dict


@pytest.fixture(scope="module")
def matcher() -> ProductMatcher:
    return ProductMatcher(load_products())


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Started my pt on GLUCAVEX last week", ["Glucavex"]),
        ("semaglutran vs renaflozin: any H2H?", ["Glucavex", "Renaflo"]),
        ("#Oncotrexa data at ASCO", ["Oncotrexa"]),
        ("onkotrexa's label says...", ["Oncotrexa"]),
        ("OTX-101 trial readout", ["Oncotrexa"]),
        ("otx 101 results", ["Oncotrexa"]),
        ("switched from metfornil XR to Renaflo", ["Cardiomet", "Renaflo"]),
        ("Jakvira, jakvera and upacitinol are the same drug", ["Jakvira"]),
        ("GVXL is not a product, nor is preglucavex", []),
        ("nothing relevant here", []),
    ],
)
def test_matches_on_word_boundaries_case_insensitively(matcher: ProductMatcher, text: str, expected: list[str]) -> None:
    assert matcher.find(text) == expected


def test_conflicting_terms_are_rejected() -> None:
    with pytest.raises(ProductDictionaryError, match="both"):
        ProductMatcher(products_from_dict({"products": {"A": ["xyz"], "B": ["XYZ"]}}))


def test_malformed_dictionary_is_a_clear_error() -> None:
    with pytest.raises(ProductDictionaryError, match="products"):
        products_from_dict({"drugs": []})


def test_long_dictionary_matches_exactly() -> None:
    # Speed on long dictionaries is measured in bench/bench_ingest.py; here only correctness at scale.
    dictionary = products_from_dict({"products": {f"Drug{i}": [f"brand{i}", f"generic{i}mab", f"brnd {i}"] for i in range(20000)}})
    matcher = ProductMatcher(dictionary)
    text = "Patient on generic1234mab and brand19999 did well, unlike brnd 77 " * 4
    assert matcher.find(text) == ["Drug1234", "Drug19999", "Drug77"]
