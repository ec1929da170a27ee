"""Inference: batch scoring with a pinned registered model, and the evidence-gap report.

Imports labeling (the data contract and the row pipeline) and models (the artifact), never training.
"""
