"""Command line: ``halo demo`` and ``halo segment PATH.zarr``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

logger = logging.getLogger("halo")


def _summary(sdata, key_added: str, seconds: float) -> str:
    """Describe what ``halo.tl.segment`` wrote under ``key_added``, one element a line."""
    table = sdata.tables[f"{key_added}_table"]
    params = table.uns["halo"]["params"]
    points_key = params["points_key"]
    assigned = sdata.points[points_key][f"{key_added}_cell_id"].compute()
    counts = table.obs["transcript_count"]
    lines = [
        f"segmented {table.n_obs} cells in {seconds:.1f} s (method {params['method']!r}, image {params['image_key']!r}"
        f" channel {params['channel']!r}, {params['um_per_px']:.4g} um/px)",
        f"  shapes  {key_added}_boundaries: {len(sdata.shapes[f'{key_added}_boundaries'])} cell polygons",
        f"  shapes  {key_added}_nuclei: {len(sdata.shapes[f'{key_added}_nuclei'])} nucleus polygons",
        f"  table   {key_added}_table: {table.n_obs} cells x {table.n_vars} genes, median "
        f"{int(counts.median()) if len(counts) else 0} transcripts per cell, median area "
        f"{table.obs['area_um2'].median():.0f} um2",
        f"  points  {points_key}[{key_added}_cell_id]: {int((assigned > 0).sum())} of {len(assigned)} transcripts "
        f"assigned ({(assigned > 0).mean():.1%})",
    ]
    return "\n".join(lines)


def _none_or(kind):
    """Argument type that reads ``none`` as None."""

    def parse(text: str):
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__
    return parse


def _channel(text: str) -> str | int:
    return int(text) if text.lstrip("-").isdigit() else text


def _demo(args: argparse.Namespace) -> int:
    import shutil

    from spatialdata import read_zarr

    import halo

    out = Path(args.output)
    if out.exists():
        if not args.overwrite:
            logger.error("%s exists; pass --overwrite to replace it, or --output for another path", out)
            return 1
        shutil.rmtree(out)
    sdata = halo.datasets.synthetic(seed=args.seed)
    sdata.write(out)
    sdata = read_zarr(out)
    start = time.perf_counter()
    halo.tl.segment(sdata, key_added=args.key_added, progress=not args.quiet)
    sys.stdout.write(f"wrote to {out}:\n{_summary(sdata, args.key_added, time.perf_counter() - start)}\n")
    return 0


def _client(scheduler: str | None):
    """``None``, ``'local'``, or a client connected to the dask scheduler at this address."""
    if scheduler in (None, "local"):
        return scheduler
    from distributed import Client

    return Client(scheduler)


def _segment(args: argparse.Namespace) -> int:
    from spatialdata import read_zarr

    import halo

    if not Path(args.path).exists():
        logger.error("%s does not exist; give the path of a SpatialData zarr store", args.path)
        return 1
    sdata = read_zarr(args.path)
    options = {
        "channel": args.channel,
        "method": args.method,
        "nuclei_key": args.nuclei_key,
        "expansion_um": args.expansion_um,
        "max_reach_um": args.max_reach_um,
        "nuclei_source": args.nuclei_source,
        "weights": args.weights,
        "device": args.device,
        "tile_um": args.tile_um,
        "overlap_um": args.overlap_um,
        "control_pattern": args.control_pattern,
        "min_qv": args.min_qv,
        "um_per_px": args.um_per_px,
        "key_added": args.key_added,
        "scratch_dir": args.scratch_dir,
        "client": _client(args.scheduler),
        "progress": not args.quiet,
    }
    start = time.perf_counter()
    if args.per_fov:
        if args.image_key or args.points_key:
            logger.error("--per-fov chooses the image and points of each field of view; drop --image-key/--points-key")
            return 1
        keys = halo.tl.segment_fovs(sdata, **options)
    else:
        halo.tl.segment(sdata, image_key=args.image_key, points_key=args.points_key, **options)
        keys = [args.key_added]
    seconds = time.perf_counter() - start
    summaries = "\n".join(_summary(sdata, key, seconds) for key in keys)
    sys.stdout.write(f"wrote to {args.path}:\n{summaries}\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    from halo.io import DEFAULT_CONTROL_PATTERN
    from halo.methods import METHODS

    parser = argparse.ArgumentParser(prog="halo", description="Whole-cell segmentation in SpatialData.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="segment a built-in synthetic example into a zarr store")
    demo.add_argument("--output", default="halo_demo.zarr", help="zarr store to write (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the synthetic tissue")
    demo.add_argument("--key-added", default="halo", help="prefix of the elements written")
    demo.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(run=_demo)

    seg = commands.add_parser(
        "segment",
        help="segment a SpatialData zarr store in place",
        description="Segment whole cells and write boundaries, nuclei, table and transcript assignment into the store.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    seg.add_argument("path", help="SpatialData zarr store")
    seg.add_argument("--image-key", help="nuclear image (default: found from its channels or the vendor reader)")
    seg.add_argument("--points-key", help="transcripts (default: the only points element)")
    seg.add_argument("--channel", type=_channel, help="nuclear channel name or index (default: DAPI)")
    seg.add_argument("--method", default="halo", choices=METHODS, help="segmentation method")
    seg.add_argument("--nuclei-key", help="existing nucleus labels or shapes to expand instead of detecting nuclei")
    seg.add_argument("--expansion-um", type=float, default=5.0, help="expansion: largest growth beyond the nucleus")
    seg.add_argument("--max-reach-um", type=float, default=15.0, help="halo: largest growth beyond the nucleus")
    seg.add_argument(
        "--nuclei-source",
        default="image",
        choices=("image", "model"),
        help="halo: nuclei from the image or the network",
    )
    seg.add_argument("--weights", help="halo: fine-tuned safetensors weights (default: the shipped ones)")
    seg.add_argument("--device", help="halo: torch device (default: CUDA, then MPS, then CPU)")
    seg.add_argument("--tile-um", type=float, default=500.0, help="side of a tile core")
    seg.add_argument(
        "--overlap-um", type=float, default=None, help="overlap of neighbouring tiles (default: twice a cell diameter)"
    )
    seg.add_argument(
        "--control-pattern", type=_none_or(str), default=DEFAULT_CONTROL_PATTERN,
        help="regular expression of control genes to drop; 'none' keeps all",
    )  # fmt: skip
    seg.add_argument("--min-qv", type=_none_or(float), default=20.0, help="lowest transcript qv kept; 'none' keeps all")
    seg.add_argument(
        "--um-per-px", type=_none_or(float), default=None, help="pixel size (default: from the transforms)"
    )
    seg.add_argument("--key-added", default="halo", help="prefix of the elements written")
    seg.add_argument(
        "--per-fov", action="store_true",
        help="segment each field of view on its own (CosMx), writing KEY_ADDED_{fov}_* for each",
    )  # fmt: skip
    seg.add_argument("--scratch-dir", help="folder for temporary files (default: the system's temporary folder)")
    seg.add_argument(
        "--scheduler", default=None,
        help="'local' for a dask LocalCluster of worker processes, or the address of a dask scheduler "
        "(default: dask's threads)",
    )  # fmt: skip
    seg.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    seg.set_defaults(run=_segment)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``halo`` command line.

    Parameters
    ----------
    argv
        Arguments without the program name; ``sys.argv[1:]`` when ``None``.

    Returns
    -------
    The exit status: 0 on success, 1 when the input is wrong (the reason is logged).
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not args.verbose:  # ome-zarr warns "no parent found" for every labels element spatialdata reads: benign
        logging.getLogger("ome_zarr").setLevel(logging.ERROR)
    try:
        return args.run(args)
    except (ValueError, KeyError, FileNotFoundError) as error:  # bad input: say why, no traceback unless -v
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        logger.error("%s", message, exc_info=args.verbose)
        return 1


if __name__ == "__main__":
    sys.exit(main())
