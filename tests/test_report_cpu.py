"""What every figure records of its processor: the CPU's facts and any
cgroup CPU quota, read from cgroup v2 or v1, unlimited told from unknown."""

from grokjax import report


def _cgroup(tmp_path, own: str, files: dict):
    tmp_path = tmp_path / str(len(list(tmp_path.iterdir())))  # a fresh folder per call
    root = tmp_path / "cgroup"
    root.mkdir(parents=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (tmp_path / "self").write_text(own)
    return report.cgroup_cpu_quota(str(root), str(tmp_path / "self"))


def test_cgroup_v2_quota_of_the_process_own_group(tmp_path):
    own = "0::/job/7\n"
    assert _cgroup(tmp_path, own, {"job/7/cpu.max": "150000 100000\n", "cpu.max": "max 100000\n"}) == 1.5
    assert _cgroup(tmp_path, own, {"cpu.max": "max 100000\n"}) == "unlimited"  # own group not visible: the root's


def test_cgroup_v1_quota_and_unlimited(tmp_path):
    own = "4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n"
    quota = {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "200000\n", "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n"}
    assert _cgroup(tmp_path, own, quota) == 2.0
    assert _cgroup(tmp_path, own, {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}) == "unlimited"


def test_cgroup_unknown_is_none(tmp_path):
    assert _cgroup(tmp_path, "garbage\n", {}) is None
    assert _cgroup(tmp_path, "0::/\n", {"cpu.max": "not numbers\n"}) is None


def test_cpu_facts_where_proc_cpuinfo_has_them(monkeypatch):
    fields = {"model name": "Some CPU", "cpu family": "25", "model": "33", "flags": "fpu avx avx2 fma hypervisor",
              "cpu MHz": "3000.5", "cache size": "512 KB", "siblings": "4", "cpu cores": "2"}
    monkeypatch.setattr(report, "cpuinfo", lambda: fields)
    cpu = report.cpu()
    assert (cpu["family"], cpu["model"], cpu["vector_extensions"]) == ("25", "33", ["avx", "avx2", "fma"])
    assert cpu["mhz"] == 3000.5 and cpu["threads_per_core"] == 2 and cpu["virtualized"] is True
    monkeypatch.setattr(report, "cpuinfo", lambda: {"model name": "arm", "cpu MHz": "?"})  # no flags: unknown, not False
    assert report.cpu()["virtualized"] is None and report.cpu()["mhz"] is None
