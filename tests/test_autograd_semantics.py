"""PyTorch's autograd semantics, organised as PyTorch documents them (autograd mechanics):
gradient accumulation, views and in-place ops, hooks, grad modes, saved tensors, higher
order, the functional API; then edge values, graph structure, indexing and the operations
PyTorch refuses. Every test is one body run with `m = jitgrad` and `m = torch`, compared.
(The deep view / in-place tests live with the view implementation.)
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from torch_compare import as_numpy, assert_same, run_both

import jitgrad as jg
from jitgrad.adjoint import vjp_graph
from jitgrad.interpret import evaluate

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("error")

NAN = float("nan")


def raised(fn) -> str | None:
    """The name of the exception class `fn()` raises (None when it returns)."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the class is the result compared
        return type(exc).__name__
    return None


def node_names(fn_node) -> list:
    """The names of a node's next functions (None for inputs that need no gradient)."""
    return [None if n is None else n.name() for n, _ in fn_node.next_functions]


# ----- gradient accumulation ----------------------------------------------------------------


def test_0d_gradient_accumulates_over_backwards():
    """Defect 1: `(w * 2).backward()` three times on a 0-d leaf (the third crashed)."""
    def body(m):
        w = m.tensor(1.0, requires_grad=True)
        seen = []
        for _ in range(4):
            (w * 2).backward()
            seen.append((w.grad.clone(), w.grad.shape))
        return seen
    run_both(body)


def test_0d_manual_sgd_with_zero_grad_over_epochs():
    """Defect 1: `b -= lr * b.grad` under no_grad then b.grad.zero_(), many epochs."""
    def body(m):
        b1 = m.tensor(0.5, requires_grad=True)
        b0 = m.tensor(-0.2, requires_grad=True)
        x = m.tensor([0.5, 1.5, 2.5])
        trace = []
        for _ in range(30):
            loss = ((b1 * x + b0 - 1) ** 2).mean()
            loss.backward()
            with m.no_grad():
                b1 -= 0.1 * b1.grad
                b0 -= 0.1 * b0.grad
            trace.append((loss.item(), b1.item(), b0.grad.item()))
            b1.grad.zero_()
            b0.grad.zero_()
        return trace
    run_both(body, rtol=1e-5)


def test_leaf_gradients_accumulate_across_graphs():
    def body(m):
        x = m.tensor([1., 2., 3.], requires_grad=True)
        (x * x).sum().backward()
        (x.sin()).sum().backward()
        return x.grad
    run_both(body)


def test_same_tensor_twice_among_backward_outputs():
    """Defect 4: backward([y, y], [g, g]) adds both seeds (a non-leaf y gave no gradient)."""
    def body(m):
        x = m.tensor([1., 2.], requires_grad=True)
        y = x * 3
        m.autograd.backward([y, y], [m.tensor([1., 1.]), m.tensor([0.5, 2.])])
        leaf = m.tensor([1., 2.], requires_grad=True)
        m.autograd.backward([leaf, leaf], [m.tensor([1., 1.]), m.tensor([1., 1.])])
        return x.grad, leaf.grad
    run_both(body)


def test_same_tensor_twice_among_grad_outputs():
    """Defect 4: autograd.grad([y, y], x) is not "unused"."""
    def body(m):
        x = m.tensor([1., 2.], requires_grad=True)
        y = x.exp()
        g = m.tensor([1., 3.])
        return m.autograd.grad([y, y], x, [g, g])
    run_both(body)


def test_backward_inputs_restricts_accumulation():
    def body(m):
        a = m.tensor([1., 2.], requires_grad=True)
        b = m.tensor([3., 4.], requires_grad=True)
        (a * b).sum().backward(inputs=[a])
        return a.grad, b.grad
    run_both(body)


def test_retain_graph_then_second_backward_accumulates():
    def body(m):
        x = m.tensor([0.5, 1.0], requires_grad=True)
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        y.backward()
        return x.grad
    run_both(body)


# ----- views and in-place (basic cases) -------------------------------------------------------


def test_in_place_on_leaf_requiring_grad_is_refused():
    def body(m):
        x = m.tensor([1., 2.], requires_grad=True)
        return raised(lambda: x.add_(1)), raised(lambda: x.mul_(2))
    run_both(body)


