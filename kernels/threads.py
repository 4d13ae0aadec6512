"""Thread settings that degrade gracefully on a busy machine: OpenMP threads sleep when idle.

Why: Numba's default threading layer here is OpenMP (GNU libgomp). With libgomp's default
wait policy, a thread that finishes its share of a parallel loop spins, and on a machine
whose cores other processes keep busy the spinning and the late wake-ups of descheduled
team threads made a 131,072-element parallel kernel take a median 48 ms instead of 0.1 ms
(load 9 on 2 cores; compare ``python -m benchmarks.parallel_threshold`` under
``OMP_WAIT_POLICY=ACTIVE`` and by default). ``OMP_WAIT_POLICY=PASSIVE`` makes idle threads block
at once: median 97 us under the same load, and on a quiet machine it costs only the wake-up
of a sleeping thread (microseconds) per parallel region, which the parallel threshold
(``kernels.cpu.PARALLEL_THRESHOLD``) keeps far below each region's run time.

libgomp reads the variable once, when it is loaded (Numba loads it at the first parallel
call), so it is set here, when ``kernels`` is imported; a value the user set is kept.
"""
from __future__ import annotations

import os

#: The wait policy jitgrad asks OpenMP for unless the environment already names one.
DEFAULT_WAIT_POLICY = "PASSIVE"


def set_default_wait_policy(environ=os.environ) -> str:
    """OMP_WAIT_POLICY as it is now: PASSIVE unless the user chose another value."""
    return environ.setdefault("OMP_WAIT_POLICY", DEFAULT_WAIT_POLICY)


WAIT_POLICY = set_default_wait_policy()
