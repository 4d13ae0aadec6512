"""The jitgrad way to do what a missing PyTorch name does, where one exists: one line per name,
keyed by its full PyTorch name (shown after "jitgrad does not implement ... yet")."""

SUGGESTIONS = {
    # torch
    "torch.square_": "x.mul_(x)",
    "torch.numel": "x.numel()",
    "torch.is_tensor": "isinstance(x, jitgrad.Tensor)",
    # torch.nn
    # torch.nn.functional
    "torch.nn.functional.one_hot": "jitgrad.eye(num_classes)[labels]",
    "torch.nn.functional.normalize": "x / jitgrad.clamp(x.norm(2, dim, keepdim=True), min=eps)",
    # torch.optim
    "torch.optim.SparseAdam": "jitgrad.optim.Adam (gradients are dense in jitgrad)",
    "torch.optim.NAdam": "jitgrad.optim.Adam",
    "torch.optim.RAdam": "jitgrad.optim.Adam",
    "torch.optim.Adamax": "jitgrad.optim.Adam",
    "torch.optim.ASGD": "jitgrad.optim.SGD",
    # torch.Tensor
    "torch.Tensor.new_zeros": "jitgrad.zeros(shape, dtype=x.dtype, device=x.device)",
    "torch.Tensor.new_ones": "jitgrad.ones(shape, dtype=x.dtype, device=x.device)",
    "torch.Tensor.new_tensor": "jitgrad.tensor(data, dtype=x.dtype, device=x.device)",
    "torch.Tensor.new_full": "jitgrad.full(shape, value, dtype=x.dtype, device=x.device)",
}
