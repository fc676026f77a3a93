#!/usr/bin/env bash
# Wheels that a lent GPU machine lacks, downloaded here into .device/ (git-ignored), at the versions installed here.
#
#   scripts/device_wheels.sh          training: shapely into .device/wheels
#   scripts/device_wheels.sh e2e      halo.tl.segment end to end: .device/e2e_a and .device/e2e_b
#
# The GPU machine's python3 (3.12) has torch, numpy, scipy, scikit-image, scikit-learn, pandas, xarray, pyarrow, tqdm
# and safetensors, and nothing can be fetched there.
#
# Training (its held-out scores also import shapely), with the device tool (`carry: [".device/wheels"]`, at most 10
# minutes a command; leave time for the machine's start):
#
#   python3 -m pip install -q --no-deps --target /tmp/extra .device/wheels/*.whl &&
#   PYTHONPATH=src:/tmp/extra python3 scripts/train_model.py $OUT/run --steps 10000 --eval-every 2500 \
#     --init src/halo/model/weights/halo_v1.safetensors --learning-rate 1e-3 --seed 5 --smooth-um 0.75
#
# (--smooth-um 0.75: transcript channels half as smoothed as the shipped network's, which won on both scores in a
# controlled CPU trial, docs/model_card.md; the weights record it and inference follows them.) All cores but one
# simulate the batches (`--workers`): a batch takes ~0.3 s of one core, so 15 cores give at most ~50 steps a second,
# and each held-out evaluation some seconds more; size --steps to finish inside one command (the learning-rate
# schedule spans --steps, so an unfinished run must be resumed with the same settings). The run folder comes back
# under $OUT; score it here with benchmarks/accuracy.py --weights <run>/checkpoint.safetensors.
#
# End to end (issue: a gigapixel in under 60 s on one GPU): spatialdata and its stack come to ~74 MiB of wheels,
# over what one call carries beside the repository (64 MiB in all), so they travel in two calls on one warm machine
# (it is given back 30 s after a call: send the second at once). Each installs into .device/site, which stays on
# the machine between the calls (an ignored folder that no carry names):
#
#   call 1, carry [".device/e2e_a"]:
#     python3 -m pip install -q --no-index --no-deps --no-compile --target .device/site .device/e2e_a/*.whl
#   call 2, carry [".device/e2e_b"]:
#     python3 -m pip install -q --no-index --no-deps --no-compile --target .device/site .device/e2e_b/*.whl &&
#     PYTHONPATH=.device/site:src python3 benchmarks/speed.py --skip-scaling --skip-sopa --skip-method expansion \
#       --cache-dir .device/cache --output $OUT/speed_gpu
#
# .device/site comes first on the path, so the versions tested here (pandas and xarray among them) win over the
# image's. benchmarks/speed.py
# generates the gigapixel slide (~1.5 minutes on 2 cores here), records the GPU's name and samples its utilisation
# with nvidia-smi during the run: the targets table then says whether the slide took under 60 s and whether the
# GPU was busy for most of the tiles stage.
set -euo pipefail
mode="${1:-train}"

download() {  # download DEST PACKAGE...: wheels for CPython 3.12 on x86-64 Linux, the versions installed here
  local dest="$1"
  shift
  rm -rf "$dest"  # a wheel left from an older run would be a second version of a package: pip refuses both
  mkdir -p "$dest"
  local pins
  pins=$(python -c 'import sys
from importlib.metadata import version
print(" ".join(f"{name}=={version(name)}" for name in sys.argv[1:]))' "$@")
  # shellcheck disable=SC2086  # one argument per pin
  pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any --dest "$dest" $pins
  du -sh "$dest"
}

case "$mode" in
  train)
    download .device/wheels shapely
    ;;
  e2e)
    # the two large compiled ones, then everything else halo.tl.segment imports that the image lacks (found by
    # running it with an import hook; boto3 and scanpy are imported only by other code paths)
    download .device/e2e_a rasterio pyproj
    download .device/e2e_b numcodecs pandas shapely xarray Deprecated affine anndata annsel dask distributed donfig \
      fast-array-utils geopandas google-crc32c importlib_metadata lazy-importer legacy-api-wrap locket more-itertools \
      multiscale_spatial_image natsort ome-zarr pathlib_abc platformdirs pooch pytz scverse-misc spatial_image \
      spatialdata tblib tornado universal_pathlib xarray-dataclass zarr zict
    ;;
  *)
    echo "usage: $0 [train|e2e]" >&2
    exit 2
    ;;
esac
