"""Calibrate the tissue simulator against the real crops: the same statistics on real and on matching simulated tissue.

Both sides are measured the same way, with what a user would get: nuclei detected by halo from DAPI and cells from
halo's 5 um nuclear expansion (``halo.tl.segment``). The vendor's own cells are listed as a weak reference. Pairs:

- Xenium human breast crop (510 x 382 um) against ``simulate("pleomorphic_tumour+fibroblast_stroma",
  platform="xenium")`` of the same size (the crop holds tumour nests and stroma);
- MERSCOPE mouse brain crop (500 x 450 um, z0) against ``simulate("brain_cortex", platform="merscope")``.

Writes ``docs/calibration.md`` (table, remaining differences) and side-by-side figures
``docs/_static/calibration_{xenium,merscope}.png`` and ``calibration_distributions.png``.
Run: ``PYTHONPATH=src python benchmarks/calibration.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

import halo
from halo.datasets import merscope_brain_crop, merscope_keys, xenium_breast_crop

logger = logging.getLogger("halo.benchmarks.calibration")
ROOT = Path(__file__).resolve().parents[1]
SEED = 1_000_000  # a held-out seed (training uses seeds below 1_000_000)
XENIUM_TISSUE = "pleomorphic_tumour+fibroblast_stroma"
MERSCOPE_TISSUE = "brain_cortex"

STATISTICS = {
    "nuclei_per_1000_um2": "nuclei detected per 1000 um^2",
    "nucleus_area_median_um2": "detected nucleus area, median (um^2)",
    "nucleus_area_q90_um2": "detected nucleus area, 90th percentile (um^2)",
    "dapi_contrast": "DAPI median in nuclei / median in background",
    "nucleus_brightness_cv": "DAPI: CV of mean brightness between nuclei",
    "chromatin_cv": "DAPI texture: median within-nucleus CV",
    "background_cv": "DAPI: CV of background pixels",
    "transcripts_per_um2": "transcripts per um^2 (field)",
    "fraction_over_nuclei": "fraction of transcripts over detected nuclei",
    "fraction_assigned_expansion": "fraction assigned by 5 um expansion",
    "transcripts_per_cell_median": "transcripts per cell, median (5 um expansion)",
    "transcripts_per_cell_q90": "transcripts per cell, 90th percentile (5 um expansion)",
    "cell_area_median_um2": "cell area, median (5 um expansion, um^2)",
}


def measure(sdata, image_key: str, points_key: str, um_per_px: float) -> tuple[dict, dict]:
    """Statistics of one object; also per-nucleus / per-cell arrays for the distribution figure."""
    from rasterio.features import rasterize

    halo.tl.segment(
        sdata,
        image_key=image_key,
        points_key=points_key,
        method="expansion",
        expansion_um=5.0,
        key_added="calib",
        progress=False,
    )
    image = np.asarray(halo.io.get_nuclear_image(sdata, image_key=image_key).data).astype(np.float32)
    nuclei = sdata["calib_nuclei"]
    shape = image.shape
    labels = rasterize(
        ((geom, int(i)) for i, geom in zip(nuclei.index, nuclei.geometry, strict=True)), out_shape=shape, dtype="int32"
    )
    frame = sdata[points_key].compute()
    matrix = halo.io.affine_between(sdata, points_key, image_key)
    xy = halo.io.apply_affine(matrix, frame[["x", "y"]].to_numpy(np.float64))
    feature = sdata[points_key].attrs["spatialdata_attrs"]["feature_key"]
    genes = frame[feature].astype(str)
    real_genes = ~genes.str.fullmatch(halo.io.DEFAULT_CONTROL_PATTERN, case=False).to_numpy()
    cols = np.clip(xy[:, 0].astype(int), 0, shape[1] - 1)
    rows = np.clip(xy[:, 1].astype(int), 0, shape[0] - 1)
    area_um2 = shape[0] * shape[1] * um_per_px**2
    table = sdata["calib_table"]
    stats, arrays = _dapi_stats(image, labels, um_per_px)
    counts = table.obs["transcript_count"].to_numpy()
    stats |= {
        "nuclei_per_1000_um2": 1000 * len(nuclei) / area_um2,
        "transcripts_per_um2": real_genes.sum() / area_um2,
        "fraction_over_nuclei": float((labels[rows, cols][real_genes] > 0).mean()),
        "fraction_assigned_expansion": float((frame["calib_cell_id"].to_numpy()[real_genes] > 0).mean()),
        "transcripts_per_cell_median": float(np.median(counts)),
        "transcripts_per_cell_q90": float(np.quantile(counts, 0.9)),
        "cell_area_median_um2": float(np.median(table.obs["area_um2"])),
    }
    arrays["transcripts_per_cell"] = counts
    return stats, arrays


def _dapi_stats(image: np.ndarray, labels: np.ndarray, um_per_px: float) -> tuple[dict, dict]:
    from scipy import ndimage

    inside = labels > 0
    far = ~ndimage.binary_dilation(inside, iterations=max(1, round(3 / um_per_px)))
    background = image[far] if far.any() else image[~inside]
    core = ndimage.binary_erosion(inside, iterations=1) & inside
    ids = labels[core]
    values = image[core]
    n = int(labels.max()) + 1
    count = np.bincount(ids, minlength=n)
    mean = np.bincount(ids, values, minlength=n)
    square = np.bincount(ids, values.astype(np.float64) ** 2, minlength=n)
    ok = count > 10
    mean_ok = mean[ok] / count[ok]
    std_ok = np.sqrt(np.maximum(square[ok] / count[ok] - mean_ok**2, 0))
    areas = np.bincount(labels.ravel(), minlength=n)[1:] * um_per_px**2
    areas = areas[areas > 0]
    stats = {
        "nucleus_area_median_um2": float(np.median(areas)),
        "nucleus_area_q90_um2": float(np.quantile(areas, 0.9)),
        "dapi_contrast": float(np.median(image[inside]) / max(np.median(background), 1.0)),
        "nucleus_brightness_cv": float(mean_ok.std() / mean_ok.mean()),
        "chromatin_cv": float(np.median(std_ok / mean_ok)),
        "background_cv": float(background.std() / max(background.mean(), 1.0)),
    }
    return stats, {"nucleus_area": areas, "nucleus_brightness": mean_ok / np.median(background)}


def _real_xenium():
    sdata = xenium_breast_crop(multiscale=False)
    return sdata, "morphology_focus", "transcripts", 0.2125


def _real_merscope():
    sdata = merscope_brain_crop(0, multiscale=False)
    keys = merscope_keys(0)
    um_per_px = 1.0 / float(halo.io.affine_between(sdata, keys["points"], keys["image"])[0, 0])
    return sdata, keys["image"], keys["points"], um_per_px


def _simulated(tissue: str, platform: str, size_um: tuple[float, float], seed: int):
    from halo.datasets._simulate._spatialdata import ELEMENT_NAMES

    sdata = halo.datasets.simulate(tissue, size_um=size_um, seed=seed, platform=platform)
    names = ELEMENT_NAMES[platform]
    return sdata, names["image"], names["points"], halo.datasets.PLATFORMS[platform]


def _vendor_xenium(sdata) -> float:
    ids = sdata["transcripts"]["cell_id"].compute().to_numpy()
    return float(np.median(np.unique(ids[ids > 0], return_counts=True)[1]))


def _vendor_merscope(sdata, image_key, points_key) -> float:
    labels = np.asarray(sdata[merscope_keys(0)["labels"]].data)
    frame = sdata[points_key].compute()
    matrix = halo.io.affine_between(sdata, points_key, image_key)
    xy = halo.io.apply_affine(matrix, frame[["x", "y"]].to_numpy(np.float64))
    cell = labels[
        np.clip(xy[:, 1].astype(int), 0, labels.shape[0] - 1), np.clip(xy[:, 0].astype(int), 0, labels.shape[1] - 1)
    ]
    return float(np.median(np.unique(cell[cell > 0], return_counts=True)[1]))


def _figure(pairs, path: Path, window_um: float = 90.0) -> None:
    """Draw the real crop and the simulated field side by side: DAPI with transcripts, same window and contrast rule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(8.5, 8.5), dpi=62)
    for row, (title, sdata, image_key, points_key, um_per_px, corner_um) in zip(axes.T, pairs, strict=True):
        image = np.asarray(halo.io.get_nuclear_image(sdata, image_key=image_key).data).astype(np.float32)
        n = round(window_um / um_per_px)
        r0, c0 = _densest_window(sdata, n) if corner_um is None else (round(v / um_per_px) for v in corner_um)
        crop = image[r0 : r0 + n, c0 : c0 + n]
        frame = sdata[points_key].compute()
        matrix = halo.io.affine_between(sdata, points_key, image_key)
        xy = halo.io.apply_affine(matrix, frame[["x", "y"]].to_numpy(np.float64)) - [c0, r0]
        sel = (xy[:, 0] >= 0) & (xy[:, 0] < n) & (xy[:, 1] >= 0) & (xy[:, 1] < n)
        extent = (0, window_um, window_um, 0)
        vmax = np.percentile(crop, 99.7)
        row[0].imshow(crop, cmap="gray", vmax=vmax, extent=extent)
        row[0].set_title(f"{title}: DAPI", fontsize=9)
        row[1].imshow(crop, cmap="gray", vmax=vmax, extent=extent)
        row[1].scatter(xy[sel, 0] * um_per_px, xy[sel, 1] * um_per_px, s=0.8, c="#f5b700", alpha=0.8, linewidths=0)
        row[1].set_title(f"{title}: + transcripts", fontsize=9)
        for ax in row:
            ax.set_xlim(0, window_um)
            ax.set_ylim(window_um, 0)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    _shrink_png(path)


