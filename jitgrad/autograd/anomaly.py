"""Anomaly detection (PyTorch's detect_anomaly): while on, every recorded graph node keeps the
forward stack that created it, and a backward node that returns NaN/Inf (or raises) is reported
together with the user's forward line. Off by default; when off the engine pays nothing beyond
one `is None` check per recorded node and per backward call.

Unlike PyTorch, which only looks for NaN, `check_nan=True` also rejects +-Inf: an infinite
gradient (for instance from `log(0)`) is almost always the bug being hunted.
"""
from __future__ import annotations

import functools
import os
import traceback
import warnings
from typing import TYPE_CHECKING

import numpy as np

from .. import autodiff, core

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from collections.abc import Callable
    from typing import Any

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_TRACE_KEY = "traceback_"  # the key PyTorch uses in grad_fn.metadata
_state = {"enabled": False, "check_nan": True}


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on (it is global, as in PyTorch, not per thread)."""
    return _state["enabled"]


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly mode also checks backward results for NaN/Inf."""
    return _state["check_nan"]


def _apply(enabled: bool, check_nan: bool) -> None:
    _state["enabled"] = bool(enabled)
    _state["check_nan"] = bool(check_nan)
    core.record_hook[0] = _record_stack if enabled else None
    autodiff.anomaly_hook[0] = _check_node if enabled else None


def _user_stack() -> traceback.StackSummary:
    """The current stack without the trailing frames inside jitgrad itself."""
    stack = traceback.extract_stack()
    end = len(stack)
    while end > 0 and stack[end - 1].filename.startswith(_PACKAGE_DIR):
        end -= 1
    return traceback.StackSummary.from_list(stack[:end])


def _record_stack(node) -> None:
    node.metadata[_TRACE_KEY] = _user_stack()


def forward_trace(node) -> str:
    """The forward stack recorded for `node` as text ('' when it was created with anomaly mode off)."""
    stack = node.metadata.get(_TRACE_KEY) if node._metadata is not None else None
    if not stack:
        return ""
    return "Traceback of forward call that caused the error:\n" + "".join(stack.format())


def _non_finite(data) -> str | None:
    if type(data) is not np.ndarray or data.dtype.kind not in "fc":
        return None  # symbolic (traced) values and integer tensors cannot be checked
    if np.isnan(data).any():
        return "nan"
    if np.isinf(data).any():
        return "inf"
    return None


def _check_node(node, result) -> None:
    """autodiff.anomaly_hook: explain a raising node; reject NaN/Inf in a node's results."""
    if isinstance(result, BaseException):
        trace = forward_trace(node)
        if trace:
            if hasattr(result, "add_note"):
                result.add_note(trace)
            try:
                warnings.warn(f"Error detected in {node.name()}. {trace}", RuntimeWarning, stacklevel=3)
            except Warning:
                pass  # warnings are errors here: the node's own exception (with the trace as a note) is raised
        return
    if not _state["check_nan"]:
        return
    for i, g in enumerate(result):
        if g is None or not hasattr(g, "_data"):  # (no gradient, or a symbolic zero)
            continue
        kind = _non_finite(g._data)
        if kind is not None:
            message = f"Function '{node.name()}' returned {kind} values in its {i}th output."
            trace = forward_trace(node)
            if trace:
                message += "\n\n" + trace
            else:
                message += ("\n(no forward trace: the graph was recorded before anomaly mode was turned "
                            "on; run the forward pass inside detect_anomaly() to see the line)")
            raise RuntimeError(message)


class _AnomalyContext:
    """Base of the two context managers: restores the previous mode on exit."""

    _saved: tuple

    def __exit__(self, *exc) -> bool:
        _apply(*self._saved)
        return False


class detect_anomaly(_AnomalyContext):  # noqa: N801 - PyTorch's name
    """Context manager (or decorator) turning anomaly detection on for the enclosed code."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = bool(check_nan)
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime and should "
                      "only be enabled for debugging.", UserWarning, stacklevel=2)

    def __enter__(self):
        self._saved = (_state["enabled"], _state["check_nan"])
        _apply(True, self.check_nan)
        return self

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        check_nan = self.check_nan

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            saved = (_state["enabled"], _state["check_nan"])
            _apply(True, check_nan)
            try:
                return fn(*args, **kwargs)
            finally:
                _apply(*saved)

        return wrapper


class set_detect_anomaly(_AnomalyContext):  # noqa: N801
    """`set_detect_anomaly(True)` switches anomaly mode now; as a context manager it restores on exit."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self._saved = (_state["enabled"], _state["check_nan"])
        _apply(mode, check_nan)

    def __enter__(self):
        return self
