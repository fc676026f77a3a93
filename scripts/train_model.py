"""Train the halo network on simulated tissue, resumably, and optionally export it as the shipped weights.

Examples
--------
python scripts/train_model.py runs/v1 --steps 3000            # train (or resume) into runs/v1
python scripts/train_model.py runs/v1 --export halo_v1         # copy the checkpoint into the package, with checksum
python scripts/train_model.py runs/holdout --exclude liver adipose   # leave archetypes out to measure generalisation
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

from halo.datasets import ARCHETYPES
from halo.model import load_weights
from halo.training import TrainConfig, export_weights, train


def main() -> None:
    """Parse the command line; train or export."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="folder for checkpoints and the log (resumed when it exists)")
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--width", type=int, default=TrainConfig.width)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=TrainConfig.eval_every)
    parser.add_argument("--exclude", nargs="*", default=[], choices=ARCHETYPES, help="archetypes kept out")
    parser.add_argument("--zero-channels", nargs="*", type=int, default=[], help="input channels ablated (zeroed)")
    parser.add_argument("--device", default=None, help="torch device; default CUDA, then MPS, then CPU")
    parser.add_argument(
        "--workers", type=int, default=None, help="processes simulating the batches; default 1 on a CPU, cores - 1 else"
    )
    parser.add_argument("--init", type=Path, help="start from these weights (e.g. the shipped ones) instead of random")
    parser.add_argument("--learning-rate", type=float, default=TrainConfig.learning_rate)
    parser.add_argument(
        "--smooth-um", type=float, help="smoothing of the transcript channels (default: the --init weights', else 1.5)"
    )
    parser.add_argument("--export", metavar="NAME", help="export the finished run as shipped weights NAME")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.export:
        export_weights(
            args.run / "checkpoint.safetensors",
            args.export,
            config=args.run / "config.json",
            log=args.run / "log.jsonl",
        )
        return
    config = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, width=args.width, seed=args.seed, eval_every=args.eval_every,
        archetypes=tuple(a for a in ARCHETYPES if a not in args.exclude) if args.exclude else (),
        zero_channels=tuple(args.zero_channels),
        learning_rate=args.learning_rate,
    )  # fmt: skip
    init = load_weights(args.init) if args.init else None
    if init is not None:
        config = replace(config, width=init.config.width, depth=init.config.depth, smooth_um=init.config.smooth_um)
    if args.smooth_um is not None:
        config = replace(config, smooth_um=args.smooth_um)
    train(args.run, config=config, device=args.device, init=init, workers=args.workers)


if __name__ == "__main__":
    main()
