"""halo.pl."""
