"""Issue 15's list of names, held as data: each one exists where PyTorch has it (jg.X, Tensor.X,
nn.X, nn.functional.X, optim.X, ...), is exercised by a test that compares with PyTorch, is
public (``jg.__all__``) and is named in the README's API lists. The behaviour itself is tested
elsewhere (the op table: values and gradients against PyTorch, gradcheck, compiled vs eager;
test_nn_*.py: layers and losses with copied weights); this file keeps the list complete."""
from __future__ import annotations

import copy
import inspect
import pickle
import re
from pathlib import Path

import pytest

import jitgrad as jg
from jitgrad.optim import lr_scheduler
from jitgrad.utils import data

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent

# --- the lists --------------------------------------------------------------------------
TENSOR_OPS = """split chunk unbind repeat repeat_interleave tile flip roll diagonal diag diag_embed trace tril triu
    masked_fill masked_select index_select scatter scatter_add take_along_dim cumsum cumprod logsumexp softmax
    log_softmax topk sort argsort median var_mean std_mean outer tensordot einsum bmm baddbmm addmm atan2 hypot fmod
    remainder reciprocal rsqrt square log2 log10 exp2 sinh cosh asin acos atan asinh acosh atanh erf erfc sinc
    deg2rad rad2deg nan_to_num clamp_min clamp_max signbit isnan isinf isfinite isin allclose isclose one_hot histc
    multinomial bernoulli randperm normal_ uniform_""".split()
DTYPES = "int8 int16 uint8 float16".split()
RANDOM_FUNCTIONS = [jg.rand, jg.randn, jg.randint, jg.randperm, jg.normal, jg.bernoulli, jg.multinomial,
                    jg.rand_like, jg.randn_like, jg.Tensor.normal_, jg.Tensor.uniform_, jg.Tensor.bernoulli_,
                    jg.nn.init.normal_, jg.nn.init.uniform_, data.DataLoader, data.random_split]
NN_LAYERS = """Embedding LayerNorm Dropout BatchNorm1d GELU SiLU ELU LeakyReLU Softplus Hardtanh RNNCell LSTMCell
    GRUCell RNN LSTM GRU MultiheadAttention ModuleDict ParameterList ParameterDict Bilinear Unflatten""".split()
MODULE_API = "register_forward_hook register_forward_pre_hook train eval apply named_modules zero_grad".split()
LOSSES = """L1Loss SmoothL1Loss HuberLoss BCELoss BCEWithLogitsLoss KLDivLoss CrossEntropyLoss NLLLoss
    CosineEmbeddingLoss MarginRankingLoss""".split()
# nn.functional counterparts of the layers and losses (PyTorch's names; the containers, recurrent
# layers and Unflatten have none in PyTorch either)
FUNCTIONAL = """embedding layer_norm dropout batch_norm gelu silu elu leaky_relu softplus hardtanh bilinear
    multi_head_attention_forward l1_loss smooth_l1_loss huber_loss binary_cross_entropy binary_cross_entropy_with_logits
    kl_div cross_entropy nll_loss cosine_embedding_loss margin_ranking_loss one_hot softmax log_softmax""".split()
OPTIMIZERS = "RMSprop Adagrad Adadelta LBFGS".split()
SCHEDULERS = "StepLR MultiStepLR ExponentialLR CosineAnnealingLR LambdaLR OneCycleLR ReduceLROnPlateau".split()
NN_UTILS = "clip_grad_norm_ clip_grad_value_ parameters_to_vector".split()
DATA = "Dataset TensorDataset DataLoader random_split Subset".split()

# Where each name is compared with PyTorch, for the names the op table does not hold.
TESTED_ELSEWHERE = {"allclose": "test_ops_math.py", "histc": "test_ops_reduce.py", "isin": "test_ops_math.py"}
# Random draws cannot equal PyTorch's (another generator): their tests check shapes, dtypes, ranges,
# distributions, seeding and gradients (where there are any) instead.
RANDOM_OPS = {"multinomial", "bernoulli", "randperm", "normal_", "uniform_"}
NN_TESTS = ["test_nn_layers.py", "test_nn_losses.py", "test_nn_rnn.py", "test_nn_containers.py", "test_nn.py",
            "test_nn_utils.py", "test_optim_more.py", "test_optim.py", "test_lr_scheduler.py", "test_data.py"]


def _source(*names: str) -> str:
    return "\n".join((TESTS / n).read_text() for n in names)


# --- each name exists where PyTorch has it ------------------------------------------------------


@pytest.mark.parametrize("name", TENSOR_OPS)
def test_tensor_op_exists_where_pytorch_has_it(name):
    torch = pytest.importorskip("torch")
    places = [(torch, jg, "jg"), (torch.Tensor, jg.Tensor, "Tensor"),
              (torch.nn.functional, jg.nn.functional, "nn.functional")]
    found = [label for theirs, ours, label in places if hasattr(theirs, name)]
    assert found, f"{name}: PyTorch has no such name (fix the list)"
    for theirs, ours, label in places:
        if hasattr(theirs, name):
            assert hasattr(ours, name), f"torch {label}.{name} exists but jitgrad's does not"


@pytest.mark.parametrize("name", TENSOR_OPS)
def test_tensor_op_exists_without_torch(name):
    assert any(hasattr(ns, name) for ns in (jg, jg.Tensor, jg.nn.functional)), name


