"""Sphinx configuration: myst-nb pages, an autosummary API from numpydoc docstrings, no network access needed."""

from __future__ import annotations

import sys
from datetime import date
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "src"))  # document this checkout, not an installed copy

project = "halo"
author = "halo developers"
copyright = f"{date.today().year}, {author}"  # noqa: A001
try:
    release = _version("halo")
except PackageNotFoundError:  # pragma: no cover
    release = "0.0.0"
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]

# pages: Markdown (MyST) and notebooks; the tutorials are executed here, so that the pages show their outputs and
# figures, and a tutorial that fails fails the build (tests/test_docs.py builds with -W)
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}  # .rst first: autosummary stubs
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 900
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store", "**/README.md"]

# API: numpydoc docstrings, types from the signatures
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": False}
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_param = True

API_NAMESPACES = {
    "tl": "Tools",
    "pl": "Plots",
    "io": "SpatialData access and the outputs",
    "methods": "Methods and nucleus sources (plug-ins)",
    "datasets": "Data",
    "metrics": "Metrics",
    "model": "The network",
    "training": "Training",
}


def _write_api_page() -> None:
    """Write ``generated/api.md``: an autosummary of every function and class in each namespace's ``__all__``.

    Generated (not kept in git) so that what a namespace exports appears in the docs without editing them.
    """
    import importlib
    import inspect

    lines = [
        "# API",
        "",
        "Tools take a SpatialData object first and everything else by keyword; results are written into it under names",
        "that start with `key_added`.",
    ]
    documented = set()
    for name, title in API_NAMESPACES.items():
        module = importlib.import_module(f"halo.{name}")
        members = [
            m for m in module.__all__ if inspect.isfunction(getattr(module, m)) or inspect.isclass(getattr(module, m))
        ]
        lines += ["", f"## {title}: `halo.{name}`", "", "```{eval-rst}", ".. currentmodule:: halo", "",
                  ".. autosummary::", "   :toctree: .", "   :nosignatures:", ""]  # fmt: skip
        lines += [f"   {name}.{m}" for m in members] + ["```"]
        documented |= {f"{name}.{m}" for m in members}
    out = HERE / "generated" / "api.md"
    out.parent.mkdir(exist_ok=True)
    for stub in out.parent.glob("halo.*.rst"):  # pages of names no namespace exports any more
        if stub.stem.removeprefix("halo.") not in documented:
            stub.unlink()
    text = "\n".join(lines) + "\n"
    if not out.exists() or out.read_text() != text:  # unchanged files keep Sphinx's cache valid
        out.write_text(text)


_write_api_page()

html_theme = "sphinx_book_theme"
html_title = "halo"
html_static_path = ["_static"]
html_theme_options = {"repository_url": "https://github.com/halo-dev/halo", "use_repository_button": False}
