"""The guards of the lean call paths (call_args.LeanCall, lean_grad.LeanGradCall, lean_step.LeanStep)
as generated Python: one line per check, each object it compares against a global of its own.

A lean call runs only when the call passes the very argument objects of the call it was built
from, each tensor among them -- and each tensor the function captured -- still has the same
storage and the same `requires_grad`, and the Python state a trace may read (core.python_state)
is unchanged. Written out for the plan at hand, these checks cost a few attribute reads each; a
loop over lists of them costs several times that per tensor, which for a small training step is
most of a call.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import core, dtypes


class LeanCallStaleError(Exception):
    """A lean call's assumptions do not hold: the caller takes the full path.

    >>> isinstance(LeanCallStaleError(), Exception)
    True
    """


def guard_lines(args: tuple, checks: list, state: tuple, names: dict) -> list[str]:
    """Source lines (in a function of `args`) raising `Stale` unless a call matches: the same
    argument objects as `args`, each (tensor, storage, requires_grad) of `checks` unchanged, and
    core.python_state() equal to `state`. The objects they compare against go into `names` (the
    generated function's globals).

    >>> import jitgrad as jg
    >>> x = jg.tensor([1.0])
    >>> print("\\n".join(guard_lines((x,), checks_of((x,), []), core.python_state(), {})))
        try:
            a0, = args
        except ValueError:
            raise Stale from None
        if a0 is not arg0 \\
                or t0._data is not d0 or t0._requires_grad is not r0 \\
                or epoch_cell[0] != epoch or dtype_cell[0] != dtype:
            raise Stale
    """
    n = len(args)
    if n:  # (a wrong count fails the unpacking: a try costs nothing until it catches, len() does)
        lines = ["    try:", f"        {''.join(f'a{i}, ' for i in range(n))}= args",
                 "    except ValueError:", "        raise Stale from None"]
    else:
        lines = ["    if args:", "        raise Stale"]
    same = [f"a{i} is not arg{i}" for i in range(n)]
    same += [f"t{i}._data is not d{i} or t{i}._requires_grad is not r{i}" for i in range(len(checks))]
    same.append("epoch_cell[0] != epoch or dtype_cell[0] != dtype")
    lines += ["    if " + " \\\n            or ".join(same) + ":", "        raise Stale"]
    names.update({f"arg{i}": a for i, a in enumerate(args)})
    for i, (t, d, rg) in enumerate(checks):
        names.update({f"t{i}": t, f"d{i}": d, f"r{i}": rg})
    epoch, dtype = state
    names.update(Stale=LeanCallStaleError, epoch_cell=core.module_epoch, dtype_cell=dtypes._default_float,
                 epoch=epoch, dtype=dtype)
    return lines


def checks_of(args: tuple, captured: list) -> list:
    """(tensor, its storage, its requires_grad) for the tensors among `args` and every captured one.

    >>> import jitgrad as jg
    >>> w = jg.tensor([2.0], requires_grad=True)
    >>> [(t is w, rg) for t, _, rg in checks_of((np.zeros(1),), [w])]
    [(True, True)]
    """
    return [(t, t._data, t._requires_grad) for t in args if type(t) is not np.ndarray] + \
        [(t, t._data, t._requires_grad) for t in captured]


def define(source: str, names: dict, name: str) -> Callable:
    """The function `name` defined by `source`, with `names` as its globals.

    >>> define("def f(x):\\n    return x + k\\n", {"k": 1}, "f")(2)
    3
    """
    exec(compile(source, f"<jitgrad {name}>", "exec"), names)  # (text generated here from fixed templates)
    return names[name]


def make_guard(args: tuple, checks: list, state: tuple) -> Callable[[tuple], None]:
    """A function of a call's argument tuple raising LeanCallStaleError unless it matches (see guard_lines).

    >>> import jitgrad as jg
    >>> x = jg.tensor([1.0])
    >>> guard = make_guard((x,), checks_of((x,), []), core.python_state())
    >>> guard((x,))
    >>> x.requires_grad_()
    tensor([1.], requires_grad=True)
    >>> guard((x,))
    Traceback (most recent call last):
    ...
    jitgrad.lean_guards.LeanCallStaleError
    """
    names: dict = {}
    source = "\n".join(["def guard(args):", *guard_lines(args, checks, state, names)]) + "\n"
    return define(source, names, "guard")
