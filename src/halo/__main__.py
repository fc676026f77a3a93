"""Command line: ``halo demo``, ``halo segment PATH.zarr`` and ``halo --version``.

The flags of ``halo segment`` are made from the fields of :class:`halo.tl.SegmentOptions`: its defaults, types and
docstring are the one place each option is written.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import MISSING, fields
from pathlib import Path

logger = logging.getLogger("halo")

#: Options whose flags are not made from their field alone.
_SPECIAL = {"client", "progress", "nucleus_options", "image_key", "points_key"}
#: Entry-point group of packages that register methods or nucleus sources (``halo.methods.register_*``) on import.
PLUGIN_GROUP = "halo.plugins"


def _summary(sdata, key_added: str, seconds: float) -> str:
    """Describe what ``halo.tl.segment`` wrote under ``key_added``, one element a line."""
    from halo.io import assigned_counts, read_segmentation

    seg = read_segmentation(sdata, key_added)
    table = sdata.tables[seg.table]
    counts = table.obs["transcript_count"]
    params = seg.params
    assigned, kept = assigned_counts(sdata, seg)
    lines = [
        f"segmented {table.n_obs} cells in {seconds:.1f} s (method {params['method']!r}, image {seg.image_key!r}"
        f" channel {seg.channel!r}, {params['um_per_px']:.4g} um/px)",
        f"  shapes  {seg.boundaries}: {len(sdata.shapes[seg.boundaries])} cell polygons",
        f"  shapes  {seg.nuclei}: {len(sdata.shapes[seg.nuclei])} nucleus polygons",
        f"  table   {seg.table}: {table.n_obs} cells x {table.n_vars} genes, median "
        f"{int(counts.median()) if len(counts) else 0} transcripts per cell, median area "
        f"{table.obs['area_um2'].median():.0f} um2",
        f"  points  {seg.points}[{seg.assignment_column}]: {assigned} of {kept} kept transcripts assigned "
        f"({assigned / max(kept, 1):.1%}; kept: not a control, not of low quality, on the image)",
    ]
    return "\n".join(lines)


def _none_or(kind):
    """Argument type that reads ``none`` as None."""

    def parse(text: str):
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__
    return parse


def _channel(text: str) -> str | int | None:
    if text.lower() == "none":
        return None
    return int(text) if text.lstrip("-").isdigit() else text


def _nucleus_option(text: str) -> tuple[str, float | None]:
    name, sep, value = text.partition("=")
    if not sep:
        msg = f"{text!r} is not KEY=VALUE (e.g. max_area_um2=300)"
        raise argparse.ArgumentTypeError(msg)
    return name.strip(), _none_or(float)(value.strip())


_TYPES = {"float": float, "float | None": _none_or(float), "str": str, "str | None": _none_or(str)}


def _add_option_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per field of :class:`~halo.tl.SegmentOptions`, with its default and the first sentence of its doc."""
    from halo.methods import METHODS, NUCLEUS_SOURCES
    from halo.tl import SegmentOptions

    from ._pipeline import option_docs

    docs = option_docs()
    choices = {"method": list(METHODS), "nuclei_source": list(NUCLEUS_SOURCES)}
    for option in fields(SegmentOptions):
        if option.name in _SPECIAL:
            continue
        kind = _channel if option.name == "channel" else _TYPES[str(option.type)]
        default = option.default if option.default is not MISSING else None
        text = _first_sentence(docs[option.name])
        if option.name in choices:
            text += f" ({', '.join(choices[option.name])}, or a registered plug-in's)"
        if default is not None:
            text += f" (default: {default})"
        parser.add_argument(f"--{option.name.replace('_', '-')}", type=kind, default=default, help=text)
    parser.add_argument(
        "--nucleus-option", dest="nucleus_options", type=_nucleus_option, action="append", default=[],
        metavar="KEY=VALUE", help="a field of halo.methods.NucleusOptions, e.g. max_area_um2=300; repeat for more",
    )  # fmt: skip


def _first_sentence(text: str) -> str:
    head, _, _ = text.partition(". ")
    return head.rstrip(".").replace("``", "'")


