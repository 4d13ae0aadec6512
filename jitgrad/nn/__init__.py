"""PyTorch's torch.nn namespace: Module, Parameter, layers, losses, functional and init."""
from .. import unsupported as _unsupported
from . import functional, init, parallel, utils
from .activation import ELU, GELU, SiLU, Dropout, Hardtanh, LeakyReLU, ReLU6, Softplus
from .attention import MultiheadAttention
from .containers import ModuleDict, ParameterDict, ParameterList
from .conv import (AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d,
                   ConvTranspose2d, Dropout2d, GroupNorm, MaxPool2d, PixelShuffle, Upsample)
from .embedding import Embedding
from .layers import (Bilinear, Flatten, Identity, Linear, LogSoftmax, ModuleList, ReLU, Sequential, Sigmoid, Softmax,
                     Tanh, Unflatten)
from .loss import (BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss,
                   MarginRankingLoss, MSELoss, NLLLoss, SmoothL1Loss)
from .module import Module, RemovableHandle
from .normalization import LayerNorm
from .parameter import Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = ["Module", "Parameter", "Linear", "ReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "Identity",
           "Flatten", "Sequential", "ModuleList", "MSELoss", "CrossEntropyLoss", "NLLLoss", "functional", "init",
           "parallel", "utils", "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
           "BatchNorm1d",
           "BatchNorm2d", "ConvTranspose2d", "GroupNorm", "Dropout2d", "Upsample", "PixelShuffle",
           # activations and dropout
           "GELU", "SiLU", "ELU", "LeakyReLU", "Softplus", "Hardtanh", "ReLU6", "Dropout",
           # layers
           "Embedding", "LayerNorm", "Bilinear", "Unflatten", "MultiheadAttention",
           "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU",
           # containers and hooks
           "ModuleDict", "ParameterList", "ParameterDict", "RemovableHandle",
           # losses
           "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss", "CosineEmbeddingLoss",
           "MarginRankingLoss"]

# PyTorch names jitgrad lacks: a clear AttributeError (see jitgrad/unsupported).
__getattr__ = _unsupported.module_getattr(__name__)
