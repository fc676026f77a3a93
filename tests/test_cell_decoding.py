"""Cells from the network's outputs (:func:`halo.methods.decode_cells`): numpy only, so these run without torch too,
as on the Python 3.12 CI leg (the network's own tests are in test_model.py)."""

from __future__ import annotations

import numpy as np

from halo import methods


def test_decode_gives_one_cell_per_nucleus_split_at_the_boundary():
    nuclei = np.zeros((40, 60), np.int32)
    nuclei[18:22, 10:14] = 1
    nuclei[18:22, 40:44] = 2
    cell = np.zeros((40, 60), np.uint8)
    cell[5:35, 2:58] = 255
    boundary = np.zeros((40, 60), np.uint8)
    boundary[:, 33:35] = 255  # the predicted border lies nearer nucleus 2
    # without the boundary, cells meet halfway between the nuclei, as nuclear expansion does
    plain = methods.decode_cells(cell, boundary, nuclei, max_reach_px=25)
    assert (plain[20, 14:26] == 1).all() and (plain[20, 28:40] == 2).all()
    cells = methods.decode_cells(cell, boundary, nuclei, max_reach_px=25, boundary_weight_px=20)
    assert set(np.unique(cells)) == {0, 1, 2}
    assert (cells[nuclei == 1] == 1).all() and (cells[nuclei == 2] == 2).all()
    assert (cells[20, 15:33] == 1).all() and (cells[20, 35:58] == 2).all()
    assert (cells[cell == 0] == 0).all()
    # a tighter reach keeps each cell within that distance of its nucleus
    near = methods.decode_cells(cell, boundary, nuclei, max_reach_px=5, boundary_weight_px=20)
    rows, cols = np.nonzero(near == 1)
    assert cols.min() >= 10 - 5 and cols.max() <= 13 + 5
    confidence = methods.cell_confidence(cell, boundary, cells, 2)
    assert confidence.shape == (2,) and (confidence > 0.5).all() and (confidence <= 1).all()
