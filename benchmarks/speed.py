"""Speed and memory of ``halo.tl.segment`` on a synthetic whole slide, beside nuclear expansion, sopa and Cellpose-SAM.

Measured in one run, each configuration in a fresh subprocess (so its peak memory is its own):

- end to end on a synthetic slide (``halo.datasets.tiled_slide``, 1 gigapixel at the default ``--size-um 6720``):
  ``method="halo"`` and ``method="expansion"``: wall and CPU seconds, native megapixels, transcripts and cells per
  second, peak resident memory, and seconds per stage when halo reports them
  (``sdata["<key>_table"].uns["halo"]["timings"]``);
- scaling over slides of exactly 1, 2, 4, 8 and 16 tile cores (``tile_um`` each): time exponent (log-log slope of
  seconds against pixels) and memory growth (peak at 16 tiles / peak at 1 tile - 1);
- sopa 2.x driving the same halo network through its own patching (``sopa.make_image_patches``), custom segmentation
  hook (``sopa.segmentation.custom_staining_based``), conflict resolution and aggregation (``sopa.aggregate``), on a
  slide of a few tiles, against halo on that slide;
- network throughput of a Cellpose-SAM-sized backbone (SAM ViT-L encoder, patch size 8, 256 x 256 inputs, random
  weights: speed only) and of halo's network on the same patch size.

Slides are generated once into ``benchmarks/.cache/`` (git-ignored) and reused; each measured run segments a fresh
copy. Results: ``docs/benchmarks/speed.json`` and ``docs/benchmarks/speed.md`` (``--quick``: ``benchmarks/out/``).

Run::

    PYTHONPATH=src python benchmarks/speed.py             # the full run (1 gigapixel slide)
    PYTHONPATH=src python benchmarks/speed.py --quick     # small slides, a few minutes
    PYTHONPATH=src python benchmarks/speed.py --size-um 3000 --skip-sopa --skip-backbone
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

logger = logging.getLogger("halo.benchmarks.speed")
ROOT = Path(__file__).resolve().parents[1]
UM_PER_PX = 0.2125  # Xenium
GENERATOR_VERSION = 1  # bump when tiled_slide's output changes, so cached slides are regenerated
#: Archetypes of the big slide: dense, transcript-rich tissue (~1 molecule per um^2 of tissue, as the Xenium crop).
SLIDE_ARCHETYPES = (
    "pleomorphic_tumour",
    "dense_lymphoid",
    "fibroblast_stroma",
    "columnar_epithelium",
    "pancreas_acini",
    "kidney_tubules",
)
#: The one field every tile of the scaling slides holds: three archetypes in smooth regions.
SCALING_TISSUE = "pleomorphic_tumour+dense_lymphoid+fibroblast_stroma"
#: Tile grid (columns, rows) of the scaling slides.
GRIDS = {1: (1, 1), 2: (2, 1), 4: (2, 2), 8: (4, 2), 16: (4, 4)}
TARGETS = {"native_mp_per_s": 10.0, "speedup_vs_sopa": 3.0, "peak_rss_gb": 2.0, "memory_growth": 0.10, "exponent": 1.05}
GPU_TARGETS = {"gpu_gigapixel_seconds": 60.0, "gpu_busy_share": 0.5}
"""With a GPU: a gigapixel end to end within this many seconds, the GPU busy for most of the tiles stage."""
RESULT_MARK = "SPEED-RESULT "
NUCLEUS_MIN_UM2 = 6.0  # halo's default smallest nucleus


# ---------------------------------------------------------------------------------------------------------------
# parent: run each configuration in a child process and watch its memory


def _run_child(task: dict, log_dir: Path) -> dict:
    """Run ``task`` in a fresh interpreter; return its result with the peak memory of its whole process tree."""
    import psutil

    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{task['name']}.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(task)]
    logger.info("running %s", task["name"])
    start = time.perf_counter()
    with open(log_path, "w") as log:  # a file, not a pipe: a chatty child never blocks on a full pipe
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
        peak = _watch_memory(psutil.Process(proc.pid), proc)
    lines = [line for line in log_path.read_text().splitlines() if line.startswith(RESULT_MARK)]
    if proc.returncode != 0 or not lines:
        msg = f"{task['name']} failed (exit {proc.returncode}); see {log_path}"
        raise RuntimeError(msg)
    result = json.loads(lines[-1][len(RESULT_MARK) :])
    result["peak_rss_gb"] = round(max(peak, result.pop("maxrss_self_gb")), 3)
    logger.info("%s done in %.0f s: %s", task["name"], time.perf_counter() - start, _brief(result))
    return result


def _watch_memory(process, proc) -> float:
    """Peak resident memory (GB) of ``process`` and its children, sampled every 0.1 s until it exits."""
    import psutil

    peak = 0.0
    while proc.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree) / 1e9)
        except psutil.Error:  # a child exited between listing and reading
            pass
        time.sleep(0.1)
    return peak


def _brief(result: dict) -> str:
    keys = ("seconds", "native_mp_per_s", "n_cells", "peak_rss_gb", "input_mp_per_s")
    return ", ".join(f"{k}={result[k]}" for k in keys if k in result)


def _slide(cache: Path, name: str, spec: dict, args) -> dict:
    """Generate a slide once (in a child, measured) and return its description; reuse a complete cached one."""
    path = cache / f"{name}.zarr"
    info_path = cache / f"{name}.json"
    spec = {**spec, "version": GENERATOR_VERSION}
    if path.exists() and info_path.exists() and not args.regenerate:
        info = json.loads(info_path.read_text())
        if info.get("spec") == spec:
            logger.info("reusing %s", path)
            return info
    if path.exists():
        shutil.rmtree(path)
    result = _run_child({"name": f"generate_{name}", "kind": "generate", "path": str(path), **spec}, cache / "logs")
    info = {**result, "path": str(path), "spec": spec, "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    info_path.write_text(json.dumps(info, indent=2))
    return info


def _on_copy(slide: dict, task: dict, cache: Path) -> dict:
    """Run a measuring task on a fresh copy of the slide, so every run starts from the same store."""
    work = cache / "work" / f"{task['name']}.zarr"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(slide["path"], work)
    try:
        return _run_child({**task, "path": str(work)}, cache / "logs")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _segment(slide: dict, name: str, method: str, args, cache: Path) -> dict:
    task = {"name": name, "kind": "segment", "method": method, "tile_um": args.tile_um}
    result = _on_copy(slide, task, cache)
    return _rates(result, slide)


def _rates(result: dict, slide: dict) -> dict:
    seconds = result["seconds"]
    result["native_mp"] = round(slide["pixels"] / 1e6, 1)
    result["native_mp_per_s"] = round(slide["pixels"] / 1e6 / seconds, 3)
    result["transcripts_per_s"] = round(slide["n_transcripts"] / seconds)
    result["cells_per_s"] = round(result["n_cells"] / seconds, 1)
    return result


def _scaling(args, cache: Path) -> dict:
    rows = []
    for n in args.scaling:
        cols, rows_ = GRIDS[n]
        slide = _slide(cache, f"tiles{n}_{args.tile_um:g}um_seed{args.seed}", _scaling_spec(cols, rows_, args), args)
        result = _segment(slide, f"scaling_{n}_tiles", "halo", args, cache)
        if result.get("n_tiles") not in (None, n):
            msg = f"the {n}-tile slide was cut into {result['n_tiles']} tiles; check --tile-um against the slide"
            raise RuntimeError(msg)
        rows.append({"tiles": n, **result, "slide": slide})
    out = {"rows": rows}
    if len(rows) >= 2:
        pixels = np.array([r["native_mp"] for r in rows])
        seconds = np.array([r["seconds"] for r in rows])
        cpu = np.array([r["cpu_seconds_total"] for r in rows])
        out["time_exponent"] = round(float(np.polyfit(np.log(pixels), np.log(seconds), 1)[0]), 3)
        out["cpu_time_exponent"] = round(float(np.polyfit(np.log(pixels), np.log(cpu), 1)[0]), 3)
        out["memory_growth"] = round(rows[-1]["peak_rss_gb"] / rows[0]["peak_rss_gb"] - 1, 3)
        if all("output_gb" in r for r in (rows[0], rows[-1])):  # the output is the user's: it must grow
            working = [r["peak_rss_gb"] - r["output_gb"] for r in (rows[0], rows[-1])]
            out["memory_growth_without_output"] = round(working[1] / working[0] - 1, 3)
        out["from_tiles"], out["to_tiles"] = rows[0]["tiles"], rows[-1]["tiles"]
    return out


def _scaling_spec(cols: int, rows: int, args) -> dict:
    # every tile the same mixed field (turned or flipped): time and memory measure size, not content
    return {
        "size_um": [cols * args.tile_um, rows * args.tile_um],
        "seed": args.seed,
        "block_um": args.tile_um,
        "tissue_fraction": 1.0,
        "archetypes": [SCALING_TISSUE],
        "n_distinct": 1,
    }


def _sopa(args, cache: Path, scaling: dict) -> dict:
    """halo and sopa on the same slide, run in turn ``--sopa-repeats`` times; each side's fastest run compared.

    The cores are shared with other work, which only ever adds time, and sopa's runs vary more than halo's: the
    fastest of a few runs of each is the fair comparison, and every run is listed.
    """
    n = args.sopa_tiles
    cols, rows_ = GRIDS[n]
    slide = _slide(cache, f"tiles{n}_{args.tile_um:g}um_seed{args.seed}", _scaling_spec(cols, rows_, args), args)
    same = [r for r in scaling.get("rows", []) if r["tiles"] == n and "error" not in r]
    halo_runs = same[:1]
    sopa_runs = []
    for repeat in range(args.sopa_repeats):
        if len(halo_runs) <= repeat:
            halo_runs.append({**_segment(slide, f"halo_{n}_tiles_{repeat}", "halo", args, cache), "tiles": n})
        task = {
            "name": f"sopa_{n}_tiles_{repeat}",
            "kind": "sopa",
            "tile_um": args.tile_um,
            "overlap_um": halo_runs[0]["overlap_um"],
            "max_reach_um": halo_runs[0]["max_reach_um"],
            "backend": args.sopa_backend,
        }
        sopa_runs.append(_rates(_on_copy(slide, task, cache), slide))
    halo_run = min(halo_runs, key=lambda r: r["seconds"])
    sopa_run = min(sopa_runs, key=lambda r: r["seconds"])
    return {
        "tiles": n,
        "slide": slide,
        "halo": halo_run,
        "sopa": sopa_run,
        "halo_seconds": [r["seconds"] for r in halo_runs],
        "first_halo_from_scaling": bool(same),
        "sopa_seconds": [r["seconds"] for r in sopa_runs],
        "speedup": round(sopa_run["seconds"] / halo_run["seconds"], 2),
    }


# ---------------------------------------------------------------------------------------------------------------
# children: one measured configuration each; the last stdout line is the result


def _child(task: dict) -> dict:
    import resource

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    for noisy in ("ome_zarr", "distributed", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    cpu = time.process_time()
    result = {"generate": _child_generate, "segment": _child_segment, "sopa": _child_sopa, "backbone": _child_backbone}[
        task["kind"]
    ](task)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["cpu_seconds_total"] = round(time.process_time() - cpu + children.ru_utime + children.ru_stime, 1)
    result["maxrss_self_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux
    return result


def _child_generate(task: dict) -> dict:
    import halo

    start = time.perf_counter()
    size = task["size_um"]
    sdata = halo.datasets.tiled_slide(
        task["path"], size_um=tuple(size) if isinstance(size, list) else size, seed=task["seed"],
        block_um=task["block_um"], tissue_fraction=task["tissue_fraction"], archetypes=task["archetypes"],
        n_distinct=task.get("n_distinct", 6), progress=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    image = _scale0(sdata)
    layout = sdata.attrs["halo_tiled_slide"]
    blocks = np.array(layout["block"])
    return {
        "seconds": round(seconds, 1),
        "shape_px": [int(image.shape[1]), int(image.shape[2])],
        "pixels": int(image.shape[1]) * int(image.shape[2]),
        "n_transcripts": int(len(sdata["transcripts"])),
        "tissue_blocks": int((blocks >= 0).sum()),
        "blocks": int(blocks.size),
        "block_px": layout["block_px"],
        "disk_gb": round(sum(f.stat().st_size for f in Path(task["path"]).rglob("*") if f.is_file()) / 1e9, 2),
    }


def _scale0(sdata):
    import spatialdata

    return spatialdata.get_pyramid_levels(sdata["morphology_focus"], n=0)


def _child_segment(task: dict) -> dict:
    import spatialdata

    import halo

    sdata = spatialdata.read_zarr(task["path"])
    key = task["name"].replace("-", "_")
    with _gpu_utilisation() as samples:
        start = time.perf_counter()
        halo.tl.segment(sdata, method=task["method"], tile_um=task["tile_um"], key_added=key, progress=False)
        seconds = time.perf_counter() - start
    uns = sdata.tables[f"{key}_table"].uns["halo"]
    params = uns["params"]
    timings = uns.get("timings")
    n_cells = int(sdata.tables[f"{key}_table"].n_obs)
    return {
        "seconds": round(seconds, 2),
        "n_cells": n_cells,
        "output_gb": _output_held_gb(sdata, key),
        "n_tiles": int(params["n_tiles"]) if "n_tiles" in params else None,
        "overlap_um": float(params["overlap_um"]),
        "max_reach_um": float(params["max_reach_um"]),
        "timings": _with_rest(timings, seconds),
        **_gpu_summary(samples, timings),
    }


GPU_SAMPLE_S = 0.1


@contextlib.contextmanager
def _gpu_utilisation():
    """Utilisation (%) of GPU 0 every ``GPU_SAMPLE_S`` while the block runs, from ``nvidia-smi``; none without one.

    Each sample is the share of the last period in which a kernel ran, so busy seconds ~ samples above 0 x period.
    """
    samples: list[float] = []
    if shutil.which("nvidia-smi") is None:
        yield samples
        return
    query = ["nvidia-smi", "-i", "0", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
    proc = subprocess.Popen([*query, "-lms", str(int(GPU_SAMPLE_S * 1000))], stdout=subprocess.PIPE, text=True)

    def read() -> None:
        for line in proc.stdout:
            with contextlib.suppress(ValueError):
                samples.append(float(line.strip()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield samples
    finally:
        proc.terminate()
        proc.wait()
        reader.join(timeout=1)


def _gpu_summary(samples: list[float], timings: dict | None) -> dict:
    """Busy seconds of the GPU and their share of the tiles stage, where the network runs; nothing without a GPU."""
    if not samples:
        return {}
    busy = [u for u in samples if u > 0]
    busy_s = len(busy) * GPU_SAMPLE_S
    tiles_s = (timings or {}).get("tiles")
    return {
        "gpu": {
            "samples": len(samples),
            "busy_seconds": round(busy_s, 1),
            "mean_utilisation_when_busy": round(float(np.mean(busy)), 1) if busy else 0.0,
            "busy_share_of_tiles": round(min(busy_s / tiles_s, 1.0), 3) if tiles_s else None,
        }
    }


def _output_held_gb(sdata, key: str) -> float:
    """Resident memory the run's new shapes and table hold: measured by dropping them from the in-memory object.

    The element's files stay on disk (this is a copy of the slide); only this process's memory is measured.
    """
    import gc

    import psutil

    from halo._memory import release_freed_memory

    def settled_rss() -> int:
        gc.collect()
        release_freed_memory()
        return psutil.Process().memory_info().rss

    before = settled_rss()
    for name in [n for n in sdata.shapes if n.startswith(key)]:
        del sdata.shapes[name]
    del sdata.tables[f"{key}_table"]
    return round(max(before - settled_rss(), 0) / 1e9, 3)


def _with_rest(timings, seconds: float) -> dict | None:
    """halo's stage timings, plus the time they leave out (writing the results)."""
    if timings is None:
        return None
    out = {k: round(float(v), 2) for k, v in dict(timings).items()}
    out["rest (writing)"] = round(seconds - sum(out.values()), 2)
    return out


