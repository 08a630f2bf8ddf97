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
    case = {c: 1 for c in bench.COLUMNS} | {"model_steps_per_s": 30.0, "ratio_to_reference": 2.0}
    doc = {"environment": ENV, "cases": [case], "reference": {"steps_per_s": 15.0, "torch": "2.x", "cpu_capability": "AVX2"}}
    text = bench.markdown([doc])
    assert "| 30.0 | 2.0 |" in text
    assert "PyTorch reference step: 15.0 steps/s (torch 2.x, AVX2)" in text
    assert "Some CPU (family 25 model 1, avx2; 2 cores)" in text


def test_without_torch_the_reference_is_skipped_with_the_reason(monkeypatch):
    monkeypatch.setattr(reference_torch, "available", lambda: False)
    assert "torch is not installed" in bench.time_reference(5, 1)["skipped"]


def test_bad_input_is_one_line_and_exit_2(capsys):
    assert bench.main(["--runs", "0"]) == 2
    assert capsys.readouterr().err.strip() == "grokjax.bench: error: --runs values must be positive, got '0'"
