"""Module: the base of layers. Assigning a Parameter or a Module as an attribute registers it,
so parameters(), state_dict() and train()/eval() reach the whole tree."""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from .. import core, devices, dtypes, prims
from ..core import TensorBase
from ..grad_mode import no_grad
from ..tensor import Tensor, to_arguments
from .parameter import Parameter

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from collections.abc import Mapping
    from typing import Any

    from .._typing import DeviceLike

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
# Bumped whenever Module.to/cuda/cpu/float/double change parameters' storage: optimizers compare it
# once per step and then move their state along (jitgrad/optim/fused.py).
storage_moves = [0]


class Module:
    """Base class of all layers: subclasses set sub-modules/parameters in __init__ and define forward."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())

    # ----- registration -----------------------------------------------------------------------

    def _registry(self, kind: str) -> OrderedDict:
        try:
            return self.__dict__[kind]
        except KeyError:
            raise AttributeError(f"cannot assign a {kind[1:-1]} before {type(self).__name__}.__init__() ran: "
                                 "call super().__init__() first in your __init__") from None

    def __setattr__(self, name: str, value) -> None:
        core.module_epoch[0] += 1  # compiled functions that traced a module check again (retrace)
        if isinstance(value, Parameter):
            self._forget(name)
            self._registry("_parameters")[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            self._registry("_modules")[name] = value
        elif name in self.__dict__.get("_parameters", ()):
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(jitgrad.nn.Parameter or None expected)")
            self._parameters[name] = None
        elif name in self.__dict__.get("_modules", ()):
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(jitgrad.nn.Module or None expected)")
            self._modules[name] = None
        elif name in self.__dict__.get("_buffers", ()):
            if value is not None and not isinstance(value, TensorBase):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(jitgrad.Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        """Drop `name` from every registry and the instance dict (before re-registering it)."""
        core.module_epoch[0] += 1  # compiled functions that traced this module check again
        d = self.__dict__
        for kind in ("_parameters", "_modules", "_buffers"):
            d.get(kind, {}).pop(name, None)
        d.pop(name, None)

    def __getattr__(self, name: str):
        d = self.__dict__
        for kind in ("_parameters", "_buffers", "_modules"):
            registry = d.get(kind)
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        core.module_epoch[0] += 1
        for kind in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(kind, ()):
                del self.__dict__[kind][name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def _check_name(self, name: str, what: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{what} name should be a string, got {type(name).__name__}")
        if "." in name or name == "":
            raise KeyError(f"{what} name can't contain \".\" and can't be empty, got {name!r}")
        if name in self.__dict__ and not any(name in self.__dict__.get(k, ())
                                             for k in ("_parameters", "_buffers", "_modules")):
            raise KeyError(f"attribute '{name}' already exists on {type(self).__name__}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register a Parameter (or None, a declared but absent parameter) under `name`."""
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(jitgrad.nn.Parameter or None required)")
        self._forget(name)
        self._registry("_parameters")[name] = param

    def register_buffer(self, name: str, tensor: TensorBase | None, persistent: bool = True) -> None:
        """Register a non-trainable tensor that state_dict() saves unless persistent=False."""
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, TensorBase):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(jitgrad.Tensor or None required)")
        self._forget(name)
        self._registry("_buffers")[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a child module under `name`."""
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._forget(name)
        self._registry("_modules")[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The sub-module at a dotted path such as 'features.0'."""
        module = self
        for part in target.split(".") if target else ():
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no sub-module '{part}' (in path '{target}')")
            module = child
        return module

    # ----- traversal --------------------------------------------------------------------------

    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and all descendants, each module once."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, kind: str, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, value in module.__dict__[kind].items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) over the tree; a shared parameter is listed once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, TensorBase]]:
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[TensorBase]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call fn on every sub-module (children first) and then on self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ----- modes and gradients ----------------------------------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and all descendants (affects e.g. dropout layers)."""
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be boolean, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        core.module_epoch[0] += 1  # compiled functions that traced this module check again
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze (True) every parameter of the tree."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (default) or to zeros in place."""
        for p in self.parameters():
            zero_grad_of(p, set_to_none)

    # ----- device and dtype conversion -----------------------------------------------------------

    def _convert(self, device=None, dtype=None) -> Module:
        """Move every parameter and buffer (and each parameter's .grad) onto `device` and convert
        the floating ones to `dtype`, IN PLACE: the Parameter objects stay the same, so an
        optimizer built before or after the move keeps working (its state follows at the next
        step). Nothing is changed when the move fails (e.g. no GPU)."""
        dt = None if dtype is None else dtypes.as_dtype(dtype)
        if dt is not None and not dtypes.is_floating(dt):
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dt}")
        target = None if device is None else devices.as_device(device)
        if target is not None and target.type != "cpu":
            devices.backend(target)  # CudaUnavailable (with the reason) before anything is touched
        tensors = {}
        for m in self.modules():
            for registry in (m._parameters, m._buffers):
                for t in registry.values():
                    if t is not None:
                        tensors[id(t)] = t
                        if t._grad is not None:
                            tensors[id(t._grad)] = t._grad
        new = [(t, _converted(t, target, dt)) for t in tensors.values()]  # all, before writing any
        for t, data in new:
            t._data = data
        storage_moves[0] += 1
        return self

    def _apply_dtype(self, dtype) -> Module:
        return self._convert(dtype=dtype)

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """to(device), to(dtype), to(device, dtype), to(tensor): moves and converts the floating
        parameters and buffers in place (see _convert) and returns self, as PyTorch's Module.to."""
        device, dtype, _ = to_arguments(args, kwargs)
        if device is None and dtype is None:
            return self
        return self._convert(device, dtype)

    def float(self) -> Module:
        return self._convert(dtype=dtypes.float32)

    def double(self) -> Module:
        return self._convert(dtype=dtypes.float64)

    def half(self) -> Module:
        """Convert the floating parameters and buffers to float16, in place (as PyTorch's Module.half)."""
        return self._convert(dtype=dtypes.float16)

    def cpu(self) -> Module:
        """Move every parameter and buffer to host memory, in place."""
        return self._convert(devices.CPU)

    def cuda(self, device: DeviceLike = None) -> Module:
        """Move every parameter and buffer to GPU memory, in place (CudaUnavailable, and the module
        left as it was, when there is no GPU or simulator)."""
        if isinstance(device, (int, np.integer)):
            device = devices.device("cuda", int(device))
        return self._convert(device if device is not None else devices.device("cuda"))

    # ----- state dict -------------------------------------------------------------------------

    def state_dict(self, destination: OrderedDict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict:
        """Parameters and persistent buffers by dotted name (detached, sharing storage)."""
        out = OrderedDict() if destination is None else destination
        for mod_prefix, m in self.named_modules(prefix=prefix.rstrip(".")):
            base = f"{mod_prefix}." if mod_prefix else ""
            for name, p in m._parameters.items():
                if p is not None:
                    out[base + name] = p if keep_vars else p.detach()
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    out[base + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values into the existing parameters/buffers; strict=True wants exactly the same keys."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        updates = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = value.detach()._data if isinstance(value, TensorBase) else np.asarray(value)
            if tuple(array.shape) != tuple(target.shape):
                errors.append(f"size mismatch for {key}: copying a param with shape {list(array.shape)} from "
                              f"checkpoint, the shape in current model is {list(target.shape)}.")
            else:
                updates.append((target, array))
        if strict:
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
            if unexpected:
                errors.insert(len(missing) > 0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if errors:
            hint = "\n\t(pass strict=False to ignore missing/unexpected keys)" if strict and (missing or unexpected) \
                else ""
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors) + hint)
        with no_grad():
            for target, array in updates:
                _copy_into(target, array)
                target._version_counter.bump("load_state_dict")
        return IncompatibleKeys(missing, unexpected)

    # ----- calling and printing ---------------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        state = self.__dict__
        if not state.get("_forward_pre_hooks") and not state.get("_forward_hooks"):
            return self.forward(*args, **kwargs)
        return _call_with_hooks(self, args, kwargs)

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """hook(module, args) runs before forward (hook(module, args, kwargs) with with_kwargs); a
        non-None result replaces the arguments (a tuple, or a single value; (args, kwargs) with with_kwargs)."""
        return self._add_hook("_forward_pre_hooks", hook, prepend, with_kwargs)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """hook(module, args, output) runs after forward (hook(module, args, kwargs, output) with
        with_kwargs); a non-None result replaces the output. always_call: run it even if forward raised."""
        return self._add_hook("_forward_hooks", hook, prepend, with_kwargs, always_call)

    def _add_hook(self, kind: str, hook: Callable, prepend: bool, *flags) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"a hook must be callable, got {type(hook).__name__}")
        hooks = self.__dict__.get(kind)
        if hooks is None:
            hooks = OrderedDict()
            object.__setattr__(self, kind, hooks)
        handle = RemovableHandle(hooks)
        hooks[handle.id] = (hook, *flags)
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (override in layers)."""
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + _indent(repr(child)) for name, child in self._modules.items()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = "\n  ".join(([extra] if extra else []) + lines)
        return f"{type(self).__name__}(\n  {body}\n)"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))


class RemovableHandle:
    """Returned by the register_*_hook methods: remove() unregisters the hook (also as a context manager)."""

    _next_id = [0]

    def __init__(self, hooks: OrderedDict) -> None:
        self.hooks, self.id = hooks, RemovableHandle._next_id[0]
        RemovableHandle._next_id[0] += 1

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _call_with_hooks(module: Module, args: tuple, kwargs: dict):
    """module(*args, **kwargs) with its forward pre-hooks and forward hooks (PyTorch's order and rules)."""
    for hook, with_kwargs in list(module.__dict__.get("_forward_pre_hooks", {}).values()):
        if with_kwargs:
            result = hook(module, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                                       f"but got {result!r}.")
                args, kwargs = result
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    forward_hooks = list(module.__dict__.get("_forward_hooks", {}).values())
    try:
        output = module.forward(*args, **kwargs)
    except Exception:
        for hook, with_kwargs, always_call in forward_hooks:
            if always_call:
                hook(module, args, kwargs, None) if with_kwargs else hook(module, args, None)
        raise
    for hook, with_kwargs, _always in forward_hooks:
        result = hook(module, args, kwargs, output) if with_kwargs else hook(module, args, output)
        if result is not None:
            output = result
    return output


def zero_grad_of(p: TensorBase, set_to_none: bool) -> None:
    """Set p.grad to None, or zero it in place (detached first, as PyTorch does)."""
    builder = core.tracing.builder
    if builder is not None and hasattr(builder, "zero_grad") and builder.outside(p):
        builder.zero_grad(p, set_to_none)  # inside a traced training step: calls repeat it
        return
    g = p._grad
    if g is None:
        return
    if set_to_none:
        p._grad = None
        return
    if g.grad_fn is not None:
        g.detach_()
    else:
        g._requires_grad = False
    data = g._data
    if type(data) is np.ndarray or core.on_host(data):
        data[...] = 0
    else:
        devices.backend_of(data).copy_into(data, core.full_like_data(data, (), data.dtype, 0))
    g._version_counter.bump("zero_")


def _converted(t: TensorBase, target, dtype):
    """The storage of t on device `target` (None: where it is) in `dtype` (None, or t is not
    floating: its own dtype). The same storage object when nothing changes."""
    data = t._data
    with no_grad():
        if dtype is not None and dtypes.is_floating(t.dtype) and t.dtype != dtype:
            data = data.astype(dtype) if core.on_host(data) else prims.cast(Tensor._wrap(data), dtype)._data
        if target is not None and t.device != target:
            data = prims.to_device(Tensor._wrap(data), target)._data
    return data


def _copy_into(target: TensorBase, array) -> None:
    """Write array (host or device storage of target's shape) into target's storage, on
    target's device and in its dtype (load_state_dict copies, as in PyTorch)."""
    data = target._data
    if type(data) is np.ndarray or core.on_host(data):
        data[...] = core.host_array(array)
        return
    backend = devices.backend_of(data)
    if core.on_host(array):
        array = backend.move(np.asarray(array, dtype=data.dtype), str(backend.device_of(data)))
    backend.copy_into(data, array)


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")