def _child_sopa(task: dict) -> dict:
    import sopa
    import spatialdata

    if task["backend"] == "dask":
        cores = len(os.sched_getaffinity(0))
        sopa.settings.parallelization_backend = "dask"
        sopa.settings.dask_client_kwargs = {"n_workers": cores, "threads_per_worker": 1}
    sdata = spatialdata.read_zarr(task["path"])
    stages, start = {}, time.perf_counter()
    core_px = round(task["tile_um"] / UM_PER_PX)
    overlap_px = int(np.ceil(task["overlap_um"] / UM_PER_PX))
    method = _HaloOnPatch.for_slide(sdata, task["max_reach_um"])
    stages["network and DAPI scaling"] = time.perf_counter() - start
    # windows as halo's: a tile core plus the overlap, stepping by one core
    sopa.make_image_patches(sdata, patch_width=core_px + overlap_px, patch_overlap=overlap_px)
    stages["patches"] = time.perf_counter() - start - sum(stages.values())
    sopa.segmentation.custom_staining_based(
        sdata, method=method, channels=["DAPI"], gaussian_sigma=0, clip_limit=0, key_added="sopa_halo"
    )
    stages["segmentation + conflicts"] = time.perf_counter() - start - sum(stages.values())
    sopa.aggregate(
        sdata, aggregate_genes=True, aggregate_channels=False, shapes_key="sopa_halo", points_key="transcripts",
        gene_column="feature_name", key_added="sopa_halo_table",
    )  # fmt: skip
    stages["aggregate"] = time.perf_counter() - start - sum(stages.values())
    return {
        "seconds": round(time.perf_counter() - start, 2),
        "n_cells": int(sdata.tables["sopa_halo_table"].n_obs),
        "n_patches": int(len(sdata["image_patches"])),
        "patch_width_px": core_px + overlap_px,
        "patch_overlap_px": overlap_px,
        "backend": task["backend"],
        "timings": {k: round(v, 2) for k, v in stages.items()},
    }


