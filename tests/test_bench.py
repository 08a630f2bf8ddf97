"""What the benchmark prints and records (no timing is tested: speed belongs to the command)."""

from grokjax import bench, reference_torch

ENV = {"backend": "cpu", "devices": ["cpu"], "cpu": "Some CPU", "cpu_count": 2, "jax": "0.0", "xla_flags": "",
       "cpu_detail": {"name": "Some CPU", "family": "25", "model": "1", "vector_extensions": ["avx", "avx2", "fma"]}}


def test_every_figure_names_the_cpus_family_model_and_vector_extensions():
    assert bench.cpu_line(ENV) == "Some CPU (family 25 model 1, avx2; 2 cores)"
    limited = {**ENV, "xla_flags": "--xla_force_host_platform_device_count=4 --xla_cpu_max_isa=AVX2"}
    assert bench.cpu_line(limited) == "Some CPU (family 25 model 1, avx2, XLA limited to AVX2; 2 cores)"
    bare = {**ENV, "cpu_detail": {"name": "arm64"}}
    assert bench.cpu_line(bare) == "Some CPU (no AVX2; 2 cores)"


def test_saved_documents_read_back_with_the_reference_and_the_cpu():
    case = {c: 1 for c in bench.COLUMNS} | {"model_steps_per_s": 30.0, "reference_steps_per_s": 15.0,
                                            "ratio_to_reference": 2.0}
    doc = {"environment": ENV, "cases": [case], "reference": {"steps_per_s": 15.0, "torch": "2.x", "cpu_capability": "AVX2"}}
    text = bench.markdown([doc])
    assert "| 30.0 | 15.0 | 2.0 |" in text
    assert "PyTorch reference step, timed alone: 15.0 steps/s (torch 2.x, AVX2)" in text
    assert "Some CPU (family 25 model 1, avx2; 2 cores)" in text
    older = {k: v for k, v in case.items() if k != "reference_executed_gflops"}  # written before the column
    assert "| 74.8 |" in bench.markdown([{**doc, "cases": [older]}])  # 15 steps/s × 4.99 GFLOP


def test_without_torch_the_reference_is_skipped_with_the_reason(monkeypatch):
    monkeypatch.setattr(reference_torch, "available", lambda: False)
    info, paired = bench.time_reference(5, 1)
    assert "torch is not installed" in info["skipped"] and paired is None


def test_a_cases_ratio_pairs_each_timing_with_the_reference_right_after():
    calls = []

    def reference():  # a stand-in reference at 10 steps/s, counting its calls
        calls.append(1)
        return 10.0

    row = bench.time_case(bench.Case(1, "map", 1, "factorized", "highest", 1), steps=2, repeats=3, reference=reference)
    assert len(calls) == 3 and row["reference_steps_per_s"] == 10.0
    assert row["reference_executed_gflops"] == 49.9  # 10 steps/s × the full path's 4.99 GFLOP
    # with three timings the median of the ratios is the median rate's: model-steps/s over 10
    assert abs(row["ratio_to_reference"] - row["model_steps_per_s"] / 10) < 0.01


def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path):
    assert bench.main(["--runs", "0"]) == 2
    assert capsys.readouterr().err.strip() == "grokjax.bench: error: --runs values must be positive, got '0'"
    other = tmp_path / "config.json"  # some other JSON
    other.write_text('{"spec": {}}')
    assert bench.main(["--read", str(other)]) == 2
    assert "is not what `python -m grokjax.bench --json` writes" in capsys.readouterr().err
    for text in ('{"cases": 3}', '{"cases": [{"x": 1}]}'):  # the right key, another shape
        other.write_text(text)
        assert bench.main(["--read", str(other)]) == 2
        err = capsys.readouterr().err
        assert "not what `python -m grokjax.bench --json` writes" in err and len(err.strip().splitlines()) == 1


def test_step_flops_of_the_three_paths_at_the_paper_config():
    """2 blocks of width 128, MLP 512, 4 positions, 99 symbols, batch 512:
    forward and backward are 3 × the forward's 2 × MACs."""
    from grokjax.config import Config

    config = Config()
    block = 4 * 128 * 128 + 2 * 128 * 512  # q, k, v, out and the MLP, per position
    full = 6 * 512 * (2 * 4 * block + 4 * 128 * 99)
    assert bench.step_flops(config, 99, "full") == full
    assert round(full / 1e9, 2) == 4.99
    assert full > bench.step_flops(config, 99, "answer") > bench.step_flops(config, 99, "factorized")


def test_calibration_matmuls_compute_the_product_in_every_library():
    import numpy as np

    rng = np.random.default_rng(1)
    a, b, bt = (rng.standard_normal(s, dtype=np.float32) for s in ((8, 4), (4, 6), (6, 4)))
    for right, transposed, want in ((b, False, a @ b), (bt, True, a @ bt.T)):
        calls = bench.calibration_calls(a, right, transposed)
        assert {"xla", "numpy"} <= set(calls) and ("torch" in calls) == reference_torch.available()
        for lib, call in calls.items():
            np.testing.assert_allclose(np.asarray(call()), want, rtol=1e-5, err_msg=lib)


def test_saved_calibration_reads_back():
    doc = {"environment": ENV, "cases": [], "matmul_gflops": {"512x128 @ 128x512": {"xla": 120.0, "numpy": 150.0}},
           "op_latency_us": 21.5}
    assert ("One matmul alone, GFLOP/s: 512x128 @ 128x512: XLA 120.0, numpy 150.0. "
            "XLA's small ops in a chain: 21.5 µs each") in bench.markdown([doc])
