"""PyTorch's torch.optim namespace: Optimizer, SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, LBFGS,
and lr_scheduler."""
from .. import unsupported as _unsupported
from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "LBFGS", "lr_scheduler"]

# PyTorch names jitgrad lacks: a clear AttributeError (see jitgrad/unsupported).
__getattr__ = _unsupported.module_getattr(__name__)
