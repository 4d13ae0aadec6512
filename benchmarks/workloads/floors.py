"""Floors of rows (workloads.Floor): NumPy functions doing work that every column of a row has to
do, timed beside the columns, so a goal below what the hardware and its BLAS allow says so."""
from __future__ import annotations

import numpy as np


def mlp_step_gemms(inp: dict):
    """W3S's floor: the two products of the first layer that any implementation of the step computes,
    the forward's W1 x^T (the hidden layer, transposed) and W1's gradient g^T x, through NumPy's
    BLAS into kept buffers, each in its fastest layout here (x W1^T with W1 transposed runs at half
    OpenBLAS's speed: 79 against 46 us)."""
    x, w1 = inp["x"], inp["w1"]
    h_t = np.empty((w1.shape[0], x.shape[0]), x.dtype)
    g = np.ones((x.shape[0], w1.shape[0]), x.dtype)
    gw = np.empty_like(w1)

    def run():
        np.matmul(w1, x.T, out=h_t)
        np.matmul(g.T, x, out=gw)
        return gw
    return run


def transformer_products(inp: dict):
    """TRF's floor: the matrix products of one training step (forward and both gradients of each),
    which every column computes with the same shapes, through NumPy's BLAS into kept buffers: per
    block the qkv, output, and two MLP projections as (batch*ctx, in) @ (in, out) GEMMs plus the
    attention's four batched (batch, heads, ctx, ctx) products (q k^T and att v, and their
    gradients' four), and the output layer's three GEMMs."""
    p = inp["params"]
    batch, ctx = inp["x"].shape
    emb = p["tok"].shape[1]
    tokens, heads = batch * ctx, 4
    rng = np.random.default_rng(0)
    products = []

    def gemm(a_shape, b_shape):
        a = rng.standard_normal(a_shape).astype(np.float32)
        b = rng.standard_normal(b_shape).astype(np.float32)
        products.append((a, b, np.empty(a_shape[:-1] + b_shape[-1:], np.float32)))

    def layer(n_in, n_out):   # y = x w; dx = dy w^T; dw = x^T dy
        gemm((tokens, n_in), (n_in, n_out))
        gemm((tokens, n_out), (n_out, n_in))
        gemm((n_in, tokens), (tokens, n_out))

    stack = (batch, heads, ctx, ctx)
    for i in range(inp["layers"]):
        for w in (f"w_qkv{i}", f"w_o{i}", f"w_ff1{i}", f"w_ff2{i}"):
            layer(*p[w].shape)
        for _ in range(6):    # q k^T, att v; d(att) = d(o) v^T, dv = att^T d(o), dq = d(s) k, dk = d(s)^T q
            gemm(stack, stack)
    layer(emb, p["w_out"].shape[1])

    def run():
        for a, b, out in products:
            np.matmul(a, b, out=out)
        return out
    run.products = products   # (the tests count them)
    return run
