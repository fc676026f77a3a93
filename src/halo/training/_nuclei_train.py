"""Training the nucleus network on hand-annotated nuclei: seeded, resumable, validated on images held apart.

Every batch is a pure function of the seed and the step (:func:`nucleus_batch`), and one file holds the network,
optimizer, schedule and step (replaced atomically), so a run killed at any moment resumes exactly where its last
checkpoint left it. Validation images (never the held-out ones, which this module refuses) are scored during
training and choose the decoding thresholds at its end.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._tiling import GRID_UM_PER_PX
from ._nuclei_data import Augmentation, augmented_crop, grid_example, simulated_fields, split_of
from ._train import settled_config

if TYPE_CHECKING:
    from ..model import NucleusNet
    from ._nuclei_data import GridExample, NucleusImage

logger = logging.getLogger(__name__)

FOREGROUND_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
"""Foreground thresholds tried on the validation images at the end of training."""
SEED_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
"""Seed thresholds tried alike."""


@dataclass(frozen=True)
class NucleusTrainConfig:
    """What a training run does; stored next to its checkpoints."""

    steps: int = 12_000
    batch_size: int = 8
    crop_px: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    width: int = 16
    depth: int = 3
    unshuffle: int = 2
    distance_weight: float = 1.0
    """Weight of the distance output's loss against the foreground's."""
    simulated_fraction: float = 0.15
    """Share of crops taken from simulated DAPI fields instead of annotated images."""
    simulated_fields: int = 48
    """Simulated fields made (once, from the seed) for those crops."""
    seed: int = 0
    eval_every: int = 1000
    """Validation scores every this many steps and at the end; 0 for none."""
    log_every: int = 20
    """Mean losses over this many steps per log line."""
    checkpoint_every: int = 100


def nucleus_batch(
    config: NucleusTrainConfig, step: int, images: list[NucleusImage], simulated: list[NucleusImage]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs ``(B, 1, s, s)``, targets ``(B, 2, s, s)`` and loss masks ``(B, s, s)`` of training step ``step``.

    A pure function of the seed, the step and the images, so that a resumed run sees the batches it would have.
    """
    rng = np.random.default_rng([config.seed, step])
    inputs, targets, masks = [], [], []
    augmentation = Augmentation()
    for _ in range(config.batch_size):
        pool = simulated if simulated and rng.random() < config.simulated_fraction else images
        x, y, mask = augmented_crop(pool[int(rng.integers(len(pool)))], rng, config.crop_px, augmentation)
        inputs.append(x)
        targets.append(y)
        masks.append(mask)
    return np.stack(inputs), np.stack(targets), np.stack(masks)


def nucleus_loss(logits, targets, mask, *, distance_weight: float):
    """Masked binary cross-entropy of both outputs (the distance against its soft target); also each part."""
    import torch

    per_pixel = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    weight = mask[:, None]
    parts = (per_pixel * weight).sum(dim=(0, 2, 3)) / weight.sum().clamp(min=1.0)
    return parts[0] + distance_weight * parts[1], parts


def pooled_scores(references: list[np.ndarray], predictions: list[np.ndarray]) -> dict[str, float]:
    """Instance scores at IoU >= 0.5 pooled over images, and the median of each image's own F1.

    Pooled: true positives, false positives and false negatives summed over images before precision, recall and
    F1; the mean IoU is over all matched pairs.
    """
    from ..metrics import match_instances

    tp = fp = fn = 0
    iou_sum, f1s = 0.0, []
    for reference, prediction in zip(references, predictions, strict=True):
        match = match_instances(reference, prediction)
        tp, fp, fn = tp + match.tp, fp + match.fp, fn + match.fn
        iou_sum += float(np.sum(match.matched_iou))
        f1s.append(match.f1)
    return {
        "f1": 2 * tp / max(2 * tp + fp + fn, 1),
        "precision": tp / max(tp + fp, 1),
        "recall": tp / max(tp + fn, 1),
        "mean_matched_iou": iou_sum / max(tp, 1),
        "median_image_f1": float(np.median(f1s)) if f1s else float("nan"),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "n_images": len(f1s),
    }


def network_outputs(net: NucleusNet, examples: list[GridExample]) -> list[np.ndarray]:
    """The network's ``(2, h, w)`` probabilities on each example's input."""
    from ..model import predict_nuclei

    return [predict_nuclei(net, example.input) for example in examples]


