"""Inputs of every workload as float32 NumPy arrays, made from a fixed seed (one maker per workload)."""
from __future__ import annotations

import numpy as np

F32 = np.float32
SEED = 20240611

# W2: the classic Fahrenheit -> Celsius data set (X in the unknown unit, Y in Celsius).
W2_X = (35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4)
W2_Y = (0.5, 14.0, 15.0, 28.0, 11.0, 8.0, 3.0, -4.0, 6.0, 13.0, 21.0)
W2_PARAMS = (1.0, 0.01)
W2_LR = 1e-4
W2_EPOCHS = 330_000
W2_LANDING = (2.9279, (np.array([0.5358, -17.2503], dtype=F32),))  # final loss, (params,)

RNN_COLUMNS = 64


def _rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def sin_sum(n: int) -> dict:
    """W1: a = linspace(0, 2 pi, n); out = sum(2 sin a + 1), grad w.r.t. a."""
    return {"a": np.linspace(0.0, 2.0 * np.pi, n, dtype=F32)}


def regression(epochs: int) -> dict:
    """W2: y = w x + b fitted by SGD on the MSE loss for `epochs` epochs."""
    return {"x": np.array(W2_X, dtype=F32), "y": np.array(W2_Y, dtype=F32),
            "params": np.array(W2_PARAMS, dtype=F32), "lr": W2_LR, "epochs": int(epochs)}


def _linear_init(rng: np.random.Generator, fan_out: int, fan_in: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's nn.Linear default: weight and bias uniform in +-1/sqrt(fan_in)."""
    bound = 1.0 / np.sqrt(fan_in)
    w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(F32)
    b = rng.uniform(-bound, bound, fan_out).astype(F32)
    return w, b


def mlp(batch: int) -> dict:
    """W3: Linear(1000->100) - ReLU - Linear(100->10), mean squared error to a target."""
    rng = _rng()
    w1, b1 = _linear_init(rng, 100, 1000)
    w2, b2 = _linear_init(rng, 10, 100)
    return {"x": rng.standard_normal((batch, 1000), dtype=F32), "target": rng.standard_normal((batch, 10), dtype=F32),
            "w1": w1, "b1": b1, "w2": w2, "b2": b2}


MLP_STEP_LR = 0.01


def mlp_step(batch: int) -> dict:
    """W3S: one SGD step (lr MLP_STEP_LR) of W3's MLP."""
    return {**mlp(batch), "lr": MLP_STEP_LR}


def chain(n: int) -> dict:
    """W4: mean(tanh(x y + sin x) exp(-x^2) + log1p(y^2)) over n elements."""
    rng = _rng()
    return {"x": rng.standard_normal(n, dtype=F32), "y": rng.standard_normal(n, dtype=F32)}


def rnn(n: int) -> dict:
    """W5: sum(tanh(W_h h + W_x x)); W_h, W_x are n x n, h and x are n x 64 (fewer columns when n < 64).

    Weights are scaled by 1/sqrt(n) so tanh is not saturated and the gradients are not all tiny.
    """
    rng = _rng()
    cols = min(RNN_COLUMNS, n)
    scale = F32(1.0 / np.sqrt(n))
    return {"w_h": rng.standard_normal((n, n), dtype=F32) * scale, "h": rng.standard_normal((n, cols), dtype=F32),
            "w_x": rng.standard_normal((n, n), dtype=F32) * scale, "x": rng.standard_normal((n, cols), dtype=F32)}


def div_mul_loop(steps: int) -> dict:
    """W6: z = ones(2, 3); `steps` times z = (z / x) * y; value z.sum(), grads w.r.t. x and y.

    x and y lie in [0.999, 1.001], so (y / x) ** steps stays near 1 for 1000 steps: no overflow.
    """
    rng = _rng()
    return {"x": rng.uniform(0.999, 1.001, (2, 3)).astype(F32), "y": rng.uniform(0.999, 1.001, (2, 3)).astype(F32),
            "z0": np.ones((2, 3), dtype=F32), "steps": int(steps)}


def tiny_chain(ops: int) -> dict:
    """OH: z = x; `ops` times z = z * y on 4 elements, then z.sum() backward: the per-op cost of eager mode."""
    rng = _rng()
    return {"x": rng.uniform(0.5, 1.5, 4).astype(F32), "y": rng.uniform(0.99, 1.01, 4).astype(F32), "ops": int(ops)}


def conv(batch: int) -> dict:
    """W7: sum(conv2d(x, w, b, padding=1) * r): a 3x3 convolution 64->64 channels on 32x32 images,
    forward and backward (r is a fixed cotangent)."""
    rng = _rng()
    bound = 1.0 / np.sqrt(64 * 9)
    return {"x": rng.standard_normal((batch, 64, 32, 32), dtype=F32),
            "w": rng.uniform(-bound, bound, (64, 64, 3, 3)).astype(F32),
            "b": rng.uniform(-bound, bound, 64).astype(F32),
            "r": rng.standard_normal((batch, 64, 32, 32), dtype=F32)}


def resnet(batch: int) -> dict:
    """W8: one training step of the tutorial's ResNet-18 (batch of 3x64x64 images, loss
    sum(prediction - labels), SGD lr 1e-2 momentum 0.9) from jitgrad's seeded initialisation.
    Checked: the loss and fc.weight after the step (the first convolution's gradient passes through
    batch norms that nearly cancel a constant upstream gradient: in float32 it is rounding noise)."""
    import jitgrad  # noqa: PLC0415 - only this workload needs a model's initial weights
    rng = _rng()
    jitgrad.manual_seed(SEED)
    state = {k: v.numpy().copy() for k, v in jitgrad.models.resnet18().state_dict().items()}
    return {"x": rng.random((batch, 3, 64, 64), dtype=F32), "labels": rng.random((batch, 1000), dtype=F32),
            "state": state, "lr": 1e-2, "momentum": 0.9}


def _uniform(rng, shape, fan_in) -> np.ndarray:
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape).astype(F32)