def test_in_place_on_non_leaf_keeps_the_chain_rule():
    def body(m):
        x = m.tensor([1., 2.], requires_grad=True)
        y = x * 2
        y.mul_(x)
        y.add_(1)
        y.sum().backward()
        return y, x.grad, y.grad_fn.name()
    run_both(body)


def test_view_shares_memory_with_base():
    def body(m):
        base = m.zeros(2, 3)
        view = base[0]
        view.add_(1)
        flat = base.reshape(6)
        flat.mul_(2)
        return base
    run_both(body)


def test_modified_saved_value_is_detected():
    def body(m):
        x = m.tensor([1., 2.], requires_grad=True)
        y = x * 1
        z = y.sin()
        y.add_(1)
        return raised(lambda: z.sum().backward())
    run_both(body)


# ----- hooks ---------------------------------------------------------------------------------


def test_tensor_hooks_see_and_replace_gradients():
    def body(m):
        x = m.tensor([1., 2.], requires_grad=True)
        y = x * 3
        seen = []
        y.register_hook(lambda g: seen.append(g.clone()))
        x.register_hook(lambda g: g * 10)
        handle = y.register_hook(lambda g: g + 1)
        (y * y).sum().backward(retain_graph=True)
        first = x.grad.clone()
        handle.remove()
        x.grad = None
        (y * y).sum().backward()
        return seen, first, x.grad
    run_both(body)


def test_retain_grad_populates_non_leaf_grad():
    def body(m):
        x = m.tensor([1., 2.], requires_grad=True)
        y = x.exp()
        y.retain_grad()
        (y * y).sum().backward()
        return y.grad, y.retains_grad, x.grad
    run_both(body)


# ----- grad modes -------------------------------------------------------------------------------


def test_grad_mode_context_managers_nest():
    def body(m):
        x = m.tensor([1.], requires_grad=True)
        with m.no_grad():
            a = x * 2
            with m.enable_grad():
                b = x * 2
            with m.set_grad_enabled(True):
                c = x * 2
        with m.set_grad_enabled(False):
            d = x * 2
        return a.requires_grad, b.requires_grad, c.requires_grad, d.requires_grad, m.is_grad_enabled()
    run_both(body)


def test_grad_mode_decorators_hold_inside_generators():
    """Defect 5: the decorated generator runs under the mode at every resumption."""
    def body(m):
        x = m.tensor([1.], requires_grad=True)

        @m.no_grad()
        def gen_off():
            for _ in range(2):
                yield (x * 2).requires_grad, m.is_grad_enabled()

        @m.enable_grad()
        def gen_on():
            got = yield (x * 2).requires_grad
            yield got, m.is_grad_enabled()

        @m.set_grad_enabled(False)
        def gen_set():
            yield m.is_grad_enabled()

        seen = [list(gen_off()), m.is_grad_enabled()]
        with m.no_grad():
            g = gen_on()
            seen.append(next(g))
            seen.append(g.send("sent"))
            seen.append(m.is_grad_enabled())
        seen.append(list(gen_set()))
        seen.append(m.is_grad_enabled())
        return seen
    run_both(body)


def test_grad_mode_decorator_on_a_generator_restores_on_close_and_throw():
    def body(m):
        @m.no_grad()
        def gen():
            try:
                yield m.is_grad_enabled()
                yield m.is_grad_enabled()
            except ValueError:
                yield ("caught", m.is_grad_enabled())

        g = gen()
        first = next(g)
        inside_throw = g.throw(ValueError("x"))
        g.close()
        return first, inside_throw, m.is_grad_enabled()
    run_both(body)


