"""Overlapping tiles over a slide, and ownership of cells by tile cores."""

from ._grid import GRID_UM_PER_PX, Box, SlideGrid, Tile, bin_factor, tile_grid, tile_of_points

__all__ = ["GRID_UM_PER_PX", "Box", "SlideGrid", "Tile", "bin_factor", "tile_grid", "tile_of_points"]
