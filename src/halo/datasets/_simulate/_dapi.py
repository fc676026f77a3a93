"""The nuclear (DAPI) image.

Per-nucleus brightness, chromatin texture, out-of-plane glow, blur, haze, illumination, background, shot and read
noise, 8- or 16-bit output (JPEG-compressed where the platform does so).
"""

from __future__ import annotations

import numpy as np

from ._cell_types import CELL_TYPES
from ._geometry import Geometry, smooth_noise
from ._layout import Layout
from ._platforms import PlatformSettings

SIGNAL_BY_DEPTH = {8: 80.0, 16: 1400.0}
CYTOPLASM_GLOW = 0.04


def render_dapi(
    geometry: Geometry,
    layout: Layout,
    settings: PlatformSettings,
    um_per_px: float,
    rng: np.random.Generator,
    *,
    bit_depth: int,
) -> np.ndarray:
    """Render the nuclear stain of ``geometry`` (nuclei drawn from ``layout.nuclei``) as ``uint8`` / ``uint16``."""
    import cv2

    shape = geometry.cells.shape
    nu = layout.nuclei
    ctype = layout.cells["ctype"][np.maximum(nu["cell"], 0)] if nu["cell"].size else np.zeros(0, dtype=np.int64)
    # the nucleus keeps its layout cell's type even when out of plane (cell = -1 -> row 0 is only a placeholder)
    kinds = [CELL_TYPES[layout.type_names[t]] for t in ctype]
    type_bright = np.array([k.brightness for k in kinds], dtype=np.float32)
    type_texture = np.array([k.texture for k in kinds], dtype=np.float32)
    bright = np.concatenate([[0.0], nu["bright"] * type_bright]).astype(np.float32)
    texture = np.concatenate([[0.0], type_texture]).astype(np.float32)

    fine = smooth_noise(rng, shape, 0.35 / um_per_px)
    coarse = smooth_noise(rng, shape, 1.2 / um_per_px)
    chromatin = np.maximum(1 + texture[geometry.nucleus_index] * (0.65 * fine + 0.45 * coarse), 0.15)
    signal = bright[geometry.nucleus_index] * chromatin
    signal += _out_of_plane(layout, geometry, bright, shape, um_per_px)
    signal += CYTOPLASM_GLOW * (geometry.cells > 0)  # faint unspecific stain and autofluorescence of cells
    signal = cv2.GaussianBlur(signal, (0, 0), settings.blur_um / um_per_px)
    # out-of-focus light at two scales: a halo around each nucleus and a glow over dense regions
    haze = _blur_coarse(signal, settings.haze_um / um_per_px) + _blur_coarse(signal, 3 * settings.haze_um / um_per_px)
    signal += settings.haze_fraction * haze

    illumination = 1 + 0.18 * smooth_noise(rng, shape, 120 / um_per_px)
    scale = SIGNAL_BY_DEPTH[bit_depth] / SIGNAL_BY_DEPTH[settings.bit_depth]
    level = settings.signal * scale
    background = settings.background * scale * (1 + 0.25 * smooth_noise(rng, shape, 40 / um_per_px))
    image = (signal * level + background) * illumination
    photons = settings.photons / scale
    image = rng.poisson(np.maximum(image, 0) * photons).astype(np.float32) / photons
    image += rng.normal(0, settings.read_noise * scale, shape).astype(np.float32)
    top = 255 if bit_depth == 8 else 65535
    image = np.clip(np.round(image), 0, top).astype(np.uint8 if bit_depth == 8 else np.uint16)
    if bit_depth == 8 and settings.jpeg_quality is not None:
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, settings.jpeg_quality])
        image = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    return image


def _out_of_plane(layout: Layout, geometry: Geometry, bright: np.ndarray, shape, um_per_px: float) -> np.ndarray:
    """Render the blurred faint glow of nuclei above or below the section (and of cells that did not survive)."""
    import cv2

    nu = layout.nuclei
    drawn = np.zeros(nu["x"].size + 1, dtype=bool)
    drawn[np.unique(geometry.nucleus_index)] = True
    canvas = np.zeros(shape, dtype=np.float32)
    shift = 4
    for k in np.flatnonzero(~drawn[1:]):
        centre = (round((nu["x"][k] / um_per_px - 0.5) * 2**shift), round((nu["y"][k] / um_per_px - 0.5) * 2**shift))
        if not (
            -50 * 2**shift < centre[0] < (shape[1] + 50) * 2**shift
            and -50 * 2**shift < centre[1] < (shape[0] + 50) * 2**shift
        ):
            continue
        axes = (max(round(nu["a"][k] / um_per_px * 2**shift), 1), max(round(nu["b"][k] / um_per_px * 2**shift), 1))
        cv2.ellipse(
            canvas,
            centre,
            axes,
            float(np.degrees(nu["angle"][k])),
            0,
            360,
            float(0.35 * bright[k + 1]),
            -1,
            cv2.LINE_8,
            shift,
        )
    if not canvas.any():
        return canvas
    return _blur_coarse(canvas, 1.5 / um_per_px)


def _blur_coarse(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur with a large sigma, done on a downsampled copy (the result is smooth anyway)."""
    import cv2

    factor = max(int(sigma_px / 3), 1)
    if factor == 1:
        return cv2.GaussianBlur(image, (0, 0), sigma_px)
    small = cv2.resize(
        image, (max(image.shape[1] // factor, 1), max(image.shape[0] // factor, 1)), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (0, 0), sigma_px / factor)
    return cv2.resize(small, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