@pytest.mark.parametrize("make", [
    lambda m, x: x.long(), lambda m, x: x.int(), lambda m, x: x.bool(), lambda m, x: x.to(m.int64),
    lambda m, x: x > 1, lambda m, x: x == x, lambda m, x: x.argmax(), lambda m, x: m.max(x.reshape(1, 2), 1)[1],
    lambda m, x: x.long().float(),
], ids=["long", "int", "bool", "to-int64", "gt", "eq", "argmax", "max-indices", "long-float"])
def test_integer_and_bool_results_never_require_grad(make):
    """Defect 9: casts to integer/bool (and comparisons, argmax) have no grad_fn."""
    def body(m):
        x = m.tensor([1.5, 2.5], requires_grad=True)
        r = make(m, x)
        out = [str(r.dtype).replace("torch.", ""), r.requires_grad, r.grad_fn is None, r.is_leaf]
        if r.dtype.is_floating_point if m is torch else r.is_floating_point():
            out.append(r.requires_grad_().requires_grad)
        return out
    run_both(body)


def test_numpy_of_a_leaf_requiring_grad_inside_no_grad():
    """Defect 10: returned inside no_grad (PyTorch 2.13), refused outside."""
    def body(m):
        x = m.tensor([1., 2.], requires_grad=True)
        with m.no_grad():
            arr = x.numpy()
        return arr, raised(x.numpy), x.detach().numpy()
    run_both(body)


def test_requires_grad_on_non_leaf():
    """Defect 11: requires_grad_() on a non-leaf that requires grad is a no-op; False is refused."""
    def body(m):
        x = m.tensor([1., 2.], requires_grad=True)
        y = x * 2
        same = y.requires_grad_() is y

        def assign():
            y.requires_grad = True

        return (same, y.requires_grad, raised(assign), raised(lambda: y.requires_grad_(False)),
                raised(lambda: m.tensor([1]).requires_grad_()))
    run_both(body)


# ----- saved tensors ------------------------------------------------------------------------


def test_second_backward_without_retain_graph_is_refused():
    def body(m):
        x = m.tensor([1., 2.], requires_grad=True)
        y = (x.exp() * x).sum()
        y.backward()
        return raised(y.backward), x.grad
    run_both(body)


def test_version_counter_ignores_values_not_saved():
    def body(m):
        x = m.tensor([1., 2.], requires_grad=True)
        y = x * 1
        z = y + 3  # add saves nothing: modifying y afterwards is fine
        y.mul_(5)
        z.sum().backward()
        return x.grad
    run_both(body)


# ----- higher order -------------------------------------------------------------------------


def test_create_graph_gives_second_derivatives():
    def body(m):
        x = m.tensor([0.5, 1.5], requires_grad=True)
        (g,) = m.autograd.grad((x ** 3).sum(), x, create_graph=True)
        (gg,) = m.autograd.grad(g.sum(), x)
        return g, gg
    run_both(body)


def test_materialize_grads_with_create_graph_are_differentiable_zeros():
    """Defect 11: the materialized zeros require grad under create_graph."""
    def body(m):
        x = m.tensor([1.5, 2.], requires_grad=True)
        z = m.tensor([1., 1.], requires_grad=True)
        gx, gz = m.autograd.grad((x * x).sum(), [x, z], create_graph=True, materialize_grads=True)
        again = m.autograd.grad((gx + gz).sum(), [x, z], allow_unused=True, materialize_grads=True)
        return gz, gz.requires_grad, gz.grad_fn is None, again
    run_both(body)


def test_grad_to_intermediates_twice_with_retain_graph():
    """Defect 11: autograd.grad to non-leaf tensors, twice over one retained graph, then backward."""
    def body(m):
        x = m.tensor([0.3, 0.7], requires_grad=True)
        h = x.exp()
        k = h.sin()
        out = (k * h).sum()
        first = m.autograd.grad(out, [h, k], retain_graph=True)
        second = m.autograd.grad(out, [k, h], retain_graph=True)
        third = m.autograd.grad(out, [h, x], retain_graph=True)
        out.backward()
        return first, second, third, x.grad
    run_both(body)


# ----- functional API -------------------------------------------------------------------------


def test_functional_api():
    def f(x, y):
        return (x.exp() * y).sin()

    def body(m):
        fn = m.autograd.functional
        x, y = m.tensor([0.1, 0.2]), m.tensor([0.3, -0.4])
        v = m.tensor([1., 0.5])
        scalar = lambda x: (x.exp() * x).sum()  # noqa: E731
        return (fn.jacobian(f, (x, y)), fn.vjp(f, (x, y), v), fn.jvp(f, (x, y), (v, v)),
                fn.hessian(scalar, x), fn.hvp(scalar, x, v), fn.vhp(scalar, x, v))
    run_both(body, rtol=1e-5)


