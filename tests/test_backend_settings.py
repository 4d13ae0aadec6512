"""Back-end process settings: full-width SIMD on AVX-512 CPUs (kernels.vector_width) and a passive
OpenMP wait policy (kernels.threads)."""
import os
import re
import subprocess
import sys

import llvmlite.binding as llvm
import numpy as np
import pytest
from numba.core import config
from vmath_kernels import asm

import jitgrad._kernels.vector_width as vw

HOST = llvm.get_host_cpu_features().flatten()
HAS_AVX512 = '+avx512f' in HOST.split(',')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_features_add_full_width_only_with_avx512():
    """The 256-bit preference is switched off exactly when the CPU has AVX-512F."""
    assert vw.wide_vector_features('+sse2,+avx2,+avx512f') == '+sse2,+avx2,+avx512f,-prefer-256-bit'
    assert vw.wide_vector_features('+sse2,+avx2,-avx512f') is None
    assert vw.wide_vector_features('+sse2,+avx2') is None


@pytest.mark.skipif(not HAS_AVX512, reason='CPU without AVX-512')
@pytest.mark.skipif(os.environ.get('JITGRAD_VECTOR_WIDTH') == '256'
                    or '-prefer-256-bit' not in (config.CPU_FEATURES or ''),
                    reason='full width opted out or NUMBA_CPU_FEATURES set by the user')
def test_vmath_loop_uses_zmm_registers():
    """An exp loop vectorises at 16 float32 lanes (zmm), not LLVM's default 8 (ymm)."""
    assert vw.FULL_WIDTH
    text = asm('exp', np.float32)
    assert re.search(r'\bv(?:mul|add|fmadd\d*)ps\b[^\n]*%zmm', text), 'no 512-bit packed arithmetic'


def test_opt_out_leaves_numba_features_alone():
    """JITGRAD_VECTOR_WIDTH=256 keeps Numba's own CPU feature choice."""
    env = dict(os.environ, JITGRAD_VECTOR_WIDTH='256', PYTHONPATH=ROOT)
    env.pop('NUMBA_CPU_FEATURES', None)
    code = ('import jitgrad._kernels.vector_width as v; from numba.core import config; '
            'print(v.FULL_WIDTH, config.CPU_FEATURES)')
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ['False', 'None']


def _kernels_env(**extra):
    env = dict(os.environ, PYTHONPATH=ROOT, **extra)
    code = 'import os, jitgrad._kernels; print(os.environ.get("OMP_WAIT_POLICY"))'
    if 'OMP_WAIT_POLICY' not in extra:
        env.pop('OMP_WAIT_POLICY', None)
    return subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                          check=True, cwd=ROOT).stdout.strip()


def test_openmp_threads_sleep_when_idle_by_default():
    """Importing kernels asks OpenMP for passive waiting (graceful on a busy machine) ..."""
    assert _kernels_env() == 'PASSIVE'


def test_openmp_wait_policy_chosen_by_the_user_is_kept():
    """... unless the user set OMP_WAIT_POLICY."""
    assert _kernels_env(OMP_WAIT_POLICY='ACTIVE') == 'ACTIVE'
