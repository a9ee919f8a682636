"""Sphinx configuration of the tutorial's website; `bash docs/build.sh` is the way to build it.

docs/build_site.py executes the notebooks, then copies this folder, the executed notebooks and
the generated pages into docs/_build/source/, which Sphinx builds into docs/_build/html/. The
site must work with no network: nothing here may load a script, style, font or image from
another host (tests/test_site.py checks every request in a browser).
"""

import importlib.util
import json
from pathlib import Path

BUILD_INFO = json.loads((Path(__file__).parent / "_generated" / "build_info.json").read_text())

project = "gc-tutorial"
author = "gc-tutorial contributors"
copyright = "2026, gc-tutorial contributors"
release = BUILD_INFO["version"]

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
exclude_patterns = ["_generated/**", "downloads/**"]  # included or downloaded, not pages
suppress_warnings = ["misc.highlighting_failure"]

# Notebooks: executed beforehand by docs/build_site.py (with papermill), shown as they ran.
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # no require.js or widget scripts from a CDN: the notebooks use no widgets
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# Math: MathJax 3 from the sphinx-mathjax-offline package, shipped with the site. SVG output
# draws every glyph itself, so no web font has to load (fonts from file:// pages often fail).
_MATHJAX_PACKAGE = Path(importlib.util.find_spec("sphinx-mathjax-offline").origin).parent
html_static_path = ["_static", str(_MATHJAX_PACKAGE / "static")]
mathjax_path = "mathjax/tex-svg.js"

# API reference: Google-style docstrings, members in source order, type hints in the signature.
default_role = "literal"  # `name` in a docstring is code, as in the notebooks' Markdown
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "furo"
html_title = "Gradient Centralization in Keras 3"
html_css_files = ["site.css"]
html_copy_source = False  # the notebooks link their .ipynb instead
html_theme_options = {"announcement": BUILD_INFO["announcement"]} if BUILD_INFO["quick"] else {}
