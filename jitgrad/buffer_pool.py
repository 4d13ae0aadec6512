"""Output buffers of a compiled program reused across calls once nothing else references them.

Why: a fresh ``np.empty`` of many megabytes comes from ``mmap``, and the kernel then pays a
page fault for every 4 KiB page it first writes (at N = 10^7 a third of W1's time). A pool
keeps the last large buffers it handed out; when the caller has dropped every reference to
one (its reference count is back to the pool's own), the next call writes into it again
instead of a fresh allocation. A buffer the caller still holds -- directly, through a view
or a Tensor, or as a saved residual -- has a higher count and is never handed out twice.

Two buffers per output are kept, so the usual loop ``value, grad = f(x)`` (the previous
``grad`` is alive during the next call) alternates between them. Small buffers are left to
``np.empty`` (fast, from the malloc arena, no page faults): the pool costs only large calls.
"""
from __future__ import annotations

import os
import sys
import threading

import numpy as np

from .shapes import numel

#: Buffers of at least this many bytes are pooled (glibc serves smaller ones without mmap);
#: JITGRAD_REUSE_BUFFERS=0 turns pooling off (every call allocates, as before).
MIN_BYTES = 1 << 20 if os.environ.get("JITGRAD_REUSE_BUFFERS", "1") != "0" else sys.maxsize
#: Buffers kept per output: two let `grad = f(x)` in a loop alternate between them.
DEPTH = 2
# getrefcount of a pooled buffer nobody else holds: the pool's list + the loop variable + the
# argument of getrefcount itself.
_FREE_REFS = 3


class BufferPool:
    """Hands out the (shape, dtype) buffers a program writes, reusing large unreferenced ones."""

    def __init__(self, specs: list, min_bytes: int | None = None) -> None:
        limit = MIN_BYTES if min_bytes is None else min_bytes
        self.specs = [(tuple(shape), np.dtype(dtype)) for shape, dtype in specs]
        self.pooled = [numel(shape) * dt.itemsize >= limit for shape, dt in self.specs]
        self.active = any(self.pooled)
        self._held: list[list[np.ndarray]] = [[] for _ in self.specs]
        self._lock = threading.Lock()  # (two threads must never get the same free buffer)

    def take(self) -> list[np.ndarray]:
        """One buffer per spec: a free pooled one where there is one, else a new array."""
        out = []
        with self._lock:
            for (shape, dtype), pooled, held in zip(self.specs, self.pooled, self._held):
                out.append(self._reuse(held) if pooled else None)
                if out[-1] is None:
                    buf = np.empty(shape, dtype)
                    if pooled:
                        if len(held) >= DEPTH:
                            held.pop(0)   # every kept buffer is still in use elsewhere: forget the oldest
                        held.append(buf)
                    out[-1] = buf
        return out

    @staticmethod
    def _reuse(held: list) -> np.ndarray | None:
        for buf in held:
            if sys.getrefcount(buf) == _FREE_REFS:
                return buf
        return None

    def clear(self) -> None:
        """Drop every kept buffer (their memory returns to the system when the caller's go too)."""
        with self._lock:
            for held in self._held:
                held.clear()
