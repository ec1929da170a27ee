"""Inference: batch scoring with a pinned registered model, and the evidence-gap report."""
