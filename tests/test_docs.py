"""Documentation coverage: every jg.* callable and every public Tensor method has a docstring
with a runnable example (CI runs them: `python -m pytest --doctest-modules jitgrad/...`), and the
Sphinx site has a page per namespace."""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

import jitgrad as jg

DOCS = Path(__file__).resolve().parent.parent / "docs"
# Needs a GPU (the README's GPU section shows it); everything else has a doctest.
NO_DOCTEST = {"Tensor.cuda"}


def _callables():
    for name in jg.__all__:
        obj = getattr(jg, name)
        if inspect.ismodule(obj) or isinstance(obj, (np.dtype, jg.dtype)) or obj is jg.dtype or not callable(obj):
            continue
        yield f"jg.{name}", obj
    seen = set()
    for klass in jg.Tensor.__mro__:  # Tensor and its method mixins
        if not klass.__module__.startswith("jitgrad"):
            continue
        for name, obj in vars(klass).items():
            if not name.startswith("_") and inspect.isfunction(obj) and name not in seen:
                seen.add(name)
                yield f"Tensor.{name}", obj


def test_every_public_callable_has_an_example():
    lacking = [name for name, obj in _callables() if name not in NO_DOCTEST and ">>>" not in (obj.__doc__ or "")]
    assert not lacking, "public names without a `>>>` example in their docstring: " + ", ".join(lacking)


def test_docs_have_a_page_per_namespace_and_the_guides():
    index = (DOCS / "index.rst").read_text()
    for page in ["tour", "coming_from_pytorch", "coming_from_jax", "compiled_mode_internals", "api/jitgrad",
                 "api/tensor", "api/autograd", "api/nn", "api/optim", "api/compiled", "api/cuda"]:
        assert f"   {page}\n" in index, page
        assert any((DOCS / f"{page}{ext}").exists() for ext in (".rst", ".md")), page
    assert "../README.md" in (DOCS / "tour.md").read_text()
