"""The jitgrad way to do what a missing PyTorch name does, where one exists: one line per name,
keyed by its full PyTorch name (shown after "jitgrad does not implement ... yet")."""

SUGGESTIONS = {
    # torch
    "torch.square_": "x.mul_(x)",
    "torch.numel": "x.numel()",
    "torch.is_tensor": "isinstance(x, jitgrad.Tensor)",
    # torch.nn
    "torch.nn.Embedding": "a Parameter table indexed by the token ids: weight[ids]",
    "torch.nn.LayerNorm": "(x - x.mean(-1, keepdim=True)) / (x.var(-1, unbiased=False, keepdim=True) + eps).sqrt() "
                          "* weight + bias",
    "torch.nn.GELU": "0.5 * x * (1 + jitgrad.tanh(0.7978845608 * (x + 0.044715 * x ** 3))) (the tanh form)",
    "torch.nn.SiLU": "x * jitgrad.sigmoid(x)",
    "torch.nn.ModuleDict": "jitgrad.nn.ModuleList, or modules assigned as attributes",
    "torch.nn.L1Loss": "(input - target).abs().mean()",
    "torch.nn.BCELoss": "-(target * p.log() + (1 - target) * (1 - p).log()).mean()",
    # torch.nn.functional
    "torch.nn.functional.l1_loss": "(input - target).abs().mean()",
    "torch.nn.functional.silu": "x * jitgrad.sigmoid(x)",
    "torch.nn.functional.softplus": "jitgrad.log1p(jitgrad.exp(x))",
    "torch.nn.functional.leaky_relu": "jitgrad.where(x > 0, x, negative_slope * x)",
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
