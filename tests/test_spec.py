"""The sweep spec: one validation, three ways in, an exact round trip."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from grokjax import landscape, sweep
from grokjax.knobs import KNOBS
from grokjax.plan import expand
from grokjax.spec import (VARIANTS, TransformerSpec, Product, SpecError, SweepSpec, TableTask, eval_schedule, parse_fracs,
                          read_toml, toml_profiles)


@pytest.mark.parametrize(
    "text, want",
    [
        ("0.3:0.7", (0.3, 0.4, 0.5, 0.6, 0.7)),
        ("0.2:0.9", (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)),
        ("0.3:0.9:0.2", (0.3, 0.5, 0.7, 0.9)),
        ("0.25:0.5:0.05", (0.25, 0.3, 0.35, 0.4, 0.45, 0.5)),
        ("0.1:1:0.2", (0.1, 0.3, 0.5, 0.7, 0.9)),  # an end of 1 the grid never reaches
        ("0.1,0.5", (0.1, 0.5)),
        ("0.5", (0.5,)),
    ],
)
def test_parse_fracs(text, want):
    assert parse_fracs(text) == want


def busy_spec():
    return SweepSpec(
        name="busy", task=TableTask(op="s5_conj"), model=TransformerSpec(n_layers=1, d_model=64, n_heads=8, d_mlp=100),
        fracs=(0.25, 0.5), seeds=3,
        grid=(Product(lr=(1e-3, 3e-3), weight_decay=(0, 0.5), orthograd=(0, 1), outliers=(0, 7)),
              Product(variant="adam_fullbatch_noise", init_scale=(0.5, 2.0)),
              Product(variant="adamw_to_init", full_batch=(False, True))),
        batch_size=256, loss="stablemax", x64=True, matmul_precision="tensorfloat32", run_axis="vmap",
        steps=12345, eval_every="log:40", stop_at=0.95, ckpt_every=500, ckpt_keep=2, devices=1,
    )


def test_the_spec_round_trips_through_its_dict_and_json():
    for spec in (SweepSpec(), busy_spec()):
        d = spec.to_dict()
        assert SweepSpec.from_dict(d) == spec
        assert SweepSpec.from_dict(json.loads(json.dumps(d))) == spec
        assert SweepSpec.from_dict(d).to_dict() == d


def test_values_are_canonical_whatever_types_come_in():
    a = SweepSpec(fracs=[0.5], grid=[Product(lr=1e-3, weight_decay=1, outliers=2.0)], eval_every="100")
    b = SweepSpec(fracs=(0.5,), grid=(Product(lr=(0.001,), weight_decay=(1.0,), outliers=(2,)),), eval_every=100)
    assert a == b and isinstance(a.grid[0].outliers[0], int) and a.grid[0].weight_decay == (1.0,)


def test_a_product_takes_its_variants_numbers_and_explicit_ones_win():
    assert Product(variant="adam").weight_decay == (0.0,)
    assert Product(variant="adam_lr3e-4").lr == (3e-4,)
    assert Product(variant="adam_fullbatch").full_batch == (True,)
    assert Product(variant="adamw_to_init", init_scale=(1, 2)).init_scale == (1.0, 2.0)
    assert Product().lr == (1e-3,) and Product().weight_decay == (1.0,)  # the paper's AdamW


def test_a_sweep_file_with_a_profile_and_a_flag_override(tmp_path):
    path = tmp_path / "fig.toml"
    path.write_text(
        """
# the file's own values are the CPU scale
fracs = "0.3:0.5"
seeds = 1
steps = 300
eval_every = "log:20"
default_profile = "cpu"

[task]
op = "s5_mul"

[model]
n_layers = 1

[[grid]]
variant = "adamw,adam"
init_scale = [1, 2]

