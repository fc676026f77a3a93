"""The nucleus network: its data split and resampling, decoder, weights and resumable training."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import NEEDS_TORCH

# every test here runs the nucleus network or its training: the Python 3.12 CI leg has no torch (docs/contributing.md)
torch = pytest.importorskip("torch", reason=NEEDS_TORCH)

import halo  # noqa: E402 - after the torch check above
from halo.methods import NucleusOptions, nuclei_from_network  # noqa: E402
from halo.metrics import match_instances  # noqa: E402
from halo.model import NucleusNet, NucleusNetConfig, load_weights, predict_nuclei, save_weights  # noqa: E402
from halo.training import _nuclei_train  # noqa: E402
from halo.training._nuclei_data import (  # noqa: E402
    DSB_FILE,
    Augmentation,
    NucleusImage,
    augmented_crop,
    load_dsb,
    nucleus_targets,
    nucleus_um_per_px,
    resample_image,
    resample_labels,
    simulated_fields,
    split_of,
)
from halo.training._nuclei_train import NucleusTrainConfig, train_nuclei  # noqa: E402


def _shared_file() -> Path:
    try:
        return halo.datasets.shared_data_dir() / DSB_FILE
    except FileNotFoundError as err:
        pytest.skip(f"shared real data absent: {err}")


def _discs(shape, centres, radius):
    """int32 labels: disc ``i + 1`` of ``radius`` at each centre (later discs drawn over earlier ones)."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.int32)
    for i, (cy, cx) in enumerate(centres, start=1):
        labels[(rows - cy) ** 2 + (cols - cx) ** 2 <= radius**2] = i
    return labels


# --- split and resampling -------------------------------------------------------------------------------------


def test_split_is_a_fixed_function_of_the_id_and_the_parts_are_disjoint():
    ids = [f"image-{i}" for i in range(2000)]
    splits = [split_of(i) for i in ids]
    assert splits == [split_of(i) for i in ids]  # the same every time
    counts = {s: splits.count(s) for s in ("train", "validation", "held_out")}
    assert sum(counts.values()) == len(ids)  # each id in exactly one part
    assert 0.12 < counts["held_out"] / len(ids) < 0.18
    assert 0.07 < counts["validation"] / len(ids) < 0.13
    # pinned: the held-out images must never move into training
    assert [split_of(i) for i in ("02903040e19ddf92", "07761fa39f60dc37", "003cee89357d9fe1")] == [
        "held_out",
        "validation",
        "train",
    ]


def test_resampling_keeps_every_nucleus_and_scales_its_area():
    labels = _discs((80, 100), [(20, 20), (20, 60), (55, 40), (60, 85)], 8)
    image = (labels > 0).astype(np.float32) * 200 + 10
    for scale in (0.5, 0.8, 1.7):
        resampled = resample_labels(labels, scale)
        assert resampled.shape == (round(80 * scale), round(100 * scale))
        assert set(np.unique(resampled)) == set(np.unique(labels))  # ids kept, none invented or lost
        ratio = np.bincount(resampled.ravel())[1:] / np.bincount(labels.ravel())[1:]
        np.testing.assert_allclose(ratio, scale**2, rtol=0.2)
        assert abs(resample_image(image, scale).mean() - image.mean()) < 0.05 * image.mean()


def test_pixel_size_makes_the_median_nucleus_seven_micrometres():
    labels = _discs((100, 100), [(20, 20), (20, 70), (70, 45)], 10)
    diameter = 2 * np.sqrt((labels == 1).sum() / np.pi)
    assert nucleus_um_per_px(labels) == pytest.approx(7.0 / diameter)
    with pytest.raises(ValueError, match="no nucleus"):
        nucleus_um_per_px(np.zeros((5, 5), np.int32))


def test_targets_dip_to_zero_between_touching_nuclei():
    labels = _discs((40, 60), [(20, 20), (20, 37)], 9)
    foreground, distance = nucleus_targets(labels)
    np.testing.assert_array_equal(foreground, labels > 0)
    for i in (1, 2):
        assert distance[labels == i].max() == pytest.approx(1.0)
    contact = (labels == 1) & np.roll(labels == 2, -1, axis=1)
    assert distance[contact].max() < 0.2


