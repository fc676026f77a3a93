"""Overlapping tiles over a slide, and ownership of cells by tile cores."""

from ._grid import Box, Tile, tile_grid, tile_of_points

__all__ = ["Box", "Tile", "tile_grid", "tile_of_points"]
