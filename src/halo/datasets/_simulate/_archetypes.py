"""Twelve tissue archetypes: each lays out cells, nuclei, lumens and neurites of one field in micrometres.

Sizes follow histology of human/mouse tissue in a 5-10 um section; they are drawn per cell, so every field differs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._layout import Layout, LayoutBuilder, SmoothField, hex_points, poisson_points, thin

ARCHETYPES: tuple[str, ...] = (
    "columnar_epithelium",
    "squamous_epithelium",
    "fibroblast_stroma",
    "dense_lymphoid",
    "brain_cortex",
    "liver",
    "skeletal_muscle",
    "adipose",
    "kidney_tubules",
    "lung_alveoli",
    "pancreas_acini",
    "pleomorphic_tumour",
)


def _inside(points: np.ndarray, width: float, height: float, margin: float) -> np.ndarray:
    return (
        (points[:, 0] > -margin)
        & (points[:, 0] < width + margin)
        & (points[:, 1] > -margin)
        & (points[:, 1] < height + margin)
    )


def _away_from(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Points farther than ``radii`` from every centre."""
    from scipy.spatial import cKDTree

    if len(centres) == 0 or len(points) == 0:
        return np.ones(len(points), dtype=bool)
    tree = cKDTree(centres)
    near = tree.query_ball_point(points, r=float(radii.max()))
    keep = np.ones(len(points), dtype=bool)
    for i, hits in enumerate(near):
        if hits and np.any(np.hypot(*(points[i] - centres[hits]).T) < radii[hits]):
            keep[i] = False
    return keep


def _stroma(b: LayoutBuilder, points: np.ndarray, *, immune: float = 0.25, vessel: float = 0.1) -> None:
    """Loose connective tissue at ``points``: spindle fibroblasts along a smooth flow, immune cells, endothelium."""
    rng = b.rng
    if len(points) == 0:
        return
    flow = SmoothField(rng, 120.0)
    kind = rng.random(len(points))
    spindle = points[kind >= immune + vessel]
    ang = flow(spindle[:, 0], spindle[:, 1]) * np.pi + rng.normal(0, 0.15, len(spindle))
    n = len(spindle)
    length = rng.uniform(9, 18, n)
    idx = b.add_cells(
        "fibroblast", spindle[:, 0], spindle[:, 1], angle=ang, a=length, b=rng.uniform(1.8, 3.2, n), rough=0.2
    )
    b.add_nuclei(
        idx,
        du=rng.normal(0, 1.5, n),
        a=rng.uniform(4, 7, n),
        b=rng.uniform(1.4, 2.2, n),
        bright=rng.lognormal(0, 0.25, n),
    )
    imm = points[kind < immune]
    n = len(imm)
    idx = b.add_cells(
        "t_cell",
        imm[:, 0],
        imm[:, 1],
        angle=rng.uniform(0, np.pi, n),
        a=rng.uniform(3.3, 4.5, n),
        b=rng.uniform(3.0, 4.0, n),
    )
    b.add_nuclei(
        idx,
        du=rng.normal(0, 0.4, n),
        a=rng.uniform(2.4, 3.0, n),
        b=rng.uniform(2.1, 2.8, n),
        bright=rng.lognormal(0, 0.2, n),
    )
    ves = points[(kind >= immune) & (kind < immune + vessel)]
    n = len(ves)
    ang = flow(ves[:, 0], ves[:, 1]) * np.pi
    idx = b.add_cells(
        "endothelial", ves[:, 0], ves[:, 1], angle=ang, a=rng.uniform(8, 14, n), b=rng.uniform(1.3, 2.2, n)
    )
    b.add_nuclei(idx, a=rng.uniform(4, 6, n), b=rng.uniform(1.0, 1.5, n), bright=rng.lognormal(0, 0.2, n))


