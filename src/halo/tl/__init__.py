"""halo.tl."""
