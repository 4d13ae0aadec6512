"""Heap settings that keep freed temporaries in the process, so a compiled call that allocates and
frees the same buffers every time does not pay first-touch page faults on every call.

glibc's malloc serves blocks above ``M_MMAP_THRESHOLD`` with a fresh ``mmap`` and gives freed memory
at the top of the heap back to the OS once more than ``M_TRIM_THRESHOLD`` is free. Both start small
(128 KiB); glibc raises them as mmapped blocks are freed, but a training step whose temporaries
total a few MiB still had the heap trimmed at the end of each call and zero-filled again in the
next: page faults were 15% of the Transformer benchmark step (TRF, 1 thread), and setting the two
thresholds took that step from 8.8 to 7.4 ms. jitgrad therefore sets, when ``kernels`` is
imported on glibc, ``M_MMAP_THRESHOLD`` to glibc's own dynamic ceiling (32 MiB) and
``M_TRIM_THRESHOLD`` to 256 MiB: the process keeps up to that much freed memory for reuse, as
PyTorch's caching allocators do. 32 MiB is the largest mmap threshold glibc accepts, so jitgrad
also sets ``M_MMAP_MAX`` to 0: larger arrays come from the heap too instead of a fresh ``mmap``
each (an eager ``sin`` of 10^7 float32 then reuses the 40 MB its previous call freed: W1b's eager
step went from 60 to 27 ms, 3,976 page faults per call to none). Freed memory at the top of the
heap beyond the trim threshold still goes back to the OS, so a freed 1 GB array does not stay
resident.

Nothing is changed when the user already tuned malloc through glibc's environment variables
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_``, ``MALLOC_MMAP_MAX_``,
``GLIBC_TUNABLES``) or set ``JITGRAD_HEAP_TUNING=0``.
"""
from __future__ import annotations

import ctypes
import os
import platform

#: mallopt parameter numbers from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4

#: glibc's largest mmap threshold. Setting it freezes glibc's dynamic thresholds; with M_MMAP_MAX
#: at 0 no block is mmapped at all, so every block comes from the heap.
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Free memory at the top of the heap is given back to the OS only beyond this much.
TRIM_THRESHOLD = 256 * 1024 * 1024

_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                  "MALLOC_MMAP_MAX_", "GLIBC_TUNABLES")


def user_tuned_malloc(environ=os.environ) -> bool:
    """Whether the user chose malloc settings (or asked jitgrad to leave them alone)."""
    return environ.get("JITGRAD_HEAP_TUNING", "1") == "0" or any(name in environ for name in _USER_SETTINGS)


def tune_heap(environ=os.environ) -> bool:
    """Apply jitgrad's mmap and trim thresholds; True when they were set (glibc only, not user-tuned).

    >>> isinstance(tune_heap({"JITGRAD_HEAP_TUNING": "0"}), bool)
    True
    """
    if user_tuned_malloc(environ) or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # The mmap threshold first: setting either one freezes glibc's dynamic adjustment of both.
    return (bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
            and bool(mallopt(M_MMAP_MAX, 0)))


HEAP_TUNED = tune_heap()
