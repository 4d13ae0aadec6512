"""Project metadata: one version, a licence, typed-package marker, sdist contents (static checks;
the built wheel itself is checked in tests/test_wheel.py)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import jitgrad

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_version_is_written_once():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "jitgrad.version.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc|\.dev)?\d*", jitgrad.__version__)
    written = [p for p in ROOT.glob("jitgrad/**/*.py") if re.search(r'^__version__ = "', p.read_text(), re.M)]
    assert [p.name for p in written] == ["version.py"]


def test_licence_urls_classifiers_and_typed_marker():
    project = PYPROJECT["project"]
    assert project["license"] == "BSD-3-Clause" and (ROOT / "LICENSE").read_text().startswith("BSD 3-Clause")
    # No invented addresses: the project has no public home yet (see pyproject.toml's comment).
    assert "urls" not in project and "urls" not in project["dynamic"]
    assert "Typing :: Typed" in project["classifiers"]
    assert (ROOT / "jitgrad" / "py.typed").exists()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["jitgrad"]


def test_extras_for_contributors_docs_and_pictures():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(r.startswith("graphviz") for r in extras["viz"])
    assert any(r.startswith("sphinx") for r in extras["docs"])
    dev = " ".join(extras["dev"])
    assert "ruff" in dev and "mypy" in dev and "docs" in dev


def test_sdist_manifest_carries_examples_and_tests():
    manifest = (ROOT / "MANIFEST.in").read_text()
    assert "recursive-include examples *.py" in manifest
    assert "recursive-include tests" in manifest
    for name in ("CHANGELOG.md", "CONTRIBUTING.md", "LICENSE"):
        assert (ROOT / name).exists() and name in manifest
    assert "ARCHITECTURE.md" in (ROOT / "CONTRIBUTING.md").read_text()
