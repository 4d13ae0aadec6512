import torch, jitgrad as jg, numpy as np
nan=float('nan')
for m in (torch, jg):
    print('=====', m.__name__)
    x = m.tensor([0., 2., 0.], requires_grad=True); z = m.tensor([0., 0., 0.], requires_grad=True)
    x.pow(z).sum().backward(); print('pow0', x.grad, z.grad)
    x = m.tensor([0., 0., 0.,0.], requires_grad=True); e = m.tensor([0.5, 1., 2.,-1.], requires_grad=True)
    x.pow(e).sum().backward(); print('powx0', x.grad, e.grad)
    a = m.tensor(0., requires_grad=True); b = m.tensor(-1., requires_grad=True)
    (a**b).backward(); print('0**-1', a.grad, b.grad)
    for bv in [-1., -0.5, 0., 0.5, 2., -2.]:
        a = m.tensor([0.], requires_grad=True); b = m.tensor([bv], requires_grad=True)
        (a**b).sum().backward(); print(' 0**',bv, a.grad.tolist(), b.grad.tolist())
    b = m.tensor([-1., 0.5], requires_grad=True); (2.0 ** b).sum().backward(); print('2**b', b.grad)
    b = m.tensor([-1., 0.5], requires_grad=True); (0.0 ** b).sum().backward(); print('0.0**b', b.grad)
    for name in ['max','min','amax','amin']:
        x = m.tensor([[1., nan, 3.],[4.,5.,nan],[1.,2.,3.]], requires_grad=True)
        getattr(x,name)().backward(); print(name, x.grad.tolist())
        x = m.tensor([[1., nan, 3.],[4.,5.,nan],[1.,2.,3.]], requires_grad=True)
        r = getattr(x,name)(1); r = r[0] if isinstance(r, tuple) else r
        r.sum().backward(); print(name,'dim', x.grad.tolist(), r.tolist())
        x = m.tensor([[nan, nan, 3.]], requires_grad=True)
        getattr(x,name)().backward(); print(name,'2nan', x.grad.tolist())
        x = m.tensor([[nan, nan, 3.]], requires_grad=True)
        r = getattr(x,name)(1); r = r[0] if isinstance(r, tuple) else r
        r.sum().backward(); print(name,'2nan dim', x.grad.tolist(), r.tolist())
    x = m.tensor([1., nan, 3.], requires_grad=True); y=m.tensor([2.,2.,nan], requires_grad=True)
    m.maximum(x,y).sum().backward(); print('maximum', x.grad.tolist(), y.grad.tolist())
