"""torch.utils.checkpoint for jitgrad: trade compute for memory by not keeping a block's
intermediate values for backward, recomputing them when backward reaches the block."""
from __future__ import annotations

from collections.abc import Callable

from .. import autodiff, core, dtypes
from ..autograd.function import Function
from ..core import Symbolic, TensorBase
from ..generator import default_generator
from ..grad_mode import enable_grad


class _Fresh:
    """Runs a block with jitgrad's random generator in the state it had at the forward (so dropout
    masks recompute identically), restoring the generator afterwards."""

    def __init__(self, state) -> None:
        self.state = state

    def __enter__(self):
        self.saved = default_generator.get_state()
        default_generator.set_state(self.state)
        return self

    def __exit__(self, *exc):
        default_generator.set_state(self.saved)
        return False


class _CheckpointFunction(Function):
    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, *args):
        ctx.run_function = run_function
        ctx.rng_state = default_generator.get_state() if preserve_rng_state else None
        ctx.arguments = args
        ctx.save_for_backward(*[a for a in args if isinstance(a, TensorBase)])
        return run_function(*args)

    @staticmethod
    def backward(ctx, *grads):
        saved = iter(ctx.saved_tensors)
        inputs = []
        for a in ctx.arguments:
            if isinstance(a, TensorBase):
                t = next(saved).detach()
                if dtypes.is_floating(t.dtype):
                    t.requires_grad_(a.requires_grad)
                inputs.append(t)
            else:
                inputs.append(a)
        with enable_grad():
            if ctx.rng_state is not None:
                with _Fresh(ctx.rng_state):
                    outputs = ctx.run_function(*inputs)
            else:
                outputs = ctx.run_function(*inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        pairs = [(o, g) for o, g in zip(outputs, grads)
                 if isinstance(o, TensorBase) and o.requires_grad and g is not None]
        if pairs:
            # Reentrant backward: parameters the block reads accumulate into their .grad directly.
            autodiff.backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, None) + tuple(t.grad if isinstance(t, TensorBase) and t.requires_grad else None
                                    for t in inputs)


def checkpoint(function: Callable, *args, use_reentrant: bool | None = None, preserve_rng_state: bool = True,
               **kwargs):
    """function(*args), keeping only the inputs for backward; the block runs again (with the same
    random numbers) when backward reaches it. Parameters the block uses get their gradients in
    .grad as with loss.backward() (PyTorch's reentrant checkpoint; use loss.backward(), not
    autograd.grad, through a checkpoint). Inside a compiled function the block is traced as it
    is: the compiled program already decides which values to keep for its backward."""
    if kwargs:
        raise ValueError(f"checkpoint: unexpected keyword arguments {sorted(kwargs)} (pass the block's arguments "
                         "positionally)")
    traced = core.tracing.builder is not None or any(
        isinstance(a, TensorBase) and isinstance(a._data, Symbolic) for a in args)
    if traced:
        return function(*args)
    return _CheckpointFunction.apply(function, preserve_rng_state, *args)


def checkpoint_sequential(functions, segments: int, input, use_reentrant: bool | None = None,  # noqa: A002
                          preserve_rng_state: bool = True):
    """Run a Sequential (or a list of modules) in `segments` checkpointed chunks; the last chunk
    runs normally (its values are needed by backward first)."""
    modules = list(functions.children()) if hasattr(functions, "children") else list(functions)
    if segments <= 0:
        raise ValueError(f"checkpoint_sequential: segments must be positive, got {segments}")
    size = max(1, len(modules) // segments)

    def run(chunk):
        def forward(x):
            for m in chunk:
                x = m(x)
            return x
        return forward

    end = 0
    for start in range(0, len(modules) - size, size):
        end = start + size
        input = checkpoint(run(modules[start:end]), input, preserve_rng_state=preserve_rng_state)  # noqa: A001
    return run(modules[end:])(input)