# ----- edge values (one VJP rule each, shared by eager and compiled mode) ---------------------


def test_pow_with_zero_exponent_at_zero_has_zero_gradient():
    """Defect 7: d/dx x**0 at x = 0 is 0 (it was 0 * inf = nan)."""
    def body(m):
        x = m.tensor([0., 2., 0.], requires_grad=True)
        e = m.tensor([0., 0., 1.], requires_grad=True)
        x.pow(e).sum().backward()
        return x.grad, e.grad
    run_both(body)


@pytest.mark.parametrize("exponent", [-2., -1., -0.5, 0., 0.5, 2.])
def test_pow_gradients_at_zero_base(exponent):
    """Defect 7: d/db 0**b is -inf for b < 0 (it was nan), 0 for b >= 0."""
    def body(m):
        a = m.tensor([0.], requires_grad=True)
        b = m.tensor([exponent], requires_grad=True)
        (a ** b).sum().backward()
        c = m.tensor([exponent], requires_grad=True)
        (0.0 ** c).sum().backward()
        return a.grad, b.grad, c.grad
    run_both(body)


def test_pow_gradients_agree_in_compiled_mode_at_zero():
    a, b = np.array([0., 0., 2.]), np.array([0., -1., 1.])
    compiled = jg.grad(lambda a, b: (a ** b).sum(), argnums=(0, 1))(a, b)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (ta ** tb).sum().backward()
    assert_same(compiled, (ta.grad, tb.grad))


_NAN_INPUT = [[1., NAN, 3.], [4., 5., NAN], [1., 2., 3.]]


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin"])
@pytest.mark.parametrize("values", [_NAN_INPUT, [[NAN, NAN, 3.]], [[1., 3., 3.]]], ids=["nan", "two-nan", "tie"])
def test_extremum_backward_routes_gradient_to_nan(name, values):
    """Defect 7: max()/min() send the gradient to the NaN(s) (evenly), max(dim) to the index it
    returns; amax/amin give NaN gradients where the result is NaN (all as PyTorch)."""
    def body(m):
        x = m.tensor(values, requires_grad=True)
        getattr(x, name)().backward()
        full = x.grad
        x = m.tensor(values, requires_grad=True)
        r = getattr(x, name)(1)
        r = r[0] if isinstance(r, tuple) else r
        r.sum().backward()
        return full, x.grad, r
    run_both(body)


def test_extremum_nan_gradient_agrees_in_compiled_mode():
    x = np.array(_NAN_INPUT)
    tx = torch.tensor(x, requires_grad=True)
    tx.max().backward()
    assert_same(jg.grad(lambda x: x.max())(x), tx.grad)


def test_maximum_minimum_with_nan_give_gradient_to_both():
    def body(m):
        x = m.tensor([1., NAN, 3., 2.], requires_grad=True)
        y = m.tensor([2., 2., NAN, 2.], requires_grad=True)
        (m.maximum(x, y) + 2 * m.minimum(x, y)).sum().backward()
        return x.grad, y.grad
    run_both(body)


def test_edge_values_are_quiet_with_warnings_as_errors():
    def body(m):
        x = m.tensor([0., -1., 1e30], requires_grad=True)
        y = x.log() + x.sqrt() + (x * 1e30).exp() + (x * x).sum()
        y.sum().backward()
        return y, x.grad
    run_both(body)


# ----- graph structure ------------------------------------------------------------------------


@pytest.mark.parametrize("expr", [
    lambda b: 2 * b, lambda b: b * 2, lambda b: 2 + b, lambda b: 2 - b, lambda b: 2 / b, lambda b: 2 ** b,
    lambda b: 2.5 ** b, lambda b: b ** 2, lambda b: b - 2, lambda b: b / 2, lambda b: np.float32(2) * b,
], ids=["2*b", "b*2", "2+b", "2-b", "2/b", "2**b", "2.5**b", "b**2", "b-2", "b/2", "np2*b"])
def test_next_functions_follow_pytorch_operand_order(expr):
    """Defect 15: for `2 * b` next_functions[0] is b's node; `2 - b` is RsubBackward1, `2 / b` a
    mul of reciprocal(b), `2 ** b` PowBackward2, as PyTorch records them."""
    def body(m):
        b = m.tensor([1., 2.], requires_grad=True)
        c = expr(b)
        first = c.grad_fn.next_functions[0][0]
        c.sum().backward()
        return c.grad_fn.name(), node_names(c.grad_fn), first.name(), c, b.grad
    run_both(body)


