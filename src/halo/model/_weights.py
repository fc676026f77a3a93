"""Shipped weights: safetensors only (no pickle), verified against a checksum before use."""

from __future__ import annotations

import hashlib
import json
import logging
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _net, _nucleus_net  # noqa: F401  (register the shipped architectures)
from ._architectures import architecture_of

if TYPE_CHECKING:
    from torch import nn

logger = logging.getLogger(__name__)

PRETRAINED = "halo_v1"
"""Name of the weights shipped in ``halo/model/weights``."""


def weights_dir() -> Path:
    """The folder of the weights shipped in the package, with their checksums (``checksums.json``)."""
    return Path(str(files("halo.model") / "weights"))


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_weights(net: nn.Module, path: str | Path, *, extra: dict[str, str] | None = None) -> str:
    """Write ``net`` as safetensors with its architecture's name and settings in the metadata; return its SHA-256."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    metadata = {"architecture": type(net).architecture, **net.config.as_metadata(), **(extra or {})}
    save_file(state, str(path), metadata=metadata)
    return sha256(Path(path))


def load_weights(path: str | Path, *, expected_sha256: str | None = None) -> nn.Module:
    """Rebuild a network from a safetensors file, checking its checksum first when one is given.

    Raises
    ------
    ValueError
        When the file does not match ``expected_sha256``, is not a valid safetensors file, names an unknown
        architecture, or its tensors do not fit the architecture in its metadata.
    """
    path = Path(path)
    return _build(path, *_read(path, expected_sha256))


def _read(path: Path, expected_sha256: str | None) -> tuple[dict[str, str], dict[str, Any]]:
    """The metadata and tensors of a safetensors file, with a clear error for anything else."""
    from safetensors import safe_open
    from safetensors.torch import load_file

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
        state = load_file(str(path))
    except Exception as error:  # safetensors raises its own error types for malformed files
        msg = f"Model weights {path} are not a halo safetensors file ({error})."
        raise ValueError(msg) from error
    return metadata, state


def _build(path: Path, metadata: dict[str, str], state: dict[str, Any]) -> nn.Module:
    """A new network of the architecture named in ``metadata``, holding a copy of ``state``."""
    try:
        cls = architecture_of(metadata)
        config = cls.config_class.from_metadata(metadata)
    except (KeyError, ValueError) as error:
        msg = f"Model weights {path} do not describe their architecture ({error})."
        raise ValueError(msg) from error
    net = cls(config)
    try:
        net.load_state_dict(state, strict=True)  # copies: the network never shares its tensors with ``state``
    except RuntimeError as error:
        msg = f"Model weights {path} do not fit the architecture {config} recorded in them ({error})."
        raise ValueError(msg) from error
    return net.eval()


@lru_cache(maxsize=2)
def _verified(name: str) -> tuple[Path, dict[str, str], dict[str, Any]]:
    """The shipped file's metadata and tensors, read and checked once per process."""
    folder = weights_dir()
    checksums = json.loads((folder / "checksums.json").read_text())
    if name not in checksums:
        msg = f"No shipped weights named {name!r}; available: {sorted(checksums)}."
        raise ValueError(msg)
    path = folder / f"{name}.safetensors"
    metadata, state = _read(path, checksums[name])
    logger.info("loaded pretrained weights %s", name)
    return path, metadata, state


def pretrained(name: str = PRETRAINED) -> nn.Module:
    """A new copy of the network shipped with halo, verified against the checksum in ``weights/checksums.json``.

    The file is read and checked once per process; every call builds a network of its own, so that changing one
    (training it, moving it to a device) never changes another caller's.
    """
    return _build(*_verified(name))
