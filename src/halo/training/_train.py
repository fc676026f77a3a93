"""Training on freshly simulated tissue: seeded, resumable, with held-out scores in the log."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .._tiling import bin_factor
from ..model import N_CHANNELS, SMOOTH_UM, HaloNet, NetConfig, load_weights, pick_device, predict, save_weights
from ._data import draw_tissue, example_from_tissue, random_crops

logger = logging.getLogger(__name__)

DEFAULT_REACH_UM = 15.0
"""Largest distance from its nucleus a cell reaches in held-out scoring (``max_reach_um`` of segment)."""
HELD_OUT_SEED = 1_000_000
"""Seeds at and above this are never drawn for training; the held-out scores and benchmarks use them."""


@dataclass(frozen=True)
class TrainConfig:
    """What a training run does; stored next to its checkpoints."""

    steps: int = 4000
    batch_size: int = 8
    crop_px: int = 128
    field_um: float = 120.0
    fields_per_batch: int = 1
    learning_rate: float = 2e-3
    boundary_weight: float = 2.0
    width: int = 8
    depth: int = 4
    seed: int = 0
    archetypes: tuple[str, ...] = field(default_factory=tuple)
    """Archetypes to train on; all of them when empty."""
    eval_every: int = 250
    """Held-out scores every this many steps and at the end; 0 for none."""
    zero_channels: tuple[int, ...] = ()
    """Input channels set to zero in training and held-out scoring: the ablation of an input."""
    smooth_um: float = SMOOTH_UM
    """Gaussian smoothing of the transcript channels; stored with the weights, and inference smooths alike."""
    checkpoint_every: int = 50


def batch_for_step(config: TrainConfig, step: int, examples: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The batch of training step ``step``: a pure function of the seed and the step, so a resumed run is exact.

    Crops come from freshly simulated tissue, or from ``examples`` (:class:`~halo.training.Example`) when given.
    """
    from ..datasets import ARCHETYPES

    rng = np.random.default_rng([config.seed, step])
    archetypes = config.archetypes or ARCHETYPES
    per_field = -(-config.batch_size // config.fields_per_batch)
    inputs, targets = [], []
    while len(inputs) < config.batch_size:
        if examples:
            example = examples[int(rng.integers(len(examples)))]
        else:
            tissue = draw_tissue(rng, size_um=config.field_um, archetypes=archetypes)
            example = example_from_tissue(tissue, rng, smooth_um=config.smooth_um)
        for x, y in random_crops(example, rng, config.crop_px, per_field):
            inputs.append(x)
            targets.append(y)
    inputs = np.stack(inputs[: config.batch_size])
    inputs[:, list(config.zero_channels)] = 0
    return inputs, np.stack(targets[: config.batch_size])


class _Batches(torch.utils.data.IterableDataset):
    """The batches from step ``start`` on, made in DataLoader workers while the network trains.

    Worker ``i`` of ``n`` makes steps ``start + i``, ``start + i + n``, ...; the DataLoader takes one batch from each
    worker in turn, so the network sees the steps in order and the run is the same whatever the number of workers.
    """

    def __init__(self, config: TrainConfig, start: int, examples: list | None):
        super().__init__()
        self.config, self.start, self.examples = config, start, examples

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        first, every = (0, 1) if worker is None else (worker.id, worker.num_workers)
        for step in range(self.start + first, self.config.steps, every):
            inputs, targets = batch_for_step(self.config, step, self.examples)
            yield torch.from_numpy(inputs), torch.from_numpy(targets)


def default_workers(device: torch.device) -> int:
    """Choose how many processes simulate the batches: one beside a CPU that trains, all cores but one beside a GPU.

    Simulating a batch takes ~0.3 s of one core, far longer than the network's step on a GPU.
    """
    if device.type == "cpu":
        return 1
    return max(1, min((os.cpu_count() or 1) - 1, 32))  # os.sched_getaffinity does not exist on macOS (MPS)


def train(
    output_dir: str | Path,
    *,
    config: TrainConfig | None = None,
    device: str | None = None,
    init: HaloNet | None = None,
    examples: list | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> HaloNet:
    """Train a network on simulated tissue, resuming from ``output_dir`` when it holds a checkpoint.

    Parameters
    ----------
    output_dir
        Folder for ``checkpoint.safetensors``, ``optimizer.pt``, ``config.json`` and ``log.jsonl`` (one line per
        logged step: losses, and every ``eval_every`` steps the held-out scores).
    config
        The run's settings; a resumed run must pass the same ones (or ``None`` to read them from the folder).
    device
        Torch device; by default CUDA, then MPS, then CPU.
    init
        Start from these weights instead of random ones (fine-tuning).
    examples
        Train on crops of these :class:`~halo.training.Example` instead of simulated tissue (fine-tuning).
    workers
        Processes making the batches (:func:`default_workers` by default); the result does not depend on it.
    progress
        Show a progress bar.

    Returns
    -------
    The trained network (also saved as ``output_dir/checkpoint.safetensors``).
    """
    from tqdm.auto import tqdm

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    config = _settle_config(output, config)
    torch.manual_seed(config.seed)
    chosen = pick_device(device)
    checkpoint, optimizer_file = output / "checkpoint.safetensors", output / "optimizer.pt"
    if checkpoint.exists():
        net = load_weights(checkpoint)
        start = int(json.loads((output / "state.json").read_text())["step"])
        logger.info("resuming at step %d", start)
    else:
        net = init if init is not None else HaloNet(NetConfig(N_CHANNELS, config.width, config.depth))
        if net.config.smooth_um != config.smooth_um:  # fine-tuned to other inputs: the weights record the new ones
            logger.info("transcript channels smoothed over %g um (the initial weights: %g)", config.smooth_um,
                        net.config.smooth_um)  # fmt: skip
        net.config = replace(net.config, smooth_um=config.smooth_um)
        start = 0
    net = net.to(chosen).train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.learning_rate, total_steps=config.steps)
    if start and optimizer_file.exists():
        saved = torch.load(optimizer_file, weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
    workers = default_workers(chosen) if workers is None else workers
    if workers < 1:
        msg = f"workers must be at least 1, got {workers}."
        raise ValueError(msg)
    logger.info("%d processes make the batches", workers)
    loader = torch.utils.data.DataLoader(
        _Batches(config, start, examples),
        batch_size=None,
        num_workers=workers,
        prefetch_factor=4,
        persistent_workers=False,
    )
    weights = torch.tensor([1.0, config.boundary_weight, 1.0], device=chosen)[None, :, None, None]
    log = (output / "log.jsonl").open("a")
    bar = tqdm(total=config.steps, initial=start, disable=not progress, desc="halo training")
    tic = time.perf_counter()
    for step, (inputs, targets) in enumerate(loader, start=start):
        inputs, targets = inputs.to(chosen), targets.to(chosen)
        logits = net(inputs)
        per_pixel = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        loss = (per_pixel * weights).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        bar.update()
        record = {"step": step + 1, "loss": loss.item(), "seconds": round(time.perf_counter() - tic, 1)}
        if config.eval_every and ((step + 1) % config.eval_every == 0 or step + 1 == config.steps):
            record["held_out"] = held_out_scores(net.eval(), zero_channels=config.zero_channels)
            net.train()
            logger.info("step %d: %s", step + 1, record["held_out"]["mean"])
        log.write(json.dumps(record) + "\n")
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
            log.flush()
            _checkpoint(net, optimizer, schedule, step + 1, output, save_weights)
    bar.close()
    log.close()
    return net.eval().cpu()


def _settle_config(output: Path, config: TrainConfig | None) -> TrainConfig:
    def restored(saved: dict) -> dict:
        saved["archetypes"] = tuple(saved["archetypes"])
        saved["zero_channels"] = tuple(saved.get("zero_channels", ()))
        saved.setdefault("smooth_um", SMOOTH_UM)  # runs begun before the smoothing was a setting
        return saved

    return settled_config(output, config, TrainConfig, restored)


def settled_config(output: Path, config, cls: type, restored=lambda saved: saved):
    """The run's settings: those saved in ``output`` (which ``config``, if given, must equal), or ``config`` saved.

    ``restored`` turns the saved JSON back into ``cls``'s fields (tuples, settings added since).
    """
    path = output / "config.json"
    if path.exists():
        saved = restored(json.loads(path.read_text()))
        if config is None:
            return cls(**saved)
        if asdict(config) != saved:
            msg = f"{output} holds a run with other settings ({saved}); use a new folder or the same settings."
            raise ValueError(msg)
        return config
    config = config or cls()
    path.write_text(json.dumps(asdict(config), indent=1))
    return config


def _checkpoint(net, optimizer, schedule, step: int, output: Path, save_weights) -> None:
    """Write weights, optimizer and step; each file is replaced atomically so a kill never leaves a broken one."""
    for name, write in (
        ("checkpoint.safetensors", lambda p: save_weights(net, p)),
        (
            "optimizer.pt",
            lambda p: torch.save({"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()}, p),
        ),
        ("state.json", lambda p: p.write_text(json.dumps({"step": step}))),
    ):
        tmp = output / f".{name}.tmp"
        write(tmp)
        tmp.replace(output / name)


def held_out_fields(
    archetypes: tuple[str, ...] | None = None, *, size_um: float = 120.0, seeds: int = 1, smooth_um: float = SMOOTH_UM
):
    """Fixed held-out fields (seeds from :data:`HELD_OUT_SEED`) of each archetype, on the Xenium platform."""
    from ..datasets import ARCHETYPES, simulate_tissue

    return {
        name: [
            example_from_tissue(
                simulate_tissue(name, size_um=size_um, seed=HELD_OUT_SEED + i, platform="xenium"), smooth_um=smooth_um
            )
            for i in range(seeds)
        ]
        for name in archetypes or ARCHETYPES
    }


_HELD_OUT_CACHE: dict = {}


def held_out_scores(net: HaloNet, *, zero_channels: tuple[int, ...] = ()) -> dict:
    """F1 at IoU 0.5 and mean matched IoU per archetype, with true nuclei as seeds, next to nuclear expansion."""
    from skimage.segmentation import expand_labels

    from ..datasets import PLATFORMS
    from ..methods import BOUNDARY_WEIGHT_UM, decode_cells
    from ..metrics import match_instances

    smooth_um = net.config.smooth_um
    if smooth_um not in _HELD_OUT_CACHE:
        _HELD_OUT_CACHE[smooth_um] = held_out_fields(smooth_um=smooth_um)
    xenium_um = PLATFORMS["xenium"]
    model_um = bin_factor(xenium_um) * xenium_um  # the held-out fields are Xenium
    scores = {}
    for name, examples in _HELD_OUT_CACHE[smooth_um].items():
        f1, f1_expansion = [], []
        for example in examples:
            features = example.features.copy()
            features[list(zero_channels)] = 0
            probabilities = predict(net, features)
            cells = decode_cells(
                probabilities[0], probabilities[1], example.nuclei, DEFAULT_REACH_UM / model_um,
                boundary_weight_px=BOUNDARY_WEIGHT_UM / model_um,
            )  # fmt: skip
            f1.append(match_instances(example.cells, cells).f1)
            f1_expansion.append(match_instances(example.cells, expand_labels(example.nuclei, 5.0 / model_um)).f1)
        scores[name] = {"f1": float(np.mean(f1)), "f1_expansion": float(np.mean(f1_expansion))}
    scores["mean"] = {k: float(np.mean([s[k] for s in scores.values()])) for k in ("f1", "f1_expansion")}
    return scores
