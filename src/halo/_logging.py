"""halo's messages are seen where nothing else would show them, as spatialdata's and scanpy's are.

halo logs what it inferred (the image, channel, pixel size, vendor defaults) and one summary line per run at INFO.
When the application has set up no logging at all (a notebook, a script), a handler of halo's own prints them to
stderr; once it has (``logging.basicConfig``, pytest), they go where its handlers send them. ``HALO_LOGLEVEL``
(e.g. ``WARNING``) or ``logging.getLogger("halo").setLevel(...)`` quiets them.
"""

from __future__ import annotations

import logging
import os


class _WhereNothingElseWould(logging.StreamHandler):
    """Prints a record only when the root logger has no handler."""

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers:
            super().emit(record)


def setup() -> None:
    """Give the ``halo`` logger its default level and handler, once."""
    logger = logging.getLogger("halo")
    if logger.level == logging.NOTSET:
        logger.setLevel(os.environ.get("HALO_LOGLEVEL", "INFO").upper())
    if not any(isinstance(h, _WhereNothingElseWould) for h in logger.handlers):
        handler = _WhereNothingElseWould()
        handler.setFormatter(logging.Formatter("halo: %(message)s"))
        logger.addHandler(handler)