def test_seed_graph_walk_reaches_the_leaf():
    def body(m):
        a = m.linspace(0., 2. * math.pi, steps=5, requires_grad=True)
        d = 2 * m.sin(a) + 1
        names, node = [], d.grad_fn
        while node is not None:
            names.append(node.name())
            node = node.next_functions[0][0] if node.next_functions else None
        return names
    run_both(body)


# ----- indexing (PyTorch's advanced-indexing rule, not NumPy's) --------------------------------


_INDEX_CASES = {
    "int-slice-list": lambda m: (3, slice(2, None), [1, 3]),
    "int-full-list": lambda m: (0, slice(None), [1, 3]),
    "list-full-int": lambda m: ([1, 3], slice(None), 0),
    "full-list-int-list": lambda m: (slice(None), [1, 3], 0, [0, 2]),
    "int-list-full-int": lambda m: (0, [1, 3], slice(None), 1),
    "int-full-list-int": lambda m: (0, slice(None), [1, 3], 1),
    "list-full-list": lambda m: ([1, 3], slice(None), [0, 2]),
    "none-int-full-list": lambda m: (None, 0, slice(None), [1, 3]),
    "int-none-list": lambda m: (0, None, [1, 3]),
    "list-none-list": lambda m: ([1, 3], None, [0, 2]),
    "int-ellipsis-list": lambda m: (0, Ellipsis, [1, 3]),
    "ellipsis-int-list": lambda m: (Ellipsis, 0, [1, 3]),
    "0d-tensor-full-list": lambda m: (m.tensor(0), slice(None), [1, 3]),
    "full-0d-tensor-full-list": lambda m: (slice(None), m.tensor(1), slice(None), [1, 3]),
    "int-mask-full-list": lambda m: (1, m.tensor([True, False, True, False, False, True]), slice(None), [1, 2, 3]),
    "2d-list-full-int": lambda m: ([[0, 1], [2, 3]], slice(None), 0),
}


@pytest.mark.parametrize("case", list(_INDEX_CASES), ids=list(_INDEX_CASES))
def test_advanced_indexing_follows_pytorch(case):
    """Defect 17: e.g. x[3, 2:, [1, 3]] has shape (4, 2) in PyTorch (NumPy: (2, 4)); values,
    gradients and x[index] = v agree."""
    data = np.arange(5 * 6 * 7 * 8, dtype=np.float64).reshape(5, 6, 7, 8)

    def body(m):
        x = m.tensor(data, requires_grad=True)
        r = x[_INDEX_CASES[case](m)]
        w = m.tensor(np.random.default_rng(0).standard_normal(tuple(r.shape)))
        (r * w).sum().backward()
        y = m.zeros(5, 6, 7, 8, dtype=m.float64)
        y[_INDEX_CASES[case](m)] = w
        return tuple(r.shape), r, x.grad, y
    run_both(body)


def test_advanced_indexing_ir_and_adjoint_match_pytorch():
    """The traced graph (the compiled mode's input) and its adjoint follow the same rule: run
    with the reference interpreter, they agree with PyTorch. (Running such graphs through the
    fused kernels is issue 11's compiled-mode item.)"""
    data = np.arange(5 * 6 * 7, dtype=np.float64).reshape(5, 6, 7)

    def f(y):
        return (y[3, 2:, [1, 3]] * y[0, :4, [2, 4]]).sum()

    graph = jg.make_ir(lambda y: y[3, 2:, [1, 3]])(data)
    assert tuple(graph.outputs[0].shape) == (4, 2)
    value, grad = evaluate(vjp_graph(jg.make_ir(f)(data), wrt=0), data)
    t = torch.tensor(data, requires_grad=True)
    expected = f(t)
    expected.backward()
    assert_same([value, grad], [expected, t.grad])


