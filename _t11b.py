import torch, jitgrad as jg
for m in (torch, jg):
    print('==', m.__name__)
    x = m.tensor([1.5, 2.], requires_grad=True)
    cases = []
    def c1():
        h = x.exp(); k = h.sin(); out = (k * h).sum()
        a = m.autograd.grad(out, [h, k], retain_graph=True); b = m.autograd.grad(out, [k, h], retain_graph=True)
        out.backward(); return a, b, x.grad
    def c2():
        h = x * 2; out = h.sum()
        return m.autograd.grad(out, h, retain_graph=True), m.autograd.grad(out, h, retain_graph=True), m.autograd.grad(out, h)
    def c3():
        h = x * 2; h2 = h * h; out = h2.sum()
        h2.retain_grad()
        r = m.autograd.grad(out, h, retain_graph=True), m.autograd.grad(out, h2, retain_graph=True)
        out.backward(retain_graph=True)
        return r, h2.grad, m.autograd.grad(out, h)
    def c4():
        h = x * 2; out = (h*h).sum()
        g1, = m.autograd.grad(out, h, retain_graph=True, create_graph=True)
        g2, = m.autograd.grad(out, h, retain_graph=True, create_graph=True)
        return g1, g2, m.autograd.grad(g1.sum()+g2.sum(), x)
    for c in (c1, c2, c3, c4):
        x.grad = None
        try: print(c())
        except Exception as e: print('ERR', repr(e))
