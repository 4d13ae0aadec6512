"""Declaring a primitive without tests fails CI: every primitive in jitgrad.prims.ALL is bound by
some op-table case, and every differentiable one by a case whose gradients are checked."""
from __future__ import annotations

import numpy as np
import pytest
from op_table import CASES, GRAD_CASES, make_inputs

import jitgrad
from jitgrad import core, prims


def _bound_prims(case) -> set[str]:
    """Names of the primitives a case really binds (forward, and backward for grad cases)."""
    seen: set[str] = set()

    def hook(run, prim, args, params):
        seen.add(prim.name)
        return run(prim, args, params)

    core.profile_hook[0] = hook
    try:
        xs = make_inputs(case, np.float64)
        outs = case.jg(*xs)
        outs = outs if isinstance(outs, tuple) else (outs,)
        diff = [o for o in outs if o.requires_grad]
        wrt = [x for x in xs if x.requires_grad]
        if diff and wrt:
            jitgrad.autograd.grad([o.sum() for o in diff], wrt, allow_unused=True, create_graph=True)
    finally:
        core.profile_hook[0] = None
    return seen


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case_binds_the_prims_it_names(case):
    """A case's `prims` list is true: each named primitive is bound while running it."""
    unknown = set(case.prims) - set(prims.BY_NAME)
    assert not unknown, f"{case.name} names unknown primitives {sorted(unknown)}"
    missing = set(case.prims) - _bound_prims(case)
    assert not missing, f"{case.name} claims {sorted(missing)} but never binds them"


def test_every_primitive_has_a_case():
    covered = {p for c in CASES for p in c.prims}
    missing = sorted(p.name for p in prims.ALL if p.name not in covered)
    assert not missing, f"primitives with no op-table case: {missing} (add cases to tests/op_table.py)"


def test_every_differentiable_primitive_has_a_gradient_case():
    covered = {p for c in GRAD_CASES if not c.no_gradcheck for p in c.prims}
    missing = sorted(p.name for p in prims.ALL if p.differentiable and p.name not in covered)
    assert not missing, f"differentiable primitives with no gradient case: {missing}"


def test_every_differentiable_primitive_is_checked_to_second_order():
    covered = {p for c in GRAD_CASES if not c.no_gradcheck and not c.no_second_order for p in c.prims}
    missing = sorted(p.name for p in prims.ALL if p.differentiable and p.name not in covered)
    assert not missing, f"differentiable primitives with no second-order case: {missing}"


def test_registry_is_consistent():
    """ALL has unique names, BY_NAME indexes it, and each elementwise op has a template."""
    names = [p.name for p in prims.ALL]
    assert len(names) == len(set(names))
    assert prims.BY_NAME == {p.name: p for p in prims.ALL}
    for p in prims.ALL:
        if p.kind == core.ELEMENTWISE:
            assert p.template, f"elementwise primitive {p.name} has no scalar template"
        if p.differentiable:
            assert p.node_name, f"differentiable primitive {p.name} has no grad_fn name"