# ----- refused operations ---------------------------------------------------------------------


def test_data_assignment_rules():
    """Defect 13: `.data =` a non-float tensor on a tensor that requires grad is refused."""
    def body(m):
        x = m.tensor([1., 2.], requires_grad=True)

        def set_int():
            x.data = m.tensor([1, 2])

        def set_double():
            x.data = m.tensor([3., 4.], dtype=m.float64)

        plain = m.tensor([1., 2.])

        def set_plain_int():
            plain.data = m.tensor([5, 6])

        return raised(set_int), raised(set_double), str(x.dtype).replace("torch.", ""), raised(set_plain_int), plain
    run_both(body)


def test_grad_cannot_be_the_tensor_itself():
    """Defect 13: `x.grad = x` is refused; a copy is fine."""
    def body(m):
        x = m.tensor([1., 2.], requires_grad=True)

        def assign_self():
            x.grad = x

        result = raised(assign_self)
        x.grad = x.detach().clone()
        return result, x.grad
    run_both(body)


def test_detach_in_place_on_a_view_is_refused():
    """Defect 13: view.detach_() raises; on a non-view it makes a leaf."""
    def body(m):
        base = m.tensor([1., 2., 3.])
        leafy = m.tensor([1., 2., 3.], requires_grad=True)
        y = leafy * 2
        y.detach_()
        return (raised(lambda: base[:2].detach_()), raised(lambda: (leafy * 1).reshape(3, 1).detach_()),
                y.requires_grad, y.is_leaf)
    run_both(body)


def test_gradcheck_fails_on_shape_changing_function():
    """Defect 13: gradcheck fails (AssertionError, as PyTorch) when outputs change shape."""
    def body(m):
        x = m.tensor([1., 2., 3.], dtype=m.float64, requires_grad=True)

        def f(a):
            return a[: 1 + int(a[0].item() > 1.0)] * 2

        return (raised(lambda: m.autograd.gradcheck(f, (x,))),
                raised(lambda: m.autograd.gradcheck(f, (x,), raise_exception=False)))
    run_both(body)


def test_anomaly_mode_raises_the_real_error_with_warnings_as_errors():
    """Defect 14: with warnings as errors, the node's own RuntimeError comes out (not a warning)."""
    def body(m):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ctx = m.autograd.detect_anomaly()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with ctx:
                x = m.tensor([1., 2.], requires_grad=True)
                y = (x * 2).sin().sum()
                y.backward()
                try:
                    y.backward()
                except Exception as exc:  # noqa: BLE001
                    return type(exc).__name__, "backward through the graph a second time" in str(exc)
        return None
    run_both(body)


def test_non_scalar_backward_needs_a_gradient():
    def body(m):
        x = m.tensor([1., 2.], requires_grad=True)
        return raised((x * 2).backward)
    run_both(body)


def test_results_carry_no_stray_state():
    """After the refusals above nothing is half-updated: .grad stays as it was."""
    def body(m):
        x = m.tensor([1., 2.], requires_grad=True)
        (x * x).sum().backward()
        before = x.grad.clone()
        y = (x * 3).sum()
        y.backward()
        raised(y.backward)
        return before, x.grad, as_numpy(x.grad).shape
    run_both(body)


def test_retained_grad_is_filled_by_autograd_grad_and_backward_inputs():
    """retain_grad() fills .grad whenever the tensor's gradient is computed (PyTorch 2)."""
    def body(m):
        x = m.tensor([1.5, 2.], requires_grad=True)
        h = x.exp()
        h.retain_grad()
        k = h.sin()
        k.retain_grad()
        out = (k * h).sum()
        seen = [m.autograd.grad(out, x, retain_graph=True), h.grad.clone(), k.grad.clone()]
        m.autograd.grad(out, h, retain_graph=True)
        seen += [h.grad.clone(), k.grad.clone()]
        out.backward(inputs=[x], retain_graph=True)
        seen += [h.grad.clone(), x.grad.clone()]
        out.backward(inputs=[h])
        return seen + [h.grad, k.grad]
    run_both(body)
