"""Labeling: the post data contract, the taxonomy, ingestion, and the labeled dataset.

This package imports nothing else from the project; everything downstream reads what it defines.
"""