def decoded(outputs: list[np.ndarray], foreground_threshold: float, seed_threshold: float) -> list[np.ndarray]:
    """Nuclei decoded from each image's outputs with the default size limits."""
    from ..methods import nuclei_from_network

    return [
        nuclei_from_network(
            out,
            um_per_px=GRID_UM_PER_PX,
            foreground_threshold=foreground_threshold,
            seed_threshold=seed_threshold,
        )
        for out in outputs
    ]


def choose_thresholds(outputs: list[np.ndarray], examples: list[GridExample]) -> tuple[float, float, dict[str, float]]:
    """The foreground and seed thresholds of the best pooled F1 on ``examples`` (validation images), and its scores.

    Ties go to the first in :data:`FOREGROUND_THRESHOLDS` x :data:`SEED_THRESHOLDS` order, so the choice is
    deterministic.
    """
    references = [example.labels for example in examples]
    best = None
    for foreground in FOREGROUND_THRESHOLDS:
        for seed in SEED_THRESHOLDS:
            scores = pooled_scores(references, decoded(outputs, foreground, seed))
            if best is None or scores["f1"] > best[2]["f1"]:
                best = (foreground, seed, scores)
    return best


def train_nuclei(
    output_dir: str | Path,
    images: list[NucleusImage],
    validation: list[NucleusImage],
    *,
    config: NucleusTrainConfig | None = None,
    threads: int | None = 1,
    progress: bool = True,
) -> NucleusNet:
    """Train the nucleus network on ``images``, resuming from ``output_dir`` when it holds a checkpoint.

    Parameters
    ----------
    output_dir
        Folder for ``state.pt`` (network, optimizer, schedule and step: the checkpoint), ``checkpoint.safetensors``
        (the weights at the last checkpoint), ``config.json``, ``log.jsonl`` (mean losses every ``log_every``
        steps; validation scores every ``eval_every``) and, once finished, ``nucleus_net.safetensors``: the weights
        with the thresholds chosen on ``validation`` in their settings.
    images, validation
        Annotated images (:func:`~halo.training._nuclei_data.load_dsb`) to train on, and to validate and choose the
        thresholds on. Held-out images are refused.
    config
        The run's settings; a resumed run must pass the same ones (or ``None`` to read them from the folder).
    threads
        Torch threads (one by default: the run shares the machine); ``None`` leaves torch's choice.
    progress
        Show a progress bar.

    Returns
    -------
    The trained network, in eval mode.
    """
    import torch
    from tqdm.auto import tqdm

    _refuse_held_out(images, validation)
    if threads is not None:
        torch.set_num_threads(threads)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    config = settled_config(output, config, NucleusTrainConfig)
    net, optimizer, schedule, start = _restored(output, config)
    simulated = simulated_fields(config.seed, config.simulated_fields) if config.simulated_fraction > 0 else []
    examples = [grid_example(item) for item in validation]
    _truncate_log(output / "log.jsonl", start)
    bar = tqdm(total=config.steps, initial=start, disable=not progress, desc="nucleus network")
    tic, window = time.perf_counter(), []
    with (output / "log.jsonl").open("a") as log, bar:  # closed (and flushed) however the loop ends
        for step in range(start, config.steps):
            batch = (torch.from_numpy(a) for a in nucleus_batch(config, step, images, simulated))
            window.append(_step(net, optimizer, schedule, *batch, config))
            bar.update()
            done = step + 1
            record = _record(done, window, net, examples, config)
            if record is not None:
                window = [] if "loss" in record else window
                log.write(json.dumps(record | {"seconds": round(time.perf_counter() - tic, 1)}) + "\n")
            if done % config.checkpoint_every == 0 or done == config.steps:
                log.flush()
                _checkpoint(output, net, optimizer, schedule, done)
    return _finished(output, net.eval(), examples)


def _step(net, optimizer, schedule, inputs, targets, masks, config: NucleusTrainConfig) -> list[float]:
    """One optimisation step; the total loss and each output's."""
    loss, parts = nucleus_loss(net(inputs), targets, masks, distance_weight=config.distance_weight)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    schedule.step()
    return [loss.item(), *parts.tolist()]


