"""Recurrent layers (torch.nn's RNNCell, LSTMCell, GRUCell, RNN, LSTM, GRU): PyTorch's parameter
names, shapes, gate order and init. The sequence layers project the whole input sequence with one
matmul per layer and direction, then step through time; each step is a few matmuls and
elementwise ops, so compiled mode fuses a step's gate arithmetic into one loop."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import dtypes, prims
from ..core import TensorBase
from ..tensor import Tensor
from . import functional as F  # noqa: N812
from . import functional_activation as FA  # noqa: N812
from . import init
from .module import Module
from .parameter import Parameter

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any

    from .._typing import DTypeLike

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _chunks(x: TensorBase, n: int) -> list:
    """x split into n equal parts along its last dim."""
    size = x.shape[-1] // n
    return [prims.narrow(x, -1, k * size, size) for k in range(n)]


def _step(mode: str, x_proj: TensorBase, state, w_hh: TensorBase, b_hh: TensorBase | None):
    """One time step from the projected input x W_ih^T + b_ih; state is h, or (h, c) for LSTM."""
    h = state[0] if mode == "LSTM" else state
    h_proj = F.linear(h, w_hh, b_hh)
    if mode == "RNN_TANH":
        return prims.tanh(x_proj + h_proj)
    if mode == "RNN_RELU":
        return prims.relu(x_proj + h_proj)
    if mode == "LSTM":
        i, f, g, o = _chunks(x_proj + h_proj, 4)
        c = prims.sigmoid(f) * state[1] + prims.sigmoid(i) * prims.tanh(g)
        return prims.sigmoid(o) * prims.tanh(c), c
    xr, xz, xn = _chunks(x_proj, 3)
    hr, hz, hn = _chunks(h_proj, 3)
    r = prims.sigmoid(xr + hr)
    z = prims.sigmoid(xz + hz)
    n = prims.tanh(xn + r * hn)
    return n + z * (h - n)  # (1 - z) * n + z * h


def _mode(name: str, nonlinearity: str) -> str:
    if name != "RNN":
        return name
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
    return "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"


def _uniform_parameters(module: Module, hidden_size: int) -> None:
    """Every parameter U(-1/sqrt(hidden), 1/sqrt(hidden)), in registration order (PyTorch's init)."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


def _check_sizes(name: str, input_size: int, hidden_size: int) -> None:
    for what, n in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n <= 0:
            raise ValueError(f"{name}: {what} must be a positive int, got {n!r}")


class _CellBase(Module):
    _name = ""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype: DTypeLike = None) -> None:
        super().__init__()
        _check_sizes(self._name, input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.nonlinearity = nonlinearity
        self._mode = _mode(self._name.replace("Cell", ""), nonlinearity)
        gates = _GATES[self._mode] * hidden_size
        dt = dtypes.as_dtype(dtype)
        self.weight_ih = Parameter(Tensor._wrap(np.empty((gates, input_size), dtype=dt)))
        self.weight_hh = Parameter(Tensor._wrap(np.empty((gates, hidden_size), dtype=dt)))
        if bias:
            self.bias_ih = Parameter(Tensor._wrap(np.empty((gates,), dtype=dt)))
            self.bias_hh = Parameter(Tensor._wrap(np.empty((gates,), dtype=dt)))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _uniform_parameters(self, self.hidden_size)

    def _run(self, input: TensorBase, hx):  # noqa: A002
        x = prims.as_tensor_operand(input)
        if x.ndim not in (1, 2):
            raise ValueError(f"{self._name}: Expected input to be 1D or 2D, got {x.ndim}D instead")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"{self._name}: input has inconsistent input_size: got {x.shape[-1]} expected "
                               f"{self.input_size}")
        unbatched = x.ndim == 1
        if unbatched:
            x = prims.unsqueeze(x, 0)
        want = (x.shape[0], self.hidden_size)
        lstm = self._mode == "LSTM"
        if hx is None:
            zeros = prims.as_tensor_operand(np.zeros(want, dtype=x.dtype))
            state = (zeros, zeros) if lstm else zeros
        else:
            parts = tuple(hx) if lstm else (hx,)
            checked = []
            for part in parts:
                part = prims.as_tensor_operand(part)
                part = prims.unsqueeze(part, 0) if unbatched else part
                if tuple(part.shape) != want:
                    raise RuntimeError(f"{self._name}: Expected hidden size {want}, got {list(part.shape)}")
                checked.append(part)
            state = tuple(checked) if lstm else checked[0]
        out = _step(self._mode, F.linear(x, self.weight_ih, self.bias_ih), state, self.weight_hh, self.bias_hh)
        if unbatched:
            return tuple(prims.squeeze(o, 0) for o in out) if lstm else prims.squeeze(out, 0)
        return out

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        text += "" if self.bias else ", bias=False"
        return text + (f", nonlinearity={self.nonlinearity}" if self.nonlinearity != "tanh" else "")


class RNNCell(_CellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""

    _name = "RNNCell"

    def forward(self, input: TensorBase, hx: TensorBase | None = None) -> TensorBase:  # noqa: A002
        return self._run(input, hx)


class LSTMCell(_CellBase):
    """(h', c') from gates i, f, g, o (PyTorch's order in weight_ih/weight_hh)."""

    _name = "LSTMCell"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: DTypeLike = None) -> None:
        super().__init__(input_size, hidden_size, bias, dtype=dtype)

    def forward(self, input: TensorBase, hx: Any = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        return self._run(input, hx)


class GRUCell(_CellBase):
    """h' = (1 - z) n + z h with reset r, update z and n = tanh(x_n + r (h W_hn^T + b_hn))."""

    _name = "GRUCell"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: DTypeLike = None) -> None:
        super().__init__(input_size, hidden_size, bias, dtype=dtype)

    def forward(self, input: TensorBase, hx: TensorBase | None = None) -> TensorBase:  # noqa: A002
        return self._run(input, hx)


