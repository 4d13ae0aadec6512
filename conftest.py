"""Doctests of the docstrings (`python -m pytest --doctest-modules jitgrad/...`): every example
sees `jg` (jitgrad) and `np` (NumPy), as the examples assume `import jitgrad as jg`."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict) -> None:
    doctest_namespace["jg"] = jitgrad
    doctest_namespace["np"] = np
