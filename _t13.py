import torch, jitgrad as jg
for m in (torch, jg):
    print('==', m.__name__)
    def tries(f):
        try: r = f(); print('ok', r)
        except Exception as e: print('ERR', type(e).__name__, e)
    t = m.tensor([1., 2.]); 
    def f1(): t.data = m.tensor([1, 2]); return t.dtype
    tries(f1)
    def f1b(): t.data = m.tensor([1., 2., 3.]); return t.shape
    tries(f1b)
    def f1c(): t.data = m.tensor([1., 2.], dtype=m.float64); return t.dtype
    tries(f1c)
    x = m.tensor([1., 2.], requires_grad=True)
    def f2(): x.grad = x
    tries(f2)
    def f2b(): x.grad = x.detach()
    tries(f2b)
    base = m.tensor([1., 2., 3.])
    def f3(): v = base[:2]; v.detach_()
    tries(f3)
    b2 = m.tensor([1., 2., 3.], requires_grad=True)
    def f4(): v = (b2*1)[:2]; v.detach_()
    tries(f4)
    def f5(): v = b2.view(3); v.detach_()
    tries(f5)
    def f6(): v = (b2*1).reshape(3,1); v.detach_()
    tries(f6)
    def f7():
        x = m.tensor([1., 2., 3.], dtype=m.float64, requires_grad=True)
        return m.autograd.gradcheck(lambda a: a[: max(1, int(a.sum().item()) % 3)] * 2, (x,), raise_exception=False)
    tries(f7)
    def f8():
        x = m.tensor([1., 2., 3.], dtype=m.float64, requires_grad=True)
        return m.autograd.gradcheck(lambda a: a[: 1 + int(a[0].item() > 1.0000001)] * 2, (x,))
    tries(f8)
