"""PyTorch's torch.autograd namespace: backward, grad, gradcheck."""
from ..autodiff import backward, grad
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = ["backward", "grad", "gradcheck", "gradgradcheck", "GradcheckError"]