def test_augmented_crops_are_normalised_and_masked_where_padded():
    labels = _discs((50, 50), [(25, 25)], 8)
    item = NucleusImage("disc-0", ((labels > 0) * 180 + 20).astype(np.uint8), labels, 0.5)
    x, targets, mask = augmented_crop(item, np.random.default_rng(0), 64, Augmentation())
    assert x.shape == (1, 64, 64) and targets.shape == (2, 64, 64) and mask.shape == (64, 64)
    assert x.min() >= 0 and x.max() <= 1
    assert 0.4 < mask.mean() < 0.8  # a 50 px image (+-20% scale) in a 64 px crop: the rest is padding
    assert not targets[0][mask == 0].any()


# --- decoder ---------------------------------------------------------------------------------------------------


def _ideal_outputs(labels, blur=0.0):
    from scipy import ndimage

    outputs = nucleus_targets(labels)
    return np.stack([ndimage.gaussian_filter(o, blur) for o in outputs]) if blur else outputs


@pytest.mark.parametrize("blur", [0.0, 1.0])
def test_decoder_splits_touching_nuclei_and_keeps_one_whole(blur):
    pair = _discs((48, 64), [(24, 22), (24, 40)], 10)
    found = nuclei_from_network(_ideal_outputs(pair, blur), um_per_px=0.5)
    assert found.dtype == np.int32 and found.max() == 2
    match = match_instances(pair, found)
    assert match.tp == 2 and match.mean_matched_iou > 0.85

    single = _discs((48, 64), [(24, 30)], 11)
    found = nuclei_from_network(_ideal_outputs(single, blur), um_per_px=0.5)
    assert found.max() == 1 and match_instances(single, found).mean_matched_iou > 0.85


def test_decoder_drops_debris_reads_uint8_and_is_deterministic():
    labels = _discs((48, 64), [(24, 20), (10, 50)], 9)
    labels[40:42, 55:57] = 3  # 4 px = 1 um^2 at 0.5 um: debris below min_area_um2
    outputs = (_ideal_outputs(labels) * 255).round().astype(np.uint8)
    found = nuclei_from_network(outputs, um_per_px=0.5, options=NucleusOptions())
    assert found.max() == 2 and not found[40:42, 55:57].any()
    np.testing.assert_array_equal(found, nuclei_from_network(outputs, um_per_px=0.5))
    with pytest.raises(ValueError, match="foreground and distance"):
        nuclei_from_network(outputs[:1], um_per_px=0.5)


def test_decoder_gives_a_nucleus_the_same_outline_in_any_window_that_holds_it():
    labels = _discs((90, 120), [(20, 20), (20, 34), (60, 70), (62, 84), (70, 30)], 8)
    outputs = _ideal_outputs(labels, 1.0)
    whole = nuclei_from_network(outputs, um_per_px=0.5)
    window = nuclei_from_network(outputs[:, 40:90, 50:110], um_per_px=0.5)
    inside = np.unique(whole[40:90, 50:110])
    inside = [n for n in inside[inside > 0] if not (whole == n)[:40].any() and not (whole == n)[:, :50].any()]
    assert len(inside) == 2  # the touching pair at rows 60-62
    for n in inside:
        cut = (whole == n)[40:90, 50:110]
        assert len(np.unique(window[cut])) == 1 and ((window == window[cut][0]) == cut).all()


# --- network and weights ---------------------------------------------------------------------------------------


def test_architecture_round_trips_through_its_weights_file(tmp_path):
    torch.manual_seed(0)
    config = NucleusNetConfig(width=4, depth=2, foreground_threshold=0.35, seed_threshold=0.65)
    net = NucleusNet(config).eval()
    save_weights(net, tmp_path / "nuclei.safetensors")
    loaded = load_weights(tmp_path / "nuclei.safetensors")
    assert type(loaded) is NucleusNet and loaded.config == config
    image = np.random.default_rng(0).random((37, 45)).astype(np.float32)
    out = predict_nuclei(net, image)
    assert out.shape == (2, 37, 45) and 0 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(out, predict_nuclei(loaded, image))


# --- training --------------------------------------------------------------------------------------------------


def _toy_images(split: str, n: int) -> list[NucleusImage]:
    """Synthetic annotated images whose ids fall in ``split``."""
    rng = np.random.default_rng(1)
    images, i = [], 0
    while len(images) < n:
        image_id = f"disc-{i}"
        i += 1
        if split_of(image_id) != split:
            continue
        centres = rng.integers(10, 54, size=(4, 2))
        labels = _discs((64, 64), centres, 6)
        stain = ((labels > 0) * 150 + rng.integers(0, 30, labels.shape)).astype(np.uint8)
        images.append(NucleusImage(image_id, stain, labels, 0.5))
    return images


