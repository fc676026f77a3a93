"""Catalogue of simulated cell types: transcript density, nuclear stain and where molecules sit in the cell."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CellType:
    """How one cell type looks in the two channels.

    Attributes
    ----------
    density
        Transcripts per um^2 of the cell's in-plane area on a Xenium-like platform (scaled per platform).
    brightness
        Mean DAPI brightness of its nuclei relative to the platform's nuclear signal.
    texture
        Strength of the chromatin texture (0 = flat).
    cytoplasm_weight
        Relative chance that a cytoplasmic molecule sits in the cell interior rather than near the membrane
        (adipocytes: their interior is a lipid droplet, so nearly everything is at the rim).
    """

    density: float
    brightness: float
    texture: float
    cytoplasm_weight: float = 1.0


CELL_TYPES: dict[str, CellType] = {
    "columnar_epithelial": CellType(1.5, 0.8, 0.35),
    "goblet": CellType(0.6, 0.9, 0.3),
    "basal_keratinocyte": CellType(1.6, 1.0, 0.3),
    "keratinocyte": CellType(0.9, 0.75, 0.25),
    "fibroblast": CellType(1.3, 1.3, 0.2),
    "endothelial": CellType(1.0, 1.2, 0.2),
    "smooth_muscle": CellType(1.0, 1.1, 0.2),
    "t_cell": CellType(2.2, 1.5, 0.25),
    "b_cell": CellType(2.0, 1.45, 0.3),
    "macrophage": CellType(1.3, 0.9, 0.3),
    "plasma_cell": CellType(2.4, 1.2, 0.5),
    "excitatory_neuron": CellType(1.4, 0.8, 0.3),
    "inhibitory_neuron": CellType(1.4, 0.85, 0.3),
    "astrocyte": CellType(1.5, 1.0, 0.3),
    "oligodendrocyte": CellType(1.7, 1.2, 0.2),
    "microglia": CellType(1.7, 1.3, 0.3),
    "hepatocyte": CellType(1.0, 0.8, 0.35),
    "kupffer": CellType(1.2, 1.2, 0.25),
    "myofibre": CellType(0.35, 1.0, 0.25),
    "adipocyte": CellType(0.2, 0.9, 0.2, cytoplasm_weight=0.004),
    "tubule_epithelial": CellType(1.6, 0.85, 0.3),
    "pneumocyte_1": CellType(1.3, 1.1, 0.25),
    "pneumocyte_2": CellType(1.6, 0.85, 0.3),
    "acinar": CellType(2.2, 0.85, 0.3),
    "islet": CellType(1.5, 0.9, 0.3),
    "tumour": CellType(1.8, 0.7, 0.3),
}
