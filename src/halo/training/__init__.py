"""Training the network: on simulated tissue, or fine-tuned on a slide with a reference segmentation.

Imported only when used: :func:`halo.tl.segment` never loads it.
"""

from ._data import Example, example_from_tissue
from ._export import export_weights
from ._finetune import fine_tune
from ._train import HELD_OUT_SEED, TrainConfig, held_out_scores, train

__all__ = [
    "HELD_OUT_SEED",
    "Example",
    "TrainConfig",
    "example_from_tissue",
    "export_weights",
    "fine_tune",
    "held_out_scores",
    "train",
]