class _HaloOnPatch:
    """sopa's segmentation callable: a ``(1, Y, X)`` DAPI patch to cell labels, with halo's network.

    The network reads the DAPI channel scaled with the slide's percentiles; its transcript channels are zero (sopa
    hands the callable an image only): the cells are not halo's, the work per pixel is. As in halo, everything runs
    on the network's grid (2 x 2 native pixels): nuclei are the network's nucleus channel thresholded at 0.5 and
    labelled (lighter than halo's own nucleus detection), cells are grown from them with
    ``halo.methods.decode_cells``, and the labels are repeated back to native pixels for sopa.
    """

    def __init__(self, net, stats, max_reach_um: float):
        self.net, self.stats, self.max_reach_um = net, stats, max_reach_um
        self.pid = os.getpid()

    @classmethod
    def for_slide(cls, sdata, max_reach_um: float) -> _HaloOnPatch:
        import spatialdata

        import halo.model

        smallest = spatialdata.get_pyramid_levels(sdata["morphology_focus"])[-1]
        low, high = np.percentile(np.asarray(smallest.data[0]), [1.0, 99.9])
        embedding = np.zeros((1, halo.model.N_CHANNELS - 2), np.float32)
        stats = halo.model.SlideStatistics(float(low), float(max(high, low + 1)), 1.0, embedding)
        return cls(halo.model.for_inference(halo.model.pretrained(), "cpu"), stats, max_reach_um)

    def __call__(self, patch: np.ndarray) -> np.ndarray:
        import torch
        from scipy import ndimage

        import halo.methods as methods
        import halo.model as hm

        if os.getpid() != self.pid:  # a sopa dask worker: one thread each, as halo's tiles run
            torch.set_num_threads(1)
        dapi = patch[0]
        factor = hm.bin_factor(UM_PER_PX)
        grid_um = factor * UM_PER_PX
        height, width = hm.model_shape(dapi.shape, factor)
        box = (0, height, 0, width)
        empty = (np.zeros(0), np.zeros(0), np.zeros(0, np.int64))
        probabilities = hm.predict_region(
            self.net, dapi, empty, self.stats, raw_model=box, want_model=box, slide_model=(height, width),
            factor=factor, um_per_px=UM_PER_PX,
        )  # fmt: skip
        nuclei = ndimage.label(probabilities[2] >= 128)[0]
        area = np.bincount(nuclei.ravel()) * grid_um**2
        nuclei = np.where((area >= NUCLEUS_MIN_UM2)[nuclei] & (nuclei > 0), nuclei, 0)
        cells = methods.decode_cells(
            probabilities[0], probabilities[1], nuclei, self.max_reach_um / grid_um,
            boundary_weight_px=methods.BOUNDARY_WEIGHT_UM / grid_um,
        )  # fmt: skip
        return np.repeat(np.repeat(cells, factor, axis=0), factor, axis=1)[: dapi.shape[0], : dapi.shape[1]]


