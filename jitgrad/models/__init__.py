"""Model definitions (torchvision's names and layouts, so its state_dicts load); no weights are
downloaded: load pretrained ones from a file you have with `load_state_dict`."""
from .resnet import BasicBlock, ResNet, resnet18, resnet34

__all__ = ["BasicBlock", "ResNet", "resnet18", "resnet34"]
