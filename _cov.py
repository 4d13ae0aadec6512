import torch, jitgrad as jg
OPS = """split chunk unbind repeat repeat_interleave tile flip roll diagonal diag diag_embed trace tril triu masked_fill masked_select index_select scatter scatter_add take_along_dim cumsum cumprod logsumexp softmax log_softmax topk sort argsort median var_mean std_mean outer tensordot einsum bmm baddbmm addmm atan2 hypot fmod remainder reciprocal rsqrt square log2 log10 exp2 sinh cosh asin acos atan asinh acosh atanh erf erfc sinc deg2rad rad2deg nan_to_num clamp_min clamp_max signbit isnan isinf isfinite isin allclose isclose one_hot histc multinomial bernoulli randperm normal_ uniform_""".split()
pairs = [(torch, jg, "jg"), (torch.Tensor, jg.Tensor, "Tensor"), (torch.nn.functional, jg.nn.functional, "F")]
for n in OPS:
    for t, j, label in pairs:
        if hasattr(t, n) and not (n.startswith('_')) and not hasattr(j, n):
            print("MISSING", label, n)
NN = "Embedding LayerNorm Dropout BatchNorm1d GELU SiLU ELU LeakyReLU Softplus Hardtanh RNNCell LSTMCell GRUCell RNN LSTM GRU MultiheadAttention ModuleDict ParameterList ParameterDict Bilinear Unflatten L1Loss SmoothL1Loss HuberLoss BCELoss BCEWithLogitsLoss KLDivLoss CrossEntropyLoss NLLLoss CosineEmbeddingLoss MarginRankingLoss".split()
for n in NN:
    if not hasattr(jg.nn, n): print("MISSING nn", n)
MOD = "register_forward_hook register_forward_pre_hook train eval apply named_modules zero_grad".split()
for n in MOD:
    if not hasattr(jg.nn.Module, n): print("MISSING Module", n)
FUN = "embedding layer_norm dropout batch_norm gelu silu elu leaky_relu softplus hardtanh bilinear multi_head_attention_forward l1_loss smooth_l1_loss huber_loss binary_cross_entropy binary_cross_entropy_with_logits kl_div cross_entropy nll_loss cosine_embedding_loss margin_ranking_loss one_hot softmax log_softmax".split()
for n in FUN:
    if not hasattr(jg.nn.functional, n): print("MISSING F", n)
for n in "RMSprop Adagrad Adadelta LBFGS".split():
    if not hasattr(jg.optim, n): print("MISSING optim", n)
for n in "StepLR MultiStepLR ExponentialLR CosineAnnealingLR LambdaLR OneCycleLR ReduceLROnPlateau".split():
    if not hasattr(jg.optim.lr_scheduler, n): print("MISSING sched", n)
for n in "clip_grad_norm_ clip_grad_value_ parameters_to_vector vector_to_parameters".split():
    if not hasattr(jg.nn.utils, n): print("MISSING nn.utils", n)
for n in "state_dict load_state_dict".split():
    if not hasattr(jg.optim.Optimizer, n): print("MISSING Optimizer", n)
import jitgrad.autograd.function as af
print(hasattr(jg.autograd, "Function"), hasattr(af, "once_differentiable"))
import jitgrad.utils.checkpoint as ck; print(hasattr(ck, "checkpoint"))
print(hasattr(jg, "inference_mode"), hasattr(jg.Tensor, "register_post_accumulate_grad_hook"))
import jitgrad.utils.data as d
for n in "Dataset TensorDataset DataLoader random_split Subset".split():
    if not hasattr(d, n): print("MISSING data", n)
print(hasattr(jg, "save"), hasattr(jg, "load"), hasattr(jg, "Generator"))
import inspect
for f in [jg.rand, jg.randn, jg.randint, jg.randperm, jg.normal, jg.bernoulli, jg.multinomial, jg.Tensor.normal_, jg.Tensor.uniform_, jg.Tensor.bernoulli_, jg.rand_like, jg.randn_like, jg.nn.init.normal_, jg.utils.data.random_split, jg.utils.data.DataLoader]:
    if "generator" not in inspect.signature(f).parameters: print("NO generator", f.__qualname__)
for mod in [jg, jg.nn, jg.nn.functional, jg.optim]:
    try: getattr(mod, "lgamma_xx_not")
    except AttributeError as e: print(mod.__name__, str(e)[:80])
