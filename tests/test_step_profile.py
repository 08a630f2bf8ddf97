"""sweeps/step_profile.py sorts a step's matmuls by operand order: the
forward's ``x @ W``, the input gradient's ``dy @ Wᵀ``, the weight gradient's
``xᵀ @ dy``, and batched dots, each with its FLOPs."""

import importlib.util
from pathlib import Path

import pytest

HLO = """HloModule m

%fused_computation.1 (param_0.1: f32[8,4], param_1.1: f32[6,4]) -> f32[8,6] {
  %param_0.1 = f32[8,4]{1,0} parameter(0)
  %param_1.1 = f32[6,4]{1,0} parameter(1)
  ROOT %dot.1 = f32[8,6]{1,0} dot(%param_0.1, %param_1.1), lhs_contracting_dims={1}, rhs_contracting_dims={1}
}

%fused_computation.2 (param_0.2: f32[8,4]) -> f32[8,4] {
  %param_0.2 = f32[8,4]{1,0} parameter(0)
  ROOT %negate.1 = f32[8,4]{1,0} negate(%param_0.2)
}

ENTRY %main (a: f32[8,4], w: f32[4,6], b: f32[6,4], q: f32[2,3,5,7], k: f32[2,3,7,4]) -> f32[8,6] {
  %a = f32[8,4]{1,0} parameter(0)
  %w = f32[4,6]{1,0} parameter(1)
  %b = f32[6,4]{1,0} parameter(2)
  %q = f32[2,3,5,7]{3,2,1,0} parameter(3)
  %k = f32[2,3,7,4]{3,2,1,0} parameter(4)
  %dot.2 = f32[8,6]{1,0} dot(%a, %w), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  %ynn_fusion.1 = f32[8,6]{1,0} fusion(%a, %b), kind=kCustom, calls=%fused_computation.1
  %dot.3 = f32[4,6]{1,0} dot(%a, %dot.2), lhs_contracting_dims={0}, rhs_contracting_dims={0}
  %dot.4 = f32[2,3,5,4]{3,2,1,0} dot(%q, %k), lhs_batch_dims={0,1}, lhs_contracting_dims={3}, rhs_batch_dims={0,1}, rhs_contracting_dims={2}
  %ynn_fusion.2 = f32[8,4]{1,0} fusion(%a), kind=kCustom, calls=%fused_computation.2
  ROOT %out = f32[8,6]{1,0} add(%dot.2, %ynn_fusion.1)
}
"""


@pytest.fixture(scope="module")
def step_profile():
    path = Path(__file__).resolve().parents[1] / "sweeps" / "step_profile.py"
    spec = importlib.util.spec_from_file_location("step_profile", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dots_sorted_by_operand_order_with_flops(step_profile):
    dots = step_profile.parse_dots(HLO)
    assert set(dots) == {"dot.2", "ynn_fusion.1", "dot.3", "dot.4"}
    assert dots["dot.2"]["kind"] == "dot A·B" and dots["dot.2"]["flops"] == 2 * 8 * 6 * 4
    assert dots["ynn_fusion.1"]["kind"] == "dot A·Bᵀ" and dots["ynn_fusion.1"]["library"]
    assert dots["ynn_fusion.1"]["shapes"] == [[8, 4], [6, 4]]
    assert dots["dot.3"]["kind"] == "dot Aᵀ·B" and dots["dot.3"]["flops"] == 2 * 4 * 6 * 8
    assert dots["dot.4"]["kind"] == "dot batched" and dots["dot.4"]["flops"] == 2 * (2 * 3 * 5 * 4) * 7


def test_other_ops_by_name(step_profile):
    dots = step_profile.parse_dots(HLO)
    assert step_profile.kind_of("ynn_fusion.2", dots) == "library reduce/elementwise"
    assert step_profile.kind_of("transpose_copy_fusion.3", dots) == "layout copy"
    assert step_profile.kind_of("copy_bitcast_fusion.17", dots) == "layout copy"
    assert step_profile.kind_of("multiply_add_fusion.1", dots) == "other"


def test_op_overlap_measures_the_time_at_least_one_op_ran():
    """Overlapping intervals count once, gaps not at all (µs in, ms out)."""
    path = Path(__file__).parent.parent / "sweeps" / "op_overlap.py"
    spec = importlib.util.spec_from_file_location("op_overlap", path)
    op_overlap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(op_overlap)
    assert op_overlap.union_ms([(20, 30), (0, 10), (5, 15)]) == pytest.approx(0.025)
    assert op_overlap.union_ms([(0, 100), (10, 20)]) == pytest.approx(0.1)
    assert op_overlap.union_ms([]) == 0.0
