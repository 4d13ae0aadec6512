import torch, jitgrad as jg
for m in (torch, jg):
    print('==', m.__name__)
    x = m.tensor([1.5, 2.], requires_grad=True)
    y = x * 2
    try: y.requires_grad_(); print('ok', y.requires_grad)
    except Exception as e: print('ERR', e)
    try: y.requires_grad_(False); print('ok', y.requires_grad)
    except Exception as e: print('ERR', e)
    z = m.tensor([1.,1.], requires_grad=True)
    try:
        gx, gz = m.autograd.grad((x*x).sum(), [x, z], create_graph=True, materialize_grads=True)
        print(gz, gz.requires_grad, gz.grad_fn)
        print(m.autograd.grad(gz.sum(), [z], allow_unused=True))
        print(m.autograd.grad(gz.sum(), [z], allow_unused=True, materialize_grads=True))
        print(m.autograd.grad((gx+gz).sum(), [x], allow_unused=True, materialize_grads=True))
    except Exception as e: print('ERR', repr(e))
    try:
        h = x * 3; out = (h * h).sum()
        print(m.autograd.grad(out, h, retain_graph=True))
        print(m.autograd.grad(out, h, retain_graph=True))
        print(m.autograd.grad(out, [h, x], retain_graph=True))
        print(m.autograd.grad(out, x))
    except Exception as e: print('ERR', repr(e))
