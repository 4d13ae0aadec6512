"""Thread-local grad mode: no_grad, enable_grad, set_grad_enabled, is_grad_enabled."""
from __future__ import annotations

import functools
import threading


class _GradState(threading.local):
    enabled = True


_state = _GradState()


def is_grad_enabled() -> bool:
    """Whether operations record the autograd graph in this thread."""
    return _state.enabled


class _GradModeContext:
    """Base for the grad-mode context managers; also usable as a decorator."""

    _target: bool

    def __enter__(self):
        self._prev = _state.enabled
        _state.enabled = self._target
        return self

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):  # noqa: N801 - PyTorch's name
    """Disable graph recording (context manager or decorator)."""

    _target = False


class enable_grad(_GradModeContext):  # noqa: N801
    """Enable graph recording inside a no_grad region (context manager or decorator)."""

    _target = True


class set_grad_enabled(_GradModeContext):  # noqa: N801
    """`set_grad_enabled(False)` switches grad mode now; as a context manager it restores on exit."""

    def __init__(self, mode: bool):
        self._target = bool(mode)
        self._prev = _state.enabled
        _state.enabled = self._target

    def __enter__(self):
        return self

    def __call__(self, fn):
        _state.enabled = self._prev
        mode = self._target

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper
