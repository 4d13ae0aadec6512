"""Grad mode: no_grad / enable_grad / set_grad_enabled as context managers and decorators,
and thread-locality."""
from __future__ import annotations

import threading

import jitgrad as jg


def _records() -> bool:
    return (jg.ones(1, requires_grad=True) * 2).requires_grad


def test_no_grad_context_and_nesting():
    assert jg.is_grad_enabled() and _records()
    with jg.no_grad():
        assert not jg.is_grad_enabled() and not _records()
        with jg.enable_grad():
            assert jg.is_grad_enabled() and _records()
        assert not jg.is_grad_enabled()
    assert jg.is_grad_enabled()


def test_no_grad_restores_on_exception():
    try:
        with jg.no_grad():
            raise ValueError
    except ValueError:
        pass
    assert jg.is_grad_enabled()


def test_decorators():
    @jg.no_grad()
    def off():
        return jg.is_grad_enabled()

    @jg.enable_grad()
    def on():
        return jg.is_grad_enabled()

    assert off() is False and jg.is_grad_enabled()
    with jg.no_grad():
        assert on() is True
        assert not jg.is_grad_enabled()


def test_set_grad_enabled_function_and_context():
    jg.set_grad_enabled(False)
    assert not jg.is_grad_enabled() and not _records()
    jg.set_grad_enabled(True)
    assert jg.is_grad_enabled()
    with jg.set_grad_enabled(False):
        assert not jg.is_grad_enabled()
    assert jg.is_grad_enabled()
    with jg.no_grad():
        with jg.set_grad_enabled(True):
            assert _records()
        assert not jg.is_grad_enabled()

    @jg.set_grad_enabled(False)
    def off():
        return jg.is_grad_enabled()

    assert jg.is_grad_enabled() and off() is False and jg.is_grad_enabled()


def test_grad_mode_is_thread_local():
    inside, other = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with jg.no_grad():
            seen["worker"] = jg.is_grad_enabled()
            inside.set()
            other.wait(5)

    t = threading.Thread(target=worker)
    t.start()
    assert inside.wait(5)
    seen["main"] = jg.is_grad_enabled()
    seen["main_records"] = _records()
    other.set()
    t.join(5)
    assert seen == {"worker": False, "main": True, "main_records": True}


def test_new_thread_starts_with_grad_enabled():
    seen = []
    with jg.no_grad():
        t = threading.Thread(target=lambda: seen.append(jg.is_grad_enabled()))
        t.start()
        t.join(5)
    assert seen == [True]
