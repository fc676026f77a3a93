"""Shipping a trained network: its weights into the package, with their checksum and training record."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)


def export_weights(weights: str | Path, name: str, *, config: str | Path, log: str | Path) -> str:
    """Copy a run's weights into ``halo/model/weights`` as ``name`` and record their SHA-256 and provenance.

    Parameters
    ----------
    weights
        The run's safetensors file.
    name
        Name to ship them under (``halo.model.pretrained(name)``).
    config
        The run's ``config.json``, stored in the weights' metadata (``"training"``).
    log
        The run's ``log.jsonl``, copied to ``docs/model/{name}_log.jsonl`` of the checkout.

    Returns
    -------
    The SHA-256 recorded in ``checksums.json``.
    """
    from ..model import load_weights, save_weights, weights_dir

    folder = weights_dir()
    training = json.loads(Path(config).read_text())
    net = load_weights(weights)
    digest = save_weights(net, folder / f"{name}.safetensors", extra={"training": json.dumps(training)})
    checksums_file = folder / "checksums.json"
    checksums = json.loads(checksums_file.read_text()) if checksums_file.exists() else {}
    checksums[name] = digest
    checksums_file.write_text(json.dumps(checksums, indent=1, sort_keys=True) + "\n")
    shutil.copy(log, folder.parents[3] / "docs" / "model" / f"{name}_log.jsonl")  # src/halo/model/weights -> root
    logger.info("exported %s (sha256 %s)", name, digest)
    return digest
