"""``synthetic``: the small example of tests, tutorials and the demo, a preset of the tissue simulator."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spatialdata import SpatialData

logger = logging.getLogger(__name__)

#: What :func:`synthetic` simulates: a stratified squamous epithelium (small upright basal keratinocytes on an
#: undulating basement line, flattening upwards) over a loose stroma of fibroblasts, T cells and endothelium, on
#: Xenium with a 100-gene panel. Five cell types; every cell has at most one nucleus (no muscle fibres, adipocytes,
#: binucleate hepatocytes or giant tumour cells).
PRESET = {"tissue": "squamous_epithelium", "platform": "xenium", "n_genes": 100}


def synthetic(
    *,
    size_um: float | tuple[float, float] = (200.0, 150.0),
    um_per_px: float = 0.2125,
    seed: int = 0,
    origin_um: tuple[float, float] = (1000.0, 500.0),
) -> SpatialData:
    """Build a small simulated Xenium-like :class:`~spatialdata.SpatialData` with ground truth.

    A preset of :func:`simulate`: the ``"squamous_epithelium"`` archetype (basal keratinocytes, keratinocytes,
    fibroblasts, T cells and endothelial cells) on the Xenium platform with a 100-gene panel, laid out as
    :func:`simulate` lays out a Xenium field but with the image named ``"dapi"`` and its corner at ``origin_um``.
    A 200 x 150 um field has about 300 cells and 20,000 transcripts and takes about 0.3 s.

    Parameters
    ----------
    size_um
        Field size ``(width, height)`` in micrometres, or one number for a square.
    um_per_px
        Pixel size of the nuclear image.
    seed
        Seed: the same arguments and seed give the same object.
    origin_um
        Micron position of the image's top-left corner, so that the micron-to-pixel transform is not a pure scale.

    Returns
    -------
    SpatialData
        - image ``"dapi"`` (uint16, channel ``"DAPI"``; the ``"global"`` system is its pixel space),
        - points ``"transcripts"`` in micrometres (``x``, ``y``, ``feature_name`` with control probes such as
          ``NegControlProbe_*`` and ``BLANK_*``, ``qv`` with about 5% below 20, ``true_cell_id`` where 0 means
          extracellular or a control probe, ``true_diffused``), mapped to pixels by
          ``halo.io.microns_to_pixels(um_per_px, origin_um)``,
        - labels ``"true_cells"`` and ``"true_nuclei"`` (a nucleus carries its cell's id; a few cells have their
          nucleus out of the section plane and none here),
        - shapes ``"true_cell_boundaries"`` (index ``cell_id``, column ``cell_type``) and
          ``"true_nucleus_boundaries"``.

    Raises
    ------
    ValueError
        If ``size_um`` or ``um_per_px`` is not positive.
    """
    from ._simulate import simulate_tissue
    from ._simulate._spatialdata import tissue_to_spatialdata

    start = time.perf_counter()
    tissue = simulate_tissue(PRESET["tissue"], size_um=size_um, seed=seed, um_per_px=um_per_px,
                             platform=PRESET["platform"], n_genes=PRESET["n_genes"])  # fmt: skip
    sdata = tissue_to_spatialdata(tissue, seed=seed, origin_um=origin_um, image_key="dapi")
    logger.info(
        "synthetic tissue: %d cells, %d transcripts, image %s in %.2f s",
        tissue.n_cells,
        tissue.tx_x.size,
        tissue.dapi.shape,
        time.perf_counter() - start,
    )
    return sdata
