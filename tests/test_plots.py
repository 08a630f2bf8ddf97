"""The sweep figures from made-up tables: no training, no JAX."""

import numpy as np
import pytest

from grokjax import plots

SPEC = {"model": {"name": "transformer", "n_layers": 2, "d_model": 128, "n_heads": 4}, "batch_size": 512,
        "steps": 3000, "eval_every": 100, "loss": "softmax"}


def table(fracs=(0.3, 0.5), seeds=(0, 1), lrs=(1e-3,), variant=None):
    """Rows and curves of a finished sweep: evaluated every 100 steps up to
    3,000; seed 1 never reaches 99% val, and the first run has no best (it
    diverged before its first evaluation)."""
    rows = []
    for frac in fracs:
        for lr in lrs:
            for seed in seeds:
                rows.append(dict(run=len(rows), op="add", modulus=97, frac=frac, seed=seed, lr=lr, weight_decay=1.0,
                                 init_scale=1.0, grad_noise=0.0, full_batch=False, n_train=int(9409 * frac),
                                 steps_to_99_train=500, steps_to_99_val=None if seed else 1500,
                                 best_val_acc=0.5 + seed * 0.1, steps=3000, **({"variant": variant} if variant else {})))
    rows[0]["best_val_acc"] = None
    steps = np.arange(0, 3001, 100)
    acc = np.linspace(0, 1, len(steps))[:, None].repeat(len(rows), 1)
    return rows, steps, {"train_acc": acc, "val_acc": acc}


@pytest.fixture
def drawn(monkeypatch):
    """The figures drawn, by file name, instead of their PNGs."""
    figs = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path, dpi=130: figs.__setitem__(path.name, fig))
    return figs


def test_settings_line_names_what_every_run_shares_and_nothing_that_varies():
    rows, steps, _ = table(lrs=(1e-3, 3e-3))
    line = plots.settings_line(rows, SPEC, steps, width=1000)
    assert "2-layer transformer (d_model 128)" in line and "batch 512" in line
    assert "weight_decay=1" in line and "init_scale=1" in line and "lr=" not in line
    assert "grad_noise" not in line  # at its default
    assert "3,000 steps, evaluated every 100 steps" in line
    rows, steps, _ = table()
    assert "lr=0.001" in plots.settings_line(rows)
    for r in rows:
        r["grad_noise"] = 0.01
    assert "grad_noise=0.01" in plots.settings_line(rows)
    log = np.array([0, 1, 2, 4, 9, 20])
    assert plots.eval_schedule(log) == "at 6 unevenly spaced steps"  # without the spec: log, or checkpoints'?
    assert plots.eval_schedule(log, {"eval_every": "log:6"}) == "at 6 log-spaced steps"
    assert plots.eval_schedule(np.array([0, 100, 200, 250])) == "every 100 steps"  # the budget's step is off the grid


def test_the_mean_best_counts_a_run_never_evaluated_as_0():
    assert plots._mean([1.0, None]) == 0.5  # as grokjax.paper's means: a failure, not a missing value
    assert plots._mean([None]) == 0.0


def test_a_sweep_of_one_data_size_draws_no_figure_against_it(tmp_path):
    for name in ("data_efficiency.png", "steps_to_generalize.png", "variants.png"):
        (tmp_path / name).write_bytes(b"stale")
    rows, steps, curves = table(fracs=(0.5,), variant="adamw")
    assert [p.name for p in plots.write_all(tmp_path, rows, steps, curves, spec=SPEC)] == ["accuracy.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accuracy.png"]
    rows, steps, curves = table(variant="adamw")
    written = plots.write_all(tmp_path, rows, steps, curves, spec=SPEC)
    assert {p.name for p in written} == {"accuracy.png", "data_efficiency.png", "steps_to_generalize.png", "variants.png"}
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in written)


