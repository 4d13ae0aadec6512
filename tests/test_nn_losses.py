"""Losses against PyTorch: values and gradients for every reduction, eagerly and (a subset)
compiled through jit_grad; the loss modules hold the same options; bad input raises PyTorch's
exception types."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from nn_compare import compare

import jitgrad as jg
from jitgrad import nn
from jitgrad.nn import functional as F  # noqa: N812

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(3)
A, B = RNG.standard_normal((4, 5)), RNG.standard_normal((4, 5))
A[0, 0], B[0, 0] = 0.5, 0.5  # a zero difference (the kink of the L1-like losses)
A[0, 1], B[0, 1] = 1.5, 0.5  # exactly at beta/delta = 1
P = RNG.uniform(0.05, 0.95, (4, 5))
T01 = RNG.uniform(0, 1, (4, 5))
LOGITS = RNG.standard_normal((6, 5)) * 2
LOGITS[0, 0] = 0.0
TARGETS = np.array([0, 4, 2, -100, 1, 2])  # one ignored (the default ignore_index)
REDUCTIONS = ["mean", "sum", "none"]


def _c(f, a, like=None):
    """A constant (no grad) of the library whose functional module f is, in like's dtype."""
    if like is not None:
        a = a.astype(str(like.dtype).replace("torch.", "").replace("jitgrad.", ""))
    return jg.tensor(a) if f is F else torch.tensor(a)

# (name, body over (functional module, *inputs), inputs)
CASES = [
    ("l1", lambda f, r, a, b: f.l1_loss(a, b, reduction=r), [A, B]),
    ("smooth_l1", lambda f, r, a, b: f.smooth_l1_loss(a, b, reduction=r), [A, B]),
    ("smooth_l1_beta", lambda f, r, a, b: f.smooth_l1_loss(a, b, reduction=r, beta=0.5), [A, B]),
    ("smooth_l1_beta0", lambda f, r, a, b: f.smooth_l1_loss(a, b, reduction=r, beta=0.0), [A, B]),
    ("huber", lambda f, r, a, b: f.huber_loss(a, b, reduction=r, delta=1.0), [A, B]),
    ("huber_delta", lambda f, r, a, b: f.huber_loss(a, b, reduction=r, delta=0.3), [A, B]),
    ("bce", lambda f, r, p, t: f.binary_cross_entropy(p, t, reduction=r), [P, T01]),
    ("bce_weight", lambda f, r, p, t: f.binary_cross_entropy(p, t, _c(f, P[0], p), reduction=r), [P, T01]),
    ("bce_logits", lambda f, r, x, t: f.binary_cross_entropy_with_logits(x, t, reduction=r), [LOGITS[:4], T01]),
    ("bce_logits_pos_weight",
     lambda f, r, x, t: f.binary_cross_entropy_with_logits(
         x, t, _c(f, T01[0] + 0.5, x), reduction=r, pos_weight=_c(f, np.array([0.5, 1.0, 2.0, 3.0, 1.5]), x)),
     [LOGITS[:4], T01]),
    ("kl_div", lambda f, r, x, t: f.kl_div(x, t, reduction=r), [np.log(P), T01]),
    ("kl_div_zero_target", lambda f, r, x: f.kl_div(x, _c(f, np.where(T01 > 0.8, 0.0, T01), x), reduction=r),
     [np.log(P)]),
    ("kl_div_log_target", lambda f, r, x, t: f.kl_div(x, t, reduction=r, log_target=True), [np.log(P), A]),
    ("cosine_embedding", lambda f, r, a, b, y: f.cosine_embedding_loss(a, b, y, margin=0.2, reduction=r),
     [A, B, np.array([1, -1, -1, 1])]),
    ("margin_ranking", lambda f, r, a, b, y: f.margin_ranking_loss(a, b, y, margin=0.1, reduction=r),
     [A[0], B[0], np.array([1.0, -1.0, 1.0, -1.0, 1.0])]),
    ("cross_entropy_smoothing", lambda f, r, x, t: f.cross_entropy(x, t, reduction=r, label_smoothing=0.2),
     [LOGITS, TARGETS]),
    ("cross_entropy_smoothing_weight",
     lambda f, r, x, t: f.cross_entropy(x, t, _c(f, np.array([1.0, 2.0, 0.5, 1.0, 3.0]), x), reduction=r,
                                        label_smoothing=0.3), [LOGITS, TARGETS]),
    ("cross_entropy_smoothing_probs",
     lambda f, r, x, t: f.cross_entropy(x, t, reduction=r, label_smoothing=0.1), [LOGITS[:4], P]),
    ("cross_entropy_ignore", lambda f, r, x, t: f.cross_entropy(x, t, reduction=r, ignore_index=2),
     [LOGITS, np.array([0, 4, 2, 3, 1, 2])]),
    ("nll_ignore", lambda f, r, x, t: f.nll_loss(x, t, ignore_index=4, reduction=r),
     [LOGITS, np.array([0, 4, 2, 3, 1, 2])]),
]


