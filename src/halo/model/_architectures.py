"""Network architectures by name.

A weights file records the name of its architecture in its metadata (``"architecture"``); this registry maps the
name to the class that rebuilds the network, so that a second architecture is one class and one registration.
"""

from __future__ import annotations

from typing import Any

ARCHITECTURES: dict[str, type] = {}
"""Registered architectures: name -> network class."""
DEFAULT_ARCHITECTURE = "halo_unet"
"""The architecture of weights files that name none (written before the name was recorded)."""


def register_architecture(cls: type) -> type:
    """Register a network class under its ``architecture`` name; usable as a class decorator.

    The class needs a class attribute ``architecture`` (its name), a class attribute ``config_class`` whose
    ``from_metadata(dict[str, str])`` rebuilds its settings and whose instances have ``as_metadata()``, a class
    attribute ``outputs`` (the names of its output channels, for prediction), and an ``__init__(config)``; an
    instance keeps its settings in ``.config``.
    """
    name = getattr(cls, "architecture", None)
    if not isinstance(name, str) or not name:
        msg = f"{cls.__name__} has no `architecture` name (a non-empty str class attribute) to register it under."
        raise ValueError(msg)
    for attribute in ("config_class",):
        if not hasattr(cls, attribute):
            msg = f"Architecture {name!r}: {cls.__name__} has no `{attribute}`."
            raise ValueError(msg)
    ARCHITECTURES[name] = cls
    return cls


def architecture_of(metadata: dict[str, Any]) -> type:
    """The network class named in a weights file's metadata."""
    name = metadata.get("architecture", DEFAULT_ARCHITECTURE)
    if name not in ARCHITECTURES:
        msg = f"Unknown network architecture {name!r}; registered: {sorted(ARCHITECTURES)}."
        raise ValueError(msg)
    return ARCHITECTURES[name]