def test_log_axis_under_a_decade_is_labelled_in_plain_numbers():
    from matplotlib.figure import Figure

    for lo, hi in ((1500, 2000), (300, 3000), (50, 40000)):
        fig = Figure()
        ax = fig.subplots()
        ax.plot([lo, hi], [lo, hi])
        plots.log_steps_axis(ax, np.array([lo, hi]), axis="y")
        fig.canvas.draw()
        labels = [t.get_text() for t in ax.get_yticklabels() if lo <= t.get_position()[1] <= hi]
        assert len(labels) >= 2 and all(s.replace(",", "").isdigit() for s in labels), (lo, hi, labels)


def test_a_steps_axis_with_only_step_0_stays_linear_without_a_warning():
    import warnings

    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    ax.plot([0, 0], [0.1, 0.2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns on a log axis of no positive values
        plots.log_steps_axis(ax, np.array([0]))
        fig.canvas.draw()
    assert ax.get_xscale() == "linear"


def test_accuracy_panels_wrap_titles_and_label_steps_under_each_column(drawn):
    rows, steps, curves = table(fracs=(0.3,), lrs=(1e-3, 2e-3, 3e-3, 4e-3, 5e-3))  # five settings: a panel each
    for r in rows:
        r["grad_noise"] = r["lr"]  # a second varying knob, so that the panel titles are long
    plots.accuracy(plots.Path("accuracy.png"), rows, steps, curves, spec=SPEC)
    fig = drawn["accuracy.png"]
    used = [ax for ax in fig.axes if ax.axison]
    assert len(used) == 5 and len(fig.axes) == 6  # 3 + 2 panels
    for ax in used:
        assert all(len(line) <= 40 for line in ax.get_title().split("\n")), ax.get_title()
    # the third column's only panel is in the top row: it carries its steps
    labelled = [ax for ax in used if ax.get_xlabel() == "optimization steps"]
    assert len(labelled) == 3 and all(ax.xaxis.get_tick_params()["labelbottom"] for ax in labelled)
    assert "lr=" not in fig.get_suptitle() and "weight_decay=1" in fig.get_suptitle()


def test_steps_to_generalize_shows_each_run_and_names_unreached_medians(drawn):
    rows, steps, curves = table(fracs=(0.3, 0.5, 0.7), seeds=(0, 1, 2))
    for r in rows:  # at 0.3, two of three seeds never fit or generalize: neither median is reached
        if r["frac"] == 0.3 and r["seed"]:
            r["steps_to_99_train"] = None
    plots.steps_to_generalize(plots.Path("steps.png"), rows, spec=SPEC, evals=steps)
    fig = drawn["steps.png"]
    ax = fig.axes[0]
    title = " ".join(ax.get_title().split())  # unwrapped
    assert "median not reached by the budget: val at frac 0.3, 0.5, 0.7; train at frac 0.3" in title
    assert "every 100 steps" in ax.get_ylabel()
    up = [line for line in ax.get_lines() if line.get_marker() == "^"]
    assert sum(len(line.get_ydata()) for line in up) == 6 + 2  # 6 val runs and 2 train runs unreached
    assert all((line.get_ydata() == 3000).all() for line in up)
    assert "not reached by the budget" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_fraction_plots_keep_equal_series_apart(drawn):
    rows, steps, curves = table(seeds=(0,), lrs=(1e-3, 3e-3, 1e-2))
    for r in rows:
        r["best_val_acc"] = 0.01  # all on one another
    plots.data_efficiency(plots.Path("de.png"), rows)
    fig = drawn["de.png"]
    lines = [line for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")]
    assert len(lines) == 3
    assert len({(line.get_color(), line.get_marker(), line.get_linestyle()) for line in lines}) == 3
    assert len({line.get_xdata()[0] for line in lines}) == 3  # shifted sideways
    assert "mean of" not in fig.axes[0].get_title()  # one seed: the line is the run
    assert fig.legends[0].get_title().get_text() == "points offset sideways to stay visible"


def test_the_settings_line_gives_the_batch_the_runs_used():
    rows, _, _ = table(fracs=(0.03,))  # 282 training rows: a step takes 141, not the cap
    assert plots.batch_text(rows, 512) == "batch 141"
    rows, _, _ = table(fracs=(0.03, 0.5))
    assert plots.batch_text(rows, 512) == "batch 141–512 (min(512, ⌈n_train/2⌉))"
    rows[0]["full_batch"] = True
    assert plots.batch_text(rows, 512).endswith(" (the full-batch runs: all their training rows)")
    assert plots.batch_text([{**r, "full_batch": True} for r in rows], 512) == "full batch"
    student = [{"task": "teacher_student", "n_train": 100, "full_batch": False}]  # not a table: no halving
    assert plots.batch_text(student, 512) == "batch 100"


def test_a_held_norm_reads_as_one():
    settings = [(("weight_norm_target", 0.0),), (("weight_norm_target", 58.0),)]
    assert [plots.setting_label(s, settings) for s in settings] == ["norm free", "‖θ‖ held at 58"]


def test_an_operation_reads_as_the_paper_writes_it():
    settings = [(("op", "x2_xy_y2"),), (("op", "s5_mul"),), (("op", "mine"),)]  # "mine": a user's, unregistered here
    assert [plots.setting_label(s, settings) for s in settings] == ["x²+xy+y² (x2_xy_y2)", "x·y in S5 (s5_mul)", "mine"]


def test_reach_ticks_gives_the_lowest_and_highest_points_a_tick_beyond_them():
    """A log axis whose lowest point (1,100) sat under its lowest tick
    (1,500) could not be read there; the view widens to the next tick, and
    no further than 1.5× beyond it."""
    from matplotlib.figure import Figure

    def visible_ticks(ax):
        lo, hi = ax.get_ylim()
        return [t for t in ax.get_yticks() if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]

    ax = Figure(figsize=(6, 4)).subplots()
    ax.plot([0, 1, 2], [1100, 2000, 2800], "o")
    ax.set_yscale("log")
    plots.plain_log_ticks(ax.yaxis)
    assert min(visible_ticks(ax)) > 1100  # the defect
    plots.reach_ticks(ax.yaxis)
    ticks = visible_ticks(ax)
    assert min(ticks) <= 1100 and max(ticks) >= 2800, ticks
    lo, hi = ax.get_ylim()
    assert lo >= 1100 / 1.5 and hi <= 2800 * 1.5


def test_a_sweep_stopped_early_is_named_as_such_not_as_its_budget():
    early = [{"steps": 125, "stop_reason": "stop_at"}, {"steps": 125, "stop_reason": "stop_at"}]
    assert plots.stopped_early(early, {"steps": 2000}) == 125
    assert plots.steps_text(early, {"steps": 2000}) == "stopped at step 125 of 2,000"
    done = [{"steps": 2000, "stop_reason": "budget"}]
    assert plots.stopped_early(done, {"steps": 2000}) is None
    assert plots.steps_text(done, {"steps": 2000}) == "2,000 steps"
    assert plots.steps_text(early) == "125 steps"  # no spec: the most steps any run took is all it knows


def test_variant_lines_keep_apart_runs_that_differ_in_more_than_their_variant():
    rows = [{"variant": v, "weight_decay": wd, "init_scale": a, "frac": f, "seed": 0, "best_val_acc": acc}
            for v, wd in (("adamw", 1.0), ("adam", 0.0)) for a in (1.0, 3.0) for f, acc in ((0.3, a / 10), (0.6, a / 5))]
    lines = dict(plots.variant_lines(rows))
    assert list(lines) == ["adamw init_scale=1", "adamw init_scale=3", "adam init_scale=1", "adam init_scale=3"]
    assert dict(lines["adamw init_scale=3"]) == {0.3: [0.3], 0.6: [0.6]}
    plain = [r for r in rows if r["init_scale"] == 1.0]  # only the variant differs: named by it alone
    assert [name for name, _ in plots.variant_lines(plain)] == ["adamw", "adam"]


def test_the_evaluation_schedule_names_checkpoint_steps_not_a_log_grid():
    ev = np.union1d(np.arange(0, 1001, 100), np.arange(250, 1001, 250))  # --eval-every 100 --ckpt-every 250
    assert plots.eval_schedule(ev, {"eval_every": 100, "ckpt_every": 250}) == \
        "every 100 steps and at each checkpoint (every 250)"
    assert plots.eval_schedule(np.arange(0, 1001, 100), {"eval_every": 100}) == "every 100 steps"
    log = np.unique(np.geomspace(1, 1000, 12).astype(int))
    assert plots.eval_schedule(log, {"eval_every": "log:12"}) == f"at {len(log)} log-spaced steps"
    assert plots.eval_schedule(ev) == "at 13 unevenly spaced steps"  # no spec: not called log-spaced


def test_steps_all_of_one_value_get_a_log_view_round_it_labelled_without_a_warning(drawn):
    """Every run of a sweep unreached at a budget of 100: matplotlib warned
    of identical limits, then ticked only 200 to 1,000, none at the value."""
    import warnings

    rows, steps, _ = table(fracs=(0.3, 0.5), seeds=(0,), lrs=(1e-3, 3e-3))  # two settings, as reported
    for r in rows:
        r.update(steps_to_99_train=None, steps_to_99_val=None, steps=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.steps_to_generalize(plots.Path("steps.png"), rows, spec={**SPEC, "steps": 100}, evals=steps[:2])
        fig = drawn["steps.png"]
        fig.canvas.draw()
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert lo < 100 / 2 and hi > 100 * 2, (lo, hi)  # room round the value on the log axis
    shown = [t.get_text() for t in ax.get_yticklabels() if lo <= t.get_position()[1] <= hi and t.get_text()]
    assert "100" in shown, shown
    from matplotlib.figure import Figure

    for value in (1500, 7):  # off a tick: a labelled tick on each side of it
        ax = Figure(figsize=(6, 4)).subplots()
        ax.plot([0, 1], [value, value], "^")
        plots.log_steps_axis(ax, np.array([value, value]), axis="y")
        ax.figure.canvas.draw()
        lo, hi = ax.get_ylim()
        ticks = [t.get_position()[1] for t in ax.get_yticklabels() if lo <= t.get_position()[1] <= hi and t.get_text()]
        assert min(ticks) <= value <= max(ticks), (value, ticks)


def test_a_budget_under_eval_every_names_the_two_steps_evaluated():
    spec = {"eval_every": 100, "steps": 2}
    assert plots.eval_schedule(np.array([0, 2]), spec) == "at steps 0 and 2"
    assert plots.eval_schedule(np.array([0]), spec) == "at step 0"
    assert plots.eval_schedule(np.array([0, 100, 200]), spec) == "every 100 steps"


def test_a_title_of_s5_and_arithmetic_ops_names_the_arithmetic_modulus():
    rows = [{"op": "s5_mul", "modulus": None}, {"op": "add", "modulus": 23}]
    assert plots.sweep_title(rows) == "2 operations (arithmetic ones mod 23)"
    assert plots.sweep_title([{"op": "s5_mul", "modulus": None}, {"op": "s5_conj", "modulus": None}]) == "2 operations"


def test_the_model_name_says_what_sets_a_transformer_apart():
    assert plots.model_name({"name": "transformer", "n_layers": 2, "d_model": 128}) == "2-layer transformer (d_model 128)"
    got = plots.model_name({"name": "transformer", "n_layers": 1, "d_model": 128, "layer_norm": False,
                            "weight_init": "nanda"})
    assert got == "1-layer transformer (d_model 128, no LayerNorm, Nanda et al.'s init)"
