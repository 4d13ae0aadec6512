"""PyTorch's torch.autograd namespace: backward, grad, gradcheck, functional, profiler, anomaly mode."""
from ..autodiff import backward
from ..autodiff import gradients as grad  # PyTorch's name: torch.autograd.grad
from . import functional, profiler
from .function import Function, FunctionCtx, once_differentiable
from .anomaly import detect_anomaly, is_anomaly_check_nan_enabled, is_anomaly_enabled, set_detect_anomaly
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = ["Function", "FunctionCtx", "once_differentiable",
           "backward", "grad", "gradcheck", "gradgradcheck", "GradcheckError", "functional", "profiler",
           "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "is_anomaly_check_nan_enabled"]
