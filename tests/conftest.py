"""Shared pytest setup: tests import their helpers from this directory, and every test starts
from the same random seed, default dtype and grad mode."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import jitgrad  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_global_state():
    """Each test sees seed 0, float32 as the default dtype and grad mode on; restored after."""
    jitgrad.manual_seed(0)
    dtype = jitgrad.get_default_dtype()
    enabled = jitgrad.is_grad_enabled()
    yield
    jitgrad.set_default_dtype(dtype)
    jitgrad.set_grad_enabled(enabled)
