"""The pretrained halo network: inputs, architecture, weights, inference and training."""

from .._tiling import bin_factor  # the working grid, shared with nuclear expansion
from ._features import (
    MODEL_UM_PER_PX,
    N_CHANNELS,
    SMOOTH_UM,
    EmbeddingCounts,
    SlideStatistics,
    gene_embedding,
    model_shape,
)
from ._finetune import fine_tune
from ._infer import (
    BOUNDARY_WEIGHT_UM,
    PATCH_CONTEXT,
    PATCH_STRIDE,
    cell_confidence,
    decode_cells,
    for_inference,
    half_precision_dtype,
    nucleus_distance,
    patch_reach,
    predict,
    predict_batch,
    predict_region,
    window_features,
)
from ._net import OUTPUTS, HaloNet, NetConfig, fused_for_inference
from ._train import HELD_OUT_SEED, TrainConfig, held_out_scores, pick_device, train
from ._weights import PRETRAINED, load_weights, pretrained, save_weights

__all__ = [
    "BOUNDARY_WEIGHT_UM",
    "HELD_OUT_SEED",
    "MODEL_UM_PER_PX",
    "N_CHANNELS",
    "OUTPUTS",
    "PATCH_CONTEXT",
    "PATCH_STRIDE",
    "PRETRAINED",
    "SMOOTH_UM",
    "EmbeddingCounts",
    "HaloNet",
    "NetConfig",
    "SlideStatistics",
    "TrainConfig",
    "bin_factor",
    "cell_confidence",
    "decode_cells",
    "fine_tune",
    "for_inference",
    "fused_for_inference",
    "gene_embedding",
    "half_precision_dtype",
    "held_out_scores",
    "load_weights",
    "model_shape",
    "nucleus_distance",
    "patch_reach",
    "pick_device",
    "predict",
    "predict_batch",
    "predict_region",
    "pretrained",
    "save_weights",
    "train",
    "window_features",
]
