"""The pretrained network, for inference: its inputs, architectures, weights, prediction and device choice.

Training and fine-tuning live in :mod:`halo.training`, which a segmentation never imports.
"""

from .._tiling import bin_factor  # the working grid, shared with nuclear expansion
from ._architectures import ARCHITECTURES, register_architecture
from ._device import pick_device
from ._features import (
    MODEL_UM_PER_PX,
    N_CHANNELS,
    N_EMBEDDING,
    SMOOTH_UM,
    EmbeddingCounts,
    SlideStatistics,
    dapi_channel,
    gene_embedding,
    model_shape,
    normalised_stain,
)
from ._net import OUTPUTS, HaloNet, NetConfig, fused_for_inference
from ._nucleus_net import (
    NUCLEUS_OUTPUTS,
    NucleusNet,
    NucleusNetConfig,
    predict_nuclei,
)
from ._predict import (
    CELL_PATCHES,
    PATCH_CONTEXT,
    PATCH_STRIDE,
    PatchGrid,
    for_inference,
    half_precision_dtype,
    patch_reach,
    predict,
    predict_batch,
    predict_on_patches,
    predict_region,
    window_features,
)
from ._weights import PRETRAINED, load_weights, pretrained, save_weights, weights_dir

__all__ = [
    "ARCHITECTURES",
    "CELL_PATCHES",
    "MODEL_UM_PER_PX",
    "N_CHANNELS",
    "N_EMBEDDING",
    "NUCLEUS_OUTPUTS",
    "OUTPUTS",
    "PATCH_CONTEXT",
    "PATCH_STRIDE",
    "PRETRAINED",
    "SMOOTH_UM",
    "EmbeddingCounts",
    "HaloNet",
    "NetConfig",
    "NucleusNet",
    "NucleusNetConfig",
    "PatchGrid",
    "SlideStatistics",
    "bin_factor",
    "dapi_channel",
    "for_inference",
    "fused_for_inference",
    "gene_embedding",
    "half_precision_dtype",
    "load_weights",
    "model_shape",
    "normalised_stain",
    "patch_reach",
    "pick_device",
    "predict",
    "predict_batch",
    "predict_on_patches",
    "predict_nuclei",
    "predict_region",
    "pretrained",
    "register_architecture",
    "save_weights",
    "weights_dir",
    "window_features",
]