def _ring(
    b: LayoutBuilder,
    cx: float,
    cy: float,
    r_out: float,
    r_in: float,
    width: float,
    cell_type: str,
    *,
    basal: float,
    nucleus: tuple[float, float],
    power: float = 2.6,
) -> np.ndarray:
    """One ring of epithelial cells around a lumen (gland, tubule, acinus); nuclei pushed by ``basal`` outward."""
    rng = b.rng
    r_mid = (r_out + r_in) / 2
    n = max(4, round(2 * np.pi * r_mid / width))
    phi = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(n) / n + rng.normal(0, 0.25 / n * np.pi, n)
    radius = r_mid + rng.normal(0, 0.05 * (r_out - r_in), n)
    x, y = cx + radius * np.cos(phi), cy + radius * np.sin(phi)
    half_h = (r_out - r_in) / 2
    half_w = np.pi * r_mid / n
    idx = b.add_cells(
        cell_type,
        x,
        y,
        angle=phi,
        a=half_h * rng.uniform(1.05, 1.2, n),
        b=half_w * rng.uniform(1.1, 1.35, n),
        power=power,
        rough=0.12,
    )
    na = np.minimum(nucleus[0] * rng.uniform(0.85, 1.15, n), 0.8 * half_h)
    nb = np.minimum(nucleus[1] * rng.uniform(0.85, 1.15, n), 0.8 * half_w)
    du = np.clip(basal * half_h, -(half_h - na), half_h - na) + rng.normal(0, 0.08 * half_h, n)
    b.add_nuclei(idx, du=du, dv=rng.normal(0, 0.1 * half_w, n), a=na, b=nb, bright=rng.lognormal(0, 0.25, n))
    return idx


def columnar_epithelium(rng: np.random.Generator, width: float, height: float) -> Layout:
    """Glands of tall columnar cells (basal, elongated nuclei; some goblet cells) in a stroma."""
    b = LayoutBuilder(rng, width, height)
    spacing = rng.uniform(95, 125)
    centres = hex_points(rng, width, height, spacing, jitter=0.12, margin=spacing)
    r_out = rng.uniform(0.36, 0.44, len(centres)) * spacing
    for (cx, cy), ro in zip(centres, r_out, strict=True):
        height_cell = rng.uniform(18, 26)
        ri = max(ro - height_cell, 3.0)
        idx = _ring(
            b, cx, cy, ro, ri, rng.uniform(5.0, 6.5), "columnar_epithelial", basal=0.45, nucleus=(5.5, 2.0), power=3
        )
        b.retype(idx[rng.random(idx.size) < 0.12], "goblet")
        b.add_lumens(cx, cy, ri, ri)
    pts = poisson_points(rng, width, height, 1 / 220, margin=10)
    pts = pts[_away_from(pts, centres, r_out + 4)]
    _stroma(b, pts, immune=0.35)
    return b.build(out_of_plane=0.08)


def squamous_epithelium(rng: np.random.Generator, width: float, height: float) -> Layout:
    """Stratified squamous epithelium: small basal cells on an undulating basement line, flattening upwards."""
    b = LayoutBuilder(rng, width, height)
    base_level = height * rng.uniform(0.6, 0.8)
    amp, wavelength, phase = rng.uniform(5, 20), rng.uniform(60, 140), rng.uniform(0, 2 * np.pi)

    def basal_y(x):
        return base_level + amp * np.sin(2 * np.pi * x / wavelength + phase)

    depth, layer = 0.0, 0
    thickness = rng.uniform(0.55, 0.8) * base_level
    while depth < thickness:
        frac = depth / thickness
        cell_w = 7 + 14 * frac**1.5
        cell_h = max(7 - 3.5 * frac, 3.0)
        xs = np.arange(-cell_w, width + cell_w, cell_w) + rng.uniform(0, cell_w) + rng.normal(0, 0.15 * cell_w, 1)
        xs = xs + rng.normal(0, 0.12 * cell_w, xs.size)
        slope = np.arctan(amp * 2 * np.pi / wavelength * np.cos(2 * np.pi * xs / wavelength + phase))
        ys = basal_y(xs) - depth - cell_h / 2 + rng.normal(0, 0.1 * cell_h, xs.size)
        n = xs.size
        kind = "basal_keratinocyte" if layer < 2 else "keratinocyte"
        a = cell_w / 2 * rng.uniform(1.05, 1.25, n)
        bb = cell_h / 2 * rng.uniform(1.05, 1.25, n)
        # basal cells stand upright (long axis across the basement line); upper cells lie flat
        angle = slope + (np.pi / 2 if layer == 0 else 0.0)
        if layer == 0:
            a, bb = bb * 1.4, a * 0.75
        idx = b.add_cells(kind, xs, ys, angle=angle, a=a, b=bb, power=2.4, rough=0.12)
        na = np.minimum(rng.uniform(2.8, 3.6, n) * (1 + frac), 0.7 * a)
        nb = np.minimum(rng.uniform(2.2, 3.0, n) * (1 - 0.6 * frac), 0.7 * bb)
        b.add_nuclei(idx, du=rng.normal(0, 0.1, n) * a, a=na, b=nb, bright=rng.lognormal(0, 0.2, n) * (1 - 0.3 * frac))
        depth += cell_h
        layer += 1
    pts = poisson_points(rng, width, height, 1 / 180, margin=10)
    pts = pts[pts[:, 1] > basal_y(pts[:, 0]) + 4]
    _stroma(b, pts, immune=0.4, vessel=0.12)
    return b.build(out_of_plane=0.05)


