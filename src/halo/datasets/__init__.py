"""halo.datasets."""
