"""Anomaly detection: forward stacks on graph nodes, NaN/Inf in backward caught with the line that
created the node, errors inside backward annotated, and nothing recorded when off."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import autodiff, core
from jitgrad.autograd import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from jitgrad.autograd.anomaly import is_anomaly_check_nan_enabled


@pytest.fixture(autouse=True)
def _anomaly_off_after_each_test():
    yield
    set_detect_anomaly(False)


def _quiet_detect(**kwargs):
    """detect_anomaly() without its (PyTorch-like) 'this is slow' warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return detect_anomaly(**kwargs)


def test_planted_log_of_zero_is_caught_with_the_forward_line():
    x = jg.tensor([0.0, 1.0], requires_grad=True)
    with _quiet_detect():
        y = x.log()  # the planted anomaly: d log(x)/dx = 1/0 at x = 0
        with pytest.raises(RuntimeError) as info:
            y.sum().backward()
    message = str(info.value)
    assert "Function 'LogBackward0' returned inf values in its 0th output." in message
    assert "Traceback of forward call that caused the error" in message
    assert "test_anomaly.py" in message and "y = x.log()" in message
    assert "jitgrad/tensor.py" not in message  # the user's frames, not jitgrad's internals


def test_nan_in_backward_matches_torch_message():
    torch = pytest.importorskip("torch")
    xt = torch.tensor([-1.0, 4.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autograd.detect_anomaly(), pytest.raises(RuntimeError) as theirs:
            xt.sqrt().sum().backward()
    x = jg.tensor([-1.0, 4.0], requires_grad=True)
    with _quiet_detect(), pytest.raises(RuntimeError) as ours:
        x.sqrt().sum().backward()
    first_line = str(theirs.value).splitlines()[0]
    assert first_line == "Function 'SqrtBackward0' returned nan values in its 0th output."
    assert str(ours.value).splitlines()[0] == first_line


def test_turning_it_off_restores_silent_infinities():
    x = jg.tensor([0.0, 1.0], requires_grad=True)
    with _quiet_detect():
        pass
    assert not is_anomaly_enabled()
    x.log().sum().backward()
    assert np.isinf(x.grad.numpy()[0])


def test_no_cost_when_off():
    assert core.record_hook[0] is None and autodiff.anomaly_hook[0] is None
    y = jg.ones(2, requires_grad=True) * 2
    assert y.grad_fn._metadata is None  # no stack captured, no dict even allocated
    with _quiet_detect():
        assert core.record_hook[0] is not None and autodiff.anomaly_hook[0] is not None
        z = jg.ones(2, requires_grad=True) * 2
    assert "traceback_" in z.grad_fn.metadata
    assert core.record_hook[0] is None and autodiff.anomaly_hook[0] is None


def test_set_detect_anomaly_function_and_context_manager():
    assert not is_anomaly_enabled()
    set_detect_anomaly(True)
    assert is_anomaly_enabled() and is_anomaly_check_nan_enabled()
    with set_detect_anomaly(False):
        assert not is_anomaly_enabled()
    assert is_anomaly_enabled()
    set_detect_anomaly(False)
    assert not is_anomaly_enabled()
    with set_detect_anomaly(True, check_nan=False):
        assert is_anomaly_enabled() and not is_anomaly_check_nan_enabled()
    assert not is_anomaly_enabled() and is_anomaly_check_nan_enabled()


def test_detect_anomaly_warns_like_torch_and_works_as_decorator():
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        checker = detect_anomaly()

    @checker
    def run():
        x = jg.tensor([0.0], requires_grad=True)
        x.log().sum().backward()

    with pytest.raises(RuntimeError, match="LogBackward0"):
        run()
    assert not is_anomaly_enabled()


def test_check_nan_false_records_stacks_but_does_not_raise():
    x = jg.tensor([0.0, 1.0], requires_grad=True)
    with _quiet_detect(check_nan=False):
        y = x.log()
        y.sum().backward()
    assert np.isinf(x.grad.numpy()[0])
    assert "y = x.log()" in "".join(y.grad_fn.metadata["traceback_"].format())


def test_graph_recorded_before_anomaly_mode_still_checked_without_trace():
    x = jg.tensor([0.0, 1.0], requires_grad=True)
    y = x.log()
    with _quiet_detect(), pytest.raises(RuntimeError, match="recorded before anomaly mode"):
        y.sum().backward()


def test_error_inside_backward_names_the_forward_line():
    x = jg.tensor([0.5, 1.0], requires_grad=True)
    with _quiet_detect():
        a = x * 1.0
        b = a.sin()  # saves `a` for backward
        a.mul_(2.0)
        with pytest.warns(RuntimeWarning, match="Error detected in SinBackward0"), \
                pytest.raises(RuntimeError, match="modified by an inplace operation") as info:
            b.sum().backward()
    notes = "".join(getattr(info.value, "__notes__", []))
    assert "b = a.sin()" in notes


def test_finite_backward_is_unchanged_by_anomaly_mode():
    x = jg.tensor([0.3, 1.7], requires_grad=True)
    with _quiet_detect():
        (x.exp() * x.sin()).sum().backward()
    g_on = x.grad.numpy().copy()
    x.grad = None
    (x.exp() * x.sin()).sum().backward()
    np.testing.assert_array_equal(g_on, x.grad.numpy())