def fibroblast_stroma(rng: np.random.Generator, width: float, height: float) -> Layout:
    """Spindle fibroblasts aligned along a smoothly turning field, lots of extracellular matrix."""
    b = LayoutBuilder(rng, width, height)
    pts = thin(poisson_points(rng, width, height, 1 / 130, margin=20), 6.0)
    _stroma(b, pts, immune=0.1, vessel=0.08)
    return b.build(out_of_plane=0.12)


def dense_lymphoid(rng: np.random.Generator, width: float, height: float) -> Layout:
    """Densely packed small lymphocytes with scant cytoplasm, some macrophages and plasma cells, a few venules."""
    b = LayoutBuilder(rng, width, height)
    spacing = rng.uniform(6.6, 7.6)
    pts = hex_points(rng, width, height, spacing, jitter=0.18, drop=0.04, margin=8)
    venules = poisson_points(rng, width, height, 1 / 9000)
    vr = rng.uniform(5, 10, len(venules))
    b.add_lumens(
        venules[:, 0], venules[:, 1], vr, vr * rng.uniform(0.5, 1, len(venules)), rng.uniform(0, np.pi, len(vr))
    )
    pts = pts[_away_from(pts, venules, vr + 2)]
    kind = rng.random(len(pts))
    for name, lo, hi in (("t_cell", 0.0, 0.5), ("b_cell", 0.5, 0.9)):
        sel = pts[(kind >= lo) & (kind < hi)]
        n = len(sel)
        r = spacing / 2 * rng.uniform(1.1, 1.35, n)
        idx = b.add_cells(
            name, sel[:, 0], sel[:, 1], angle=rng.uniform(0, np.pi, n), a=r, b=r * rng.uniform(0.85, 1, n), rough=0.1
        )
        b.add_nuclei(idx, du=rng.normal(0, 0.3, n), a=0.68 * r, b=0.62 * r, bright=rng.lognormal(0, 0.2, n))
    big = pts[kind >= 0.9]
    n = len(big)
    mac = rng.random(n) < 0.6
    for name, sel in (("macrophage", mac), ("plasma_cell", ~mac)):
        m = int(sel.sum())
        r = rng.uniform(5.0, 7.5, m) if name == "macrophage" else rng.uniform(4.2, 5.2, m)
        ang = rng.uniform(0, np.pi, m)
        idx = b.add_cells(name, big[sel, 0], big[sel, 1], angle=ang, a=r, b=r * rng.uniform(0.7, 0.95, m), rough=0.2)
        du = 0.35 * r * rng.choice([-1, 1], m)  # eccentric nuclei
        b.add_nuclei(idx, du=du, a=0.45 * r, b=0.4 * r, bright=rng.lognormal(0, 0.2, m), rough=0.12)
    return b.build(out_of_plane=0.04)


