"""halo.io."""