[profile.cpu]
[profile.gpu]
seeds = 3
steps = 100000
model = { d_model = 256 }
"""
    )
    cpu = SweepSpec.from_toml(path)
    assert cpu.name == "fig" and cpu.steps == 300 and cpu.seeds == 1 and cpu.fracs == (0.3, 0.4, 0.5)
    assert cpu.task == TableTask(op="s5_mul") and cpu.model == TransformerSpec(n_layers=1)
    assert [p.variant for p in cpu.grid] == ["adamw", "adam"] and cpu.grid[1].init_scale == (1.0, 2.0)
    gpu = SweepSpec.from_toml(path, "gpu")
    assert gpu.seeds == 3 and gpu.steps == 100000 and gpu.model == TransformerSpec(n_layers=1, d_model=256)
    assert gpu.replace(seeds=1, steps=300, model=TransformerSpec(n_layers=1)) == cpu
    # flags on the command line override the file, the profile included
    argv = ["--spec", str(path), "--profile", "gpu", "--steps", "50", "--init-scale", "3", "--op", "s5_aba"]
    args = sweep.make_parser().parse_args(argv)
    got = sweep.spec_from_args(args, sweep.given_flags(sweep.make_parser(), argv))
    assert got == gpu.replace(steps=50, task=TableTask(op="s5_aba"),
                              grid=(Product(variant="adamw", init_scale=3), Product(variant="adam", init_scale=3)))


@pytest.mark.parametrize(
    "text, message",
    [
        ("steps = 10\n[profile.cpu]\n", "has no profile 'gpu'; its profiles: cpu"),
        ("stepz = 10\n", "unknown spec key 'stepz'"),
        ("[task]\nop = 'mul'\n", "unknown op 'mul'"),
        ("[[grid]]\nlr = [0.1, 'x']\n", "lr 'x' is not a number"),
        ("[[grid]]\nlearning_rate = 0.1\n", "unknown grid key 'learning_rate'"),
        ("steps = [\n", "is not valid TOML"),
    ],
)
def test_bad_sweep_files_say_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("(", r"\(")):
        SweepSpec.from_dict(read_toml(path, "gpu" if "profile" in text else None))


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(fracs=(0.5, 1.2)), "fraction 1.2 is outside (0, 1)"),
        (dict(fracs=(0.5, 0.5)), "repeats a fraction"),
        (dict(seeds=0), "seeds must be positive"),
        (dict(steps=-5), "steps must be positive"),
        (dict(eval_every="log:1"), "log:N needs a whole N >= 2"),
        (dict(eval_every="sometimes"), "use a number of steps or log:N"),
        (dict(stop_at=1.5), "stop_at 1.5 must be in (0, 1]"),
        (dict(grid=lambda: (Product(lr=0),)), "lr 0 must be > 0"),
        (dict(grid=lambda: (Product(orthograd=(0, 2)),)), "orthograd 2 takes 0 or 1"),
        (dict(grid=lambda: (Product(grokfast_alpha=1),)), "grokfast_alpha 1 must be in [0, 1)"),
        (dict(task=lambda: TableTask(op="div", modulus=96)), "modulus must be prime; 96 is not"),
        (dict(model=lambda: TransformerSpec(d_model=30, n_heads=4)), "n_heads 4 does not divide d_model 30"),
        (dict(model=lambda: TransformerSpec(positions="fixed")), "unknown positions 'fixed'; valid: sinusoid, learned"),
        (dict(model=lambda: TransformerSpec(mlp_bias="yes")), "mlp_bias must be true or false, got 'yes'"),
        (dict(model=lambda: TransformerSpec(weight_init="xavier")), "unknown weight_init 'xavier'; valid: torch, nanda"),
        (dict(loss="hinge"), "unknown loss 'hinge'"),
        (dict(first_seed=-1), "first_seed must be >= 0, got -1"),
        (dict(lr_drop_factor=0), "lr_drop_factor 0 must be in (0, 1]"),
        (dict(lr_drop_every=-1), "lr_drop_every must be >= 0, got -1"),
        (dict(first_seed=2**31 - 2, seeds=3), "seeds 2,147,483,646..2,147,483,648 pass the largest seed (int32)"),
        (dict(imports=("no_such_module_here",)), "import no_such_module_here"),
    ],
)
def test_one_validation_for_every_way_in(kw, message):
    pattern = message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    with pytest.raises(SpecError, match=pattern):
        SweepSpec(**{k: (v() if callable(v) else v) for k, v in kw.items()})


def test_the_grid_is_a_union_of_cross_products_crossed_with_fractions_and_seeds():
    spec = SweepSpec(fracs=(0.3, 0.5), seeds=2,
                     grid=(Product(lr=(1e-3, 3e-3), weight_decay=(0, 1)), Product(variant="adam_dropout")))
    rows = expand(spec).rows
    assert len(rows) == 2 * 2 * 2 * 2 + 2 * 2
    assert [r["run"] for r in rows] == list(range(20))
    first = {(r["lr"], r["weight_decay"], r["frac"], r["seed"]) for r in rows[:16]}
    assert first == {(lr, wd, f, s) for lr in (1e-3, 3e-3) for wd in (0, 1) for f in (0.3, 0.5) for s in (0, 1)}
    assert [r["variant"] for r in rows] == [""] * 16 + ["adam_dropout"] * 4
    assert all(r["dropout"] == 0.1 and r["weight_decay"] == 0 for r in rows[16:])
    assert set(rows[0]) >= {k.name for k in KNOBS}


def test_the_learning_rate_drop_reaches_the_program_and_an_older_config_reads_without_it():
    spec = SweepSpec(fracs=(0.5,), lr_drop_every=5000, lr_drop_factor=0.2)
    assert SweepSpec.from_dict(spec.to_dict()) == spec
    config = expand(spec).run_config(0)
    assert (config.lr_drop_every, config.lr_drop_factor) == (5000, 0.2)
    old = SweepSpec(fracs=(0.5,)).to_dict()
    del old["lr_drop_every"], old["lr_drop_factor"]  # a config.json written before the drop existed
    assert SweepSpec.from_dict(old) == SweepSpec(fracs=(0.5,))
    argv = ["--fracs", "0.5", "--lr-drop-every", "5000", "--lr-drop-factor", "0.2"]
    args = sweep.make_parser().parse_args(argv)
    assert sweep.spec_from_args(args, sweep.given_flags(sweep.make_parser(), argv)) == spec


def test_first_seed_shifts_the_seeds_and_nothing_else():
    base = SweepSpec(fracs=(0.3, 0.5), seeds=2)
    shifted = expand(base.replace(first_seed=5)).rows
    assert [r["seed"] for r in shifted] == [5, 6, 5, 6]
    assert [{**r, "seed": 0} for r in shifted] == [{**r, "seed": 0} for r in expand(base).rows]
    assert SweepSpec.from_dict(base.replace(first_seed=5).to_dict()).first_seed == 5
    old = base.to_dict()
    del old["first_seed"]  # a config.json written before first_seed existed
    assert SweepSpec.from_dict(old) == base


@pytest.mark.parametrize(
    "every, steps, want",
    [
        (100, 450, [0, 100, 200, 300, 400, 450]),
        (100, 400, [0, 100, 200, 300, 400]),
        ("log:5", 10000, [0, 1, 10, 100, 1000, 10000]),
        ("log:4", 3, [0, 1, 2, 3]),  # fewer distinct steps than asked for
    ],
)
def test_evaluation_schedules(every, steps, want):
    assert eval_schedule(every, steps).tolist() == want


def test_log_schedule_is_about_n_points_evenly_spaced_on_a_log_axis():
    s = eval_schedule("log:100", 100000)
    assert s[0] == 0 and s[-1] == 100000 and 85 <= len(s) - 1 <= 100
    assert len(set(s.tolist())) == len(s)
    ratios = s[-30:][1:] / s[-30:][:-1]  # far from the integers: a constant ratio
    assert np.allclose(ratios, 100000 ** (1 / 99), rtol=0.01)
    # the quick start's 4,000 steps: every 100 leaves 9 points below step 1,000 on a log axis
    quick, dense = eval_schedule("log:100", 4000), eval_schedule(100, 4000)
    assert ((quick > 0) & (quick < 1000)).sum() == 64 and ((dense > 0) & (dense < 1000)).sum() == 9


def test_variants_are_data():
    assert list(VARIANTS)[0] == "adam_fullbatch" and len(VARIANTS) == 9
    spec = SweepSpec.from_dict({"grid": [{"variant": "all"}]})
    assert [p.variant for p in spec.grid] == list(VARIANTS)


SWEEPS = Path(__file__).resolve().parent.parent / "sweeps"


@pytest.mark.parametrize("path", sorted(SWEEPS.glob("*.toml")), ids=lambda p: p.name)
def test_every_sweep_file_is_a_valid_spec_under_each_of_its_profiles(path):
    for profile in [None, *toml_profiles(path)]:
        d = read_toml(path, profile)
        if "norms" in d:  # a landscape file (python -m grokjax.landscape): its norms, then a spec
            norms = d.pop("norms")  # None: this profile names none (--norms gives them)
            if norms is not None:
                landscape.parse_norms(norms)
        spec = SweepSpec.from_dict(d)
        # a profile may name itself after the file: fast_search.toml's round2 is fast_search_round2
        assert spec.name == path.stem or spec.name.startswith(path.stem + "_"), spec.name
        assert SweepSpec.from_dict(spec.to_dict()) == spec


def test_the_quick_start_file_is_the_readme_quick_start():
    spec = SweepSpec.from_toml(SWEEPS / "quickstart.toml")
    assert spec.task == TableTask(op="add", modulus=97) and spec.fracs == (0.5,) and spec.seeds == 1
    assert spec.steps == 4000 and spec.eval_every == "log:200" and spec.grid == (Product(),)


def test_a_sweep_file_is_refused_whole_in_one_line(tmp_path, capsys):
    bad = tmp_path / "binary.toml"
    bad.write_bytes(b"\xff\xfe garbage")
    with pytest.raises(SpecError, match="not valid TOML: not UTF-8 text"):
        SweepSpec.from_toml(bad)
    typo = tmp_path / "typo.toml"  # a typo in a profile not chosen today surfaces today
    typo.write_text("steps = 10\n[task]\nmodulus = 7\n[profile.cpu]\nsteps = 10\n[profile.gpu]\nstepz = 1\n")
    with pytest.raises(SpecError, match="profile gpu: unknown spec key 'stepz'"):
        SweepSpec.from_toml(typo, "cpu")
    lands = Path(__file__).parent.parent / "sweeps" / "omnigrok_landscapes.toml"  # norms only in its profiles
    assert sweep.main(["--spec", str(lands), "--steps", "5", "--out", str(tmp_path / "o")]) == 2
    assert "run this file with python -m grokjax.landscape" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, message", [
    (["--name", "a/b"], "may hold no /"),
    (["--op", "s5_mul", "--modulus", "7"], "--modulus does not apply to s5_mul"),
    (["--steps", str(10**18)], "more than the step counter"),
    (["--seeds", str(10**8)], "400,000,000 runs in one sweep: at most 100,000"),
    (["--steps", "3000000", "--eval-every", "1"], "3,000,002 evaluations"),
])
def test_a_mistyped_sweep_is_refused_before_anything_is_made(tmp_path, capsys, args, message):
    assert sweep.main([*args, "--modulus" if "--modulus" not in args else "--fracs",
                       "7" if "--modulus" not in args else "0.5", "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_plain_spec_trains_with_the_papers_hyperparameters():
    from grokjax.model import TransformerSpec
    from grokjax.plan import expand

    # Power et al., appendix A.1.2: AdamW lr 10^-3, weight decay 1, β = (0.9, 0.98), 10 warmup steps,
    # batch 512, 2 layers of width 128 with 4 heads (and 4·128 in the MLP), x+y mod 97
    plan = expand(SweepSpec(fracs=(0.5,)), devices=1)
    c, row = plan.programs[0].config, plan.rows[0]
    assert (c.beta1, c.beta2, c.eps, c.warmup_steps, c.batch_size) == (0.9, 0.98, 1e-8, 10, 512)
    assert c.model == TransformerSpec(n_layers=2, d_model=128, n_heads=4, d_mlp=512, layer_norm=True)
    assert (row["op"], row["modulus"], row["lr"], row["weight_decay"], row["init_scale"]) == ("add", 97, 1e-3, 1.0, 1.0)
    # Omnigrok's MNIST notebook, on the 8×8 digits: a depth-3 width-200 ReLU MLP, AdamW lr 10^-3,
    # weight decay 0.01, batch 200, MSE
    plan = expand(SweepSpec.from_dict({"task": {"name": "digits"}, "train_sizes": [200]}), devices=1)
    c, row = plan.programs[0].config, plan.rows[0]
    assert (c.batch_size, c.loss, row["lr"], row["weight_decay"]) == (200, "mse", 1e-3, 0.01)
    assert (c.model.depth, c.model.width, c.model.activation) == (3, 200, "relu")


def test_every_sweep_file_and_results_folder_is_named_in_its_readme():
    """A committed script or result nobody can find from the READMEs is one nobody can cite.
    Only what git tracks: a user's own sweeps under results/ are theirs."""
    root = SWEEPS.parent
    got = subprocess.run(["git", "ls-files", "sweeps", "results"], cwd=root, capture_output=True, text=True)
    if got.returncode != 0 or not got.stdout:
        pytest.skip("not a git checkout")
    tracked = [Path(line) for line in got.stdout.splitlines()]
    said = (SWEEPS / "README.md").read_text()
    unnamed = sorted({p.name for p in tracked if p.parts[0] == "sweeps" and len(p.parts) == 2
                      and p.name != "README.md" and f"`{p.name}`" not in said})
    assert not unnamed, f"sweeps/README.md names none of {unnamed}"
    said = (root / "results" / "README.md").read_text()
    unnamed = sorted({p.parts[1] for p in tracked if p.parts[0] == "results" and len(p.parts) > 2
                      and f"`{p.parts[1]}/`" not in said})
    assert not unnamed, f"results/README.md names none of {unnamed}"
