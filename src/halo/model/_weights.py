"""Shipped weights: safetensors only (no pickle), verified against a checksum before use."""

from __future__ import annotations

import hashlib
import json
import logging
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from ._net import HaloNet, NetConfig

logger = logging.getLogger(__name__)

PRETRAINED = "halo_v1"
"""Name of the weights shipped in ``halo/model/weights``."""


def _weights_dir() -> Path:
    return Path(str(files("halo.model") / "weights"))


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_weights(net: HaloNet, path: str | Path, *, extra: dict[str, str] | None = None) -> str:
    """Write ``net`` as safetensors with its architecture in the metadata; return the file's SHA-256."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(path), metadata={**net.config.as_metadata(), **(extra or {})})
    return sha256(Path(path))


def load_weights(path: str | Path, *, expected_sha256: str | None = None) -> HaloNet:
    """Rebuild a network from a safetensors file, checking its checksum first when one is given.

    Raises
    ------
    ValueError
        When the file does not match ``expected_sha256``, is not a valid safetensors file, or its tensors do not
        fit the architecture in its metadata.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        msg = f"Model weights {path} do not exist."
        raise FileNotFoundError(msg)
    if expected_sha256 is not None and sha256(path) != expected_sha256:
        msg = (
            f"Model weights {path} fail their checksum: the file is corrupted or not the one this halo release "
            "ships. Reinstall halo (pip install --force-reinstall halo)."
        )
        raise ValueError(msg)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        config = NetConfig.from_metadata(metadata)
        state = load_file(str(path))
    except Exception as error:  # safetensors raises its own error types for malformed files
        msg = f"Model weights {path} are not a halo safetensors file ({error})."
        raise ValueError(msg) from error
    net = HaloNet(config)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as error:
        msg = f"Model weights {path} do not fit the architecture {config} recorded in them ({error})."
        raise ValueError(msg) from error
    return net.eval()


@lru_cache(maxsize=2)
def pretrained(name: str = PRETRAINED) -> HaloNet:
    """The network shipped with halo, verified against the checksum in ``weights/checksums.json``."""
    folder = _weights_dir()
    checksums = json.loads((folder / "checksums.json").read_text())
    if name not in checksums:
        msg = f"No shipped weights named {name!r}; available: {sorted(checksums)}."
        raise ValueError(msg)
    net = load_weights(folder / f"{name}.safetensors", expected_sha256=checksums[name])
    logger.info("loaded pretrained weights %s", name)
    return net
