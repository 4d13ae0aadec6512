"""Real models for the model rows, written once over a namespace `m` (jitgrad or torch: the
same code runs on both, so both columns compute the same thing with the same weights): a
character-level MLP with an embedding table, a GRU language model and a 2-layer Transformer,
each returning its mean cross-entropy loss; and an embedding lookup (its backward is the
scatter-add of repeated rows)."""
from __future__ import annotations

import numpy as np

VOCAB = 27
MLP_PARAMS = ("emb", "w1", "b1", "w2", "b2")
GRU_PARAMS = ("emb", "w_z", "b_z", "w_r", "b_r", "w_n", "b_n", "w_out", "b_out")
LAYER_PARAMS = ("ln1_g", "ln1_b", "w_qkv", "w_o", "ln2_g", "ln2_b", "w_ff1", "b_ff1", "w_ff2", "b_ff2")
HEADS = 4


def transformer_params(layers: int) -> tuple[str, ...]:
    names = ["tok", "pos"]
    for i in range(layers):
        names += [f"{n}{i}" for n in LAYER_PARAMS]
    return tuple(names + ["lnf_g", "lnf_b", "w_out"])


def cross_entropy(m, logits, targets):
    """Mean of -log softmax(logits)[target] over the rows (logsumexp with the max subtracted)."""
    top = logits.amax(-1, keepdim=True)
    logp = logits - (m.exp(logits - top).sum(-1, keepdim=True).log() + top)
    return -logp.gather(1, targets.reshape(-1, 1)).mean()


def char_mlp(m, p: dict, x, y):
    """x: (batch, 3) character indices -> embeddings (batch, 30) -> tanh(200) -> logits (27)."""
    e = p["emb"][x].reshape(x.shape[0], -1)
    h = m.tanh(e @ p["w1"] + p["b1"])
    return cross_entropy(m, h @ p["w2"] + p["b2"], y)


def gru_lm(m, p: dict, x, y, hidden: int):
    """A 1-layer GRU over x: (batch, T) indices, predicting y: (batch, T); cat, sigmoid, tanh."""
    batch, steps = x.shape
    h = m.zeros((batch, hidden), dtype=p["w_z"].dtype)
    loss = 0.0
    for t in range(steps):
        e = p["emb"][x[:, t]]
        xh = m.cat([e, h], 1)
        z = m.sigmoid(xh @ p["w_z"] + p["b_z"])
        r = m.sigmoid(xh @ p["w_r"] + p["b_r"])
        n = m.tanh(m.cat([e, r * h], 1) @ p["w_n"] + p["b_n"])
        h = (1 - z) * n + z * h
        loss = loss + cross_entropy(m, h @ p["w_out"] + p["b_out"], y[:, t])
    return loss / steps


def _layer_norm(x, g, b):
    mu = x.mean(-1, keepdim=True)
    d = x - mu
    return d / ((d * d).mean(-1, keepdim=True) + 1e-5).sqrt() * g + b


def transformer(m, p: dict, x, y, layers: int, causal: np.ndarray):
    """Token + position embeddings, `layers` pre-norm blocks (4-head causal attention, ReLU MLP),
    a final layer norm and the output projection; 3-D @ 2-D and 4-D batched matmuls."""
    batch, ctx = x.shape
    emb = p["tok"].shape[1]
    hd = emb // HEADS
    h = p["tok"][x] + p["pos"]
    for i in range(layers):
        a = _layer_norm(h, p[f"ln1_g{i}"], p[f"ln1_b{i}"])
        qkv = (a @ p[f"w_qkv{i}"]).reshape(batch, ctx, 3, HEADS, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = (q @ k.transpose(-1, -2)) * (1.0 / hd ** 0.5)
        att = m.where(causal, att, -1e9)
        att = m.exp(att - att.amax(-1, keepdim=True))
        att = att / att.sum(-1, keepdim=True)
        o = (att @ v).permute(0, 2, 1, 3).reshape(batch, ctx, emb)
        h = h + o @ p[f"w_o{i}"]
        f = _layer_norm(h, p[f"ln2_g{i}"], p[f"ln2_b{i}"])
        h = h + m.relu(f @ p[f"w_ff1{i}"] + p[f"b_ff1{i}"]) @ p[f"w_ff2{i}"] + p[f"b_ff2{i}"]
    logits = _layer_norm(h, p["lnf_g"], p["lnf_b"]) @ p["w_out"]
    return cross_entropy(m, logits.reshape(batch * ctx, -1), y.reshape(-1))


def embedding(m, p: dict, x, g):
    """sum(table[x] * g): its gradient is g scattered into the table rows x names."""
    return (p["emb"][x] * g).sum()


def run_model(name: str, m, p: dict, inp: dict, causal=None):
    """The loss of model `name` on the row's batch (shared by every column)."""
    if name == "MLPE":
        return char_mlp(m, p, inp["x"], inp["y"])
    if name == "GRU":
        return gru_lm(m, p, inp["x"], inp["y"], inp["hidden"])
    if name == "TRF":
        return transformer(m, p, inp["x"], inp["y"], inp["layers"], causal)
    return embedding(m, p, inp["x"], inp["g"])


def param_names(name: str, inp: dict) -> tuple[str, ...]:
    return {"MLPE": MLP_PARAMS, "GRU": GRU_PARAMS, "EMB": ("emb",)}.get(name) or transformer_params(inp["layers"])
