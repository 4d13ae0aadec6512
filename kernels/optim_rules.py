"""Optimizer update rules, each written ONCE as elementwise arithmetic (PyTorch's update rules).

A rule is `rule(p, g, state, h, f, ops) -> (new p, {state name: new value})`:
* p, g and the values of `state` are arrays of one parameter, its gradient and its state, of
  whatever kind the caller renders the rule with: NumPy arrays (eager NumPy update), jitgrad
  Tensors while tracing (the update as IR, inside a compiled training step), or scalar
  expressions (the source of the fused Numba loop, see kernels/optim.py);
* h: float hyper-parameters by name (numbers in the parameter's dtype, or runtime inputs of a
  compiled step, so changing the learning rate does not recompile);
* f: static flags by name (which terms the update has: a branch here, not in the arrays);
* ops: `sqrt` and `maximum` of the caller's array kind.
Only Python operators and `ops.*` appear, so every renderer gives the same arithmetic in the
same order. Imports nothing (kernels/ imports nothing from jitgrad).
"""
from __future__ import annotations


def sgd(p, g, state: dict, h: dict, f: dict, ops):
    """d = g (negated to maximize) + weight_decay*p; buf = buf_keep*buf + d_keep*d (buf_keep 0 and
    d_keep 1 on the first step: buf = d; else momentum and 1-dampening); d = d + momentum*buf
    (Nesterov) or buf; p - lr*d."""
    d = -g if f["maximize"] else g
    if f["weight_decay"]:
        d = d + h["weight_decay"] * p
    new_state = {}
    if f["momentum"]:
        buf = h["buf_keep"] * state["momentum_buffer"] + h["d_keep"] * d
        new_state["momentum_buffer"] = buf
        d = d + h["momentum"] * buf if f["nesterov"] else buf
    return p - h["lr"] * d, new_state


def adam(p, g, state: dict, h: dict, f: dict, ops):
    """Adam/AdamW: m += (1-b1)(d-m); v = b2 v + (1-b2) d^2 (v's running max under amsgrad);
    p - step_size * m / (sqrt(v)/bc2_sqrt + eps), with step_size = lr/(1-b1^t) and
    bc2_sqrt = sqrt(1-b2^t). AdamW first scales p by decay = 1-lr*weight_decay; Adam adds
    weight_decay*p to d."""
    d = -g if f["maximize"] else g
    if f["weight_decay"]:
        if f["decoupled"]:
            p = p * h["decay"]
        else:
            d = d + h["weight_decay"] * p
    m = state["exp_avg"]
    m = m + h["one_minus_beta1"] * (d - m)
    v = h["beta2"] * state["exp_avg_sq"] + h["one_minus_beta2"] * d * d
    new_state = {"exp_avg": m, "exp_avg_sq": v}
    if f["amsgrad"]:
        v = ops.maximum(state["max_exp_avg_sq"], v)
        new_state["max_exp_avg_sq"] = v
    return p - h["step_size"] * m / (ops.sqrt(v) / h["bc2_sqrt"] + h["eps"]), new_state