def _record(done: int, window: list, net, examples: list[GridExample], config: NucleusTrainConfig) -> dict | None:
    """The log line after step ``done``: mean losses every ``log_every`` steps, validation every ``eval_every``."""
    record = None
    if done % config.log_every == 0 or done == config.steps:
        mean = np.mean(window, axis=0)
        record = {"step": done, "loss": mean[0], "foreground": mean[1], "distance": mean[2]}
    if config.eval_every and (done % config.eval_every == 0 or done == config.steps):
        record = (record or {"step": done}) | {"validation": _validation(net, examples)}
        logger.info("step %d: validation %s", done, record["validation"])
    return record


def _refuse_held_out(*groups: list[NucleusImage]) -> None:
    held = [
        item.image_id
        for group in groups
        for item in group
        if item.source == "dsb2018" and split_of(item.image_id) == "held_out"
    ]
    if held:
        msg = f"{len(held)} held-out images (e.g. {held[0]!r}) were passed for training; they are for scoring only."
        raise ValueError(msg)


def _validation(net, examples: list[GridExample]) -> dict:
    """Pooled scores on the validation images at the network's current thresholds (and by source, if several)."""
    net.eval()
    outputs = network_outputs(net, examples)
    net.train()
    cfg = net.config
    return _by_source(examples, decoded(outputs, cfg.foreground_threshold, cfg.seed_threshold))


def _by_source(examples: list[GridExample], found: list[np.ndarray]) -> dict:
    """Pooled scores over all examples; with examples of several sources, also those of each source."""
    sources = sorted({e.source for e in examples})
    groups = {"all": list(range(len(examples)))}
    if len(sources) > 1:
        groups |= {source: [i for i, e in enumerate(examples) if e.source == source] for source in sources}
    scores = {}
    for name, rows in groups.items():
        pooled = pooled_scores([examples[i].labels for i in rows], [found[i] for i in rows])
        scores[name] = {k: round(v, 4) if isinstance(v, float) else v for k, v in pooled.items()}
    return scores["all"] if len(groups) == 1 else scores


def _finished(output: Path, net: NucleusNet, examples: list[GridExample]) -> NucleusNet:
    """Choose the thresholds on the validation images and write ``nucleus_net.safetensors`` (once)."""
    from ..model import load_weights, save_weights

    final = output / "nucleus_net.safetensors"
    if final.exists():
        return load_weights(final)
    outputs = network_outputs(net, examples)
    foreground, seed, scores = choose_thresholds(outputs, examples)
    net.config = replace(net.config, foreground_threshold=foreground, seed_threshold=seed)
    logger.info("thresholds: foreground %.2f, seed %.2f (validation F1 %.4f)", foreground, seed, scores["f1"])
    scores = _by_source(examples, decoded(outputs, foreground, seed))
    with (output / "log.jsonl").open("a") as log:
        log.write(json.dumps({"thresholds": {"foreground": foreground, "seed": seed}, "validation": scores}) + "\n")
    tmp = output / ".nucleus_net.safetensors.tmp"
    save_weights(net, tmp)
    tmp.replace(final)
    return net


def _restored(output: Path, config: NucleusTrainConfig):
    """Network, optimizer, schedule and first step: from ``state.pt`` when there is one, else fresh and seeded."""
    import torch

    from ..model import NucleusNet, NucleusNetConfig

    torch.manual_seed(config.seed)
    net = NucleusNet(NucleusNetConfig(width=config.width, depth=config.depth, unshuffle=config.unshuffle)).train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.learning_rate, total_steps=config.steps)
    state_file = output / "state.pt"
    if not state_file.exists():
        return net, optimizer, schedule, 0
    state = torch.load(state_file, weights_only=True)
    net.load_state_dict(state["net"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    logger.info("resuming at step %d", state["step"])
    return net, optimizer, schedule, int(state["step"])


def _checkpoint(output: Path, net, optimizer, schedule, step: int) -> None:
    """One file holds everything a resumed run needs, replaced atomically; the weights alone beside it."""
    import torch

    from ..model import save_weights

    tmp = output / ".state.pt.tmp"
    state = {"net": net.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()}
    torch.save(state | {"step": step}, tmp)
    tmp.replace(output / "state.pt")
    tmp = output / ".checkpoint.safetensors.tmp"
    save_weights(net, tmp, extra={"step": str(step)})
    tmp.replace(output / "checkpoint.safetensors")


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines past ``step``: a run killed after its last checkpoint logged steps it will do again."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line).get("step", 0) <= step]
    path.write_text("".join(f"{line}\n" for line in kept))
