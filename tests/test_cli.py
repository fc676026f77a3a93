"""The command line writes what it says it wrote, with every option reaching halo.tl.segment."""

from __future__ import annotations

import logging

import pytest
from spatialdata import read_zarr

import halo
from halo.__main__ import main


@pytest.fixture
def store(tmp_path, small_sdata):
    path = tmp_path / "small.zarr"
    small_sdata.write(path)
    return path


def test_segment_passes_every_option_and_prints_a_summary(store, capsys):
    argv = [
        "segment", str(store), "--image-key", "dapi", "--points-key", "transcripts", "--channel", "0",
        "--method", "expansion", "--expansion-um", "3", "--tile-um", "70", "--overlap-um", "60",
        "--control-pattern", "neg.*", "--min-qv", "none", "--key-added", "cli", "--quiet",
    ]  # fmt: skip
    assert main(argv) == 0
    sdata = read_zarr(store)
    params = sdata["cli_table"].uns["halo"]["params"]
    assert (params["image_key"], params["points_key"], params["channel"]) == ("dapi", "transcripts", "DAPI")
    assert (params["expansion_um"], params["tile_um"], params["overlap_um"]) == (3.0, 70.0, 60.0)
    assert params["control_pattern"] == "neg.*" and params["min_qv"] == "None"
    assert params["n_tiles"] > 1
    # BLANK_ is not matched by "neg.*", so it is counted as a gene; qv is ignored
    assert "BLANK_0001" in sdata["cli_table"].var_names
    out = capsys.readouterr().out
    n_cells = sdata["cli_table"].n_obs
    assert f"segmented {n_cells} cells" in out
    assert f"cli_boundaries: {len(sdata['cli_boundaries'])} cell polygons" in out
    assigned = int((sdata["transcripts"]["cli_cell_id"].compute() > 0).sum())
    summary = sdata["cli_table"].uns["halo"]["summary"]
    assert summary["n_assigned"] == assigned == sdata["cli_table"].X.sum()
    assert f"{assigned} of {summary['n_kept']} kept transcripts assigned" in out


def test_segment_nuclei_key_and_um_per_px(store, capsys):
    assert main(["segment", str(store), "--nuclei-key", "true_nuclei", "--um-per-px", "0.2125", "-q"]) == 0
    sdata = read_zarr(store)
    params = sdata["halo_table"].uns["halo"]["params"]
    assert params["nuclei_key"] == "true_nuclei" and params["um_per_px"] == pytest.approx(0.2125)
    assert len(sdata["halo_boundaries"]) == len(sdata["true_nucleus_boundaries"])


def test_segment_reports_bad_input_without_traceback(store, tmp_path, caplog):
    assert main(["segment", str(tmp_path / "missing.zarr")]) == 1
    assert "does not exist" in caplog.text
    assert main(["segment", str(store), "--channel", "GFP", "-q"]) == 1
    assert "no channel 'GFP'" in caplog.text
    assert "halo_table" not in read_zarr(store).tables  # nothing written


def test_demo_writes_a_segmented_store(tmp_path, capsys):
    out = tmp_path / "demo.zarr"
    assert main(["demo", "--output", str(out), "--quiet"]) == 0
    sdata = read_zarr(out)
    assert len(sdata["halo_boundaries"]) == sdata["halo_table"].n_obs > 100
    assert f"wrote to {out}" in capsys.readouterr().out
    assert main(["demo", "--output", str(out), "--quiet"]) == 1  # no silent overwrite
    assert main(["demo", "--output", str(out), "--quiet", "--overwrite", "--key-added", "again"]) == 0
    assert "again_table" in read_zarr(out).tables and "halo_table" not in read_zarr(out).tables


def test_console_script_is_declared():
    from importlib.metadata import entry_points

    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("halo") == "halo.__main__:main"
    assert halo.__main__.main is main


def test_segment_per_fov_on_a_cosmx_store(tmp_path, capsys, caplog):
    pytest.importorskip("spatialdata_io")
    from tests.conftest import transcripts_in_pixels
    from tests.vendor_folders import read_cosmx, write_cosmx_folder

    fovs = {}
    for fov, offset in ((1, (0.0, 0.0)), (2, (600.0, 0.0))):
        truth = halo.datasets.synthetic(size_um=(50.0, 40.0), seed=fov, um_per_px=0.12028)
        frame = transcripts_in_pixels(truth)
        transcripts = frame.assign(x_local_px=frame["px"], y_local_px=frame["py"], target=frame["feature_name"])
        fovs[fov] = {
            "dapi": truth["dapi"].data[0].compute(),
            "labels": truth["true_cells"].data.compute(),
            "transcripts": transcripts[["x_local_px", "y_local_px", "target"]],
            "offset_px": offset,
        }
    read_cosmx(write_cosmx_folder(tmp_path / "cosmx", fovs=fovs)).write(tmp_path / "cosmx.zarr")

    assert main(["segment", str(tmp_path / "cosmx.zarr"), "-q"]) == 1
    assert "--per-fov" in caplog.text  # several FOVs: the error says what to do
    assert main(["segment", str(tmp_path / "cosmx.zarr"), "--per-fov", "-q"]) == 0
    sdata = read_zarr(tmp_path / "cosmx.zarr")
    out = capsys.readouterr().out
    for fov in (1, 2):
        table = sdata[f"halo_{fov}_table"]
        assert table.uns["halo"]["params"]["points_key"] == f"{fov}_points" and table.n_obs > 10
        assert f"halo_{fov}_boundaries: {table.n_obs} cell polygons" in out


def test_segment_on_a_local_cluster_with_a_scratch_folder(store, tmp_path, capsys):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    argv = ["segment", str(store), "--method", "expansion", "--scheduler", "local", "--scratch-dir", str(scratch), "-q"]
    assert main(argv) == 0
    sdata = read_zarr(store)
    assert sdata["halo_table"].n_obs == len(sdata["halo_boundaries"]) > 0
    assert list(scratch.iterdir()) == []  # temporary files removed


def test_version_and_help_show_each_default_once(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"halo {halo.__version__}"
    with pytest.raises(SystemExit):
        main(["segment", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert text.count("(default: 500.0)") == 1 and "--tile-um" in text
    assert text.count("default:") == text.count("(default:")  # no default written a second way
    for name in ("--expansion-um", "--max-reach-um", "--nuclei-source", "--min-qv", "--nucleus-option", "--plugin"):
        assert name in text


def test_the_flags_are_the_options_of_segment():
    from dataclasses import fields

    from halo.__main__ import _parser

    flags = {a.dest for a in _parser()._subparsers._group_actions[0].choices["segment"]._actions}
    options = {f.name for f in fields(halo.tl.SegmentOptions)}
    assert options - {"client", "progress"} <= flags  # --scheduler and --quiet stand for those two
    defaults = {f.name: f.default for f in fields(halo.tl.SegmentOptions) if f.name in flags}
    parsed = vars(_parser().parse_args(["segment", "x.zarr"]))
    assert {k: parsed[k] for k in defaults if k != "nucleus_options"} == {
        k: v for k, v in defaults.items() if k != "nucleus_options"
    }


def test_reading_a_store_with_labels_logs_no_third_party_noise(store, caplog):
    with caplog.at_level(logging.DEBUG):
        assert main(["-v", "segment", str(store), "--method", "expansion", "-q"]) == 0
    assert "no parent found" not in caplog.text
    assert "segmented" in caplog.text  # halo's own messages, with -v
