"""The house rules: the import graph flows one way, private stays private, dependencies are exactly what src imports.

The route of a segmentation reads ``tl -> _pipeline -> methods / model -> io / _geometry / _tiling``; no module
imports upward, none imports another package's private names, and a segmentation loads no training, simulator or
metrics code.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from spatialdata import read_zarr

from tests.conftest import HAS_TORCH, NEEDS_TORCH

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "halo"

#: Top-level package -> the packages of halo it may import (module-level or inside functions).
ALLOWED = {
    "tl": {"_pipeline", "io", "methods", "_tiling"},
    "_pipeline": {"methods", "model", "io", "_geometry", "_tiling", "_memory"},
    "methods": {"model", "io", "_geometry", "_tiling"},
    "model": {"_geometry", "_tiling"},
    "io": {"_geometry", "_tiling", "_memory"},
    "_geometry": set(),
    "_tiling": set(),
    "_memory": set(),
    "pl": {"io"},
    "metrics": set(),
    "datasets": {"io", "_geometry", "_tiling"},
    "training": {"model", "methods", "datasets", "metrics", "io", "_geometry", "_tiling"},
    "__main__": {"tl", "io", "methods", "datasets", "_pipeline"},
}


def _module_name(path: Path) -> tuple[str, list[str]]:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    package = parts[:-1]
    if parts[-1] == "__init__":
        parts = package = parts[:-1]
    return ".".join(parts), package


def _imports(path: Path) -> list[tuple[str, str | None]]:
    """``(module, name)`` of every halo import that runs (``if TYPE_CHECKING:`` blocks are for type checkers)."""
    module, package = _module_name(path)
    found = []

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node):
            if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node):
            found.extend((alias.name, None) for alias in node.names if alias.name.split(".")[0] == "halo")

        def visit_ImportFrom(self, node):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            if target.split(".")[0] == "halo":
                found.extend((target, alias.name) for alias in node.names)

    Visitor().visit(ast.parse(path.read_text()))
    return found


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _all_imports():
    for path in sorted(SRC.rglob("*.py")):
        module, _ = _module_name(path)
        for target, name in _imports(path):
            full = f"{target}.{name}" if name and target == "halo" else target  # `from .. import model`
            yield module, full, name


def test_imports_only_flow_down_the_layers():
    upward = []
    for module, target, _ in _all_imports():
        here, there = _top(module), _top(target)
        if here in ("", there) or there in ("", "__version__"):  # within a package, or halo's own __init__
            continue
        if there not in ALLOWED.get(here, set()):
            upward.append(f"{module} imports {target}")
    assert not upward, "\n".join(upward)
    assert set(ALLOWED) >= {p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith("__")}


def test_no_module_imports_another_packages_private_names():
    leaks = []
    for module, target, name in _all_imports():
        if _top(module) == _top(target) or module == "halo":  # a package's __init__ may use its own modules
            continue
        private_module = any(part.startswith("_") for part in target.split(".")[2:])
        private_name = name is not None and name.startswith("_") and name != "__version__"
        if private_module or private_name:
            leaks.append(f"{module}: {target} {name or ''}")
    assert not leaks, "\n".join(leaks)


def test_private_packages_start_with_an_underscore():
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        from conf import API_NAMESPACES  # the namespaces the docs list
    finally:
        sys.path.pop(0)
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert {p for p in packages if not p.startswith("_")} == set(API_NAMESPACES)


def test_a_segmentation_loads_no_training_simulator_or_metrics_code(tmp_path, small_sdata):
    pytest.importorskip("torch", reason=NEEDS_TORCH)  # the default method: the network, in a subprocess
    store = tmp_path / "small.zarr"
    small_sdata.write(store)
    script = textwrap.dedent(f"""
        import sys
        import halo
        light = sorted(m for m in sys.modules if m.startswith("halo"))
        from spatialdata import read_zarr
        halo.tl.segment(read_zarr({str(store)!r}), progress=False)
        print(light)
        print(sorted(m for m in sys.modules if m.startswith("halo")))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    light, loaded = (eval(line) for line in result.stdout.strip().splitlines()[-2:])  # noqa: S307
    assert light == ["halo", "halo._logging"]  # `import halo` loads its namespaces on first use
    assert "halo.model" in loaded and "halo.tl" in loaded  # the segmentation ran the network
    forbidden = [m for m in loaded if m.split(".")[1:2] in (["training"], ["datasets"], ["metrics"], ["pl"])]
    assert not forbidden, forbidden


def test_everything_but_the_network_runs_without_torch(tmp_path):
    """The Python 3.12 CI leg has no torch: nuclear expansion, io, plots, datasets and metrics never import it."""
    store = tmp_path / "small.zarr"
    script = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # any `import torch` now fails, as where torch is not installed
        import matplotlib
        matplotlib.use("Agg")
        from spatialdata import read_zarr
        import halo
        import halo.io, halo.methods, halo.tl
        halo.datasets.synthetic(size_um=(60.0, 50.0), seed=3).write({str(store)!r})
        sdata = read_zarr({str(store)!r})
        halo.tl.segment(sdata, method="expansion", progress=False)  # and writes to the store
        halo.pl.qc(sdata, keys="halo")
        halo.pl.segmentation(sdata, key_added="halo")
        truth = sdata["true_cells"].data.compute()
        print(halo.metrics.match_instances(truth, truth).f1)
        print(sorted(m for m in sys.modules if m.startswith("halo")))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    f1, loaded = (eval(line) for line in result.stdout.strip().splitlines()[-2:])  # noqa: S307
    assert f1 == 1.0
    assert "halo_boundaries" in read_zarr(store).shapes
    assert not [m for m in loaded if m.split(".")[1:2] in (["model"], ["training"])]


def _distribution(requirement: str) -> str:
    name = requirement.split(";")[0]
    for stop in "<>=![ ":
        name = name.split(stop)[0]
    return name.strip().lower().replace("_", "-")


def test_dependencies_are_exactly_what_src_imports():
    from importlib.metadata import packages_distributions

    declared = {
        _distribution(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    imported = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    imported -= set(sys.stdlib_module_names) | {"halo"}
    distributions = packages_distributions()
    if not HAS_TORCH:  # the Python 3.12 CI leg (see conftest.py): the module of distribution "torch" is "torch"
        distributions["torch"] = ["torch"]
    missing = {m for m in imported if m not in distributions}
    assert not missing, f"imported by src but not installed: {missing}"
    needed = {distributions[m][0].lower().replace("_", "-") for m in imported}
    assert needed == declared, f"undeclared: {needed - declared}; declared but not imported: {declared - needed}"


@pytest.mark.parametrize("namespace", ["tl", "pl", "io", "methods", "model", "training", "datasets", "metrics"])
def test_every_public_name_exists_and_is_documented(namespace):
    import importlib

    module = importlib.import_module(f"halo.{namespace}")
    for name in module.__all__:
        obj = getattr(module, name)
        if callable(obj) and not name.startswith("_"):
            assert (obj.__doc__ or "").strip(), f"halo.{namespace}.{name} has no docstring"