def brain_cortex(rng: np.random.Generator, width: float, height: float) -> Layout:
    """Neurons of several sizes with dendrites, glia (astrocytes with processes, oligodendrocyte rows, microglia)."""
    b = LayoutBuilder(rng, width, height)
    radial = rng.uniform(0, np.pi)
    # densities from the real MERSCOPE cortex crop: ~2 nuclei per 1000 um^2 (halo's detector and the vendor's cells)
    neurons = poisson_points(rng, width, height, 1 / 1000, margin=20)
    if rng.random() < 0.7:
        # a densely packed cell layer (cortical layer 2/3, hippocampal pyramidal or granule layer)
        band = hex_points(rng, width, height, rng.uniform(10, 13), jitter=0.2, drop=0.15, margin=20)
        offset = (band - [width / 2, height / 2]) @ [-np.sin(radial), np.cos(radial)]
        centre, half = rng.uniform(-0.3, 0.3) * min(width, height), rng.uniform(20, 45)
        neurons = np.vstack([neurons, band[np.abs(offset - centre) < half]])
    neurons = thin(neurons, 10.0)
    n = len(neurons)
    size = rng.lognormal(np.log(7.0), 0.3, n)
    pyramidal = rng.random(n) < 0.7
    ang = np.where(pyramidal, radial + rng.normal(0, 0.2, n), rng.uniform(0, np.pi, n))
    aspect = np.where(pyramidal, rng.uniform(1.2, 1.7, n), rng.uniform(1.0, 1.3, n))
    idx_all = np.empty(n, dtype=np.int64)
    for name, sel in (("excitatory_neuron", pyramidal), ("inhibitory_neuron", ~pyramidal)):
        idx_all[sel] = b.add_cells(
            name,
            neurons[sel, 0],
            neurons[sel, 1],
            angle=ang[sel],
            a=size[sel] * aspect[sel],
            b=size[sel],
            power=2.2,
            rough=0.15,
        )
    nr = np.minimum(size * rng.uniform(0.6, 0.75, n), 6.5)
    b.add_nuclei(
        idx_all, du=rng.normal(0, 0.12, n) * size, a=nr * 1.1, b=nr, bright=rng.lognormal(0, 0.2, n), rough=0.05
    )
    for i in range(n):
        n_dend = rng.integers(2, 5)
        for k in range(n_dend):
            theta = ang[i] + (0.0 if (k == 0 and pyramidal[i]) else rng.uniform(0, 2 * np.pi))
            length = rng.uniform(20, 60) if k == 0 and pyramidal[i] else rng.uniform(10, 30)
            b.neurites.append(
                (int(idx_all[i]), _neurite(rng, neurons[i], theta, length, size[i] * aspect[i]), rng.uniform(1.0, 1.8))
            )
    glia = thin(poisson_points(rng, width, height, 1 / 830, margin=20), 7.0)
    glia = glia[_away_from(glia, neurons, size * 1.8)]
    g = len(glia)
    kind = rng.random(g)
    astro = glia[kind < 0.4]
    m = len(astro)
    idx = b.add_cells(
        "astrocyte",
        astro[:, 0],
        astro[:, 1],
        angle=rng.uniform(0, np.pi, m),
        a=rng.uniform(4, 5.5, m),
        b=rng.uniform(3.5, 4.5, m),
        rough=0.3,
    )
    b.add_nuclei(idx, a=rng.uniform(3.2, 4.0, m), b=rng.uniform(2.6, 3.4, m), bright=rng.lognormal(0, 0.2, m))
    for i in range(m):
        for _ in range(rng.integers(3, 6)):
            b.neurites.append(
                (
                    int(idx[i]),
                    _neurite(rng, astro[i], rng.uniform(0, 2 * np.pi), rng.uniform(6, 15), 4.0),
                    rng.uniform(0.7, 1.1),
                )
            )
    oligo = glia[(kind >= 0.4) & (kind < 0.8)]
    m = len(oligo)
    idx = b.add_cells(
        "oligodendrocyte",
        oligo[:, 0],
        oligo[:, 1],
        angle=rng.uniform(0, np.pi, m),
        a=rng.uniform(4.0, 5.0, m),
        b=rng.uniform(3.6, 4.4, m),
    )
    b.add_nuclei(idx, a=rng.uniform(2.8, 3.4, m), b=rng.uniform(2.6, 3.2, m), bright=rng.lognormal(0, 0.2, m))
    micro = glia[kind >= 0.8]
    m = len(micro)
    idx = b.add_cells(
        "microglia",
        micro[:, 0],
        micro[:, 1],
        angle=rng.uniform(0, np.pi, m),
        a=rng.uniform(4.5, 6.5, m),
        b=rng.uniform(2.2, 3.0, m),
        rough=0.3,
    )
    b.add_nuclei(idx, a=rng.uniform(3.0, 4.0, m), b=rng.uniform(1.3, 1.8, m), bright=rng.lognormal(0, 0.2, m))
    return b.build(out_of_plane=0.06)


def _neurite(rng: np.random.Generator, origin: np.ndarray, theta: float, length: float, start: float) -> np.ndarray:
    """Return a gently curving polyline that leaves a soma ``start`` um from its centre."""
    steps = max(3, int(length / 2))
    turns = np.cumsum(rng.normal(0, 0.12, steps))
    angles = theta + turns
    step = length / steps
    xy = np.cumsum(np.column_stack([np.cos(angles), np.sin(angles)]) * step, axis=0)
    return origin + np.vstack([[0.0, 0.0], xy]) + np.array([np.cos(theta), np.sin(theta)]) * start * 0.5


def liver(rng: np.random.Generator, width: float, height: float) -> Layout:
    """Plates of large polygonal hepatocytes (a quarter binucleate) between thin sinusoids with Kupffer cells."""
    b = LayoutBuilder(rng, width, height)
    spacing = rng.uniform(20, 26)
    pts = hex_points(rng, width, height, spacing, jitter=0.2, margin=spacing)
    # sinusoids radiate from a central vein somewhere near the field
    vein = np.array([rng.uniform(0, width), rng.uniform(0, height)])
    vr = rng.uniform(15, 30)
    b.add_lumens(vein[0], vein[1], vr, vr * rng.uniform(0.7, 1.0), rng.uniform(0, np.pi))
    pts = pts[_away_from(pts, vein[None], np.array([vr + spacing * 0.4]))]
    n = len(pts)
    r = spacing / 2 * rng.uniform(1.2, 1.45, n)
    idx = b.add_cells(
        "hepatocyte",
        pts[:, 0],
        pts[:, 1],
        angle=rng.uniform(0, np.pi, n),
        a=r * rng.uniform(1, 1.25, n),
        b=r,
        power=2.0,
        rough=0.1,
    )
    binucleate = rng.random(n) < 0.25
    nr = rng.uniform(3.4, 4.4, n)
    single = idx[~binucleate]
    b.add_nuclei(
        single,
        du=rng.normal(0, 1.5, single.size),
        dv=rng.normal(0, 1.5, single.size),
        a=nr[~binucleate],
        b=nr[~binucleate] * 0.92,
        bright=rng.lognormal(0, 0.2, single.size),
        rough=0.04,
    )
    two = idx[binucleate]
    m = two.size
    for sign in (-1, 1):
        b.add_nuclei(
            two,
            du=sign * rng.uniform(4.2, 5.2, m),
            a=nr[binucleate] * 0.9,
            b=nr[binucleate] * 0.85,
            bright=rng.lognormal(0, 0.2, m),
            rough=0.04,
        )
    # sinusoids: thin lumens between plates, pointing at the vein, lined by Kupffer / endothelial cells
    sinus = poisson_points(rng, width, height, 1 / 2000, margin=20)
    toward = np.arctan2(vein[1] - sinus[:, 1], vein[0] - sinus[:, 0])
    s = len(sinus)
    length = rng.uniform(10, 25, s)
    b.add_lumens(sinus[:, 0], sinus[:, 1], length, rng.uniform(0.8, 1.5, s), toward)
    side = rng.choice([-1, 1], s) * 2.8
    kx, ky = sinus[:, 0] - side * np.sin(toward), sinus[:, 1] + side * np.cos(toward)
    idx = b.add_cells("kupffer", kx, ky, angle=toward, a=rng.uniform(6, 9, s), b=rng.uniform(1.6, 2.2, s), rough=0.2)
    b.add_nuclei(idx, a=rng.uniform(3, 4.5, s), b=rng.uniform(1.1, 1.5, s), bright=rng.lognormal(0, 0.2, s))
    return b.build(out_of_plane=0.05)