def char_mlp(batch: int) -> dict:
    """MLPE: character MLP, context 3, embedding 10, hidden 200, vocabulary 27."""
    rng = _rng()
    return {"x": rng.integers(0, 27, (batch, 3)), "y": rng.integers(0, 27, batch),
            "params": {"emb": rng.standard_normal((27, 10), dtype=F32), "w1": _uniform(rng, (30, 200), 30),
                       "b1": _uniform(rng, 200, 30), "w2": _uniform(rng, (200, 27), 200),
                       "b2": _uniform(rng, 27, 200)}}


def gru_lm(batch: int, hidden: int = 64, steps: int = 16, emb: int = 10) -> dict:
    """GRU: a 1-layer GRU language model, hidden 64, T = 16, embedding 10, vocabulary 27."""
    rng = _rng()
    params = {"emb": rng.standard_normal((27, emb), dtype=F32)}
    for gate in ("z", "r", "n"):
        params[f"w_{gate}"] = _uniform(rng, (emb + hidden, hidden), hidden)
        params[f"b_{gate}"] = _uniform(rng, hidden, hidden)
    params["w_out"], params["b_out"] = _uniform(rng, (hidden, 27), hidden), _uniform(rng, 27, hidden)
    return {"x": rng.integers(0, 27, (batch, steps)), "y": rng.integers(0, 27, (batch, steps)),
            "hidden": hidden, "params": params}


def transformer(batch: int, emb: int = 64, ctx: int = 16, layers: int = 2) -> dict:
    """TRF: 2 pre-norm Transformer blocks, embedding 64, 4 heads, context 16, vocabulary 27."""
    rng = _rng()
    p = {"tok": (rng.standard_normal((27, emb)) * 0.1).astype(F32),
         "pos": (rng.standard_normal((ctx, emb)) * 0.1).astype(F32)}
    for i in range(layers):
        p[f"ln1_g{i}"], p[f"ln1_b{i}"] = np.ones(emb, F32), np.zeros(emb, F32)
        p[f"w_qkv{i}"] = _uniform(rng, (emb, 3 * emb), emb)
        p[f"w_o{i}"] = _uniform(rng, (emb, emb), emb)
        p[f"ln2_g{i}"], p[f"ln2_b{i}"] = np.ones(emb, F32), np.zeros(emb, F32)
        p[f"w_ff1{i}"], p[f"b_ff1{i}"] = _uniform(rng, (emb, 4 * emb), emb), _uniform(rng, 4 * emb, emb)
        p[f"w_ff2{i}"], p[f"b_ff2{i}"] = _uniform(rng, (4 * emb, emb), 4 * emb), _uniform(rng, emb, 4 * emb)
    p["lnf_g"], p["lnf_b"] = np.ones(emb, F32), np.zeros(emb, F32)
    p["w_out"] = _uniform(rng, (emb, 27), emb)
    return {"x": rng.integers(0, 27, (batch, ctx)), "y": rng.integers(0, 27, (batch, ctx)), "layers": layers,
            "causal": np.tril(np.ones((ctx, ctx), dtype=bool)), "params": p}


def embedding(batch: int) -> dict:
    """EMB: a 27 x 10 embedding table looked up at (batch, 3) indices, backward included."""
    rng = _rng()
    return {"x": rng.integers(0, 27, (batch, 3)), "g": rng.standard_normal((batch, 3, 10), dtype=F32),
            "params": {"emb": rng.standard_normal((27, 10), dtype=F32)}}
