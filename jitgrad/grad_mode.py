"""Thread-local grad mode: no_grad, enable_grad, set_grad_enabled, is_grad_enabled, inference_mode."""
from __future__ import annotations

import functools
import inspect
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from collections.abc import Callable
    from typing import Any


class _GradState(threading.local):
    enabled = True
    inference = False


_state = _GradState()


def is_grad_enabled() -> bool:
    """Whether operations record the autograd graph in this thread.

    Example:
        >>> jg.is_grad_enabled()
        True
        >>> with jg.no_grad():
        ...     print(jg.is_grad_enabled())
        ...
        False
    """
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

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return _decorated(fn, type(self))


class no_grad(_GradModeContext):  # noqa: N801 - PyTorch's name
    """Disable graph recording (context manager or decorator).

    Example:
        >>> x = jg.tensor([1.0], requires_grad=True)
        >>> with jg.no_grad():
        ...     y = x * 2
        ...
        >>> y.requires_grad
        False
    """

    _target = False


class enable_grad(_GradModeContext):  # noqa: N801
    """Enable graph recording inside a no_grad region (context manager or decorator).

    Example:
        >>> x = jg.tensor([1.0], requires_grad=True)
        >>> with jg.no_grad():
        ...     with jg.enable_grad():
        ...         y = x * 2
        ...
        >>> y.requires_grad
        True
    """

    _target = True


class set_grad_enabled(_GradModeContext):  # noqa: N801
    """`set_grad_enabled(False)` switches grad mode now; as a context manager it restores on exit.

    Example:
        >>> x = jg.tensor([1.0], requires_grad=True)
        >>> with jg.set_grad_enabled(False):
        ...     y = x * 2
        ...
        >>> y.requires_grad
        False
    """

    def __init__(self, mode: bool):
        self._target = bool(mode)
        self._prev = _state.enabled
        _state.enabled = self._target

    def __enter__(self):
        return self

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        _state.enabled = self._prev
        mode = self._target
        return _decorated(fn, lambda: set_grad_enabled(mode))


class inference_mode:  # noqa: N801
    """no_grad for code that will never need gradients (PyTorch's inference_mode): no graph is
    recorded inside, and is_inference_mode_enabled() says so. inference_mode(False) changes
    nothing. A context manager or a decorator (with or without parentheses).

    Example:
        >>> w = jg.ones(2, requires_grad=True)
        >>> with jg.inference_mode():
        ...     y = w * 2
        >>> y.requires_grad
        False
    """

    def __new__(cls, mode=True):
        if callable(mode) and not isinstance(mode, bool):  # @inference_mode without parentheses
            return _decorated(mode, cls)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)

    def __enter__(self):
        self._prev = (_state.enabled, _state.inference)
        if self.mode:
            _state.enabled, _state.inference = False, True
        return self

    def __exit__(self, *exc):
        _state.enabled, _state.inference = self._prev
        return False

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        mode = self.mode
        return _decorated(fn, lambda: inference_mode(mode))


def is_inference_mode_enabled() -> bool:
    """Whether this thread is inside an inference_mode() region.

    Example:
        >>> with jg.inference_mode():
        ...     print(jg.is_inference_mode_enabled())
        True
    """
    return _state.inference


def _decorated(fn, make_mode):
    """`fn` run under the grad mode that `make_mode()` enters; for a generator function, the mode
    holds around each resumption of the generator (as PyTorch does), not only around its creation."""
    if not inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with make_mode():
                return fn(*args, **kwargs)

        return wrapper

    @functools.wraps(fn)
    def generator_wrapper(*args, **kwargs):
        gen = fn(*args, **kwargs)
        try:
            with make_mode():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with make_mode():
                        gen.close()
                    raise
                except BaseException as exc:  # thrown into the wrapper: forward it, under the mode
                    with make_mode():
                        response = gen.throw(exc)
                else:
                    with make_mode():
                        response = gen.send(request)
        except StopIteration as stop:
            return stop.value

    return generator_wrapper
