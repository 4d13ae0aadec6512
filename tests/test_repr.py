"""repr(tensor) is torch's text with 'torch.' replaced by 'jitgrad.'."""
from __future__ import annotations

import pytest

import jitgrad as jg

torch = pytest.importorskip("torch")

EXAMPLES = {
    "float-vector": lambda m: m.tensor([1.0, 2.5, -3.0]),
    "integral-floats": lambda m: m.tensor([1.0, 2.0]),
    "int": lambda m: m.tensor([1, 2, 3]),
    "int32": lambda m: m.tensor([1, 2], dtype=m.int32),
    "bool": lambda m: m.tensor([True, False]),
    "matrix": lambda m: m.tensor([[0.5, -1.25], [3.0, 4.0]]),
    "float64": lambda m: m.tensor([0.1, 0.2], dtype=m.float64),
    "0-d": lambda m: m.tensor(3.5),
    "requires-grad": lambda m: m.tensor([1.0, 2.0], requires_grad=True),
    "grad-fn": lambda m: m.tensor([1.0, 2.0], requires_grad=True) * 2,
    "empty": lambda m: m.zeros(0),
    "small-values": lambda m: m.tensor([1e-5, 1.0]),
    "special": lambda m: m.tensor([float("inf"), float("nan"), 1.0]),
    # Padding: to the widest value present, none for a 0-d tensor; signs take a column.
    "bool-0d": lambda m: m.tensor(True),
    "bool-0d-false": lambda m: m.tensor(False),
    "bool-all-true": lambda m: m.tensor([True, True]),
    "bool-matrix": lambda m: m.tensor([[True], [False]]),
    "int-0d-negative": lambda m: m.tensor(-3),
    "int-negative": lambda m: m.tensor([-3, 10]),
    "int-column": lambda m: m.tensor([[-3], [100]]),
    "float-0d-negative": lambda m: m.tensor(-2.5),
    "float-negative-matrix": lambda m: m.tensor([[-1.0, 2.0], [3.0, -40.0]]),
    "float-negative-small": lambda m: m.tensor([-1e-5, 3.0]),
    "negative-zero": lambda m: m.tensor(-0.0),
}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_repr_matches_torch(name):
    ref = repr(EXAMPLES[name](torch)).replace("torch.", "jitgrad.")
    assert repr(EXAMPLES[name](jg)) == ref
