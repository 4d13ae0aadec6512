"""jitgrad._kernels.heap: malloc thresholds that keep freed temporaries in the process (no page faults per call)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from jitgrad._kernels import heap

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt thresholds are glibc's")


@pytest.mark.parametrize("environ", [
    {"JITGRAD_HEAP_TUNING": "0"},
    {"MALLOC_TRIM_THRESHOLD_": "1000000"},
    {"MALLOC_MMAP_THRESHOLD_": "65536"},
    {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"},
])
def test_user_settings_are_left_alone(environ):
    assert heap.user_tuned_malloc(environ)
    assert heap.tune_heap(environ) is False


def test_no_settings_means_jitgrad_tunes():
    assert not heap.user_tuned_malloc({})


@glibc_only
def test_importing_kernels_tuned_the_heap():
    env_chose = heap.user_tuned_malloc()
    assert heap.HEAP_TUNED is (not env_chose)


def _faults_per_round(env: dict, elements: int = 1 << 19) -> float:
    """Minor page faults per allocate-touch-free round of three float64 temporaries of `elements`
    each (4 MiB each by default), in a fresh process."""
    code = (
        "import resource, numpy as np, jitgrad._kernels\n"
        "def step():\n"
        f"    a = np.ones({elements}); b = a * 2.0; c = b + a\n"
        "    return float(c[-1])\n"
        "for _ in range(5): step()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(50): step()\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 50)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


@glibc_only
def test_repeated_temporaries_do_not_fault_again():
    base = {k: v for k, v in os.environ.items() if k not in heap._USER_SETTINGS and k != "JITGRAD_HEAP_TUNING"}
    tuned = _faults_per_round(base)
    untuned = _faults_per_round({**base, "JITGRAD_HEAP_TUNING": "0"})
    # Untuned, glibc mmaps each 4 MiB block afresh: ~3 x 1024 faults per round; tuned, the heap keeps them.
    assert untuned > 500, untuned
    assert tuned < 50, tuned



@glibc_only
def test_arrays_above_glibcs_largest_mmap_threshold_are_reused_too():
    """64 MiB temporaries (above the 32 MiB glibc lets the mmap threshold reach): with mmap off they
    come from the heap and are reused; untuned, each is a fresh mmap (1,632 faults a round here)."""
    base = {k: v for k, v in os.environ.items() if k not in heap._USER_SETTINGS and k != "JITGRAD_HEAP_TUNING"}
    tuned = _faults_per_round(base, 1 << 23)
    untuned = _faults_per_round({**base, "JITGRAD_HEAP_TUNING": "0"}, 1 << 23)
    assert untuned > 500, untuned
    assert tuned < 50, tuned


@glibc_only
def test_a_large_array_freed_at_the_top_of_the_heap_goes_back_to_the_os():
    """With mmap off, a freed 512 MiB block at the heap's top is still trimmed (beyond the 256 MiB
    trim threshold): the resident size falls back."""
    code = (
        "import numpy as np, jitgrad._kernels\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * 4096\n"
        "before = rss(); a = np.ones(1 << 26); peak = rss(); del a\n"
        "print(peak - before, rss() - before)\n")
    base = {k: v for k, v in os.environ.items() if k not in heap._USER_SETTINGS and k != "JITGRAD_HEAP_TUNING"}
    out = subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True, check=True)
    grown, left = (int(v) for v in out.stdout.split())
    assert grown > 400 * 2**20, grown
    assert left < 64 * 2**20, left