def skeletal_muscle(rng: np.random.Generator, width: float, height: float) -> Layout:
    """Long parallel multinucleated fibres with flat peripheral nuclei, capillaries in the thin gaps between them."""
    b = LayoutBuilder(rng, width, height)
    angle = rng.uniform(0, np.pi)
    cos, sin = np.cos(angle), np.sin(angle)
    half_diag = np.hypot(width, height) / 2
    centre = np.array([width / 2, height / 2])
    offsets = []
    pos = -half_diag
    while pos < half_diag:
        w = rng.uniform(35, 70)
        offsets.append((pos + w / 2, w))
        pos += w + rng.uniform(2.5, 5.0)
    for off, w in offsets:
        cx, cy = centre + off * np.array([-sin, cos])
        fibre = b.add_cells(
            "myofibre", cx, cy, angle=angle + rng.normal(0, 0.01), a=half_diag * 1.3, b=w / 2, power=8.0, rough=0.03
        )
        for side in (-1, 1):
            along = np.cumsum(rng.uniform(15, 45, 40)) - half_diag * 1.2
            along = along[along < half_diag * 1.2]
            m = along.size
            na, nb = rng.uniform(5, 8, m), rng.uniform(1.2, 1.8, m)
            b.add_nuclei(
                np.repeat(fibre, m),
                du=along,
                dv=side * (w / 2 - nb - rng.uniform(0.3, 1.2, m)),
                a=na,
                b=nb,
                bright=rng.lognormal(0, 0.2, m),
            )
        # capillaries and satellite-like stromal cells in the gap after this fibre
        gap = off + w / 2 + 1.5
        along = np.cumsum(rng.uniform(30, 90, 20)) - half_diag
        along = along[along < half_diag]
        m = along.size
        gx = centre[0] + gap * -sin + along * cos
        gy = centre[1] + gap * cos + along * sin
        idx = b.add_cells("endothelial", gx, gy, angle=angle, a=rng.uniform(7, 12, m), b=rng.uniform(1.0, 1.5, m))
        b.add_nuclei(idx, a=rng.uniform(3.5, 5.5, m), b=rng.uniform(0.8, 1.2, m), bright=rng.lognormal(0, 0.2, m))
    return b.build()


def adipose(rng: np.random.Generator, width: float, height: float) -> Layout:
    """Huge adipocytes (a lipid droplet with a thin rim; most nuclei out of the plane), small stromal cells between."""
    b = LayoutBuilder(rng, width, height)
    spacing = rng.uniform(65, 105)
    pts = hex_points(rng, width, height, spacing, jitter=0.22, margin=spacing)
    n = len(pts)
    r = spacing / 2 * rng.uniform(1.15, 1.35, n)
    idx = b.add_cells(
        "adipocyte",
        pts[:, 0],
        pts[:, 1],
        angle=rng.uniform(0, np.pi, n),
        a=r,
        b=r * rng.uniform(0.85, 1, n),
        rough=0.06,
    )
    phi = rng.uniform(0, 2 * np.pi, n)
    rim = 0.42 * spacing
    b.add_nuclei(
        idx,
        du=rim * np.cos(phi),
        dv=rim * np.sin(phi),
        angle=phi + np.pi / 2 + b.cell_columns(idx)["angle"],
        a=rng.uniform(5, 8, n),
        b=rng.uniform(1.2, 1.8, n),
        bright=rng.lognormal(0, 0.2, n),
    )
    # stromal-vascular cells at the junctions of three adipocytes
    corners = hex_points(rng, width, height, spacing / np.sqrt(3), jitter=0.1, drop=0.7)
    _stroma(b, corners, immune=0.3, vessel=0.3)
    # a section cuts most adipocytes away from their nucleus
    return b.build(out_of_plane=0.7, only=idx)


def kidney_tubules(rng: np.random.Generator, width: float, height: float) -> Layout:
    """Cross-cut tubules: rings of cuboidal cells around small lumens, capillaries and fibroblasts between."""
    b = LayoutBuilder(rng, width, height)
    spacing = rng.uniform(50, 65)
    centres = hex_points(rng, width, height, spacing, jitter=0.12, margin=spacing)
    r_out = spacing * rng.uniform(0.38, 0.45, len(centres))
    for (cx, cy), ro in zip(centres, r_out, strict=True):
        ri = ro * rng.uniform(0.3, 0.5)
        _ring(b, cx, cy, ro, ri, rng.uniform(7, 10), "tubule_epithelial", basal=0.1, nucleus=(3.2, 2.8), power=2.2)
        b.add_lumens(cx, cy, ri, ri * rng.uniform(0.7, 1.0), rng.uniform(0, np.pi))
    pts = poisson_points(rng, width, height, 1 / 200, margin=10)
    pts = pts[_away_from(pts, centres, r_out + 3)]
    _stroma(b, pts, immune=0.15, vessel=0.5)
    return b.build(out_of_plane=0.05)


