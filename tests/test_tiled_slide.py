"""halo.datasets.tiled_slide: a slide tiled from simulated fields, written to zarr and read back."""

from __future__ import annotations

import numpy as np
import pytest

import halo

BLOCK_UM = 100.0


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiled") / "slide.zarr"
    return path, halo.datasets.tiled_slide(
        path, size_um=2 * BLOCK_UM, block_um=BLOCK_UM, seed=3, tissue_fraction=1.0, chunk_px=512, progress=False
    )


def _fields(sdata):
    """Each field the layout names, simulated again from its archetype and seed."""
    layout = sdata.attrs["halo_tiled_slide"]
    size_um = layout["block_px"] * halo.datasets.PLATFORMS["xenium"]
    fields = [halo.datasets.simulate_tissue(f["archetype"], size_um=size_um, seed=f["seed"]) for f in layout["fields"]]
    return layout, fields


_DIHEDRAL = [(lambda a, k=k, flip=flip: np.rot90(a.T if flip else a, k)) for k in range(4) for flip in (False, True)]


def _counts(x, y, size):
    """Molecules per pixel."""
    flat = np.floor(y).astype(np.int64) * size + np.floor(x).astype(np.int64)
    return np.bincount(flat, minlength=size * size).reshape(size, size)


def _scale0(sdata):
    import spatialdata

    return spatialdata.get_pyramid_levels(sdata["morphology_focus"], n=0)


def test_layout_image_and_transcripts_add_up(slide):
    path, sdata = slide
    layout, fields = _fields(sdata)
    b = layout["block_px"]
    image = _scale0(sdata)
    assert image.shape == (1, 2 * b, 2 * b)
    assert list(image.coords["c"].values) == ["DAPI"]
    assert max(image.data.chunksize) <= 512
    pixels = image.data[0].compute()
    points = sdata["transcripts"].compute()
    x_px, y_px = points["x"].to_numpy() / 0.2125, points["y"].to_numpy() / 0.2125
    assert (x_px >= 0).all() and (y_px >= 0).all() and (x_px < 2 * b).all() and (y_px < 2 * b).all()
    expected = 0
    for row in range(2):
        for col in range(2):
            field = fields[layout["block"][row][col]]
            # a turned or flipped copy of the field, its molecules turned and flipped with it
            block = pixels[row * b : (row + 1) * b, col * b : (col + 1) * b]
            turn = next(t for t in _DIHEDRAL if np.array_equal(t(field.dapi), block))
            inside = (x_px // b == col) & (y_px // b == row)
            counts = _counts(x_px[inside] - col * b, y_px[inside] - row * b, b)
            np.testing.assert_array_equal(counts, turn(_counts(field.tx_x, field.tx_y, b)))
            expected += field.tx_x.size
    assert len(points) == expected
    assert points["feature_name"].dtype == "category" and list(points["feature_name"].cat.categories) == fields[0].genes
    assert points["qv"].between(0, 40).all() and (points["qv"] >= 20).mean() > 0.9


def test_reads_back_from_zarr_and_refuses_to_overwrite(slide):
    path, sdata = slide
    assert sdata.is_backed() and sdata.path.resolve() == path.resolve()
    n = len(sdata["transcripts"])
    with pytest.raises(FileExistsError, match="overwrite=True"):
        halo.datasets.tiled_slide(path, size_um=BLOCK_UM, block_um=BLOCK_UM, progress=False)
    import spatialdata

    assert len(spatialdata.read_zarr(path)["transcripts"]) == n  # the store is untouched


def test_glass_cells_are_empty_and_dim(tmp_path):
    sdata = halo.datasets.tiled_slide(
        tmp_path / "half.zarr", size_um=(2 * BLOCK_UM, BLOCK_UM), block_um=BLOCK_UM, tissue_fraction=0.5,
        scale_factors=None, progress=False,
    )  # fmt: skip
    layout = sdata.attrs["halo_tiled_slide"]
    assert sorted(layout["block"][0]) == [-1, 0]
    b = layout["block_px"]
    glass_col = layout["block"][0].index(-1)
    x_px = sdata["transcripts"]["x"].compute().to_numpy() / 0.2125
    on_glass = (x_px // b == glass_col).sum()
    assert 0 < on_glass < 0.05 * (x_px.size - on_glass)
    pixels = sdata["morphology_focus"].data[0].compute()
    glass = pixels[:, glass_col * b : (glass_col + 1) * b]
    tissue = pixels[:, (1 - glass_col) * b : (2 - glass_col) * b]
    assert np.percentile(glass, 99.9) < np.percentile(tissue, 99.9)


def test_segment_runs_without_options(slide):
    _, sdata = slide
    halo.tl.segment(sdata, method="expansion", key_added="tiled", progress=False)
    table = sdata["tiled_table"]
    assert table.n_obs > 0
    assigned = (sdata["transcripts"]["tiled_cell_id"].compute() > 0).sum()
    assert table.obs["transcript_count"].sum() == assigned == table.X.sum()


def test_bad_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="size_um must be positive"):
        halo.datasets.tiled_slide(tmp_path / "bad.zarr", size_um=0, progress=False)
    assert not (tmp_path / "bad.zarr").exists()
