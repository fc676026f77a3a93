"""Command line: ``halo demo`` and ``halo segment PATH.zarr``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger("halo")


def _summary(sdata, key_added: str, points_key: str) -> str:
    table = sdata[f"{key_added}_table"]
    assigned = sdata[points_key][f"{key_added}_cell_id"].compute()
    lines = [
        f"shapes  {key_added}_boundaries: {len(sdata[f'{key_added}_boundaries'])} cell polygons",
        f"shapes  {key_added}_nuclei: {len(sdata[f'{key_added}_nuclei'])} nucleus polygons",
        f"table   {key_added}_table: {table.n_obs} cells x {table.n_vars} genes, "
        f"median {int(table.obs['transcript_count'].median())} transcripts per cell",
        f"points  {points_key}[{key_added}_cell_id]: {(assigned > 0).mean():.1%} of transcripts assigned",
    ]
    return "\n".join(lines)


def _demo(args: argparse.Namespace) -> int:
    import shutil

    import halo

    out = Path(args.output)
    if out.exists():
        if not args.overwrite:
            logger.error("%s exists; pass --overwrite to replace it", out)
            return 1
        shutil.rmtree(out)
    sdata = halo.datasets.synthetic(seed=args.seed)
    sdata.write(out)
    from spatialdata import read_zarr

    sdata = read_zarr(out)
    halo.tl.segment(sdata, key_added=args.key_added)
    sys.stdout.write(f"wrote to {out}:\n{_summary(sdata, args.key_added, 'transcripts')}\n")
    return 0


def _segment(args: argparse.Namespace) -> int:
    from spatialdata import read_zarr

    import halo

    sdata = read_zarr(args.path)
    halo.tl.segment(
        sdata,
        image_key=args.image_key,
        points_key=args.points_key,
        expansion_um=args.expansion_um,
        key_added=args.key_added,
    )
    points_key = sdata[f"{args.key_added}_table"].uns["halo"]["params"]["points_key"]
    sys.stdout.write(f"wrote to {args.path}:\n{_summary(sdata, args.key_added, points_key)}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the ``halo`` command line."""
    parser = argparse.ArgumentParser(prog="halo", description="Whole-cell segmentation in SpatialData.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="segment a built-in synthetic example into a zarr store")
    demo.add_argument("--output", default="halo_demo.zarr")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--key-added", default="halo")
    demo.add_argument("--overwrite", action="store_true", default=True)
    demo.set_defaults(run=_demo)
    seg = commands.add_parser("segment", help="segment a SpatialData zarr store in place")
    seg.add_argument("path")
    seg.add_argument("--image-key")
    seg.add_argument("--points-key")
    seg.add_argument("--expansion-um", type=float, default=5.0)
    seg.add_argument("--key-added", default="halo")
    seg.set_defaults(run=_segment)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
