"""The network's inputs, weights, decoding and training loop."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import NEEDS_TORCH

# every test here runs the network or its training: the Python 3.12 CI leg has no torch (docs/contributing.md)
torch = pytest.importorskip("torch", reason=NEEDS_TORCH)

from halo import model, training  # noqa: E402 - after the torch check above
from halo.training._data import cell_borders, example_from_tissue  # noqa: E402
from halo.training._train import TrainConfig, batch_for_step  # noqa: E402


def test_dapi_channel_averages_blocks_and_pads_the_edge():
    window = np.arange(5 * 4, dtype=np.float32).reshape(5, 4)
    out = model._features.dapi_channel(window, 0.0, 19.0, 2)
    assert out.shape == model._features.model_shape(window.shape, 2) == (3, 2)
    np.testing.assert_allclose(out[0, 0], window[:2, :2].mean() / 19)
    # the last row is padded by repeating row 4
    np.testing.assert_allclose(out[2, 1], window[4, 2:4].mean() / 19)


def test_gene_embedding_separates_genes_of_different_regions():
    rng = np.random.default_rng(0)
    n = 20_000
    x = rng.uniform(0, 400, n)
    y = rng.uniform(0, 200, n)
    left = x < 200
    # genes 0-2 on the left, 3-5 on the right, 6-7 everywhere
    gene = np.where(left, rng.integers(0, 3, n), rng.integers(3, 6, n))
    everywhere = rng.random(n) < 0.3
    gene[everywhere] = rng.integers(6, 8, int(everywhere.sum()))
    loadings, density = model.gene_embedding(x, y, gene, 8)
    assert loadings.shape == (8, model._features.N_EMBEDDING)
    assert density == pytest.approx(n / (400 * 200), rel=0.05)
    first = loadings[:, 0]
    assert np.sign(first[:3]).tolist() == [np.sign(first[0])] * 3
    assert np.all(np.sign(first[3:6]) == -np.sign(first[0]))


def test_transcript_channels_follow_the_transcripts():
    embedding = np.zeros((2, model._features.N_EMBEDDING), np.float32)
    embedding[0, 0], embedding[1, 0] = 1.0, -1.0
    x = np.r_[np.full(200, 5.5), np.full(200, 25.5)]
    y = np.full(400, 10.5)
    gene = np.r_[np.zeros(200, np.int32), np.ones(200, np.int32)]
    channels = model._features.transcript_channels(x, y, gene, (20, 32), embedding, 0.05, 0.5)
    density, first = channels[0], channels[1]
    assert density[10, 5] > density[10, 15] and density[10, 25] > density[10, 15]
    assert first[10, 5] > 0.5 and first[10, 25] < -0.5
    # a transcript with gene -1 (dropped) or outside the grid changes nothing
    more = model._features.transcript_channels(
        np.r_[x, 3.0, 100.0], np.r_[y, 3.0, 3.0], np.r_[gene, -1, 0], (20, 32), embedding, 0.05, 0.5
    )
    np.testing.assert_array_equal(more, channels)


def test_cell_borders_mark_contacts_on_both_sides():
    cells = np.zeros((5, 6), np.int32)
    cells[:, :3], cells[:, 3:5] = 1, 2
    borders = cell_borders(cells)
    assert borders[:, 2].all() and borders[:, 3].all() and borders[:, 4].all()
    assert not borders[:, :2].any() and not borders[:, 5].any()


def test_weights_round_trip_and_refuse_a_corrupted_or_foreign_file(tmp_path):
    net = model.HaloNet(model.NetConfig(in_channels=6, width=4, depth=2)).eval()
    path = tmp_path / "w.safetensors"
    digest = model.save_weights(net, path)
    again = model.load_weights(path, expected_sha256=digest)
    x = torch.randn(1, 6, 16, 16)
    with torch.inference_mode():
        torch.testing.assert_close(net(x), again(x))
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    (tmp_path / "bad.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="fail their checksum"):
        model.load_weights(tmp_path / "bad.safetensors", expected_sha256=digest)
    (tmp_path / "pickle.safetensors").write_bytes(b"\x80\x04not a safetensors file")
    with pytest.raises(ValueError, match="not a halo safetensors file"):
        model.load_weights(tmp_path / "pickle.safetensors")
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"), metadata=net.config.as_metadata())
    with pytest.raises(ValueError, match="do not fit the architecture"):
        model.load_weights(tmp_path / "other.safetensors")


def test_shipped_weights_match_their_checksum():
    checksums = json.loads((model.weights_dir() / "checksums.json").read_text())
    assert model.PRETRAINED in checksums
    net = model.pretrained()
    assert net.config.in_channels == model.N_CHANNELS
    assert (model.weights_dir() / f"{model.PRETRAINED}.safetensors").stat().st_size < 25 * 2**20


def test_pretrained_hands_out_a_network_of_its_own_each_time():
    first, second = model.pretrained(), model.pretrained()
    assert first is not second
    before = [p.clone() for p in second.parameters()]
    with torch.no_grad():
        for parameter in first.parameters():
            parameter.add_(1.0)  # a caller changing its network (training it, say)
    assert all(torch.equal(a, b) for a, b in zip(before, second.parameters(), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(before, model.pretrained().parameters(), strict=True))


def test_weights_name_their_architecture_and_a_second_one_has_a_home(tmp_path):
    from safetensors import safe_open
    from torch import nn

    net = model.HaloNet(model.NetConfig(width=4, depth=2))
    model.save_weights(net, tmp_path / "unet.safetensors")
    with safe_open(str(tmp_path / "unet.safetensors"), framework="pt") as handle:
        assert handle.metadata()["architecture"] == "halo_unet"

    class TinyConfig(model.NetConfig):
        pass

    class Tiny(nn.Module):
        architecture = "test_tiny"
        config_class = TinyConfig

        def __init__(self, config):
            super().__init__()
            self.config = config
            self.conv = nn.Conv2d(config.in_channels, 3, 1)

    model.register_architecture(Tiny)
    try:
        model.save_weights(Tiny(TinyConfig()), tmp_path / "tiny.safetensors")
        assert type(model.load_weights(tmp_path / "tiny.safetensors")) is Tiny
    finally:
        del model.ARCHITECTURES["test_tiny"]
    with pytest.raises(ValueError, match="Unknown network architecture 'test_tiny'"):
        model.load_weights(tmp_path / "tiny.safetensors")
    with pytest.raises(ValueError, match="no `architecture` name"):
        model.register_architecture(nn.Conv2d)


def test_asking_for_a_missing_gpu_is_an_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        model.pick_device("cuda")
    assert model.pick_device(None).type in ("cpu", "mps")


def test_training_batches_are_a_pure_function_of_seed_and_step():
    config = TrainConfig(batch_size=2, crop_px=64, field_um=60.0)
    a_inputs, a_targets = batch_for_step(config, 3)
    b_inputs, b_targets = batch_for_step(config, 3)
    np.testing.assert_array_equal(a_inputs, b_inputs)
    np.testing.assert_array_equal(a_targets, b_targets)
    assert a_inputs.shape == (2, model.N_CHANNELS, 64, 64) and a_targets.shape == (2, 3, 64, 64)
    assert not np.array_equal(a_inputs, batch_for_step(config, 4)[0])
    assert set(np.unique(a_targets)) <= {0.0, 1.0}


def test_example_targets_match_the_true_labels():
    from halo.datasets import simulate_tissue

    tissue = simulate_tissue("dense_lymphoid", size_um=40.0, seed=7, um_per_px=0.2125)
    example = example_from_tissue(tissue)
    assert example.features.shape[1:] == example.cells.shape == (tissue.cells.shape[0] // 2, tissue.cells.shape[1] // 2)
    np.testing.assert_array_equal(example.targets[0], example.cells > 0)
    np.testing.assert_array_equal(example.targets[2], example.nuclei > 0)
    assert (example.targets[1] <= example.targets[0]).all()


def test_training_checkpoints_and_resumes(tmp_path):
    config = TrainConfig(steps=2, batch_size=2, crop_px=64, field_um=60.0, width=4, depth=2, eval_every=0)
    training.train(tmp_path, config=config, progress=False)
    assert json.loads((tmp_path / "state.json").read_text())["step"] == 2
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 2
    first = model.load_weights(tmp_path / "checkpoint.safetensors")
    # a finished run resumes to nothing more; other settings in the same folder are refused
    training.train(tmp_path, progress=False)
    again = model.load_weights(tmp_path / "checkpoint.safetensors")
    for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="other settings"):
        training.train(tmp_path, config=TrainConfig(steps=3, width=4, depth=2), progress=False)


def test_training_is_the_same_whatever_the_number_of_batch_workers(tmp_path):
    # on a GPU many processes simulate the batches; each makes every n-th step and the loader takes them in turn
    config = TrainConfig(steps=5, batch_size=2, crop_px=64, field_um=60.0, width=4, depth=2, eval_every=0)
    one = training.train(tmp_path / "one", config=config, workers=1, progress=False)
    three = training.train(tmp_path / "three", config=config, workers=3, progress=False)
    losses = [[json.loads(line)["loss"] for line in (tmp_path / run / "log.jsonl").read_text().splitlines()]
              for run in ("one", "three")]  # fmt: skip
    assert losses[0] == losses[1] and len(losses[0]) == 5
    for a, b in zip(one.state_dict().values(), three.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        training.train(tmp_path / "none", config=config, workers=0, progress=False)


def test_fine_tune_on_a_reference_and_segment_with_the_result(tmp_path):
    import halo

    sdata = halo.datasets.synthetic(size_um=(70.0, 60.0), seed=2)
    with pytest.raises(ValueError, match="does not lie inside image"):
        training.fine_tune(
            sdata, tmp_path / "bad", cells_key="true_cells", nuclei_key="true_nuclei", region=(0, 10**6, 0, 5)
        )
    net = training.fine_tune(
        sdata, tmp_path / "tuned", cells_key="true_cells", nuclei_key="true_nuclei", steps=2, progress=False
    )
    assert net.config == model.pretrained().config
    log = (tmp_path / "tuned" / "log.jsonl").read_text().splitlines()
    assert len(log) == 2
    weights = tmp_path / "tuned" / "checkpoint.safetensors"
    halo.tl.segment(sdata, weights=str(weights), progress=False)
    assert sdata["halo_table"].uns["halo"]["params"]["weights"] == str(weights)
    assert sdata["halo_table"].n_obs == len(sdata["halo_boundaries"]) > 5


def test_embedding_counted_in_parts_equals_counted_at_once():
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 400, 30_000), rng.uniform(0, 300, 30_000)
    gene = (rng.integers(0, 6, x.size) + 6 * (x > 200)).astype(np.int32)
    whole = model.EmbeddingCounts(12, (300.0, 400.0))
    whole.add(x, y, gene)
    parts = model.EmbeddingCounts(12, (300.0, 400.0))
    for chunk in np.array_split(np.arange(x.size), 7):
        parts.add(x[chunk], y[chunk], gene[chunk])
    (a, density_a), (b, density_b) = whole.embedding(), parts.embedding()
    np.testing.assert_array_equal(a, b)
    assert density_a == density_b == pytest.approx(x.size / (30 * 40 * 100))


def test_inference_network_agrees_with_the_trained_one():
    """Folded batch norms and half precision (where the CPU has it) change probabilities by rounding only."""
    import torch

    net = model.pretrained()
    fast = model.for_inference(net, "cpu")
    assert all(not m.training for m in fast.modules())
    features = np.random.default_rng(0).random((8, model.N_CHANNELS, 64, 64), dtype=np.float32)
    reference = model.predict_batch(net.eval(), features).astype(int)
    difference = np.abs(model.predict_batch(fast, features).astype(int) - reference)
    assert difference.mean() < 1.0 and np.percentile(difference, 99.9) <= 6
    expected = model.half_precision_dtype(torch.device("cpu")) or torch.float32
    assert next(fast.parameters()).dtype == expected


def test_weights_carry_the_smoothing_of_the_transcript_channels(tmp_path):
    from dataclasses import replace

    from safetensors.torch import save_file

    config = TrainConfig(steps=1, batch_size=2, crop_px=64, field_um=60.0, width=4, depth=2, eval_every=0)
    training.train(tmp_path / "sharp", config=replace(config, smooth_um=0.75), progress=False)
    sharp = model.load_weights(tmp_path / "sharp" / "checkpoint.safetensors")
    assert sharp.config.smooth_um == 0.75
    # weights saved before the smoothing was recorded were trained with the default
    metadata = {k: v for k, v in sharp.config.as_metadata().items() if k != "smooth_um"}
    save_file(sharp.state_dict(), str(tmp_path / "old.safetensors"), metadata=metadata)
    assert model.load_weights(tmp_path / "old.safetensors").config.smooth_um == model.SMOOTH_UM == 1.5

    # inference smooths the channels as the network was trained: one patch over a 100 x 100 model-pixel slide
    rng = np.random.default_rng(0)
    dapi = rng.integers(0, 1000, (200, 200)).astype(np.uint16)
    tx = (rng.uniform(0, 200, 3000), rng.uniform(0, 200, 3000), rng.integers(0, 5, 3000).astype(np.int32))
    stats = model.SlideStatistics(0.0, 1000.0, 3000 / (200 * 0.2125) ** 2, rng.random((5, model.N_CHANNELS - 2)))
    box, kwargs = (0, 100, 0, 100), {"factor": 2, "um_per_px": 0.2125}
    region = model.predict_region(sharp.eval(), dapi, tx, stats, raw_model=box, want_model=box, slide_model=(100, 100),
                                  batch_size=1, **kwargs)  # fmt: skip
    size, c = model.PATCH_STRIDE + 2 * model.PATCH_CONTEXT, model.PATCH_CONTEXT
    patch = np.zeros((1, model.N_CHANNELS, size, size), np.float32)
    patch[0, :, c : c + 100, c : c + 100] = model.window_features(dapi, *tx, stats, smooth_um=0.75, **kwargs)
    np.testing.assert_array_equal(region, model.predict_batch(sharp, patch)[0][:, c : c + 100, c : c + 100])
    sharp.config = replace(sharp.config, smooth_um=1.5)  # the same weights, told they read smoother channels
    again = model.predict_region(sharp, dapi, tx, stats, raw_model=box, want_model=box, slide_model=(100, 100),
                                 batch_size=1, **kwargs)  # fmt: skip
    assert not np.array_equal(region, again)
