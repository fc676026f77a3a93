"""Train the nucleus network on the hand-annotated DSB2018 nuclei, resumably, and optionally export it.

The annotated images live in the shared data folder (``$HALO_SHARED_DATA``, else ``../shared/data`` next to the
checkout), never in the repository. Held-out images (``halo.training._nuclei_data.split_of``) are never loaded
here.

Examples
--------
OMP_NUM_THREADS=1 python scripts/train_nuclei.py runs/nuclei_v1 --steps 30000    # train (or resume) into the folder
python scripts/train_nuclei.py runs/nuclei_v1 --export halo_nuclei_v1             # ship it, with its checksum
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from halo.model import load_weights
from halo.training import export_weights
from halo.training._nuclei_data import DSB_FILE, load_dsb, simulated_fields, simulated_specs
from halo.training._nuclei_train import NucleusTrainConfig, train_nuclei

ROOT = Path(__file__).resolve().parents[1]
VALIDATION_SEEDS = 999_000
"""Simulated validation field ``i`` has seed ``VALIDATION_SEEDS + i``: training-side (below the held-out benchmark
seeds), and apart from the training fields' seeds (drawn at random; checked)."""
VALIDATION_FIELD_UM = 100.0


def data_file() -> Path:
    """The annotated nuclei in the shared data folder."""
    from halo.datasets import shared_data_dir

    return shared_data_dir() / DSB_FILE


def validate(run: Path, validation: list) -> None:
    """Validation scores of a finished run, at its thresholds and at the best ones for ``validation``."""
    from halo.training._nuclei_data import grid_example
    from halo.training._nuclei_train import _by_source, choose_thresholds, decoded, network_outputs

    net = load_weights(run / "nucleus_net.safetensors")
    examples = [grid_example(item) for item in validation]
    outputs = network_outputs(net, examples)
    own = (net.config.foreground_threshold, net.config.seed_threshold)
    foreground, seed, _ = choose_thresholds(outputs, examples)
    result = {
        "images": [e.image_id for e in examples],
        "own_thresholds": {"thresholds": own, "scores": _by_source(examples, decoded(outputs, *own))},
        "best_thresholds": {
            "thresholds": (foreground, seed),
            "scores": _by_source(examples, decoded(outputs, foreground, seed)),
        },
    }
    (run / "validation.json").write_text(json.dumps(result, indent=1) + "\n")
    logging.getLogger("halo").info("validation: %s", json.dumps({k: v for k, v in result.items() if k != "images"}))


def validation_fields(n: int, config: NucleusTrainConfig) -> list:
    """``n`` simulated validation fields (every archetype and platform in turn), none of them a training field."""
    if n == 0:
        return []
    seeds = [VALIDATION_SEEDS + i for i in range(n)]
    training = {field_seed for *_, field_seed in simulated_specs(config.seed, config.simulated_fields)}
    if training & set(seeds):
        msg = "A simulated validation seed is also a training field's; choose other VALIDATION_SEEDS."
        raise ValueError(msg)
    return simulated_fields(config.seed, n, size_um=VALIDATION_FIELD_UM, seeds=seeds)


def main() -> None:
    """Parse the command line; train or export."""
    defaults = NucleusTrainConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="folder for checkpoints and the log (resumed when it exists)")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--crop-px", type=int, default=defaults.crop_px)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--depth", type=int, default=defaults.depth)
    parser.add_argument("--unshuffle", type=int, default=defaults.unshuffle)
    parser.add_argument("--distance-weight", type=float, default=defaults.distance_weight)
    parser.add_argument("--simulated-fraction", type=float, default=defaults.simulated_fraction)
    parser.add_argument("--simulated-fields", type=int, default=defaults.simulated_fields)
    parser.add_argument(
        "--simulated-validation", type=int, default=0, help="simulated fields added to the validation images"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--eval-every", type=int, default=defaults.eval_every)
    parser.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    parser.add_argument("--data", type=Path, default=None, help=f"the annotated nuclei (default: shared {DSB_FILE})")
    parser.add_argument("--export", metavar="NAME", help="export the finished run as shipped weights NAME")
    parser.add_argument(
        "--validate",
        action="store_true",
        help="score the finished run on the validation images (and --simulated-validation fields) at its own "
        "thresholds and at the best ones for this set; writes validation.json into the run",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("halo.datasets").setLevel(logging.WARNING)  # one line per simulated field otherwise
    if args.export:
        export_weights(
            args.run / "nucleus_net.safetensors",
            args.export,
            config=args.run / "config.json",
            log=args.run / "log.jsonl",
        )
        return
    config = NucleusTrainConfig(
        steps=args.steps, batch_size=args.batch_size, crop_px=args.crop_px, learning_rate=args.learning_rate,
        width=args.width, depth=args.depth, unshuffle=args.unshuffle, distance_weight=args.distance_weight,
        simulated_fraction=args.simulated_fraction, simulated_fields=args.simulated_fields, seed=args.seed,
        eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every,
    )  # fmt: skip
    path = args.data or data_file()
    if args.validate:  # the run's own settings decide which simulated fields it trained on
        config = NucleusTrainConfig(**json.loads((args.run / "config.json").read_text()))
    validation = load_dsb(path, splits=("validation",)) + validation_fields(args.simulated_validation, config)
    if args.validate:
        validate(args.run, validation)
        return
    train_nuclei(
        args.run,
        load_dsb(path, splits=("train",)),
        validation,
        config=config,
        threads=args.threads,
        progress=False,
    )


if __name__ == "__main__":
    main()
