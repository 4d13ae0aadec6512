"""nn layers added for real programs (activations, Dropout, Embedding, LayerNorm, BatchNorm1d, Bilinear,
Unflatten, MultiheadAttention) against PyTorch with copied weights: values, input and parameter
gradients, eagerly and (for a representative subset) compiled through jit_grad."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import check_grads
from nn_compare import compare

import jitgrad as jg
from jitgrad import nn
from jitgrad.nn import functional as F  # noqa: N812

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 5)) * 3
X[0, :3] = [0.0, 20.5, -1.0]  # the switch points of relu-like ops and softplus' threshold


ACTIVATIONS = [
    ("gelu", lambda f, x: f.gelu(x)),
    ("gelu_tanh", lambda f, x: f.gelu(x, approximate="tanh")),
    ("silu", lambda f, x: f.silu(x)),
    ("elu", lambda f, x: f.elu(x, alpha=0.7)),
    ("leaky_relu", lambda f, x: f.leaky_relu(x, 0.2)),
    ("softplus", lambda f, x: f.softplus(x)),
    ("softplus_beta", lambda f, x: f.softplus(x, beta=2.0, threshold=5.0)),
    ("hardtanh", lambda f, x: f.hardtanh(x, -1.0, 2.0)),
    ("relu6", lambda f, x: f.relu6(x)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, body", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_functions_match_torch(name, body, dtype):
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    compare(lambda m, x: body(F, x), lambda m, x: body(TF, x), [X.astype(dtype)], **tol)


@pytest.mark.parametrize("name, body", ACTIVATIONS[:4], ids=[a[0] for a in ACTIVATIONS[:4]])
def test_activations_compiled_match_torch(name, body):
    compare(lambda m, x: body(F, x), lambda m, x: body(TF, x), [X], rtol=1e-10, atol=1e-12, compiled=True)


def test_gelu_exact_second_order_against_finite_differences():
    check_grads(F.gelu, [jg.tensor(RNG.standard_normal(6) * 3, requires_grad=True)])


def test_erf_accuracy_over_the_whole_line():
    import math
    x = np.linspace(-9, 9, 2001)
    got = F.functional_activation.erf(jg.tensor(x)).numpy() if hasattr(F, "functional_activation") else \
        __import__("jitgrad.nn.functional_activation", fromlist=["erf"]).erf(jg.tensor(x)).numpy()
    np.testing.assert_allclose(got, [math.erf(v) for v in x], rtol=0, atol=5e-14)


MODULES = [
    (lambda n: n.GELU(), "GELU()"), (lambda n: n.GELU("tanh"), "GELU(approximate='tanh')"),
    (lambda n: n.SiLU(), "SiLU()"), (lambda n: n.ELU(0.5), "ELU(alpha=0.5)"),
    (lambda n: n.LeakyReLU(0.1), "LeakyReLU(negative_slope=0.1)"),
    (lambda n: n.Softplus(2.0, 3.0), "Softplus(beta=2.0, threshold=3.0)"),
    (lambda n: n.Hardtanh(-2.0, 0.5), "Hardtanh(min_val=-2.0, max_val=0.5)"),
]


@pytest.mark.parametrize("make, text", MODULES, ids=[m[1] for m in MODULES])
def test_activation_modules_match_torch(make, text):
    assert repr(make(nn)) == repr(make(torch.nn))
    compare(lambda m, x: m(x), lambda m, x: m(x), [X], make(nn), make(torch.nn), rtol=1e-10, atol=1e-12)


def test_activation_errors():
    with pytest.raises(RuntimeError, match="approximate"):
        F.gelu(jg.ones(2), approximate="fast")
    with pytest.raises(ValueError, match="min_val"):
        nn.Hardtanh(1.0, -1.0)
    with pytest.raises(RuntimeError, match="leaf"):
        F.silu(jg.ones(2, requires_grad=True), inplace=True)


# ----- Dropout and train()/eval() ------------------------------------------------------------------


def test_dropout_train_and_eval():
    jg.manual_seed(0)
    layer = nn.Dropout(0.25)
    x = jg.ones(2000, requires_grad=True)
    y = layer(x)
    kept = y.detach().numpy() != 0
    assert 0.65 < kept.mean() < 0.85
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.75)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, 1 / 0.75, 0.0))
    layer.eval()
    assert not layer.training
    assert layer(x) is x or np.array_equal(layer(x).detach().numpy(), x.detach().numpy())
    layer.train()
    assert (layer(x).detach().numpy() == 0).any()
    np.testing.assert_array_equal(F.dropout(x, 1.0).detach().numpy(), 0.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout_compiled_draws_a_fresh_mask_each_call():
    jg.manual_seed(1)
    step = jg.jit_grad(lambda x: F.dropout(x, 0.5))
    x = jg.ones(64, requires_grad=True)
    a, b = step(x).detach().numpy(), step(x).detach().numpy()
    assert set(np.unique(a)) <= {0.0, 2.0} and not np.array_equal(a, b)


def test_batchnorm1d_train_eval_match_torch():
    x = RNG.standard_normal((6, 4)) * 2 + 1
    jm, tm = nn.BatchNorm1d(4).double(), torch.nn.BatchNorm1d(4).double()
    with torch.no_grad():
        tm.weight.uniform_(0.5, 1.5)
        tm.bias.uniform_(-1, 1)
    compare(lambda m, a: m(a), lambda m, a: m(a), [x], jm, tm, rtol=1e-10, atol=1e-12)
    # one more batch statistics step, then eval: both use the same running statistics
    jm(jg.tensor(x * 3))
    tm(torch.tensor(x * 3))
    np.testing.assert_allclose(jm.running_var.numpy(), tm.running_var.numpy(), rtol=1e-12)
    jm.eval(), tm.eval()
    x2 = RNG.standard_normal((2, 4, 3))
    np.testing.assert_allclose(jm(jg.tensor(x2)).detach().numpy(), tm(torch.tensor(x2)).detach().numpy(), rtol=1e-10)


# ----- Embedding -------------------------------------------------------------------------------------


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch(padding_idx, compiled):
    ids = np.array([[0, 2, 4, 2], [4, 4, 1, 0]])  # repeats accumulate; 2 and 4 may be the padding row
    tm = torch.nn.Embedding(5, 3, padding_idx=padding_idx).double()
    jm = nn.Embedding(5, 3, padding_idx=padding_idx).double()
    compare(lambda m, i: m(i) * 1.5, lambda m, i: m(i) * 1.5, [ids], jm, tm, rtol=1e-12, atol=1e-12,
            compiled=compiled)
    assert repr(jm) == repr(tm)


def test_embedding_padding_row_is_zero_at_init_and_from_pretrained():
    jg.manual_seed(0)
    e = nn.Embedding(4, 2, padding_idx=1)
    np.testing.assert_array_equal(e.weight.detach().numpy()[1], 0.0)
    table = jg.tensor(np.arange(6.0).reshape(3, 2))
    frozen = nn.Embedding.from_pretrained(table)
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(jg.tensor([2, 0])).numpy(), [[4, 5], [0, 1]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


def test_embedding_bad_input():
    e = nn.Embedding(5, 3)
    for bad in (5, -1, 17):
        with pytest.raises(IndexError, match=str(bad)):
            e(jg.tensor([0, bad]))
    with pytest.raises(RuntimeError, match="integer"):
        e(jg.tensor([0.0, 1.0]))
    with pytest.raises(AssertionError, match="Padding_idx"):
        nn.Embedding(5, 3, padding_idx=5)
    with pytest.raises(ValueError, match="not supported"):
        nn.Embedding(5, 3, max_norm=1.0)


def test_embedding_out_of_range_in_compiled_code_raises_index_error():
    e = nn.Embedding(5, 3)
    f = jg.jit_grad(lambda i: e(i).sum())
    f(jg.tensor([0, 4]))
    with pytest.raises(IndexError, match="7"):
        f(jg.tensor([0, 7]))
    with pytest.raises(RuntimeError, match="index -2 is out of bounds"):  # never wrapped to row 3
        f(jg.tensor([0, -2]))


# ----- LayerNorm, Bilinear, Unflatten ----------------------------------------------------------------


@pytest.mark.parametrize("compiled", [False, True])
def test_layer_norm_matches_torch(compiled):
    x = RNG.standard_normal((2, 3, 4)) * 3 + 1
    tm, jm = torch.nn.LayerNorm((3, 4)).double(), nn.LayerNorm((3, 4)).double()
    with torch.no_grad():
        tm.weight.uniform_(0.5, 1.5)
        tm.bias.uniform_(-1, 1)
    compare(lambda m, a: m(a), lambda m, a: m(a), [x], jm, tm, rtol=1e-10, atol=1e-12, compiled=compiled)
    compare(lambda m, a: F.layer_norm(a, (4,)), lambda m, a: TF.layer_norm(a, (4,)), [x], rtol=1e-10, atol=1e-12)
    plain_j, plain_t = nn.LayerNorm(4, elementwise_affine=False), torch.nn.LayerNorm(4, elementwise_affine=False)
    compare(lambda m, a: m(a), lambda m, a: m(a), [x.astype(np.float32)], plain_j, plain_t)
    with pytest.raises(RuntimeError, match="normalized_shape"):
        jm(jg.ones(2, 4, 3))


def test_layer_norm_second_order():
    w = jg.tensor(RNG.standard_normal(4), requires_grad=True)
    check_grads(lambda x, w: F.layer_norm(x, (4,), w), [jg.tensor(RNG.standard_normal((2, 4)), requires_grad=True), w])


def test_bilinear_and_unflatten_match_torch():
    a, b = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 3, 5))
    compare(lambda m, x, y: m(x, y), lambda m, x, y: m(x, y), [a, b], nn.Bilinear(4, 5, 6).double(),
            torch.nn.Bilinear(4, 5, 6).double(), rtol=1e-10, atol=1e-12)
    compare(lambda m, x: m(x), lambda m, x: m(x), [RNG.standard_normal((2, 12))], nn.Unflatten(1, (3, -1)),
            torch.nn.Unflatten(1, (3, -1)))
    with pytest.raises(RuntimeError, match="multiply up"):
        nn.Unflatten(1, (5, 2))(jg.ones(2, 12))
    with pytest.raises(RuntimeError, match="bilinear"):
        nn.Bilinear(4, 5, 6)(jg.ones(2, 4), jg.ones(2, 4))


# ----- MultiheadAttention ------------------------------------------------------------------------------


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_matches_torch(batch_first, compiled):
    q = RNG.standard_normal((2, 3, 8))
    kv = RNG.standard_normal((2, 4, 8)) if batch_first else RNG.standard_normal((4, 3, 8))
    if not batch_first:
        q = RNG.standard_normal((2, 3, 8))
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first).double()
    jm = nn.MultiheadAttention(8, 2, batch_first=batch_first).double()
    with torch.no_grad():
        tm.in_proj_bias.uniform_(-0.5, 0.5)
        tm.out_proj.bias.uniform_(-0.5, 0.5)
    compare(lambda m, a, b: m(a, b, b), lambda m, a, b: m(a, b, b), [q, kv], jm, tm, rtol=1e-10, atol=1e-12,
            compiled=compiled)


def test_multihead_attention_masks_and_options_match_torch():
    L, S, N, E = 3, 4, 2, 8
    q, k, v = RNG.standard_normal((L, N, E)), RNG.standard_normal((S, N, 6)), RNG.standard_normal((S, N, 5))
    tm = torch.nn.MultiheadAttention(E, 4, kdim=6, vdim=5).double()
    jm = nn.MultiheadAttention(E, 4, kdim=6, vdim=5).double()
    causal = np.triu(np.ones((L, S), dtype=bool), 1)
    padding = np.zeros((N, S), dtype=bool)
    padding[1, 3] = True
    for kwargs in ({"attn_mask": causal}, {"key_padding_mask": padding}, {"need_weights": False},
                   {"average_attn_weights": False, "attn_mask": np.where(causal, -1.5, 0.0)}):
        def ours(m, a, b, c, kwargs=kwargs):
            return m(a, b, c, **{n: jg.tensor(v) if isinstance(v, np.ndarray) else v for n, v in kwargs.items()})

        def theirs(m, a, b, c, kwargs=kwargs):
            return m(a, b, c, **{n: torch.tensor(v) if isinstance(v, np.ndarray) else v for n, v in kwargs.items()})

        compare(ours, theirs, [q, k, v], jm, tm, rtol=1e-10, atol=1e-12)
    unbatched = [RNG.standard_normal((L, E)), RNG.standard_normal((S, 6)), RNG.standard_normal((S, 5))]
    compare(lambda m, *a: m(*a), lambda m, *a: m(*a), unbatched, jm, tm, rtol=1e-10, atol=1e-12)


def test_scaled_dot_product_attention_matches_torch():
    q, k, v = (RNG.standard_normal((2, 3, s, 4)) for s in (5, 6, 6))
    compare(lambda m, *a: F.scaled_dot_product_attention(*a), lambda m, *a: TF.scaled_dot_product_attention(*a),
            [q, k, v], rtol=1e-10, atol=1e-12)
    q = RNG.standard_normal((2, 3, 6, 4))
    compare(lambda m, *a: F.scaled_dot_product_attention(*a, is_causal=True),
            lambda m, *a: TF.scaled_dot_product_attention(*a, is_causal=True), [q, k, v], rtol=1e-10, atol=1e-12)


def test_multihead_attention_errors():
    with pytest.raises(AssertionError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(8, 2)
    with pytest.raises(AssertionError, match="embedding dimension"):
        m(jg.ones(3, 2, 6), jg.ones(3, 2, 6), jg.ones(3, 2, 6))
    with pytest.raises(RuntimeError, match="attn_mask"):
        m(jg.ones(3, 2, 8), jg.ones(4, 2, 8), jg.ones(4, 2, 8), attn_mask=jg.ones(3, 3))