TINY = NucleusTrainConfig(
    steps=4,
    batch_size=2,
    crop_px=32,
    width=4,
    depth=1,
    simulated_fraction=0.0,
    eval_every=0,
    log_every=1,
    checkpoint_every=2,
)


def test_training_resumes_exactly_where_it_stopped(tmp_path, monkeypatch):
    train, validation = _toy_images("train", 3), _toy_images("validation", 1)
    straight = train_nuclei(tmp_path / "straight", train, validation, config=TINY, progress=False)

    batch = _nuclei_train.nucleus_batch

    def killed_at_step_3(config, step, *args):
        if step == 3:
            raise KeyboardInterrupt
        return batch(config, step, *args)

    monkeypatch.setattr(_nuclei_train, "nucleus_batch", killed_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        train_nuclei(tmp_path / "resumed", train, validation, config=TINY, progress=False)
    assert torch.load(tmp_path / "resumed" / "state.pt", weights_only=True)["step"] == 2  # the last checkpoint
    assert _losses(tmp_path / "resumed")[-1]["step"] == 3  # logged past it: the resumed run must drop the line
    monkeypatch.setattr(_nuclei_train, "nucleus_batch", batch)
    resumed = train_nuclei(tmp_path / "resumed", train, validation, config=None, progress=False)

    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert resumed.config == straight.config  # the same thresholds chosen on the validation images
    assert _losses(tmp_path / "resumed") == _losses(tmp_path / "straight")  # step 3, logged before the kill, once
    with pytest.raises(ValueError, match="other settings"):
        train_nuclei(tmp_path / "resumed", train, validation, config=replace(TINY, steps=5), progress=False)


def _losses(run: Path) -> list[dict]:
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if k != "seconds"} for line in lines]


def test_training_refuses_held_out_images_and_benchmark_seeds(tmp_path):
    with pytest.raises(ValueError, match="held-out"):
        train_nuclei(tmp_path, _toy_images("held_out", 1), _toy_images("validation", 1), config=TINY, progress=False)
    with pytest.raises(ValueError, match="reserved for held-out benchmarks"):
        simulated_fields(0, 1, seeds=[1_000_001])


# --- the real annotated nuclei (skipped without the shared data) -----------------------------------------------


def test_annotated_images_split_as_documented():
    path = _shared_file()
    if not path.is_file():
        pytest.skip(f"shared data {path} absent")
    images = load_dsb(path)
    parts = {s: [i for i in images if split_of(i.image_id) == s] for s in ("train", "validation", "held_out")}
    train, validation, held_out = parts.values()
    assert [i.image_id for i in load_dsb(path, splits=("validation",))] == [i.image_id for i in validation]
    ids = [{i.image_id for i in part} for part in (train, validation, held_out)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    for item in held_out[:5]:
        assert item.labels.shape == item.image.shape and item.labels.max() > 0
        diameters = 2 * np.sqrt(np.bincount(item.labels.ravel())[1:] / np.pi)
        assert np.median(diameters[diameters > 0]) * item.um_per_px == pytest.approx(7.0)


def test_shipped_nucleus_weights_find_blurred_discs():
    from scipy import ndimage

    from halo.model import pretrained

    net = pretrained("halo_nuclei_v1")
    assert type(net) is NucleusNet
    assert 0 < net.config.foreground_threshold < 1 and 0 < net.config.seed_threshold < 1
    labels = _discs((96, 128), [(24, 24), (24, 80), (70, 40), (70, 53), (66, 104)], 7)  # two of them touch
    rng = np.random.default_rng(0)
    image = ndimage.gaussian_filter((labels > 0).astype(np.float32), 1.5) * 0.8 + rng.normal(0, 0.02, labels.shape)
    found = nuclei_from_network(
        predict_nuclei(net, np.clip(image, 0, 1).astype(np.float32)),
        um_per_px=0.5,
        foreground_threshold=net.config.foreground_threshold,
        seed_threshold=net.config.seed_threshold,
    )
    match = match_instances(labels, found)
    assert match.tp == 5 and match.fp == 0 and match.mean_matched_iou > 0.7
