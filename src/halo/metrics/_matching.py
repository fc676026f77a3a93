"""One-to-one maximum-weight matching on a sparse bipartite graph (private helper)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching

# Above this many dense entries the sparse Jonker-Volgenant solver replaces the dense Hungarian.
_DENSE_BLOCK_MAX = 250_000


def max_weight_matching(
    rows: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    n_rows: int,
    n_cols: int,
    *,
    dense_block_max: int = _DENSE_BLOCK_MAX,
) -> np.ndarray:
    """Maximum-weight one-to-one matching restricted to the given edges.

    Parameters
    ----------
    rows, cols
        Edge end points, row indices in ``[0, n_rows)`` and column indices in ``[0, n_cols)``.
        Each (row, col) pair must occur at most once.
    weights
        Strictly positive edge weights. Pairs that are not edges are never matched.
    n_rows, n_cols
        Number of row and column vertices.
    dense_block_max
        Components with a single edge are matched directly. The others are solved together with
        :func:`scipy.optimize.linear_sum_assignment` on a dense matrix when it has at most this many
        entries, and with the sparse :func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching`
        otherwise.

    Returns
    -------
    Indices into the edge arrays of the matched edges, sorted by row. The matching maximises the
    total weight of the matched edges; ties are broken arbitrarily.
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.float64)
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)

    # Vertices: rows are 0..n_rows-1, columns are n_rows..n_rows+n_cols-1.
    n = n_rows + n_cols
    graph = sp.coo_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols + n_rows)), shape=(n, n)).tocsr()
    _, comp = connected_components(graph, directed=False)
    edge_comp = comp[rows]

    # Components with exactly one edge (the common case at IoU >= 0.5) match trivially.
    n_edges_per_comp = np.bincount(edge_comp, minlength=comp.max() + 1)
    single = n_edges_per_comp[edge_comp] == 1
    matched = [np.flatnonzero(single)]

    multi = np.flatnonzero(~single)
    if multi.size:
        # The remaining components are solved together: the problem is block-diagonal, so one
        # assignment over their union is optimal for each of them.
        _, ri = np.unique(rows[multi], return_inverse=True)
        _, ci = np.unique(cols[multi], return_inverse=True)
        shape = (int(ri.max()) + 1, int(ci.max()) + 1)
        if shape[0] * shape[1] <= dense_block_max:
            dense = np.zeros(shape)
            dense[ri, ci] = weights[multi]
            mr, mc = linear_sum_assignment(dense, maximize=True)
        else:
            mr, mc = _sparse_assignment(ri, ci, weights[multi], *shape)
        # Position of each edge, +1 so that 0 means "no edge"; drops assignments onto non-edges.
        where = sp.csr_matrix((np.arange(1, multi.size + 1), (ri, ci)), shape=shape)
        pos = np.asarray(where[mr, mc]).ravel()
        matched.append(multi[pos[pos > 0] - 1])

    edges = np.concatenate(matched)
    return edges[np.argsort(rows[edges], kind="stable")]


def _sparse_assignment(
    rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n_rows: int, n_cols: int
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-weight (not necessarily full) matching with the sparse LAPJVsp solver.

    Every vertex gets a private dummy partner so that a full matching always exists:
    rows are ``[real rows, dummies of columns]``, columns ``[real columns, dummies of rows]``.
    All costs are shifted by a constant so that they are strictly positive (the solver treats
    zeros as missing edges); the shift does not change the optimum of a full matching.
    """
    shift = weights.max() + 1.0
    ar = np.arange(n_rows)
    ac = np.arange(n_cols)
    big_r = np.concatenate([rows, ar, n_rows + ac, n_rows + cols])
    big_c = np.concatenate([cols, n_cols + ar, ac, n_cols + rows])
    cost = np.concatenate([shift - weights, np.full(n_rows, shift), np.full(n_cols, shift), np.full(rows.size, shift)])
    size = n_rows + n_cols
    mat = sp.csr_matrix((cost, (big_r, big_c)), shape=(size, size))
    mr, mc = min_weight_full_bipartite_matching(mat)
    real = (mr < n_rows) & (mc < n_cols)
    return mr[real], mc[real]