def _shrink_png(path: Path, colours: int = 96) -> None:
    """Re-save a figure with an adaptive palette: grey images and dots need few colours, and docs want small files."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def _densest_window(sdata, n: int) -> tuple[int, int]:
    """Top-left pixel of the ``n``-pixel window holding the most true nucleus pixels (simulated tissue)."""
    nuclei = np.asarray(sdata["true_nuclei"].data) > 0
    step = max(n // 4, 1)
    best, corner = -1, (0, 0)
    for r0 in range(0, max(nuclei.shape[0] - n, 0) + 1, step):
        for c0 in range(0, max(nuclei.shape[1] - n, 0) + 1, step):
            count = int(nuclei[r0 : r0 + n, c0 : c0 + n].sum())
            if count > best:
                best, corner = count, (r0, c0)
    return corner


def _distributions(arrays: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = (
        ("nucleus_area", "detected nucleus area (um^2)", (0, 150)),
        ("nucleus_brightness", "nucleus mean / background", (0, 40)),
        ("transcripts_per_cell", "transcripts per cell (5 um expansion)", (0, 600)),
    )
    fig, axes = plt.subplots(2, 3, figsize=(11, 5.5), dpi=72)
    for row, platform in zip(axes, ("xenium", "merscope"), strict=True):
        for ax, (key, label, limits) in zip(row, keys, strict=True):
            for side, colour in (("real", "k"), ("simulated", "#d62728")):
                values = arrays[platform][side][key]
                ax.hist(
                    np.clip(values, *limits),
                    bins=40,
                    range=limits,
                    density=True,
                    histtype="step",
                    color=colour,
                    label=side,
                )
            ax.set_title(f"{platform}: {label}", fontsize=9)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


NOTES = """
## Remaining differences

