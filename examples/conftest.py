"""Lets the project's test run (``make test``) import each example from its source folder.

The folders are not put on ``sys.path``: a ``*.egg-info`` that ``pip install examples/<name>``
leaves there would then count as an installed distribution, and its entry points would join
fhbench's registries in every test. A finder resolves just the examples' top-level packages.
"""

import importlib.machinery
import sys
from pathlib import Path

SOURCES = {package.parent.name: str(package.parent.parent) for package in Path(__file__).resolve().parent.glob("*/src/*/__init__.py")}


class ExampleSources:
    """A meta path finder for the examples' packages (their submodules follow the package's __path__)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        return importlib.machinery.PathFinder.find_spec(name, [SOURCES[name]]) if name in SOURCES else None


if not any(finder is ExampleSources for finder in sys.meta_path):
    sys.meta_path.insert(0, ExampleSources)
