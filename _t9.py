import torch, jitgrad as jg
for m in (torch, jg):
    print('==', m.__name__)
    x = m.tensor([1.5, 2.], requires_grad=True)
    for f in [lambda: x.long(), lambda: x.int().float(), lambda: x.bool(), lambda: x > 1, lambda: x.argmax(), lambda: x.long().float().requires_grad_(), lambda: m.max(x.reshape(1,2), 1)[1], lambda: x.to(m.int64) ]:
        try:
            r = f(); print(r.dtype, r.requires_grad, r.grad_fn, r.is_leaf)
        except Exception as e: print('ERR', e)
    with m.no_grad():
        try: print(type(x.numpy()))
        except Exception as e: print('ERR', e)
    try: print(type(x.numpy()))
    except Exception as e: print('ERR', e)
    try: print(type(x.detach().numpy()))
    except Exception as e: print('ERR', e)
