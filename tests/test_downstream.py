"""The table of ``halo.tl.segment`` goes through scanpy and squidpy as it is, and the clusters find the cell types."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

import halo


def _true_types(sdata) -> pd.Series:
    """Cell type of each segmented cell: that of the true cell most of its transcripts come from."""
    frame = sdata["transcripts"].compute()
    frame = frame[(frame["halo_cell_id"] > 0) & (frame["true_cell_id"] > 0)]
    majority = frame.groupby("halo_cell_id")["true_cell_id"].agg(lambda s: s.value_counts().index[0])
    types = sdata["true_cell_boundaries"]["cell_type"]
    return pd.Series(types.loc[majority.to_numpy()].to_numpy(), index=majority.index.astype(str))


def test_scanpy_and_squidpy_run_on_the_table_without_conversion(tmp_path):
    sc = pytest.importorskip("scanpy")
    sq = pytest.importorskip("squidpy")
    from spatialdata import read_zarr

    # the table as a user gets it back from disk
    halo.datasets.synthetic(size_um=(140.0, 110.0), seed=5).write(tmp_path / "s.zarr")
    sdata = read_zarr(tmp_path / "s.zarr")
    halo.tl.segment(sdata, progress=False)
    adata = read_zarr(tmp_path / "s.zarr")["halo_table"]
    counts = adata.layers["counts"].copy()

    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    sc.pp.pca(adata, n_comps=10)
    sc.pp.neighbors(adata, n_neighbors=10)
    sc.tl.leiden(adata, resolution=0.3, flavor="igraph", n_iterations=2, directed=False, random_state=0)
    sc.tl.umap(adata, random_state=0)
    sq.gr.spatial_neighbors(adata, coord_type="generic", n_neighs=6)
    sq.gr.nhood_enrichment(adata, cluster_key="leiden", n_perms=20, seed=0, show_progress_bar=False)

    assert adata.obsm["X_umap"].shape == (adata.n_obs, 2) and np.isfinite(adata.obsm["X_umap"]).all()
    # normalisation left the raw counts alone and each cell sums to the same total
    assert (adata.layers["counts"] != counts).nnz == 0
    totals = np.expm1(adata.X).sum(axis=1)
    assert np.allclose(totals, np.median(totals), rtol=1e-3)
    # spatial neighbours come from obsm["spatial"]: every cell has six
    assert (np.diff(adata.obsp["spatial_connectivities"].indptr) == 6).all()
    n_clusters = adata.obs["leiden"].cat.categories.size
    assert adata.uns["leiden_nhood_enrichment"]["zscore"].shape == (n_clusters, n_clusters)
    # the clusters recover the synthetic cell types (cells with too few transcripts aside)
    truth = _true_types(sdata)
    common = adata.obs_names.intersection(truth.index)
    assert len(common) > 0.9 * adata.n_obs
    assert adjusted_rand_score(truth.loc[common], adata.obs.loc[common, "leiden"]) > 0.8
