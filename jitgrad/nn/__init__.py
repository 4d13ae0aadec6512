"""PyTorch's torch.nn namespace: Module, Parameter, layers, losses, functional and init."""
from .. import unsupported as _unsupported
from . import functional, init, parallel, utils
from .conv import (AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d,
                   ConvTranspose2d, Dropout2d, GroupNorm, MaxPool2d, PixelShuffle, Upsample)
from .layers import Flatten, Identity, Linear, LogSoftmax, ModuleList, ReLU, Sequential, Sigmoid, Softmax, Tanh
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module
from .parameter import Parameter

__all__ = ["Module", "Parameter", "Linear", "ReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "Identity",
           "Flatten", "Sequential", "ModuleList", "MSELoss", "CrossEntropyLoss", "NLLLoss", "functional", "init",
           "parallel", "utils", "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
           "BatchNorm1d",
           "BatchNorm2d", "ConvTranspose2d", "GroupNorm", "Dropout2d", "Upsample", "PixelShuffle"]

# PyTorch names jitgrad lacks: a clear AttributeError (see jitgrad/unsupported).
__getattr__ = _unsupported.module_getattr(__name__)