def lung_alveoli(rng: np.random.Generator, width: float, height: float) -> Layout:
    """Alveolar walls around large air spaces: thin type I cells, cuboidal type II cells, capillaries, macrophages."""
    b = LayoutBuilder(rng, width, height)
    spacing = rng.uniform(55, 80)
    centres = hex_points(rng, width, height, spacing, jitter=0.18, margin=spacing)
    radii = spacing / 2 - rng.uniform(2.5, 5, len(centres))
    b.add_lumens(
        centres[:, 0],
        centres[:, 1],
        radii,
        radii * rng.uniform(0.85, 1.0, len(radii)),
        rng.uniform(0, np.pi, len(radii)),
    )
    for (cx, cy), r in zip(centres, radii, strict=True):
        n = max(3, int(2 * np.pi * r / rng.uniform(18, 28)))
        phi = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(n) / n
        x, y = cx + (r + 1.5) * np.cos(phi), cy + (r + 1.5) * np.sin(phi)
        kind = rng.random(n)
        t1 = kind < 0.6
        m = int(t1.sum())
        idx = b.add_cells(
            "pneumocyte_1",
            x[t1],
            y[t1],
            angle=phi[t1] + np.pi / 2,
            a=rng.uniform(10, 16, m),
            b=rng.uniform(2.2, 3.2, m),
            rough=0.15,
        )
        b.add_nuclei(idx, a=rng.uniform(3.5, 5, m), b=rng.uniform(1.1, 1.6, m), bright=rng.lognormal(0, 0.2, m))
        t2 = (kind >= 0.6) & (kind < 0.8)
        m = int(t2.sum())
        idx = b.add_cells(
            "pneumocyte_2", x[t2], y[t2], angle=phi[t2], a=rng.uniform(4.5, 6, m), b=rng.uniform(4, 5.5, m), rough=0.12
        )
        b.add_nuclei(idx, a=rng.uniform(2.5, 3.2, m), b=rng.uniform(2.2, 2.8, m), bright=rng.lognormal(0, 0.2, m))
        en = kind >= 0.8
        m = int(en.sum())
        idx = b.add_cells(
            "endothelial", x[en], y[en], angle=phi[en] + np.pi / 2, a=rng.uniform(8, 12, m), b=rng.uniform(1.5, 2.2, m)
        )
        b.add_nuclei(idx, a=rng.uniform(3.5, 5, m), b=rng.uniform(1.0, 1.4, m), bright=rng.lognormal(0, 0.2, m))
    # alveolar macrophages float in a few air spaces
    mac = centres[rng.random(len(centres)) < 0.2] + rng.normal(0, 6, (1, 2))
    m = len(mac)
    idx = b.add_cells(
        "macrophage",
        mac[:, 0],
        mac[:, 1],
        angle=rng.uniform(0, np.pi, m),
        a=rng.uniform(6, 8, m),
        b=rng.uniform(5, 7, m),
        rough=0.2,
        free=True,
    )
    b.add_nuclei(
        idx,
        du=rng.normal(0, 1.5, m),
        a=rng.uniform(2.8, 3.5, m),
        b=rng.uniform(2.3, 3.0, m),
        bright=rng.lognormal(0, 0.2, m),
    )
    return b.build(out_of_plane=0.08)


