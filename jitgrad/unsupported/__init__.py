"""Clear errors for PyTorch names that jitgrad does not have (yet): the module-level __getattr__
of jitgrad's PyTorch-shaped namespaces and placeholders on Tensor say "jitgrad does not implement
torch.X yet" and, where there is one, the jitgrad way to do it; other names get Python's usual
AttributeError. Never imports torch (the names are data in torch_names.py)."""
from __future__ import annotations

import sys
from collections.abc import Callable

from .suggestions import SUGGESTIONS

# jitgrad namespace -> (PyTorch namespace, the names table in torch_names.py).
NAMESPACES = {"jitgrad": ("torch", "TORCH"), "jitgrad.nn": ("torch.nn", "NN"),
              "jitgrad.nn.functional": ("torch.nn.functional", "FUNCTIONAL"), "jitgrad.optim": ("torch.optim", "OPTIM"),
              "Tensor": ("torch.Tensor", "TENSOR")}


def torch_has(table: str, name: str) -> bool:
    """Whether PyTorch's namespace (a torch_names table) has the public name."""
    from . import torch_names  # loaded on the first miss only
    return name in getattr(torch_names, table)


def missing_error(namespace: str, name: str, default_message: str, obj=None) -> AttributeError:
    """The error for `name` missing from a jitgrad namespace: the not-implemented message for a
    public PyTorch name, else Python's usual one (with obj, so Python suggests close names)."""
    torch_namespace, table = NAMESPACES[namespace]
    if name.startswith("_") or not torch_has(table, name):
        return AttributeError(default_message, name=name, obj=obj)
    full = f"{torch_namespace}.{name}"
    message = f"jitgrad does not implement {full} yet"
    suggestion = SUGGESTIONS.get(full)
    if suggestion:
        message += f"; the jitgrad way: {suggestion}"
    message += " (see 'Not supported yet' in jitgrad's README)"
    return AttributeError(message, name=name)


def module_getattr(module_name: str) -> Callable[[str], object]:
    """A module-level __getattr__ (PEP 562) for the jitgrad namespace `module_name`."""
    def missing_attribute(name: str):
        raise missing_error(module_name, name, f"module '{module_name}' has no attribute '{name}'",
                            sys.modules.get(module_name))
    return missing_attribute


def tensor_attribute_error(tensor, name: str) -> AttributeError:
    """The error for a missing Tensor attribute."""
    return missing_error("Tensor", name, f"'{type(tensor).__name__}' object has no attribute '{name}'", tensor)


class MissingTensorAttribute:
    """The placeholder of a PyTorch Tensor attribute that jitgrad lacks: reading it (from a tensor
    or the class) raises the clear AttributeError, so hasattr() is False. A descriptor rather than
    Tensor.__getattr__, which would slow down every normal attribute access."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            raise missing_error("Tensor", self.name, f"type object '{owner.__name__}' has no attribute '{self.name}'")
        raise tensor_attribute_error(obj, self.name)


missing_tensor_attributes: set[str] = set()


def install_tensor_placeholders(cls: type) -> None:
    """Put a placeholder on `cls` for each public PyTorch Tensor attribute that neither it nor a
    base class defines (names defined later, e.g. by assignment, replace their placeholder)."""
    from . import torch_names
    defined = set().union(*(vars(klass) for klass in cls.__mro__))
    for name in sorted(torch_names.TENSOR - defined):
        setattr(cls, name, MissingTensorAttribute(name))
        missing_tensor_attributes.add(name)