def _demo(args: argparse.Namespace) -> int:
    import shutil

    import halo
    from halo.io import read_store

    out = Path(args.output)
    if out.exists():
        if not args.overwrite:
            logger.error("%s exists; pass --overwrite to replace it, or --output for another path", out)
            return 1
        shutil.rmtree(out)
    sdata = halo.datasets.synthetic(seed=args.seed)
    sdata.write(out)
    sdata = read_store(out)
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
    import halo
    from halo.io import read_store

    if not Path(args.path).exists():
        logger.error("%s does not exist; give the path of a SpatialData zarr store", args.path)
        return 1
    if args.per_fov and (args.image_key or args.points_key):
        logger.error("--per-fov chooses the image and points of each field of view; drop --image-key/--points-key")
        return 1
    options = {
        option.name: getattr(args, option.name)
        for option in fields(halo.tl.SegmentOptions)
        if option.name not in _SPECIAL
    }
    options["nucleus_options"] = dict(args.nucleus_options)
    options["progress"] = not args.quiet
    sdata = read_store(args.path)
    options["client"] = _client(args.scheduler)
    start = time.perf_counter()
    if args.per_fov:
        key_added = options.pop("key_added")
        written = halo.tl.segment_fovs(sdata, key_added=key_added, **options)
    else:
        written = [halo.tl.segment_with(sdata, {**options, "image_key": args.image_key, "points_key": args.points_key})]
    seconds = time.perf_counter() - start
    summaries = "\n".join(_summary(sdata, names.key_added, seconds) for names in written)
    sys.stdout.write(f"wrote to {args.path}:\n{summaries}\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    from halo import __version__

    parser = argparse.ArgumentParser(prog="halo", description="Whole-cell segmentation in SpatialData.")
    parser.add_argument("--version", action="version", version=f"halo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="segment a built-in synthetic example into a zarr store")
    demo.add_argument("--output", default="halo_demo.zarr", help="zarr store to write (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the synthetic tissue (default: %(default)s)")
    demo.add_argument("--key-added", default="halo", help="prefix of the elements written (default: %(default)s)")
    demo.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(run=_demo)

    seg = commands.add_parser(
        "segment",
        help="segment a SpatialData zarr store in place",
        description="Segment whole cells and write boundaries, nuclei, table and transcript assignment into the store.",
    )
    seg.add_argument("path", help="SpatialData zarr store")
    seg.add_argument("--image-key", help="nuclear image (default: found from its channels or the vendor reader)")
    seg.add_argument("--points-key", help="transcripts (default: the only points element, or the vendor reader's)")
    _add_option_flags(seg)
    seg.add_argument(
        "--per-fov", action="store_true",
        help="segment each field of view on its own (CosMx), writing KEY_ADDED_{fov}_* for each",
    )  # fmt: skip
    seg.add_argument(
        "--scheduler", default=None,
        help="'local' for a dask LocalCluster of worker processes, or the address of a dask scheduler "
        "(default: dask's threads)",
    )  # fmt: skip
    seg.add_argument(
        "--plugin", action="append", default=[], metavar="MODULE",
        help="import this module first (it registers methods or nucleus sources); repeat for more",
    )  # fmt: skip
    seg.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    seg.set_defaults(run=_segment)
    return parser


def _load_plugins(argv: list[str] | None) -> None:
    """Import the plug-ins of installed packages (entry points) and of ``--plugin``, before the flags are made."""
    import importlib
    from importlib.metadata import entry_points

    for entry in entry_points(group=PLUGIN_GROUP):
        entry.load()
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--plugin", action="append", default=[])
    for module in early.parse_known_args(argv)[0].plugin:
        importlib.import_module(module)


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
    argv = sys.argv[1:] if argv is None else argv
    try:
        _load_plugins(argv)
    except ImportError as error:
        logging.basicConfig(format="%(levelname)s %(message)s")
        logger.error("could not import a plug-in: %s", error)
        return 1
    args = _parser().parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    logging.getLogger("halo").setLevel(level)
    try:
        return args.run(args)
    except (ValueError, KeyError, FileNotFoundError) as error:  # bad input: say why, no traceback unless -v
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        logger.error("%s", message, exc_info=args.verbose)
        return 1


if __name__ == "__main__":
    sys.exit(main())