def _child_backbone(task: dict) -> dict:
    import torch

    torch.manual_seed(0)
    if task["net"] == "cellpose_sam":
        sys.path.insert(0, str(Path(__file__).parent))
        from cellpose_sam_sized import CellposeSAMSized

        net = CellposeSAMSized().eval()
        channels, factor, useful = 3, 1, 1.0
    else:
        import halo.model as hm

        net = hm.for_inference(hm.pretrained(), "cpu")  # as halo runs it: batch norms folded, channels-last
        channels, factor = hm.N_CHANNELS, hm.bin_factor(UM_PER_PX)
        useful = (hm.PATCH_STRIDE / (hm.PATCH_STRIDE + 2 * hm.PATCH_CONTEXT)) ** 2
    device = task.get("device", "cpu")
    dtype = getattr(torch, task["dtype"])
    net = net.to(device, dtype, memory_format=torch.channels_last)
    batch = torch.rand(task["batch_size"], channels, 256, 256, dtype=dtype, device=device)
    batch = batch.contiguous(memory_format=torch.channels_last)
    finish = torch.cuda.synchronize if device == "cuda" else (lambda: None)  # GPU work is asynchronous
    seconds = []
    with torch.inference_mode():
        for _ in range(task["batches"] + 1):  # the first batch warms up and is not counted
            start = time.perf_counter()
            net(batch)
            finish()
            seconds.append(time.perf_counter() - start)
    per_batch = float(np.mean(seconds[1:]))
    input_mp_per_s = task["batch_size"] * 256 * 256 / 1e6 / per_batch
    return {
        "net": task["net"],
        "dtype": task["dtype"],
        "seconds": round(float(np.sum(seconds)), 2),
        "parameters_m": round(sum(p.numel() for p in net.parameters()) / 1e6, 1),
        "batch_size": task["batch_size"],
        "batches": task["batches"],
        "seconds_per_patch": round(per_batch / task["batch_size"], 4),
        "input_mp_per_s": round(input_mp_per_s, 4),
        # native pixels per network pixel (factor^2), times the share of each patch whose outputs are kept
        "native_mp_per_s": round(input_mp_per_s * factor**2 * useful, 4),
        "native_px_per_input_px": round(factor**2 * useful, 3),
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }


