import jitgrad as jg, numpy as np, warnings
F = jg.nn.functional
x = jg.randn(3, 4, requires_grad=True)
bad = jg.tensor([0, 4, 1])
emb = jg.nn.Embedding(4, 2)
cases = {
 "ce": lambda x, t: F.cross_entropy(x, t),
 "nll": lambda x, t: F.nll_loss(x, t),
 "onehot": lambda x, t: F.one_hot(t, 4).float().sum() + x.sum(),
 "emb": lambda x, t: emb(t).sum() + x.sum(),
 "ce_neg": lambda x, t: F.cross_entropy(x, t - 2),
}
for name, f in cases.items():
    for mode, g in [("eager", f), ("jit", jg.jit(f)), ("jit_grad", jg.jit_grad(f))]:
        try:
            g(x, bad); print(name, mode, "NO ERROR")
        except Exception as e:
            print(name, mode, type(e).__name__, type(e).__mro__[1].__name__, str(e)[:150])
