"""A method and a nucleus source written outside halo: one class and one registration line each.

They run through the whole pipeline (tiles, stitching, writing) and the command line like halo's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import shapely
from scipy import ndimage
from spatialdata import read_zarr

import halo
from halo import methods
from halo.__main__ import main


@dataclass(frozen=True)
class Rings(methods.Method):
    """Toy method: each nucleus grown by 2 um, with a confidence from the image (it reads one)."""

    name = "toy_rings"

    @classmethod
    def reach_um(cls, options):
        return 2.0

    def reads(self, window, grid):
        return methods.Reads({methods.IMAGE: window})

    def segment(self, data, nuclei):
        cells = methods.expand_nuclei(nuclei.labels, 2.0 / data.grid.grid_um_per_px)
        image = data.raster(methods.IMAGE)  # native pixels over the tile's window
        assert image.shape == data.tile.window.shape
        return methods.Cells(cells, confidence=np.full(nuclei.keys.size, 0.25))


@dataclass(frozen=True)
class Bright(methods.NucleusSource):
    """Toy nucleus source: connected pixels brighter than a fixed level, keyed by their first pixel."""

    name = "toy_bright"
    level: float = 0.0

    @classmethod
    def create(cls, slide):
        return cls(level=float(np.percentile(np.asarray(slide.image.overview), 90)))

    def reads(self, window, grid):
        return methods.Reads({methods.IMAGE: window})

    def nuclei(self, data):
        from halo._geometry import block_mean

        grid = data.grid
        labels, _ = ndimage.label(block_mean(data.raster(methods.IMAGE), grid.factor) > self.level)
        return methods.keyed_by_first_pixel(labels.astype(np.int32), data.box, grid.grid_shape[1])


@pytest.fixture
def registered():
    methods.register_method(Rings)  # the one registration line each
    methods.register_nucleus_source(Bright)
    yield
    del methods.METHODS["toy_rings"], methods.NUCLEUS_SOURCES["toy_bright"]


def _cells(sdata, key):
    return shapely.to_wkb(sdata.shapes[f"{key}_boundaries"].geometry.to_numpy()).tolist()


def test_a_registered_method_runs_through_the_pipeline(registered, small_sdata):
    toy = halo.tl.segment(small_sdata, method="toy_rings", key_added="toy", progress=False)
    halo.tl.segment(small_sdata, method="expansion", expansion_um=2.0, key_added="ref", progress=False)
    assert toy.table == "toy_table" and toy.points == "transcripts"
    assert _cells(small_sdata, "toy") == _cells(small_sdata, "ref")  # the same rule, through halo's machinery
    table = small_sdata.tables["toy_table"]
    np.testing.assert_array_equal(table.X.toarray(), small_sdata.tables["ref_table"].X.toarray())
    assert (table.obs["confidence"] == 0.25).all()
    assert table.uns["halo"]["params"]["method"] == "toy_rings"


def test_a_registered_nucleus_source_gives_the_same_cells_for_any_tiling(registered, small_sdata):
    options = {"method": "expansion", "expansion_um": 2.0, "nuclei_source": "toy_bright", "progress": False}
    small = {"tile_um": 40.0, "overlap_um": 36.0, "nucleus_options": {"max_area_um2": 60.0}}
    halo.tl.segment(small_sdata, key_added="one", **options)
    halo.tl.segment(small_sdata, key_added="tiled", **options, **small)
    assert small_sdata.tables["tiled_table"].uns["halo"]["params"]["n_tiles"] > 1
    assert small_sdata.tables["one_table"].n_obs > 10
    assert _cells(small_sdata, "one") == _cells(small_sdata, "tiled")
    assert small_sdata.tables["one_table"].uns["halo"]["params"]["nuclei_source"] == "toy_bright"


def test_the_command_line_offers_registered_plug_ins(registered, tmp_path, small_sdata, capsys):
    store = tmp_path / "small.zarr"
    small_sdata.write(store)
    argv = ["segment", str(store), "--method", "toy_rings", "--nuclei-source", "toy_bright", "--key-added", "cli", "-q"]
    assert main(argv) == 0
    params = read_zarr(store)["cli_table"].uns["halo"]["params"]
    assert (params["method"], params["nuclei_source"]) == ("toy_rings", "toy_bright")
    with pytest.raises(SystemExit):
        main(["segment", "--help"])
    assert "toy_rings" in capsys.readouterr().out


def test_registration_and_choice_errors_are_clear():
    with pytest.raises(TypeError, match="not a subclass of halo.methods.Method"):
        methods.register_method(Bright)

    class Nameless(methods.Method):
        pass

    with pytest.raises(ValueError, match="no `name`"):
        methods.register_method(Nameless)
    with pytest.raises(ValueError, match=r"Unknown method 'toy_rings'; choose one of .*register_method"):
        halo.tl.SegmentOptions(method="toy_rings")
