"""Synthetic tissue and example data."""

from ._synthetic import synthetic

__all__ = ["synthetic"]
