"""jitgrad.save / jitgrad.load: tensors and nested containers of them (module and optimizer
state dicts, checkpoints) in a safe format, a NumPy .npz archive: one array per tensor plus
a JSON description of the structure. Loading never runs pickled code. load() also reads
files written by torch.save (when torch is installed), converting torch tensors."""
from __future__ import annotations

import collections
import io
import json
import os
import zipfile
from typing import IO, Any

import numpy as np

from . import dtypes
from .core import TensorBase
from .nn.parameter import Parameter
from .tensor import Tensor

STRUCTURE = "__jitgrad_structure__"
FORMAT_VERSION = 1
# dict types that round-trip (by name; their items are stored like a dict's).
_DICT_TYPES = {"dict": dict, "OrderedDict": collections.OrderedDict, "Counter": collections.Counter}


class _Writer:
    """Turns an object tree into JSON-able nodes, collecting arrays (a tensor seen twice is stored once)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._seen: dict[int, tuple[str, Any]] = {}  # id -> (name, the object, kept alive so ids stay unique)

    def _array(self, key_object, array: np.ndarray) -> str:
        seen = self._seen.get(id(key_object))
        if seen is not None:
            return seen[0]
        name = f"a{len(self.arrays)}"
        self._seen[id(key_object)] = (name, key_object)
        self.arrays[name] = np.ascontiguousarray(array)
        return name

    def node(self, obj: Any, path: str) -> Any:
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int) and not isinstance(obj, bool):
            return {"int": str(obj)}
        if isinstance(obj, float):
            return {"float": obj.hex()}
        if isinstance(obj, TensorBase):
            data = np.asarray(obj.detach().cpu().numpy())
            return {"tensor": self._array(obj, data), "requires_grad": obj.requires_grad,
                    "parameter": isinstance(obj, Parameter), "device": str(obj.device)}
        if isinstance(obj, np.ndarray):
            _check_plain(obj.dtype, path)
            return {"ndarray": self._array(obj, obj)}
        if isinstance(obj, np.generic):
            _check_plain(obj.dtype, path)
            return {"scalar": self._array(obj, np.asarray(obj))}
        if isinstance(obj, complex):
            return {"complex": [obj.real.hex(), obj.imag.hex()]}
        if isinstance(obj, dict):
            kind = type(obj).__name__
            if kind not in _DICT_TYPES:
                kind = "dict"  # other dict subclasses load as plain dicts
            return {kind: [[self.node(k, f"{path} key"), self.node(v, f"{path}[{k!r}]")] for k, v in obj.items()]}
        if isinstance(obj, tuple):
            return {"tuple": [self.node(v, f"{path}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return {"list": [self.node(v, f"{path}[{i}]") for i, v in enumerate(obj)]}
        raise TypeError(f"jitgrad.save stores tensors, NumPy arrays, numbers, strings, None and dicts/lists/tuples of "
                        f"them; {path} is a {type(obj).__name__}. Save its state (e.g. .state_dict()) instead of "
                        "the object.")


def _check_plain(dtype: np.dtype, path: str) -> None:
    if dtype.kind not in "biufc":
        raise TypeError(f"jitgrad.save: {path} is a NumPy array of dtype {dtype}; only numeric arrays can be saved "
                        "safely")


def save(obj: Any, f: str | os.PathLike | IO[bytes]) -> None:
    """Write `obj` (tensors and nested dicts/lists/tuples of tensors, arrays and plain values) to
    the path or binary file f. Tensors are saved detached, with requires_grad, device and whether
    they are Parameters; .grad is not saved (as in PyTorch).

    Example:
        >>> import io
        >>> buffer = io.BytesIO()
        >>> jg.save({'w': jg.tensor([1.0, 2.0])}, buffer)
        >>> _ = buffer.seek(0)
        >>> jg.load(buffer)
        {'w': tensor([1., 2.])}
    """
    writer = _Writer()
    root = writer.node(obj, "the object")
    header = json.dumps({"format": "jitgrad", "version": FORMAT_VERSION, "root": root})
    arrays = dict(writer.arrays)
    arrays[STRUCTURE] = np.frombuffer(header.encode("utf-8"), dtype=np.uint8)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as handle:
            np.savez(handle, **arrays)
    else:
        np.savez(f, **arrays)


class _Reader:
    def __init__(self, arrays, map_location) -> None:
        self.arrays = arrays
        self.map_location = map_location
        self._made: dict[str, Any] = {}

    def node(self, node: Any) -> Any:
        if node is None or isinstance(node, (bool, str)):
            return node
        (kind, value), *rest = node.items()
        if kind == "int":
            return int(value)
        if kind == "float":
            return float.fromhex(value)
        if kind == "complex":
            return complex(float.fromhex(value[0]), float.fromhex(value[1]))
        if kind == "tensor":
            return self._tensor(value, node)
        if kind == "ndarray":
            return np.array(self.arrays[value])
        if kind == "scalar":
            return self.arrays[value][()]
        if kind in _DICT_TYPES:
            return _DICT_TYPES[kind](dict((self.node(k), self.node(v)) for k, v in value))
        if kind == "tuple":
            return tuple(self.node(v) for v in value)
        if kind == "list":
            return [self.node(v) for v in value]
        raise ValueError(f"jitgrad.load: unknown entry kind {kind!r} in the file (written by a newer jitgrad?)")

    def _tensor(self, name: str, node: dict):
        made = self._made.get(name)
        if made is not None:
            return made
        array = np.array(self.arrays[name])
        if node.get("parameter"):
            t = Parameter(Tensor._wrap(array), requires_grad=node.get("requires_grad", True))
        else:
            t = Tensor._wrap(array)
            t._requires_grad = bool(node.get("requires_grad", False))
        device = _target_device(node.get("device", "cpu"), self.map_location)
        if device != "cpu":
            moved = t.detach().to(device)
            t = Parameter(moved, requires_grad=t.requires_grad) if isinstance(t, Parameter) else \
                moved.requires_grad_(t.requires_grad)
        self._made[name] = t
        return t


def _target_device(saved: str, map_location) -> str:
    if map_location is None:
        return saved
    if callable(map_location):
        return str(map_location(saved))
    if isinstance(map_location, dict):
        return str(map_location.get(saved, saved))
    return str(map_location)


def load(f: str | os.PathLike | IO[bytes], map_location: Any = None, weights_only: bool = True) -> Any:
    """Read what jitgrad.save wrote (never executing code from the file). A file written by
    torch.save is read through torch.load (torch must be installed; weights_only=True, its safe
    mode, unless you pass False for a file you trust) and its torch tensors become jitgrad tensors.
    map_location: a device (string), a dict {saved device: device}, or a function of the saved device.

    Example:
        >>> import io
        >>> buffer = io.BytesIO()
        >>> jg.save(jg.arange(3), buffer)
        >>> _ = buffer.seek(0)
        >>> jg.load(buffer)
        tensor([0, 1, 2])
    """
    raw = _read_bytes(f)
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        if raw[:2] == b"\x80\x02" or raw[:1] == b"\x80":
            return _load_torch(raw, map_location, weights_only)
        raise ValueError("jitgrad.load: the file is neither a jitgrad.save archive nor a torch.save file")
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        names = archive.namelist()
    if STRUCTURE + ".npy" not in names:
        if any(name.endswith("data.pkl") for name in names):
            return _load_torch(raw, map_location, weights_only)
        raise ValueError("jitgrad.load: this zip archive was not written by jitgrad.save (no structure entry)")
    with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
        header = json.loads(arrays[STRUCTURE].tobytes().decode("utf-8"))
        if header.get("format") != "jitgrad" or header.get("version", 0) > FORMAT_VERSION:
            raise ValueError(f"jitgrad.load: unsupported file format {header.get('format')!r} version "
                             f"{header.get('version')!r}")
        contents = {name: arrays[name] for name in arrays.files if name != STRUCTURE}
    return _Reader(contents, map_location).node(header["root"])


def _read_bytes(f) -> bytes:
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as handle:
            return handle.read()
    return f.read()


def _load_torch(raw: bytes, map_location, weights_only: bool) -> Any:
    """A torch.save file: torch.load it on the CPU, then convert torch tensors to jitgrad tensors."""
    try:
        import torch
    except ImportError:
        raise RuntimeError("jitgrad.load: this file was written by torch.save; install torch to read it (jitgrad "
                           "then converts its tensors), or re-save it with jitgrad.save") from None
    obj = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=weights_only)
    return _from_torch(obj, torch, map_location, {})


def _from_torch(obj: Any, torch, map_location, memo: dict) -> Any:
    if isinstance(obj, torch.Tensor):
        made = memo.get(id(obj))
        if made is not None:
            return made
        try:
            array = obj.detach().cpu().numpy().copy()
        except TypeError as error:
            raise TypeError(f"jitgrad.load: a torch tensor of dtype {obj.dtype} has no NumPy/jitgrad counterpart; "
                            "convert it in torch first (e.g. .float())") from error
        if dtypes.from_numpy_dtype(array.dtype) != array.dtype:
            raise TypeError(f"jitgrad.load: a torch tensor of dtype {obj.dtype} has no jitgrad counterpart (jitgrad "
                            f"holds {dtypes.SUPPORTED}); convert it in torch first (e.g. .long())")
        t = Tensor._wrap(array)
        if isinstance(obj, torch.nn.Parameter):
            t = Parameter(t, requires_grad=obj.requires_grad)
        else:
            t._requires_grad = obj.requires_grad
        device = _target_device("cpu", map_location)
        if device != "cpu":
            t = t.detach().to(device)
        memo[id(obj)] = t
        return t
    if isinstance(obj, dict):
        kind = type(obj) if type(obj) in (dict, collections.OrderedDict) else dict
        return kind((k, _from_torch(v, torch, map_location, memo)) for k, v in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_from_torch(v, torch, map_location, memo) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_from_torch(v, torch, map_location, memo) for v in obj)
    return obj
