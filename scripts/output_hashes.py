"""Hash what ``halo.tl.segment`` writes, to prove that a refactor leaves every output bit-identical.

usage: PYTHONPATH=src python scripts/output_hashes.py [--out hashes.json] [--no-real]

Segments the test fixtures (synthetic tissue, both methods, every nucleus source, several tile sizes) and, when
``../shared/data`` is there, the real Xenium crop; prints one SHA-256 per written element: the shapes' WKB with
their index, the table's ``X``, ``obs`` and ``obsm``, and the per-transcript assignment column. Run it before and
after a change and compare the two files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes() if a.dtype != object else "\x00".join(map(str, a.ravel())).encode())
    return h.hexdigest()[:16]


def hashes(sdata, key_added: str, points_key: str) -> dict[str, str]:
    """One hash per output of the segmentation written under ``key_added``."""
    import shapely

    out = {}
    for kind in ("boundaries", "nuclei"):
        gdf = sdata.shapes[f"{key_added}_{kind}"]
        out[kind] = _digest(gdf.index.to_numpy(), np.asarray(shapely.to_wkb(gdf.geometry.to_numpy()), dtype=object))
    table = sdata.tables[f"{key_added}_table"]
    x = table.X.tocsr()
    out["X"] = _digest(x.data, x.indices, x.indptr, np.asarray(table.var_names, dtype=object))
    obs = table.obs
    out["obs"] = _digest(
        np.asarray(obs.index, dtype=object), np.asarray(list(obs.columns), dtype=object),
        *[np.asarray(obs[c].astype(str) if obs[c].dtype.name == "category" else obs[c]) for c in obs.columns],
    )  # fmt: skip
    out["obsm"] = _digest(*[np.asarray(table.obsm[k]) for k in sorted(table.obsm)])
    out["assignment"] = _digest(sdata.points[points_key][f"{key_added}_cell_id"].compute().to_numpy())
    return out


def _fixture_runs():
    """``(name, input, options)`` of each run.

    Inputs are built once and kept as zarr, so that a change of the simulator does not change what is compared.
    """
    small = {"size_um": (110.0, 90.0), "seed": 3}
    yield "synthetic0_expansion", {"seed": 0}, {"method": "expansion"}
    yield "synthetic0_halo", {"seed": 0}, {"method": "halo"}
    yield "synthetic0_halo_model_nuclei", {"seed": 0}, {"method": "halo", "nuclei_source": "model"}
    tiny = {"nucleus_options": {"max_area_um2": 80.0}, "tile_um": 40.0, "overlap_um": 34.0}
    yield "small3_halo_tiles", small, {"max_reach_um": 3.0, **tiny}
    yield "small3_expansion_tiles", small, {"method": "expansion", "expansion_um": 3.0, **tiny}
    yield "small3_labels", small, {"nuclei_key": "true_nuclei"}
    yield "small3_shapes_expansion", small, {"method": "expansion", "nuclei_key": "true_nuclei_shapes"}


def _input(folder: Path, build: dict):
    """The synthetic object of ``build`` (with its true nuclei as shapes too), from ``folder`` once written."""
    import spatialdata as sd

    path = folder / ("synthetic_" + "_".join(f"{k}{v}" for k, v in sorted(build.items())).replace(" ", "") + ".zarr")
    if not path.exists():
        import halo

        sdata = halo.datasets.synthetic(**build)
        sdata.shapes["true_nuclei_shapes"] = sd.to_polygons(sdata.labels["true_nuclei"])
        sdata.write(path)
    backed = sd.read_zarr(path)
    return sd.SpatialData(
        images=dict(backed.images), labels=dict(backed.labels), points=dict(backed.points),
        shapes=dict(backed.shapes),
    )  # fmt: skip


def main() -> int:
    """Hash every run; print the hashes as JSON (and write them to ``--out``)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=None)
    parser.add_argument("--no-real", action="store_true")
    parser.add_argument("--only", default=None, help="substring of the runs to do")
    parser.add_argument("--inputs", default="/tmp/halo_hash_inputs", help="folder of the inputs, written once")
    args = parser.parse_args()
    import halo

    results = {}
    Path(args.inputs).mkdir(parents=True, exist_ok=True)
    for name, build, kwargs in _fixture_runs():
        if args.only and args.only not in name:
            continue
        sdata = _input(Path(args.inputs), build)
        halo.tl.segment(sdata, progress=False, key_added="h", **kwargs)
        results[name] = hashes(sdata, "h", "transcripts")
        print(name, results[name], file=sys.stderr)
    if not args.no_real:
        from halo.datasets import xenium_breast_crop

        try:
            for method in ("expansion", "halo"):
                if args.only and args.only not in f"xenium_{method}":
                    continue
                sdata = xenium_breast_crop()
                halo.tl.segment(sdata, method=method, progress=False, key_added="h")
                results[f"xenium_{method}"] = hashes(sdata, "h", "transcripts")
                print(f"xenium_{method}", results[f"xenium_{method}"], file=sys.stderr)
        except FileNotFoundError as error:
            print(f"real crop skipped: {error}", file=sys.stderr)
    text = json.dumps(results, indent=1, sort_keys=True)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
