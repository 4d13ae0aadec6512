"""PyTorch names that jitgrad lacks raise a clear AttributeError ("jitgrad does not implement
torch.X yet" plus the jitgrad way, where there is one) from jitgrad, jitgrad.nn,
jitgrad.nn.functional, jitgrad.optim and Tensor; other names keep Python's usual error; the
hooks do not touch normal attribute access, probes, pickling or copying, nor import torch."""
# (Tensor gets placeholders for the missing names, the modules a PEP 562 __getattr__.)
from __future__ import annotations

import copy
import pickle
import re
import subprocess
import sys

import pytest

import jitgrad
from jitgrad import nn, optim
from jitgrad.nn import functional
from jitgrad.unsupported import torch_names
from jitgrad.unsupported.suggestions import SUGGESTIONS


@pytest.mark.parametrize("get, full", [
    (lambda: jitgrad.lgamma, "torch.lgamma"),
    (lambda: nn.Transformer, "torch.nn.Transformer"),
    (lambda: functional.ctc_loss, "torch.nn.functional.ctc_loss"),
    (lambda: optim.NAdam, "torch.optim.NAdam"),
    (lambda: jitgrad.tensor([1.0]).digamma, "torch.Tensor.digamma"),
    (lambda: nn.Parameter(jitgrad.ones(1)).lgamma, "torch.Tensor.lgamma"),
])
def test_pytorch_names_jitgrad_lacks_say_so(get, full):
    with pytest.raises(AttributeError, match=re.escape(f"jitgrad does not implement {full} yet")) as info:
        get()
    suggestion = SUGGESTIONS.get(full)
    if suggestion:
        assert f"the jitgrad way: {suggestion}" in str(info.value)
    # No obj: Python's traceback display adds no misleading near-miss (lgamma -> "Did you mean log?").
    assert info.value.obj is None


def test_other_names_get_pythons_error_with_its_suggestions():
    with pytest.raises(AttributeError, match="^module 'jitgrad' has no attribute 'tensr'$") as info:
        jitgrad.tensr  # noqa: B018
    # name and obj set: Python's traceback display suggests 'tensor' for this typo.
    assert info.value.name == "tensr" and info.value.obj is jitgrad
    with pytest.raises(AttributeError, match="^'Tensor' object has no attribute 'not_a_torch_method'$"):
        jitgrad.ones(1).not_a_torch_method  # noqa: B018
    with pytest.raises(AttributeError, match="module 'jitgrad.optim' has no attribute 'Adamm'"):
        optim.Adamm  # noqa: B018
    with pytest.raises(ImportError):
        from jitgrad import lgamma  # noqa: F401


def test_underscore_names_and_probes_fall_through():
    t = jitgrad.ones(2)
    for name in ("__array_interface__", "_repr_html_", "__torch_function__", "_private", "__getstate__x"):
        assert not hasattr(t, name)
    assert not hasattr(jitgrad, "__wrapped__") and not hasattr(nn, "_ipython_canary")
    with pytest.raises(AttributeError, match="^'Tensor' object has no attribute '__dlpack_x__'$"):
        t.__dlpack_x__  # noqa: B018
    assert hasattr(t, "shape") and hasattr(jitgrad, "tensor") and hasattr(optim, "LBFGS")


def test_tensor_has_no_getattr_hook_and_dir_lists_only_what_works():
    """Normal attribute access stays on CPython's fast path: a __getattr__ on Tensor would stop
    attribute loads being specialised; the missing names are placeholders instead."""
    assert not hasattr(jitgrad.Tensor, "__getattr__")
    t = jitgrad.ones(2)
    assert "digamma" not in dir(t) and "shape" in dir(t) and "backward" in dir(t)
    assert not hasattr(jitgrad.Tensor, "digamma")
    with pytest.raises(AttributeError, match="jitgrad does not implement torch.Tensor.digamma yet"):
        jitgrad.Tensor.digamma  # noqa: B018


def test_a_later_definition_replaces_the_placeholder():
    class MyTensor(jitgrad.Tensor):
        def masked_fill(self, mask, value):
            return jitgrad.where(mask, value, self)

    t = MyTensor._wrap(jitgrad.ones(2)._data)
    assert t.masked_fill(jitgrad.tensor([True, False]), 0.0).tolist() == [0.0, 1.0]


def test_pickle_copy_and_attribute_access_still_work():
    t = jitgrad.tensor([1.0, 2.0], requires_grad=True)
    assert pickle.loads(pickle.dumps(t)).tolist() == [1.0, 2.0]
    assert copy.copy(t).tolist() == copy.deepcopy(t).tolist() == [1.0, 2.0]
    m = nn.Linear(2, 1)
    assert isinstance(pickle.loads(pickle.dumps(m)).weight, nn.Parameter)
    assert t.grad is None and t.T.shape == (2,)


def test_every_suggestion_names_real_jitgrad_functions():
    """A suggestion that points at a jitgrad name that does not exist would mislead."""
    for full, text in SUGGESTIONS.items():
        namespace, _, name = full.rpartition(".")
        table = {"torch": "TORCH", "torch.nn": "NN", "torch.nn.functional": "FUNCTIONAL", "torch.optim": "OPTIM",
                 "torch.Tensor": "TENSOR"}[namespace]
        assert name in getattr(torch_names, table), f"{full} is not a PyTorch name"
        for ref in re.findall(r"jitgrad(?:\.\w+)+", text):
            obj = jitgrad
            for part in ref.split(".")[1:]:
                assert part in dir(obj), f"suggestion for {full} names {ref}, which does not exist"
                obj = getattr(obj, part)


def test_name_tables_list_pytorch_namespaces():
    assert {"log10", "tensor", "Generator"} <= torch_names.TORCH
    assert {"Embedding", "LayerNorm"} <= torch_names.NN and "gelu" in torch_names.FUNCTIONAL
    assert "RMSprop" in torch_names.OPTIM and "masked_fill" in torch_names.TENSOR
    assert not any(n.startswith("_") for n in torch_names.TENSOR)


def test_the_table_is_the_generators_output_for_the_installed_torch():
    torch = pytest.importorskip("torch")
    from jitgrad.unsupported import generate_names
    if f"torch {torch.__version__.split('+')[0]}" not in torch_names.__doc__:
        pytest.skip("the committed table was generated from another torch release")
    assert torch_names.NN == frozenset(generate_names.public_names(torch.nn))
    assert torch_names.TENSOR == frozenset(generate_names.public_names(torch.Tensor))


def test_misses_do_not_import_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import jitgrad\n"
            "for get in (lambda: jitgrad.lgamma, lambda: jitgrad.ones(1).lgamma, lambda: jitgrad.nope):\n"
            "    try:\n        get()\n    except AttributeError as e:\n        print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    lines = out.stdout.splitlines()
    assert lines[0].startswith("jitgrad does not implement torch.lgamma yet")
    assert lines[1].startswith("jitgrad does not implement torch.Tensor.lgamma yet")
    assert lines[2] == "module 'jitgrad' has no attribute 'nope'"