def pancreas_acini(rng: np.random.Generator, width: float, height: float) -> Layout:
    """Acini: rosettes of pyramidal cells with basal nuclei around a tiny lumen; an islet of small round cells."""
    b = LayoutBuilder(rng, width, height)
    spacing = rng.uniform(30, 40)
    centres = hex_points(rng, width, height, spacing, jitter=0.15, margin=spacing)
    islet = np.array([rng.uniform(0, width), rng.uniform(0, height)])
    islet_r = rng.uniform(0, 60)
    far = np.hypot(*(centres - islet).T) > islet_r + spacing * 0.3
    for cx, cy in centres[far]:
        ro = spacing * rng.uniform(0.46, 0.52)
        ri = rng.uniform(1.0, 2.0)
        _ring(b, cx, cy, ro, ri, rng.uniform(9, 12), "acinar", basal=0.45, nucleus=(2.8, 2.6), power=2.0)
        b.add_lumens(cx, cy, ri, ri)
    if islet_r > 15:
        pts = hex_points(rng, width, height, 9.0, jitter=0.15)
        pts = pts[np.hypot(*(pts - islet).T) < islet_r]
        n = len(pts)
        idx = b.add_cells(
            "islet",
            pts[:, 0],
            pts[:, 1],
            angle=rng.uniform(0, np.pi, n),
            a=rng.uniform(5.0, 6.0, n),
            b=rng.uniform(4.4, 5.4, n),
        )
        b.add_nuclei(
            idx,
            du=rng.normal(0, 0.5, n),
            a=rng.uniform(2.6, 3.2, n),
            b=rng.uniform(2.3, 2.9, n),
            bright=rng.lognormal(0, 0.2, n),
        )
    return b.build(out_of_plane=0.06)


def pleomorphic_tumour(rng: np.random.Generator, width: float, height: float) -> Layout:
    """Cells of varied size and shape, large irregular nuclei, multinucleated giant cells, nuclei out of plane."""
    b = LayoutBuilder(rng, width, height)
    density = SmoothField(rng, 150.0)
    pts = thin(poisson_points(rng, width, height, 1 / 80, margin=20), 6.5)
    keep = density(pts[:, 0], pts[:, 1]) > -0.45  # stromal channels between tumour nests
    nests, stroma = pts[keep], pts[~keep]
    n = len(nests)
    r = rng.lognormal(np.log(6.5), 0.25, n)
    giant = rng.random(n) < 0.03
    r[giant] *= rng.uniform(2.0, 3.0, int(giant.sum()))
    idx = b.add_cells(
        "tumour",
        nests[:, 0],
        nests[:, 1],
        angle=rng.uniform(0, np.pi, n),
        a=r * rng.uniform(1.0, 1.6, n),
        b=r,
        rough=0.3,
    )
    single = idx[~giant]
    ns = single.size
    nr = r[~giant] * rng.uniform(0.42, 0.58, ns)
    b.add_nuclei(
        single,
        du=rng.normal(0, 0.2, ns) * nr,
        dv=rng.normal(0, 0.2, ns) * nr,
        a=nr * rng.uniform(1.0, 1.5, ns),
        b=nr,
        angle=rng.uniform(0, np.pi, ns),
        bright=rng.lognormal(0, 0.4, ns),
        rough=0.07,
    )
    for cell, radius in zip(idx[giant], r[giant], strict=True):
        k = rng.integers(2, 6)
        phi = rng.uniform(0, 2 * np.pi, k)
        dist = radius * rng.uniform(0.2, 0.5, k)
        b.add_nuclei(
            np.full(k, cell),
            du=dist * np.cos(phi),
            dv=dist * np.sin(phi),
            a=rng.uniform(3, 5, k),
            b=rng.uniform(2.5, 4, k),
            angle=rng.uniform(0, np.pi, k),
            bright=rng.lognormal(0, 0.3, k),
            rough=0.07,
        )
    _stroma(b, stroma, immune=0.4)
    return b.build(out_of_plane=0.12)


LAYOUTS: dict[str, Callable[[np.random.Generator, float, float], Layout]] = {
    "columnar_epithelium": columnar_epithelium,
    "squamous_epithelium": squamous_epithelium,
    "fibroblast_stroma": fibroblast_stroma,
    "dense_lymphoid": dense_lymphoid,
    "brain_cortex": brain_cortex,
    "liver": liver,
    "skeletal_muscle": skeletal_muscle,
    "adipose": adipose,
    "kidney_tubules": kidney_tubules,
    "lung_alveoli": lung_alveoli,
    "pancreas_acini": pancreas_acini,
    "pleomorphic_tumour": pleomorphic_tumour,
}