Ratios outside 0.67-1.5 are flagged (**!**). Measured with halo's nucleus detector as it is now (each nucleus ends
at half its own local maximum), on the ~0.5 um grid every method works on (0.425 um Xenium, 0.54 um MERSCOPE); the
simulated brain was recalibrated with it (below). What still differs, and why:

- **Xenium: large nuclei and transcripts over nuclei (~0.6x).** The real crop has a tail of large nuclei (90th
  percentile 103 vs 58 um^2): clumped, overlapping tumour nuclei in the projection, which the simulator does not
  make (nuclei stay inside their own cells), so fewer simulated molecules fall over a nucleus (0.25 vs 0.42).
  Densities, capture by 5 um expansion and transcripts per cell match within 20%.
- **Chromatin texture (~0.7x on both).** Real nuclei show more bright chromocentre-like spots.
- **MERSCOPE: nucleus size and transcripts over nuclei (~0.5x).** The real DAPI is strongly blurred, so detected
  nuclei are large (median 118 vs 59 um^2; the vendor's nucleus-centred cells: 59 um^2) and hold 59% of the
  molecules; the simulated ones hold 26%. Nucleus density, transcript density, capture by 5 um expansion (0.72 vs
  0.80) and cell areas now match.
- **MERSCOPE: background CV.** The real mosaic is JPEG-compressed with posterised, mostly-zero background; the
  simulator JPEG-compresses too, but its background noise is smoother.
- **Tissue mix.** The real crops are one piece of one tissue; the simulated field mixes archetypes by smooth regions,
  so per-field densities differ with the mix.
- **Vendor cells as reference.** Vendor segmentations are weak references (Xenium: nuclear expansion; MERSCOPE 2021:
  nucleus-centred polygons holding ~43% of transcripts); they are listed for orientation only.

### The brain recalibration

The brain archetype was first calibrated with an older nucleus detector that found only 169 nuclei on the real
crop (0.75 per 1000 um^2, holding 13% of the molecules). The current detector finds 456 at the image's 0.108 um
(432 on the 0.54 um grid used since), about as many as the vendor's 498 cells, and 5 um expansion around them
captures 81% of the molecules (80% on the grid): real cortex keeps most of its molecules near
nuclei. The simulated brain had matched the old numbers by putting ~70% of its molecules in neuropil, away from any
soma (5 um expansion captured 30%). Now: neurons 1.8x and glia 1.8x denser (`brain_cortex` layout), neuropil
0.55 -> 0.1 molecules per um^2, and neuron and glia molecule densities x1.4, which keeps the field's density at the
real 0.16 per um^2. Before -> after (sim / real): nuclei per 1000 um^2 0.50 -> 0.98, fraction captured by 5 um
expansion 0.37 -> 0.90, fraction over nuclei 0.12 -> 0.43, transcripts per cell 0.79 -> 0.87.
"""


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    for noisy in ("halo.tl", "halo.io", "halo.methods", "halo._pipeline", "halo.datasets", "distributed"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    start = time.perf_counter()
    results, arrays, figures = {}, {}, {}
    for platform, real_loader, tissue, size in (
        ("xenium", _real_xenium, XENIUM_TISSUE, (510.0, 382.5)),
        ("merscope", _real_merscope, MERSCOPE_TISSUE, (500.0, 450.0)),
    ):
        real = real_loader()
        sim = _simulated(tissue, platform, size, args.seed)
        results[platform], arrays[platform] = {}, {}
        for side, (sdata, image_key, points_key, um_per_px) in (("real", real), ("simulated", sim)):
            stats, arr = measure(sdata, image_key, points_key, um_per_px)
            results[platform][side] = stats
            arrays[platform][side] = arr
            logger.info("%s %s: %s", platform, side, json.dumps({k: round(v, 3) for k, v in stats.items()}))
        results[platform]["vendor_transcripts_per_cell_median"] = (
            _vendor_xenium(real[0]) if platform == "xenium" else _vendor_merscope(real[0], real[1], real[2])
        )
        results[platform]["simulated_tissue"] = tissue
        results[platform]["simulated_true_cells"] = int(sim[0]["true_cell_boundaries"].shape[0])
        figures[platform] = (real, sim)
    static = ROOT / "docs" / "_static"
    static.mkdir(parents=True, exist_ok=True)
    for platform, corner_real in (("xenium", (215.0, 25.0)), ("merscope", (160.0, 160.0))):
        real, sim = figures[platform]
        _figure(
            [(f"real {platform}", *real, corner_real), (f"simulated {platform}", *sim, None)],
            static / f"calibration_{platform}.png",
        )
    _distributions(arrays, static / "calibration_distributions.png")
    results["runtime_s"] = round(time.perf_counter() - start, 1)
    results["seed"] = args.seed
    _write(results)
    return results


def _write(results: dict) -> None:
    out = ROOT / "docs" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Simulator calibration against the real crops",
        "",
        "Produced by `benchmarks/calibration.py` (numbers in `docs/benchmarks/calibration.json`). Both sides are",
        "measured the same way: nuclei detected by halo from DAPI, cells from halo's 5 um nuclear expansion.",
        f"Simulated fields use the held-out seed {results['seed']} (training uses seeds below 1,000,000).",
        "",
    ]
    for platform, title in (("xenium", "Xenium breast crop"), ("merscope", "MERSCOPE brain crop (z0)")):
        res = results[platform]
        lines += [
            f"## {title} vs simulated `{res['simulated_tissue']}` ({platform} settings)",
            "",
            "| statistic | real | simulated | sim / real |",
            "| --- | ---: | ---: | ---: |",
        ]
        for key, label in STATISTICS.items():
            real, sim = res["real"][key], res["simulated"][key]
            ratio = sim / real if real else float("nan")
            flag = "" if 0.67 <= ratio <= 1.5 else " **!**"
            lines.append(f"| {label} | {real:.3g} | {sim:.3g} | {ratio:.2f}{flag} |")
        lines += [
            "",
            f"Vendor reference: median {res['vendor_transcripts_per_cell_median']:.0f} transcripts per vendor cell. "
            f"The simulated field has {res['simulated_true_cells']} true cells.",
            "",
            f"![real and simulated {platform}](../_static/calibration_{platform}.png)",
            "",
        ]
    lines += ["![distributions](../_static/calibration_distributions.png)", "", NOTES.strip(), ""]
    text = "\n".join(lines)
    (ROOT / "docs" / "calibration.md").write_text(text.replace("../_static/", "_static/"))
    logger.info("wrote docs/calibration.md and docs/benchmarks/calibration.json in %.0f s", results["runtime_s"])


if __name__ == "__main__":
    main()