def _backbones(args, cache: Path) -> dict:
    """Each network with float32 weights and, where this CPU has fast half precision (what halo then runs), half."""
    import torch

    import halo.model

    device = "cuda" if torch.cuda.is_available() else "cpu"  # a GPU machine measures the networks on its GPU
    half = halo.model.half_precision_dtype(torch.device(device))
    dtypes = ["float32"] + ([str(half).removeprefix("torch.")] if half is not None else [])
    on_gpu = 8 if device == "cuda" else 1  # larger batches keep a GPU busy; on a CPU they only hold more memory
    sizes = {
        "cellpose_sam": {"batch_size": on_gpu, "batches": args.backbone_batches * on_gpu, "device": device},
        "halo": {"batch_size": 8 * on_gpu, "batches": 20, "device": device},
    }
    runs = {}
    for net, size in sizes.items():
        for dtype in dtypes:
            task = {"name": f"backbone_{net}_{dtype}", "kind": "backbone", "net": net, "dtype": dtype, **size}
            runs[f"{net}_{dtype}"] = _run_child(task, cache / "logs")
    return {"halo_runs_in": dtypes[-1], "runs": runs}


# ---------------------------------------------------------------------------------------------------------------
# report


def _cpuinfo() -> list[str]:
    path = Path("/proc/cpuinfo")
    return path.read_text().splitlines() if path.exists() else []


def _machine() -> dict:
    import psutil
    import torch

    model = next(
        (line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")),
        platform.processor(),
    )
    return {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)),
        "ram_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in ("halo", "torch", "sopa", "spatialdata", "dask", "numpy")},
        "gpu": _gpu_name(),
        "shared": "the cores are shared with other work; wall times vary with its load",
    }


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:  # e.g. sopa on a GPU machine that only runs halo
        return "absent"


def _gpu_name() -> str | None:
    """Name of GPU 0 as ``nvidia-smi`` gives it; ``None`` without one."""
    if shutil.which("nvidia-smi") is None:
        return None
    query = ["nvidia-smi", "-i", "0", "--query-gpu=name", "--format=csv,noheader"]
    found = subprocess.run(query, capture_output=True, text=True, check=False)
    return found.stdout.strip() or None


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cache = args.cache_dir
    started = time.perf_counter()
    result = {
        "command": "PYTHONPATH=src python benchmarks/speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "tile_um": args.tile_um,
        "targets": TARGETS,
    }
    result["generation"] = [
        _slide(cache, f"slide_{size:g}um_seed{args.seed}", _slide_spec(args, size), args) for size in args.generate_um
    ]
    if not args.skip_slide:
        slide = _slide(cache, f"slide_{args.size_um:g}um_seed{args.seed}", _slide_spec(args, args.size_um), args)
        result["slide"] = slide
        result["generation"].append(slide)
        result["end_to_end"] = {
            m: _attempt(_segment, slide, f"slide_{m}", m, args, cache)
            for m in ("halo", "expansion")
            if m not in args.skip_method
        }
    result["scaling"] = {} if args.skip_scaling else _attempt(_scaling, args, cache)
    if not args.skip_sopa:
        result["sopa"] = _attempt(_sopa, args, cache, result["scaling"])
    if not args.skip_backbone:
        result["backbone"] = _attempt(_backbones, args, cache)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["benchmark_minutes"] = round((time.perf_counter() - started) / 60, 1)
    result["gigapixel_run_minutes_estimate"] = _gigapixel_estimate(result)
    result["checks"] = _checks(result)
    _write(result, args.output)
    return result


def _gigapixel_estimate(result: dict) -> float | None:
    """Minutes the run would take with a 1-gigapixel end-to-end slide: its segment times scaled linearly."""
    runs = [e for e in result.get("end_to_end", {}).values() if "error" not in e]
    if not runs or result["slide"]["pixels"] >= 0.99e9:
        return None
    extra = (1e9 / result["slide"]["pixels"] - 1) * sum(e["seconds"] for e in runs)
    return round(result["benchmark_minutes"] + extra / 60, 1)


def _attempt(func, *args) -> dict:
    """``func(*args)``, or what went wrong when a measured child failed, so the other measurements still get written."""
    try:
        return func(*args)
    except RuntimeError as error:
        logger.error("%s", error)
        return {"error": str(error)}


