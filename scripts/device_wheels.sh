#!/usr/bin/env bash
# Wheels that a lent GPU machine lacks for training halo, downloaded here into .device/wheels (git-ignored).
#
# The GPU machine's python3 (3.12) has torch, numpy, scipy, scikit-image, scikit-learn, pandas, pyarrow, tqdm and
# safetensors, and nothing can be fetched there; training and its held-out scores also import shapely. Then, with
# the device tool (`carry: [".device"]`, at most 10 minutes a command; leave time for the machine's start):
#
#   python3 -m pip install -q --no-deps --target /tmp/extra .device/wheels/*.whl &&
#   PYTHONPATH=src:/tmp/extra python3 scripts/train_model.py $OUT/run --steps 10000 --eval-every 2500 \
#     --init src/halo/model/weights/halo_v1.safetensors --learning-rate 1e-3 --seed 5 --smooth-um 0.75
#
# (--smooth-um 0.75: transcript channels half as smoothed as the shipped network's, which won on both scores in a
# controlled CPU trial, docs/model_card.md; the weights record it and inference follows them.)
#
# All cores but one simulate the batches (`--workers`): a batch takes ~0.3 s of one core, so 15 cores give at most
# ~50 steps a second, and each held-out evaluation some seconds more; size --steps to finish inside one command
# (the learning-rate schedule spans --steps, so an unfinished run must be resumed with the same settings). The run
# folder comes back under $OUT; score it here with benchmarks/accuracy.py --weights <run>/checkpoint.safetensors.
set -euo pipefail
dest="${1:-.device/wheels}"
mkdir -p "$dest"
pip download "shapely>=2.0" --python-version 3.12 --only-binary=:all: \
  --platform manylinux2014_x86_64 --no-deps --dest "$dest"
ls -l "$dest"
