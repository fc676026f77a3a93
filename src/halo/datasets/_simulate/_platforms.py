"""Per-platform settings: pixel size, image bit depth, transcript density, noise and vendor naming."""

from __future__ import annotations

from dataclasses import dataclass

#: Default micrometres per pixel of each platform's nuclear image.
PLATFORMS: dict[str, float] = {"xenium": 0.2125, "merscope": 0.108, "cosmx": 0.12}


@dataclass(frozen=True, slots=True)
class PlatformSettings:
    """What differs between platforms.

    Attributes
    ----------
    um_per_px
        Default pixel size.
    bit_depth
        8 or 16 bits per DAPI pixel.
    n_genes
        Default panel size (without control probes).
    tx_scale
        Multiplies every cell type's transcript density (per um^2 of cell), so that the field density matches the
        platform (Xenium ~1 /um^2, MERSCOPE ~0.2 /um^2 on the real crops).
    background_per_um2
        Extracellular background molecules per um^2 (ambient RNA, mis-localised reads).
    controls_per_um2
        Control-probe detections per um^2.
    diffusion_um
        Standard deviation of the lateral displacement of a molecule from where it was made.
    blur_um, haze_um, haze_fraction
        Optical blur (Gaussian sigma), the out-of-focus haze kernel and its share of the nuclear signal.
    signal, background, read_noise, photons
        DAPI scale: mean nuclear intensity and background in output units (before clipping), read-noise sigma,
        and photons per output unit (shot noise).
    feature_key
        The gene column name that the vendor reader gives the points.
    control_names
        Templates of control-probe names, as the vendor writes them.
    nuclear_capture
        Relative detection of molecules over the nucleus (MERFISH detects nuclear RNA well).
    jpeg_quality
        JPEG-compress the 8-bit image at this quality (MERSCOPE mosaics are JPEG-compressed), ``None`` for lossless.
    """

    um_per_px: float
    bit_depth: int
    n_genes: int
    tx_scale: float
    background_per_um2: float
    controls_per_um2: float
    diffusion_um: float
    blur_um: float
    haze_um: float
    haze_fraction: float
    signal: float
    background: float
    read_noise: float
    photons: float
    feature_key: str
    control_names: tuple[str, ...]
    jpeg_quality: int | None = None
    nuclear_capture: float = 1.0


SETTINGS: dict[str, PlatformSettings] = {
    "xenium": PlatformSettings(
        um_per_px=PLATFORMS["xenium"],
        bit_depth=16,
        n_genes=313,
        tx_scale=1.0,
        background_per_um2=0.05,
        controls_per_um2=0.004,
        diffusion_um=0.6,
        blur_um=0.35,
        haze_um=4.0,
        haze_fraction=0.45,
        signal=1400.0,
        background=130.0,
        read_noise=12.0,
        photons=0.5,
        feature_key="feature_name",
        control_names=(
            "NegControlProbe_{:05d}",
            "NegControlCodeword_{:04d}",
            "BLANK_{:04d}",
            "UnassignedCodeword_{:04d}",
        ),
    ),
    "merscope": PlatformSettings(
        um_per_px=PLATFORMS["merscope"],
        bit_depth=8,
        n_genes=421,
        tx_scale=0.22,
        background_per_um2=0.02,
        controls_per_um2=0.002,
        diffusion_um=0.5,
        blur_um=0.9,
        haze_um=2.5,
        haze_fraction=0.9,
        signal=70.0,
        background=6.0,
        read_noise=1.2,
        photons=6.0,
        feature_key="gene",
        control_names=("Blank-{}",),
        jpeg_quality=60,
        nuclear_capture=2.5,
    ),
    "cosmx": PlatformSettings(
        um_per_px=PLATFORMS["cosmx"],
        bit_depth=16,
        n_genes=960,
        tx_scale=0.6,
        background_per_um2=0.04,
        controls_per_um2=0.006,
        diffusion_um=0.5,
        blur_um=0.35,
        haze_um=5.0,
        haze_fraction=0.2,
        signal=9000.0,
        background=600.0,
        read_noise=60.0,
        photons=0.2,
        feature_key="target",
        control_names=("NegPrb{}", "SystemControl{}"),
    ),
}


def platform_settings(platform: str) -> PlatformSettings:
    """Return the settings of ``platform``, with a clear error for an unknown name."""
    try:
        return SETTINGS[platform]
    except KeyError:
        msg = f"Unknown platform {platform!r}; choose one of {sorted(SETTINGS)}."
        raise ValueError(msg) from None


def control_probe_names(platform: str, n: int) -> list[str]:
    """``n`` control-probe names spread over the platform's control families."""
    templates = platform_settings(platform).control_names
    return [templates[i % len(templates)].format(i // len(templates) + 1) for i in range(n)]