def _slide_spec(args, size_um: float) -> dict:
    return {
        "size_um": size_um,
        "seed": args.seed,
        "block_um": 500.0,
        "tissue_fraction": 0.75,
        "archetypes": list(SLIDE_ARCHETYPES),
    }


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-um", type=float, default=6720.0, help="side of the big slide (6720 um = 1 gigapixel)")
    parser.add_argument("--tile-um", type=float, default=500.0, help="segment's tile_um; scaling slides are multiples")
    parser.add_argument("--scaling", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8, 16])
    parser.add_argument("--sopa-tiles", type=int, default=4, choices=sorted(GRIDS), help="tiles of sopa's slide")
    parser.add_argument("--sopa-backend", choices=("dask", "none"), default="dask")
    parser.add_argument("--sopa-repeats", type=int, default=3, help="runs of each pipeline; the fastest compared")
    parser.add_argument("--backbone-batches", type=int, default=2, help="measured Cellpose-SAM-sized patches")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-slide", action="store_true", help="no end-to-end run on the big slide")
    parser.add_argument(
        "--generate-um", type=float, action="append", default=[], help="also generate (not segment) a slide this wide"
    )
    parser.add_argument("--skip-method", action="append", default=[], choices=("halo", "expansion"))
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--skip-sopa", action="store_true")
    parser.add_argument("--skip-backbone", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small slides, few batches; writes to benchmarks/out/")
    parser.add_argument("--regenerate", action="store_true", help="regenerate cached slides")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "benchmarks" / ".cache")
    parser.add_argument("--output", type=Path, default=None, help="output prefix (default docs/benchmarks/speed)")
    args = parser.parse_args(argv)
    if args.quick:
        args.size_um = min(args.size_um, 1500.0)
        args.scaling = [n for n in args.scaling if n <= 4]
        args.sopa_tiles = min(args.sopa_tiles, 2)
        args.sopa_repeats = 1
        args.backbone_batches = 1
    if args.output is None:
        args.output = ROOT / ("benchmarks/out/speed_quick" if args.quick else "docs/benchmarks/speed")
    unknown = [n for n in args.scaling if n not in GRIDS]
    if unknown:
        parser.error(f"--scaling takes tile counts among {sorted(GRIDS)}, got {unknown}")
    return args


def _checks(result: dict) -> list[dict]:
    """Each target, what was measured against it, and whether it is met."""
    rows = []
    e2e = result.get("end_to_end", {}).get("halo")
    if e2e and "error" not in e2e:
        mp = result["slide"]["pixels"] / 1e6
        rows.append(_check("end to end, native MP/s (halo)", ">=", "native_mp_per_s", e2e["native_mp_per_s"]))
        rows.append(_check(f"peak RSS GB on the {mp:.0f} MP slide (halo)", "<", "peak_rss_gb", e2e["peak_rss_gb"]))
        if result["machine"].get("gpu") and mp >= 990:
            gpu = result["machine"]["gpu"]
            rows.append(_check(f"seconds end to end on a {gpu}", "<", "gpu_gigapixel_seconds", e2e["seconds"]))
        if e2e.get("gpu", {}).get("busy_share_of_tiles") is not None:
            share = e2e["gpu"]["busy_share_of_tiles"]
            rows.append(_check("share of the tiles stage the GPU is busy", ">=", "gpu_busy_share", share))
    if result.get("sopa") and "error" not in result["sopa"]:
        speedup = result["sopa"]["speedup"]
        rows.append(_check("speed-up over sopa driving the same network", ">=", "speedup_vs_sopa", speedup))
    scaling = result.get("scaling", {})
    if "time_exponent" in scaling:
        span = f"{scaling['from_tiles']} to {scaling['to_tiles']} tiles"
        rows.append(_check(f"memory growth, {span}", "<", "memory_growth", scaling["memory_growth"]))
        rows.append(_check(f"time exponent, {span}", "<=", "exponent", scaling["time_exponent"]))
    return rows


def _check(what: str, op: str, target_key: str, measured: float) -> dict:
    target = {**TARGETS, **GPU_TARGETS}[target_key]
    met = measured >= target if op == ">=" else measured < target if op == "<" else measured <= target
    return {"metric": what, "target": f"{op} {target:g}", "measured": measured, "met": bool(met)}


def _write(result: dict, prefix: Path) -> None:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    prefix.with_suffix(".md").write_text(_markdown(result))
    logger.info("wrote %s.json and .md", prefix)


def _markdown(r: dict) -> str:
    m = r["machine"]
    v = m["versions"]
    lines = [
        "# Speed and memory",
        "",
        f"Measured {r['date']} on {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, torch "
        f"{v['torch']} with {m['torch_threads']} threads, Python {m['python']} (halo {v['halo']}, sopa {v['sopa']}, "
        f"spatialdata {v['spatialdata']}, dask {v['dask']}). The cores are shared with other work: load average "
        f"{r['load_average_before'][0]} before, {r['load_average_after'][0]} after. The whole benchmark took "
        f"{r['benchmark_minutes']} minutes." + (f" GPU: {m['gpu']}." if m.get("gpu") else ""),
        "",
        f"Command: `{r['command']}`. Each configuration ran in a fresh process; peak RSS is the largest resident "
        "memory of that process and its children, sampled every 0.1 s. Native megapixels are the nuclear image's "
        "pixels at 0.2125 um/px; transcripts per second count every molecule of the points element.",
        "",
    ]
    if r.get("checks"):
        lines += ["## Targets", "", "| metric | target | measured | met |", "| --- | --- | ---: | --- |"]
        lines += [
            f"| {c['metric']} | {c['target']} | {c['measured']} | {'yes' if c['met'] else 'no'} |" for c in r["checks"]
        ]
        lines.append("")
    lines += _generation_section(r) + _slide_section(r) + _scaling_section(r) + _sopa_section(r) + _backbone_section(r)
    return "\n".join(lines).rstrip() + "\n"