@pytest.mark.parametrize("name", TENSOR_OPS)
def test_tensor_op_is_compared_with_pytorch(name):
    """The op table runs every case against PyTorch, gradcheck and compiled mode; a name not in
    it is compared in the test file named in TESTED_ELSEWHERE."""
    import op_table
    if name in RANDOM_OPS:
        assert re.search(rf"\b{name}\b", _source("test_random_ops.py")), name
        return
    if name in TESTED_ELSEWHERE:
        text = _source(TESTED_ELSEWHERE[name])
        assert re.search(rf"\b{name}\b", text) and "torch" in text, name
        return
    cases = [c for c in op_table.CASES if re.match(rf"{re.escape(name)}(\b|[-_])", c.name)
             or re.search(rf"\.{name}\(", inspect.getsource(c.fn))]
    assert cases, f"{name}: no op-table case (values and gradients vs PyTorch, eager and compiled)"


@pytest.mark.parametrize("name", [n for n in TENSOR_OPS if hasattr(jg, n)])
def test_jg_op_functions_are_public(name):
    assert name in jg.__all__


@pytest.mark.parametrize("name", DTYPES)
def test_dtypes(name):
    d = getattr(jg, name)
    assert isinstance(d, jg.dtype) and name in jg.__all__
    assert d.is_floating_point == (name == "float16") and d.itemsize == {"int8": 1, "uint8": 1}.get(name, 2)


def test_generator_and_generator_arguments():
    g = jg.Generator().manual_seed(3)
    assert isinstance(g, jg.Generator)
    lacking = [f.__qualname__ for f in RANDOM_FUNCTIONS if "generator" not in inspect.signature(f).parameters]
    assert not lacking, f"no generator= argument: {lacking}"


@pytest.mark.parametrize("name", NN_LAYERS + LOSSES)
def test_nn_classes_exist_and_are_compared_with_pytorch(name):
    assert inspect.isclass(getattr(jg.nn, name)) and issubclass(getattr(jg.nn, name), jg.nn.Module)
    assert re.search(rf"\b{name}\b", _source(*NN_TESTS)), f"nn.{name} is not in the nn tests"


@pytest.mark.parametrize("name", MODULE_API)
def test_module_api(name):
    assert callable(getattr(jg.nn.Module, name))


@pytest.mark.parametrize("name", FUNCTIONAL)
def test_functional_counterparts(name):
    assert callable(getattr(jg.nn.functional, name))
    torch = pytest.importorskip("torch")
    assert hasattr(torch.nn.functional, name), f"{name}: not a torch.nn.functional name (fix the list)"


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizers(name):
    klass = getattr(jg.optim, name)
    assert issubclass(klass, jg.optim.Optimizer)
    assert callable(klass.state_dict) and callable(klass.load_state_dict)
    assert re.search(rf"\b{name}\b", _source("test_optim_more.py", "test_optim.py"))


@pytest.mark.parametrize("name", SCHEDULERS)
def test_schedulers(name):
    assert inspect.isclass(getattr(lr_scheduler, name))
    assert re.search(rf"\b{name}\b", _source("test_lr_scheduler.py"))


@pytest.mark.parametrize("name", NN_UTILS)
def test_nn_utils(name):
    assert callable(getattr(jg.nn.utils, name))


def test_autograd_extension_points():
    from jitgrad.autograd.function import once_differentiable
    from jitgrad.utils.checkpoint import checkpoint
    assert issubclass(jg.autograd.Function, object) and callable(once_differentiable) and callable(checkpoint)
    ctx_api = ["save_for_backward", "needs_input_grad", "mark_non_differentiable"]
    assert all(re.search(rf"\b{n}\b", _source("test_autograd_function.py")) for n in ctx_api)
    assert callable(jg.inference_mode) and callable(jg.Tensor.register_post_accumulate_grad_hook)


@pytest.mark.parametrize("name", DATA)
def test_data(name):
    assert getattr(data, name) is not None


def test_persistence_and_pickling():
    assert callable(jg.save) and callable(jg.load)
    w = jg.ones(2, requires_grad=True)
    y = w * 3
    y.sum().backward()
    for t in (w, y):  # a leaf that has a .grad, and a non-leaf
        restored = pickle.loads(pickle.dumps(t))
        assert restored.tolist() == t.tolist() and restored.requires_grad == t.requires_grad
    assert copy.deepcopy(w).tolist() == w.tolist() and copy.deepcopy(w).grad.tolist() == w.grad.tolist()
    with pytest.raises(RuntimeError, match="deepcopy"):  # as in PyTorch: only leaves
        copy.deepcopy(y)


@pytest.mark.parametrize("module,attribute", [(jg, "lgamma"), (jg.nn, "Transformer"), (jg.nn.functional, "ctc_loss"),
                                               (jg.optim, "NAdam"), (jg.Tensor, "digamma")])
def test_unsupported_names_say_so(module, attribute):
    with pytest.raises(AttributeError, match=rf"jitgrad does not implement torch\.[\w.]*{attribute} yet"):
        getattr(module if module is not jg.Tensor else jg.ones(1), attribute)


README_NAMES = (TENSOR_OPS + DTYPES + NN_LAYERS + LOSSES + OPTIMIZERS + SCHEDULERS + NN_UTILS + DATA
                + [n for n in FUNCTIONAL if n not in ("batch_norm",)] + MODULE_API
                + ["Generator", "manual_seed", "generator=", "Function", "save_for_backward", "needs_input_grad",
                   "mark_non_differentiable", "once_differentiable", "checkpoint", "inference_mode",
                   "register_post_accumulate_grad_hook", "save", "load", "state_dict", "load_state_dict",
                   "is_floating_point", "itemsize"])


def test_readme_api_lists_name_every_one():
    readme = (ROOT / "README.md").read_text()
    missing = [n for n in README_NAMES if f"`{n}" not in readme and f"{n}`" not in readme and f".{n}" not in readme]
    assert not missing, f"the README's API lists do not name: {missing}"
