"""BigQuery as a source (placeholder)."""

from __future__ import annotations


def is_bigquery(source: str) -> bool:
    return str(source).startswith("bq://")


def export(source: str, directory: str):
    raise NotImplementedError