def _generation_section(r: dict) -> list[str]:
    if not r.get("generation"):
        return []
    out = [
        "## Synthetic slides",
        "",
        "`halo.datasets.tiled_slide(path, size_um=..., seed=0, archetypes=...)` with six transcript-rich archetypes "
        "in blocks of 500 um, three quarters of them tissue (the rest glass), written to zarr chunk by chunk "
        "(generated once, cached; timed in its own process when generated).",
        "",
        "| side um | pixels | gigapixels | transcripts | tissue blocks | seconds | peak RSS GB | disk GB | generated |",
        "| ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | --- |",
    ]
    for s in r["generation"]:
        h, w = s["shape_px"]
        out.append(
            f"| {s['spec']['size_um']:g} | {w} x {h} | {s['pixels'] / 1e9:.3f} | {s['n_transcripts']:,} "
            f"| {s['tissue_blocks']} of {s['blocks']} | {s['seconds']:.0f} | {s['peak_rss_gb']:.2f} | {s['disk_gb']} "
            f"| {s.get('generated', '')} |"
        )
    return [*out, ""]


def _slide_section(r: dict) -> list[str]:
    if "slide" not in r:
        return []
    s = r["slide"]
    h, w = s["shape_px"]
    out = [
        "## End to end",
        "",
        f"The {s['spec']['size_um']:g} um slide: {w} x {h} px ({s['pixels'] / 1e9:.3f} gigapixels), "
        f"{s['n_transcripts']:,} transcripts. `halo.tl.segment(sdata, method=..., tile_um={r['tile_um']:g})` timed "
        "alone on a fresh copy of the store, results written into it.",
        "",
        "| method | seconds | CPU seconds | native MP/s | transcripts/s | cells/s | cells | peak RSS GB | output GB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, e in r["end_to_end"].items():
        if "error" in e:
            out.append(f"| {name} | failed: {e['error']} | | | | | | | |")
            continue
        output = f"{e['output_gb']:.3f}" if "output_gb" in e else ""
        out.append(
            f"| {name} | {e['seconds']:.1f} | {e['cpu_seconds_total']:.0f} | {e['native_mp_per_s']:.2f} "
            f"| {e['transcripts_per_s']:,} | {e['cells_per_s']:,.0f} | {e['n_cells']:,} | {e['peak_rss_gb']:.2f} "
            f"| {output} |"
        )
    out.append("")
    for name, e in r["end_to_end"].items():
        if e.get("gpu"):
            g = e["gpu"]
            share = "" if g["busy_share_of_tiles"] is None else f", {g['busy_share_of_tiles']:.0%} of the tiles stage"
            out += [
                f"GPU use ({name}, `nvidia-smi` every {GPU_SAMPLE_S:g} s): busy {g['busy_seconds']:.1f} s{share}, "
                f"at {g['mean_utilisation_when_busy']:.0f}% utilisation on average while busy.",
                "",
            ]
    if r.get("gigapixel_run_minutes_estimate"):
        minutes = r["gigapixel_run_minutes_estimate"]
        over = ", over the ~25 minutes one run may take on the shared cores" if minutes > 25 else ""
        out += [
            f"This slide is smaller than the 1-gigapixel default (`--size-um 6720`): with one, this benchmark would "
            f"take about {minutes:.0f} minutes on this machine (the segment times above scaled linearly){over}.",
            "",
        ]
    out += _stages_table({k: e.get("timings") for k, e in r["end_to_end"].items() if "error" not in e})
    return out


def _stages_table(timings: dict) -> list[str]:
    present = {k: t for k, t in timings.items() if t}
    if not present:
        return ["Seconds per stage: not reported by this version of halo (`uns['halo']['timings']` absent).", ""]
    stages = list(dict.fromkeys(s for t in present.values() for s in t))
    out = ["Seconds per stage:", "", "| stage | " + " | ".join(present) + " |", "| --- |" + " ---: |" * len(present)]
    for stage in stages:
        out.append(f"| {stage} | " + " | ".join(f"{t.get(stage, float('nan')):.1f}" for t in present.values()) + " |")
    return [*out, ""]


def _scaling_section(r: dict) -> list[str]:
    s = r.get("scaling")
    if not s:
        return []
    if "error" in s:
        return ["## Scaling", "", f"Failed: {s['error']}", ""]
    out = [
        "## Scaling",
        "",
        f"Slides of exactly n tile cores of {r['tile_um']:g} um, every tile the same simulated field "
        f"(`{SCALING_TISSUE}`, turned or flipped), so that time and memory measure size, not content; "
        '`method="halo"`.',
        "",
        "| tiles | native MP | transcripts | seconds | CPU seconds | native MP/s | cells | peak RSS GB | output GB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in s["rows"]:
        output = f"{row['output_gb']:.3f}" if "output_gb" in row else ""
        out.append(
            f"| {row['tiles']} | {row['native_mp']:.1f} | {row['slide']['n_transcripts']:,} | {row['seconds']:.1f} "
            f"| {row['cpu_seconds_total']:.0f} | {row['native_mp_per_s']:.2f} | {row['n_cells']:,} "
            f"| {row['peak_rss_gb']:.2f} | {output} |"
        )
    if "time_exponent" in s:
        out += [
            "",
            f"Time exponent (log-log slope of seconds against pixels): {s['time_exponent']} in wall time, "
            f"{s['cpu_time_exponent']} in CPU time (less sensitive to other work on the shared cores); memory growth "
            f"from {s['from_tiles']} to {s['to_tiles']} tiles: {100 * s['memory_growth']:.1f}%.",
        ]
    if "memory_growth_without_output" in s:
        out += [
            "",
            "Output GB: resident memory the run's shapes and table hold when it returns (measured by dropping them "
            "from the in-memory object). They are the result the user asked for and grow with the cells; without "
            f"them the peak grows by {100 * s['memory_growth_without_output']:.1f}% from {s['from_tiles']} to "
            f"{s['to_tiles']} tiles.",
        ]
    return [*out, ""]


def _sopa_section(r: dict) -> list[str]:
    s = r.get("sopa")
    if not s:
        return []
    if "error" in s:
        return ["## sopa driving the same network", "", f"Failed: {s['error']}", ""]
    so, ha = s["sopa"], s["halo"]
    out = [
        "## sopa driving the same network",
        "",
        f"The {s['tiles']}-tile slide ({so['native_mp']:.0f} MP). sopa {r['machine']['versions']['sopa']}: "
        f"`make_image_patches` ({so['n_patches']} patches of {so['patch_width_px']} px overlapping by "
        f"{so['patch_overlap_px']} px: halo's windows), `segmentation.custom_staining_based` (sopa's Gaussian and "
        f"CLAHE preprocessing off) with a callable running halo's network on each patch, sopa's conflict resolution, "
        f"then `aggregate` (transcript counts; channel intensities off), with sopa's `{so['backend']}` backend. The "
        "callable feeds the network the DAPI patch with its transcript channels zero (sopa hands it an image only), "
        "works on the network's grid as halo does, takes nuclei from the network's nucleus channel (threshold and "
        "label, lighter than halo's own nucleus detection), grows cells with `halo.methods.decode_cells` and repeats "
        "the labels back to native pixels: speed only, not halo's cells.",
        "",
        "| pipeline | seconds | CPU seconds | native MP/s | cells | peak RSS GB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {name} | {x['seconds']:.1f} | {x['cpu_seconds_total']:.0f} | {x['native_mp_per_s']:.2f} "
            f"| {x['n_cells']:,} | {x['peak_rss_gb']:.2f} |"
            for name, x in (("halo.tl.segment", ha), ("sopa + halo network", so))
        ),
        "",
        f"Speed-up of halo over sopa (wall time, each side's fastest run): {s['speedup']}x. sopa's stages in that "
        "run (seconds): " + ", ".join(f"{k} {v:.1f}" for k, v in so["timings"].items()) + ".",
        "",
        *_repeats_line(s),
        "",
    ]
    return out


def _repeats_line(s: dict) -> list[str]:
    """Every run of each side, in the order they ran (halo and sopa in turn)."""
    if len(s.get("sopa_seconds", [])) < 2:
        return []
    halo_s, sopa_s = s["halo_seconds"], s["sopa_seconds"]
    ratios = sorted(b / a for a, b in zip(halo_s, sopa_s, strict=True))  # one halo run per sopa run
    return [
        f"The {len(sopa_s)} runs of each, in turn (seconds): halo {', '.join(f'{x:.1f}' for x in halo_s)}; sopa "
        f"{', '.join(f'{x:.1f}' for x in sopa_s)}"
        + (" (the first halo run is the scaling section's)" if s.get("first_halo_from_scaling") else "")
        + f". Run by run the ratio is {ratios[0]:.2f}-{ratios[-1]:.2f}x. The cores are shared with other work, "
        "which only adds time, so each side's fastest run is compared.",
        "",
    ]


def _backbone_device(b: dict) -> str:
    devices = {x.get("device", "cpu") for x in b["runs"].values()}
    return "GPU" if devices == {"cuda"} else "CPU"


def _backbone_section(r: dict) -> list[str]:
    b = r.get("backbone")
    if not b:
        return []
    if "error" in b:
        return ["## Network throughput", "", f"Failed: {b['error']}", ""]
    names = {
        "cellpose_sam": "Cellpose-SAM-sized (SAM ViT-L encoder, patch 8, global attention; random weights)",
        "halo": "halo U-Net (shipped weights, batch norms folded)",
    }
    out = [
        "## Network throughput",
        "",
        f"Forward passes on 256 x 256 patches on this {_backbone_device(b)}, channels-last, with float32 weights and, "
        f"where the device has it natively, half-precision weights; halo runs its network in {b['halo_runs_in']} "
        "here, batch norms folded. "
        "The first batch is not counted. Cellpose-SAM reads native pixels, so its native MP/s is its input rate "
        "(an upper bound: Cellpose's tile overlap lowers it); halo's network reads 2 x 2 binned pixels (0.425 um) "
        "and keeps the central 208 x 208 of each 256 x 256 patch. The Cellpose-SAM-sized network is built in plain "
        "torch with Cellpose-SAM's layer shapes (`benchmarks/cellpose_sam_sized.py`).",
        "",
        "| network | dtype | parameters (M) | batch | s per patch | input MP/s | native MP/s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for x in b["runs"].values():
        out.append(
            f"| {names[x['net']]} | {x['dtype']} | {x['parameters_m']:.1f} | {x['batch_size']} "
            f"| {x['seconds_per_patch']:.4f} | {x['input_mp_per_s']:.4f} | {x['native_mp_per_s']:.4f} |"
        )
    best = {
        net: max(x["native_mp_per_s"] for x in b["runs"].values() if x["net"] == net)
        for net in ("cellpose_sam", "halo")
        if any(x["net"] == net for x in b["runs"].values())
    }
    if len(best) == 2:
        out += [
            "",
            f"Each at its fastest, halo's network covers {best['halo'] / best['cellpose_sam']:,.0f}x more native "
            f"pixels per second; the Cellpose-SAM-sized network alone would take "
            f"{1000 / best['cellpose_sam'] / 3600:,.1f} hours per gigapixel on this machine.",
        ]
    return [*out, ""]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child_result = _child(json.loads(sys.argv[2]))
        print("\n" + RESULT_MARK + json.dumps(child_result), flush=True)
    else:
        main()