class _RNNBase(Module):
    _name = ""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 nonlinearity: str = "tanh", proj_size: int = 0, dtype: DTypeLike = None) -> None:
        super().__init__()
        _check_sizes(self._name, input_size, hidden_size)
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        if not 0.0 <= dropout <= 1.0 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if proj_size:
            raise ValueError("LSTM: proj_size is not supported by jitgrad (use proj_size=0 and a Linear layer)")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.nonlinearity, self.proj_size = bidirectional, nonlinearity, 0
        self.mode = _mode(self._name, nonlinearity)
        gates = _GATES[self.mode] * hidden_size
        directions = 2 if bidirectional else 1
        dt = dtypes.as_dtype(dtype)
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                self.register_parameter(f"weight_ih_l{layer}{suffix}",
                                        Parameter(Tensor._wrap(np.empty((gates, width), dtype=dt))))
                self.register_parameter(f"weight_hh_l{layer}{suffix}",
                                        Parameter(Tensor._wrap(np.empty((gates, hidden_size), dtype=dt))))
                if bias:
                    self.register_parameter(f"bias_ih_l{layer}{suffix}",
                                            Parameter(Tensor._wrap(np.empty((gates,), dtype=dt))))
                    self.register_parameter(f"bias_hh_l{layer}{suffix}",
                                            Parameter(Tensor._wrap(np.empty((gates,), dtype=dt))))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _uniform_parameters(self, self.hidden_size)

    def _weights(self, layer: int, suffix: str) -> tuple:
        p = self._parameters
        return (p[f"weight_ih_l{layer}{suffix}"], p.get(f"bias_ih_l{layer}{suffix}"),
                p[f"weight_hh_l{layer}{suffix}"], p.get(f"bias_hh_l{layer}{suffix}"))

    def _initial_state(self, hx, x: TensorBase, unbatched: bool):
        """The (layers * directions, N, H) initial state(s), zeros when hx is None."""
        directions = 2 if self.bidirectional else 1
        want = (self.num_layers * directions, x.shape[1], self.hidden_size)
        lstm = self.mode == "LSTM"
        if hx is None:
            zeros = prims.as_tensor_operand(np.zeros(want, dtype=x.dtype))
            return [zeros, zeros] if lstm else [zeros]
        if lstm and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise RuntimeError("LSTM: hx must be a tuple (h_0, c_0)")
        states = []
        for part in (hx if lstm else (hx,)):
            part = prims.as_tensor_operand(part)
            if unbatched:
                if part.ndim != 2:
                    raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got {part.ndim}-D "
                                       "tensor")
                part = prims.unsqueeze(part, 1)
            if tuple(part.shape) != want:
                raise RuntimeError(f"Expected hidden size {want}, got {list(part.shape)}")
            states.append(part)
        return states

    def forward(self, input: TensorBase, hx: Any = None) -> tuple[Tensor, Any]:  # noqa: A002
        """(output, h_n) — (output, (h_n, c_n)) for LSTM — PyTorch's shapes and layouts."""
        x = prims.as_tensor_operand(input)
        if x.ndim not in (2, 3):
            raise ValueError(f"{self._name}: Expected input to be 2D or 3D, got {x.ndim}D input instead")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                               f"{x.shape[-1]}")
        unbatched = x.ndim == 2
        if unbatched:
            x = prims.unsqueeze(x, 1)
        elif self.batch_first:
            x = prims.transpose(x, 0, 1)
        states = self._initial_state(hx, x, unbatched)
        lstm = self.mode == "LSTM"
        directions = ("", "_reverse") if self.bidirectional else ("",)
        finals: list = [[] for _ in states]
        steps = x.shape[0]
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0.0 and self.training:
                x = FA.dropout(x, self.dropout)
            outputs = []
            for d, suffix in enumerate(directions):
                w_ih, b_ih, w_hh, b_hh = self._weights(layer, suffix)
                projected = F.linear(x, w_ih, b_ih)  # (L, N, gates): one matmul for all time steps
                k = layer * len(directions) + d
                state = (states[0][k], states[1][k]) if lstm else states[0][k]
                hs = [None] * steps
                for t in (range(steps - 1, -1, -1) if suffix else range(steps)):
                    state = _step(self.mode, projected[t], state, w_hh, b_hh)
                    hs[t] = state[0] if lstm else state
                outputs.append(prims.stack(hs, 0))
                for i, s in enumerate(state if lstm else (state,)):
                    finals[i].append(s)
            x = outputs[0] if len(outputs) == 1 else prims.cat(outputs, -1)
        out = x
        finals = [prims.stack(f, 0) for f in finals]
        if unbatched:
            out = prims.squeeze(out, 1)
            finals = [prims.squeeze(f, 1) for f in finals]
        elif self.batch_first:
            out = prims.transpose(out, 0, 1)
        return out, (tuple(finals) if lstm else finals[0])

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False)):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text


class RNN(_RNNBase):
    """Elman RNN (tanh or relu) over a sequence, num_layers stacked, optionally bidirectional."""

    _name = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: DTypeLike = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         nonlinearity, dtype=dtype)


class LSTM(_RNNBase):
    """LSTM over a sequence: returns (output, (h_n, c_n))."""

    _name = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 dtype: DTypeLike = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size=proj_size, dtype=dtype)


class GRU(_RNNBase):
    """GRU over a sequence: returns (output, h_n)."""

    _name = "GRU"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: DTypeLike = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype=dtype)
