"""L-BFGS (closure-based, optional strong-Wolfe line search): PyTorch's algorithm over the flat
vector of all parameters, in NumPy. One parameter group; parameters in CPU memory."""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .. import core
from ..grad_mode import enable_grad, no_grad
from ..tensor import Tensor
from .line_search import strong_wolfe
from .optimizer import Optimizer

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any


class LBFGS(Optimizer):
    """Each step(closure) runs up to max_iter quasi-Newton iterations: the direction from the last
    history_size (s, y) pairs by the two-loop recursion, a step of lr (the first one scaled by
    ``1/|g|_1``) or a strong-Wolfe line search, stopping on the gradient/change tolerances."""

    def __init__(self, params: Any, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def _validate(self, group: dict) -> None:
        if not 0.0 <= group["lr"]:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise RuntimeError(f"only 'strong_wolfe' is supported as line_search_fn, got {group['line_search_fn']!r}")
        for name in ("max_iter", "max_eval", "history_size"):
            if not isinstance(group[name], int) or group[name] < 1:
                raise ValueError(f"Invalid {name} value: {group[name]} (must be a positive integer)")
        for p in group["params"]:
            if not core.on_host(p._data):
                raise RuntimeError("LBFGS updates parameters in CPU memory only; move the model with .cpu() first")

    def _import_state(self, name: str, value, p):
        """LBFGS state holds flat vectors (and lists of them) over all parameters, not per-parameter tensors."""
        if isinstance(value, (list, tuple)):
            return [self._import_state(name, v, p) for v in value]
        if isinstance(value, core.TensorBase):
            return Tensor._wrap(np.array(core.host_array(value.detach()._data), dtype=p.dtype, copy=True))
        return copy.deepcopy(value)

    # ----- the flat parameter vector -----------------------------------------------------------------

    def _flat_grad(self) -> np.ndarray:
        return np.concatenate([np.zeros(p._data.size, p.dtype) if p._grad is None
                               else np.asarray(p._grad._data).reshape(-1) for p in self._params])

    def _add_to_params(self, step_size, direction: np.ndarray) -> None:
        offset = 0
        for p in self._params:
            n = p._data.size
            p._data += step_size * direction[offset:offset + n].reshape(p.shape)
            p._version_counter.bump("optimizer.step")
            offset += n

    def _set_params(self, values: list) -> None:
        for p, v in zip(self._params, values, strict=True):
            np.copyto(p._data, v)
            p._version_counter.bump("optimizer.step")

    def _evaluate(self, closure: Callable) -> float:
        with enable_grad():
            return float(closure())

    def _directional_evaluate(self, closure: Callable, x: list, t, d: np.ndarray) -> tuple:
        """Loss and flat gradient at x + t*d; the parameters are put back to x afterwards."""
        self._add_to_params(t, d)
        loss = self._evaluate(closure)
        flat_grad = self._flat_grad()
        self._set_params(x)
        return loss, flat_grad

    # ----- the step ----------------------------------------------------------------------------------

    def step(self, closure: Callable) -> Any:
        """Run up to max_iter iterations; `closure` clears the gradients, recomputes the loss, calls
        backward() and returns the loss. Returns the loss of the first evaluation."""
        if not callable(closure):
            raise TypeError("LBFGS.step requires a closure that re-evaluates the model and returns the loss")
        with no_grad():
            return self._step(closure)

    def _step(self, closure: Callable):
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        d = _array(state.get("d"))
        t = state.get("t")
        old_dirs = [_array(v) for v in state.get("old_dirs", [])]
        old_stps = [_array(v) for v in state.get("old_stps", [])]
        ro = list(state.get("ro", []))
        h_diag = state.get("H_diag")
        prev_flat_grad = _array(state.get("prev_flat_grad"))
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1
            else:
                d, h_diag = _two_loop_direction(flat_grad, prev_flat_grad, d, t, old_dirs, old_stps, ro, h_diag,
                                                history_size)
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:  # not a descent direction
                break

            ls_func_evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x_init = [p._data.copy() for p in self._params]

                def objective(x, step, direction):
                    return self._directional_evaluate(closure, x, step, direction)

                loss, flat_grad, t, ls_func_evals = strong_wolfe(objective, x_init, t, d, loss, flat_grad, gtd,
                                                                 max_ls=max_eval - current_evals)
                self._add_to_params(t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_to_params(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    loss = self._evaluate(closure)
                    flat_grad = self._flat_grad()
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=_tensor(d), t=t, old_dirs=[_tensor(v) for v in old_dirs],
                     old_stps=[_tensor(v) for v in old_stps], ro=ro, H_diag=h_diag,
                     prev_flat_grad=_tensor(prev_flat_grad), prev_loss=prev_loss)
        return orig_loss


def _two_loop_direction(flat_grad, prev_flat_grad, d, t, old_dirs: list, old_stps: list, ro: list, h_diag,
                        history_size: int) -> tuple:
    """Update the (y, s) history with the last step (when y.s > 1e-10, the curvature condition) and
    return the new direction -H g by the two-loop recursion, and the new initial Hessian scale."""
    y = flat_grad - prev_flat_grad
    s = d * t
    ys = y.dot(s)
    if ys > 1e-10:
        if len(old_dirs) == history_size:
            old_dirs.pop(0)
            old_stps.pop(0)
            ro.pop(0)
        old_dirs.append(y)
        old_stps.append(s)
        ro.append(1.0 / ys)
        h_diag = ys / y.dot(y)
    al = [None] * len(old_dirs)
    q = -flat_grad
    for i in range(len(old_dirs) - 1, -1, -1):
        al[i] = old_stps[i].dot(q) * ro[i]
        q += -al[i] * old_dirs[i]
    r = q * h_diag
    for i in range(len(old_dirs)):
        be_i = old_dirs[i].dot(r) * ro[i]
        r += (al[i] - be_i) * old_stps[i]
    return r, h_diag


def _array(value):
    """A state vector as a NumPy array (state holds Tensors, so state_dict() and jg.save see tensors)."""
    return value._data if isinstance(value, core.TensorBase) else value


def _tensor(value):
    return Tensor._wrap(value) if isinstance(value, np.ndarray) else value