def _quiet(fn):
    def run(*args):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="reduction: 'mean' divides")
            return fn(*args)
    return run


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, body, inputs", CASES, ids=[c[0] for c in CASES])
def test_losses_match_torch(name, body, inputs, reduction, dtype):
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in inputs]
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    compare(_quiet(lambda m, *a: body(F, reduction, *a)), _quiet(lambda m, *a: body(TF, reduction, *a)), arrays,
            **tol)


COMPILED = ["bce_logits_pos_weight", "cross_entropy_smoothing", "cross_entropy_smoothing_weight", "huber", "kl_div"]


@pytest.mark.parametrize("name, body, inputs", [c for c in CASES if c[0] in COMPILED], ids=COMPILED)
def test_losses_compiled_match_torch(name, body, inputs):
    compare(_quiet(lambda m, *a: body(F, "mean", *a)), _quiet(lambda m, *a: body(TF, "mean", *a)), inputs,
            rtol=1e-10, atol=1e-12, compiled=True)


def test_kl_div_batchmean_and_mean_warning():
    compare(lambda m, x, t: F.kl_div(x, t, reduction="batchmean"),
            lambda m, x, t: TF.kl_div(x, t, reduction="batchmean"), [np.log(P), T01], rtol=1e-10, atol=1e-12)
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(jg.tensor(np.log(P)), jg.tensor(T01))


MODULES = [
    (lambda n: n.L1Loss(), 2), (lambda n: n.SmoothL1Loss(beta=0.5, reduction="sum"), 2),
    (lambda n: n.HuberLoss(delta=0.5), 2), (lambda n: n.BCELoss(reduction="none"), "p"),
    (lambda n: n.BCEWithLogitsLoss(pos_weight=_t(n, np.array([0.5, 1.0, 2.0, 3.0, 1.5]))), 2),
    (lambda n: n.KLDivLoss(reduction="batchmean", log_target=True), 2),
    (lambda n: n.CosineEmbeddingLoss(margin=0.1), "cos"), (lambda n: n.MarginRankingLoss(0.2), "rank"),
    (lambda n: n.CrossEntropyLoss(label_smoothing=0.25, ignore_index=2), "ce"),
    (lambda n: n.NLLLoss(ignore_index=1, reduction="sum"), "ce"),
]


def _t(n, a):
    return jg.tensor(a) if n is nn else torch.tensor(a)


@pytest.mark.parametrize("make, kind", MODULES, ids=[repr(m[0](torch.nn)) for m in MODULES])
def test_loss_modules_match_torch(make, kind):
    inputs = {2: [A, B], "p": [P, T01], "cos": [A, B, np.array([1, -1, -1, 1])],
              "rank": [A[0], B[0], np.array([1.0, -1.0, 1.0, -1.0, 1.0])], "ce": [LOGITS, TARGETS.clip(0)]}[kind]
    compare(lambda m, *a: m(*a), lambda m, *a: m(*a), inputs, make(nn), make(torch.nn), rtol=1e-10, atol=1e-12)


def test_loss_errors():
    x = jg.tensor(LOGITS)
    with pytest.raises(ValueError, match="reduction"):
        F.l1_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        nn.HuberLoss(reduction="avg")
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(jg.tensor([0.5, 1.5]), jg.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="size"):
        F.binary_cross_entropy_with_logits(x, jg.zeros(6))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, jg.tensor(TARGETS), label_smoothing=1.5)
    with pytest.raises(IndexError, match="Target 7"):
        F.cross_entropy(x, jg.tensor([0, 7, 1, 1, 1, 1]), label_smoothing=0.1)
    with pytest.raises(IndexError, match="Target -3"):
        F.nll_loss(x, jg.tensor([0, -3, 1, 1, 1, 1]))
    with pytest.raises(RuntimeError, match="negative"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(RuntimeError, match="shape"):
        F.margin_ranking_loss(jg.ones(3), jg.ones(3), jg.ones(2))
    with pytest.warns(UserWarning, match="target size"):
        F.l1_loss(jg.ones(3, 1), jg.ones(3))


def test_cross_entropy_target_out_of_range_in_compiled_code():
    f = jg.jit_grad(lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1))
    x = jg.tensor(LOGITS, requires_grad=True)
    f(x, jg.tensor(TARGETS.clip(0)))
    with pytest.raises((IndexError, RuntimeError), match="7"):
        f(x, jg.tensor([0, 7, 1, 1, 1, 1]))
