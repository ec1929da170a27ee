"""Ingest: post dumps in, validated, de-duplicated, redacted posts with product mentions out.

- `schema`: the post data contract (pyarrow schemas, strict coercion with stable reason codes);
- `readers`: streaming JSONL / CSV / Parquet readers that turn a bad line into a reason, never a crash;
- `mapping` (+ `mappings/`): other export shapes mapped onto the contract by a YAML file;
- `redaction/`: personal data removed (`patterns` fast path, `ner` Presidio stage);
- `products` (+ `products.yaml`): product mentions from a brand/generic/misspelling dictionary;
- `suppression`: the opt-out list (authors whose posts are dropped before anything is kept);
- `pipeline`: the per-row logic shared with batch scoring; `run`: `occ ingest` over files.
"""
