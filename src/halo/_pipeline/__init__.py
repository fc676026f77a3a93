"""The tiled segmentation pipeline: per-tile work, stitching, and the output elements."""
