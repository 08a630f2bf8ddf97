"""The analyses: what each measures, on hand-built inputs and on a tiny sweep."""

import csv
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import grokjax
import grokjax.analysis
from grokjax import checkpoint, losses, presets, report, train
from grokjax.analysis import __main__ as cli
from grokjax.analysis import fourier, groups, neurons, norms, sharpness, snapshot, table, tsne
from grokjax.errors import SpecError
from grokjax.plan import expand
from grokjax.spec import TableTask
from grokjax.tables import S5, compose, invert, table_for


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_spec):
    """x+y mod 11: 2 fractions × 2 seeds, 30 steps, a checkpoint every 10."""
    out = tmp_path_factory.mktemp("analysis") / "sweep"
    grokjax.run(tiny_spec.replace(ckpt_every=10, ckpt_keep=10), out, progress=False)
    return out


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def plan(tiny_spec):
    """The tiny sweep's plan, for drawing figures without training it."""
    return expand(tiny_spec, devices=1)


def extent(fig, artist):
    """An artist's box in display pixels, as the saved figure draws it."""
    return artist.get_window_extent(fig.canvas.get_renderer())


# ---------------------------------------------------------------- t-SNE


def test_tsne_reads_the_unembedding_one_row_per_symbol(swept):
    snap = snapshot.load(swept)
    for g in snap.groups:
        for matrix in ("unembed", "embed"):
            got = snapshot.apply(g, tsne.Rows(matrix, 11))
            assert got.shape == (len(g.runs), 11, 32)  # 11 symbols (not the ∘ and = tokens), width 32
            for j, r in enumerate(g.runs):
                p = checkpoint.load(swept, r).params["params"]
                want = p["unembed"]["kernel"].T[:11] if matrix == "unembed" else p["tok_embed"]["embedding"][:11]
                np.testing.assert_array_equal(got[j], want)


def test_tsne_writes_points_and_scores_per_run(swept):
    per_run = grokjax.analysis.tsne.run(swept, runs=[0, 3], perplexity=3)
    assert [r["run"] for r in per_run] == [0, 3]
    assert all(r["perplexity"] == 3 and r["tsne_seed"] == 0 for r in per_run)  # the table says what drew it
    assert grokjax.analysis.tsne.used_perplexity(30, 11) == pytest.approx(10 / 3)  # 11 points: at most (n−1)/3
    assert all(-1 <= r["silhouette"] <= 1 and r["plus8_ratio"] > 0 for r in per_run)
    points = read(swept / "analysis" / "tsne_unembed_step30.csv")
    assert len(points) == 2 * 11
    for r in per_run:  # the scores are those of the points written, recomputed here
        xy = np.array([[float(p["x"]), float(p["y"])] for p in points if int(p["run"]) == r["run"]])
        labels = np.array([int(p["label"]) for p in points if int(p["run"]) == r["run"]])
        from sklearn.metrics import silhouette_score

        assert r["silhouette"] == pytest.approx(silhouette_score(xy, labels), abs=1e-6)
        i = np.arange(11)
        near = np.linalg.norm(xy[(i + 8) % 11] - xy[i], axis=1).mean()
        pairs = np.linalg.norm(xy[:, None] - xy[None], axis=-1)[np.triu_indices(11, 1)].mean()
        assert r["plus8_ratio"] == pytest.approx(near / pairs, rel=1e-6)
        # the same ratios in the layer's own 32-wide space, before t-SNE
        rows = np.asarray(checkpoint.load(swept, r["run"]).params["params"]["unembed"]["kernel"]).T[:11]
        pairs = np.linalg.norm(rows[:, None] - rows[None], axis=-1)[np.triu_indices(11, 1)].mean()
        ratio = {s: np.linalg.norm(rows[(i + s) % 11] - rows[i], axis=1).mean() / pairs for s in range(1, 9)}
        assert r["rows_plus8_ratio"] == pytest.approx(ratio[8], rel=1e-5)
        shortest = min(range(1, 6), key=ratio.get)  # steps 1..n//2: x → x+8 is x+3 → x, mod 11
        assert (r["rows_best_step"], r["rows_best_step_ratio"]) == (shortest, pytest.approx(ratio[shortest], rel=1e-5))
        assert r["rows_silhouette"] == pytest.approx(silhouette_score(rows, np.arange(11) % 8), abs=1e-5)
    assert [int(p["label"]) for p in points[:11]] == [s % 8 for s in range(11)]
    assert (swept / "analysis" / "tsne_unembed_step30.png").stat().st_size > 0


def test_tsne_every_step_gives_each_saved_steps_scores_as_one_step_would(swept, capsys):
    rows = tsne.every_step(swept, runs=[0, 3], perplexity=3)
    assert "t-SNE at step 30 (3 of 3)" in capsys.readouterr().out  # progress, one line per saved step
    assert [(r["run"], r["step"]) for r in rows] == [(run, s) for run in (0, 3) for s in (10, 20, 30)]
    written = snapshot.read_csv(swept / "analysis" / "tsne_unembed_by_step.csv")
    assert [(r["run"], r["step"]) for r in written] == [(r["run"], r["step"]) for r in rows]
    one = tsne.run(swept, runs=[0, 3], step=20, perplexity=3)  # t-SNE is seeded: the same numbers
    for want in one:
        got = next(r for r in rows if (r["run"], r["step"]) == (want["run"], 20))
        assert got == pytest.approx(want)
    assert (swept / "analysis" / "tsne_unembed_by_step.png").stat().st_size > 0
    assert cli.main(["tsne", str(swept), "--every-step", "--step", "20"]) == 2
    assert "give --step or --every-step, not both" in capsys.readouterr().err


# orbax leaves the reads of a truncated file's other chunks as coroutines never
# awaited; collected here, they would warn in whichever test ran next
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_tsne_every_step_skips_an_unreadable_step_and_says_so(swept, tmp_path, capsys):
    import gc
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(swept, copy)
    state = copy / "checkpoints" / "20" / "state_0"
    victim = max((p for p in state.rglob("*") if p.is_file() and p.parent.name == "d"), key=lambda p: p.stat().st_size)
    with open(victim, "r+b") as f:  # a truncated file, as a kill during a save can leave
        f.truncate(10)
    rows = tsne.every_step(copy, runs=[1], perplexity=3, progress=False)
    assert [r["step"] for r in rows] == [10, 30]
    assert "skipped step 20: " in capsys.readouterr().err
    gc.collect()


@pytest.mark.parametrize("side", ["left", "right"])
def test_s5_points_clustered_by_a_conjugates_cosets_name_that_conjugate_and_side(side):
    from grokjax.tables import S5

    H = groups.generate(groups.parse_generators(groups.PAPER_SUBGROUP))
    g, C = list(groups.conjugates(H))[3]  # gHg⁻¹ for g = (2,3,4): not the paper's subgroup itself
    labels = np.asarray(groups.cosets(C, S5, side))
    rng = np.random.default_rng(0)
    points = (rng.normal(size=(labels.max() + 1, 2)) * 10)[labels] + rng.normal(size=(len(labels), 2)) * 0.1
    got = tsne.best_conjugate(points, groups.PAPER_SUBGROUP)
    assert got["best_conjugator"] == groups.cycles(g) == "(2,3,4)" and got["best_side"] == side
    assert got["best_silhouette"] > 0.9


def test_scores_read_any_dimension_and_name_each_structures_numbers():
    labels, _ = tsne.labels_for("s5_mul", 120)
    rng = np.random.default_rng(1)
    rows = (rng.normal(size=(12, 16)) * 10)[labels] + rng.normal(size=(120, 16))  # 16-wide, clustered by the paper's cosets
    got = tsne.scores(rows, labels, "s5_mul", groups.PAPER_SUBGROUP)
    assert set(got) == {"silhouette", "best_silhouette", "best_conjugator", "best_side"}
    assert got["silhouette"] > 0.5 and got["best_conjugator"] == "()" and got["best_silhouette"] == got["silhouette"]
    x = np.arange(97)
    line = np.stack([np.cos(2 * np.pi * 12 * x / 97), np.sin(2 * np.pi * 12 * x / 97), np.zeros(97)], 1)  # 8·12 ≡ −1
    got = tsne.scores(line, x % 8, "add", groups.PAPER_SUBGROUP)
    assert set(got) == {"silhouette", "plus8_ratio", "best_step", "best_step_ratio"}
    assert got["best_step"] == 8 and got["plus8_ratio"] == got["best_step_ratio"] < 0.1


def test_classes_differ_in_colour_or_marker():
    for k in (8, 12, 30, 60):
        styles = [tsne.class_style(c, k) for c in range(k)]
        assert len(set(styles)) == k, k  # no two classes drawn alike
    # S5's 12 cosets: the two that share a tab10 colour have different markers
    assert tsne.class_style(0, 12)[0] == tsne.class_style(10, 12)[0]
    assert tsne.class_style(0, 12)[1] != tsne.class_style(10, 12)[1]


@pytest.mark.parametrize("new", [True, False], ids=["with rows scores", "an older table"])
@pytest.mark.parametrize("op", ["add", "s5_mul"])
def test_tsne_figure_defines_its_terms_and_keeps_distances(plan, tmp_path, op, new):
    n = 120 if op == "s5_mul" else 11
    labels, meaning = tsne.labels_for(op, n)
    xy = np.random.default_rng(0).normal(size=(n, 2)) * [1, 30]  # one axis much longer: equal aspect must keep it
    points = [{"run": 0, "symbol": i, "label": int(labels[i]), "x": xy[i, 0], "y": xy[i, 1]} for i in range(n)]
    scores = {"best_silhouette": 0.1, "best_conjugator": "()", "best_side": "left"} if op == "s5_mul" else \
        {"plus8_ratio": 1.0, "best_step": 3, "best_step_ratio": 0.5}
    per_run = [{"run": 0, "val_acc": 0.5, "silhouette": 0.0, **scores}]
    if new:  # tables since the rows' own scores and the perplexity were recorded
        per_run[0].update({"perplexity": 10 / 3, **{f"rows_{k}": v for k, v in {**scores, "silhouette": 0.04}.items()}})
    task = TableTask(op=op, modulus=11)
    fig = tsne.plot(tmp_path / "t.png", plan, task, points, per_run, labels, meaning, "unembed", 30)
    (ax,) = [a for a in fig.axes if a.get_visible()]
    assert ax.get_aspect() == 1.0 and ax.get_adjustable() == "datalim"
    # one panel alone is about as tall as it is wide, not a flat strip
    fig.canvas.draw()
    box = ax.get_window_extent()
    assert 0.7 < box.height / box.width < 1.3, (box.width, box.height)
    note = " ".join(t.get_text() for t in fig.texts).replace("\n", " ")
    terms = ("silhouette", "best conjugate") if op == "s5_mul" else ("silhouette", "+8 ratio", "shortest lines")
    assert all(t in note for t in terms), note
    title = " ".join(t.get_text() for t in fig.texts if "t-SNE" in t.get_text())
    assert ("in the rows" in note) == new and ("in the rows: silhouette 0.04" in ax.get_title()) == (new and op == "s5_mul")
    assert ("in the rows: +8 ratio 1.00, shortest lines +3" in ax.get_title()) == (new and op == "add")
    assert ("perplexity 3.33" in title) == new
    assert "g=()" not in ax.get_title() and ("H itself" in ax.get_title()) == (op == "s5_mul")
    k = int(labels.max()) + 1
    assert len(fig.legends[0].legend_handles) == k


@pytest.mark.parametrize("op", ["add", "s5_mul"])
def test_scores_by_step_draw_both_spaces_against_the_criterion(plan, tmp_path, op):
    _, meaning = tsne.labels_for(op, 120 if op == "s5_mul" else 11)
    keys = ("silhouette", "best_silhouette") if op == "s5_mul" else ("plus8_ratio", "best_step")
    rows = [{"run": r, "step": s, "val_acc": 0.5, "perplexity": 30.0, "silhouette": 0.1,
             **{k: 0.3 + r for k in keys}, **{f"rows_{k}": 0.6 + r for k in keys}}
            for r in (0, 1) for s in (10, 20, 30)]
    rows[1][keys[0]] = rows[1][f"rows_{keys[0]}"] = None  # a step without a score (too few labels): a gap
    fig = tsne.plot_steps(tmp_path / "s.png", plan, TableTask(op=op, modulus=11), rows, meaning, "unembed")
    a, b, acc = [ax for ax in fig.axes if ax.get_visible()]
    assert len(a.lines) == 2 * 2 + 1  # per run: the picture's line and the rows' line; one criterion line
    criterion = a.lines[-1].get_ydata()[0]
    assert criterion == (0.25 if op == "s5_mul" else 0.5)
    assert np.isnan(a.lines[0].get_ydata()[1]) and np.isnan(a.lines[1].get_ydata()[1])  # run 0 at step 20
    assert list(a.lines[2].get_ydata()) == pytest.approx([1.3] * 3)  # run 1, in the picture
    assert list(a.lines[3].get_ydata()) == pytest.approx([1.6] * 3)  # ... and in the rows
    title = a.get_title()
    assert ("left coset of ⟨(0,3)(1,4), (1,2)(3,4)⟩" in title) if op == "s5_mul" else ("+8 ratio" in title)
    names = fig.legends[0].get_texts()
    assert {t.get_text() for t in names} >= {"in the t-SNE picture", "in the rows themselves, before t-SNE"}
    assert (tmp_path / "s.png").stat().st_size > 0


def test_residues_colour_mod_8():
    labels, meaning = tsne.labels_for("add", 97)
    assert labels.tolist() == [x % 8 for x in range(97)] and "mod 8" in meaning


def test_plus8_ratio_is_small_on_a_number_line():
    n = 97
    angle = 2 * np.pi * (np.arange(n) * pow(8, -1, n) % n) / n  # x sits at x/8 mod n: x+8 is its neighbour
    circle = np.stack([np.cos(angle), np.sin(angle)], 1)
    assert tsne.plus8_ratio(circle, n) < 0.3
    assert tsne.best_step(circle, n)[0] == 8
    assert tsne.plus8_ratio(np.random.default_rng(0).normal(size=(n, 2)), n) > 0.8


def test_s5_cosets_partition_the_group_into_cosets_of_the_subgroup():
    H = groups.generate(groups.parse_generators(groups.PAPER_SUBGROUP))
    e = tuple(range(5))
    assert e in H  # a subgroup: identity, closed, inverses
    assert all(compose(a, b) in H for a in H for b in H)
    assert all(invert(a) in H for a in H)
    assert len(H) == 10 and 120 % len(H) == 0  # Lagrange
    for side in ("left", "right"):
        label = groups.cosets(H, S5, side)
        classes = {}
        for g, c in zip(S5, label):
            classes.setdefault(c, set()).add(g)
        assert len(classes) == 120 // len(H) and all(len(c) == len(H) for c in classes.values())
        assert set().union(*classes.values()) == set(S5)  # disjoint (sizes add up) and covering
        for g, c in zip(S5, label):  # each class is exactly gH (or Hg)
            coset = {compose(g, h) if side == "left" else compose(h, g) for h in H}
            assert coset == classes[c]
    for g, C in groups.conjugates(H):
        assert len(C) == len(H) and e in C and all(compose(a, b) in C for a in C for b in C)


def test_cycle_notation():
    assert groups.parse_cycles("(0,3)(1,4)") == (3, 4, 2, 0, 1)
    assert groups.parse_cycles("(0,1)(1,2)") == groups.parse_cycles("(0,1,2)")  # right to left
    assert groups.cycles(groups.parse_cycles("(0,2,4)")) == "(0,2,4)"
    for bad in ("(0,5)", "(0,0)", "0,1", "(a,b)"):
        with pytest.raises(SpecError):
            groups.parse_cycles(bad)


# ---------------------------------------------------------------- sharpness


def test_sharpness_is_zero_where_the_loss_is_constant_in_the_box():
    params = {"w": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
    phi, f0, top = sharpness.ascent(lambda p: 3.0 + 0.0 * p["w"].sum(), params, 1e-2, 10)
    assert float(phi) == 0.0 and float(f0) == float(top) == 3.0


def test_sharpness_on_a_quadratic_grows_with_eps_and_finds_the_corner():
    theta = jnp.array([1.0, -2.0, 0.05, 0.3])  # no zero: sign ascent cannot leave a point of zero gradient
    f = lambda p: 0.5 * (p["t"] ** 2).sum()  # noqa: E731
    phis = []
    for eps in (1e-3, 1e-2, 1e-1):
        phi, f0, top = sharpness.ascent(f, {"t": theta}, eps, 20)
        corner = 0.5 * ((jnp.abs(theta) + eps * (jnp.abs(theta) + 1)) ** 2).sum()  # the box's farthest corner
        np.testing.assert_allclose(top, corner, rtol=1e-6)
        np.testing.assert_allclose(phi, 100 * (corner - f0) / (1 + f0), rtol=1e-3)  # float32: corner − f0 cancels
        phis.append(float(phi))
    assert phis[0] < phis[1] < phis[2]


def test_the_random_subspace_is_keskars_a_plus_and_its_pseudo_inverse():
    a_plus, a = sharpness.random_subspace(jax.random.key(0), 50, 4)
    np.testing.assert_allclose(np.linalg.norm(a_plus, axis=1), 1, rtol=1e-6)  # unit rows
    assert np.abs(a_plus).max() <= 1
    np.testing.assert_allclose(a_plus @ a, np.eye(4), atol=1e-5)
    np.testing.assert_allclose(a, np.linalg.pinv(np.asarray(a_plus, np.float64)), rtol=1e-4, atol=1e-6)


def test_subspace_sharpness_of_a_linear_loss_is_the_box_corner_along_a():
    # f(x) = g·x: over x + A y with |y_j| ≤ r_j = ε(|(A⁺x)_j| + 1), the max is f(x) + Σ_j r_j |(Aᵀg)_j|
    x = {"w": jnp.array([1.0, -2.0, 0.5, 3.0, 0.0, -1.0]), "b": jnp.array([0.25, 2.0])}
    g = jnp.array([0.3, -1.0, 2.0, 0.1, -0.5, 1.5, 0.7, -0.2])  # in ravel_pytree's order: b, then w
    f = lambda p: 5.0 + jnp.dot(g, jnp.concatenate([p["b"], p["w"]]))  # noqa: E731
    key, eps = jax.random.key(3), 1e-2
    phi, f0, top = sharpness.subspace_ascent(f, x, eps, 20, 3, key)
    a_plus, a = (np.asarray(m, np.float64) for m in sharpness.random_subspace(key, 8, 3))
    flat = np.concatenate([np.asarray(x["b"]), np.asarray(x["w"])])
    corner = float(f(x)) + (eps * (np.abs(a_plus @ flat) + 1) * np.abs(a.T @ np.asarray(g))).sum()
    np.testing.assert_allclose(top, corner, rtol=1e-5)
    np.testing.assert_allclose(phi, 100 * (corner - float(f0)) / (1 + float(f0)), rtol=1e-2)
    # the whole space's box is larger: the subspace finds less
    assert float(sharpness.ascent(f, x, eps, 20)[2]) > corner


def test_sharpness_title_counts_grokked_runs_and_qualifies_the_paper(plan, tmp_path):
    rows = [{"run": r, "frac": 0.4, "val_acc": a, "phi": p} for r, (a, p) in
            enumerate([(0.05, 9.0), (0.2, 7.0), (0.995, 1.0), (1.0, 2.0)])]
    text = sharpness.caption("add mod 11", 30, rows)
    assert "grokked 2/4 runs" in text and "about half" in text and "s5_mul" in text
    assert "grokked 0/1 runs" in sharpness.caption("add mod 11", 30, rows[:1])
    fig = sharpness.plot(tmp_path / "s.png", plan, rows[2:3], 30, 1e-4, 20)  # one run: no axis past accuracy 1
    assert fig.axes[0].get_xlim() == (-0.02, 1.02)
    assert "grokked 1/1 runs" in fig.get_suptitle()


def test_sharpness_of_a_run_in_the_sweep_equals_the_run_alone(swept):
    snap = snapshot.load(swept, step=20)
    measure = sharpness.Sharpness(eps=1e-4, steps=2)  # the command's test below reuses this program
    for g in snap.groups:
        together = snapshot.apply(snapshot.Group(g.config.replace(run_axis="vmap"), g.runs, g.run_params, g.params),
                                  measure)
        mapped = snapshot.apply(g, measure)  # lax.map over runs, as the sweep trained them
        # φ = 100·(top − f0)/(1 + f0): two losses that agree to ~1e-6 give φ to ~1e-4, absolute
        np.testing.assert_allclose(mapped["phi"], together["phi"], rtol=1e-4, atol=2e-4)
        for j, r in enumerate(g.runs):
            one = jax.tree.map(lambda a: a[j : j + 1], (g.run_params, g.params))
            alone = snapshot.apply(snapshot.Group(g.config, (r,), *one), measure)
            for k, atol in (("train_loss", 0), ("val_acc", 0), ("phi", 2e-4)):
                np.testing.assert_allclose(together[k][j], alone[k][0], rtol=1e-5, atol=atol, err_msg=k)


def test_sharpness_command_writes_phi_and_val_accuracy(swept, capsys):
    assert cli.main(["sharpness", str(swept), "--ascent-steps", "2", "--step", "20"]) == 0
    rows = read(swept / "analysis" / "sharpness_step20_eps0.0001.csv")
    assert len(rows) == 4 and all(float(r["phi"]) >= 0 for r in rows)
    curves = {(int(c["run"]), int(c["step"])): c for c in read(swept / "curves.csv")}
    for r in rows:  # val accuracy afresh from the checkpoint = what the sweep recorded at that step
        assert float(r["val_acc"]) == pytest.approx(float(curves[(int(r["run"]), 20)]["val_acc"]), abs=1e-6)
    assert "Spearman" in capsys.readouterr().out
    assert (swept / "analysis" / "sharpness_step20_eps0.0001.png").stat().st_size > 0
    # in a random 3-dimensional subspace: its own file, the same runs' losses
    assert cli.main(["sharpness", str(swept), "--ascent-steps", "2", "--step", "20", "--subspace", "3"]) == 0
    sub = read(swept / "analysis" / "sharpness_step20_eps0.0001_sub3.csv")
    assert [r["subspace"] for r in sub] == ["3"] * 4 and [r["train_loss"] for r in sub] == [r["train_loss"] for r in rows]
    assert all(0 <= float(s["phi"]) for s in sub)
    assert cli.main(["sharpness", str(swept), "--step", "20", "--subspace", "10000000"]) == 2
    assert "more than the model's" in capsys.readouterr().err


# ---------------------------------------------------------------- Fourier


def test_fourier_finds_the_two_frequencies_an_embedding_is_made_of():
    p, a = 97, np.arange(97)
    E = np.zeros((p, 16))
    E[:, 0] = np.cos(2 * np.pi * 14 * a / p)
    E[:, 1] = 0.7 * np.sin(2 * np.pi * 14 * a / p + 0.4)
    E[:, 5] = 2.0 * np.cos(2 * np.pi * 41 * a / p - 1.0)
    norms = np.asarray(fourier.spectrum(jnp.asarray(E)))
    assert np.flatnonzero(fourier.key_mask(jnp.asarray(norms[1:]))).tolist() == [13, 40]  # k = 14 and 41
    assert np.flatnonzero(norms > 1e-4).tolist() == [14, 41]
    np.testing.assert_allclose((norms**2).sum(), (E**2).sum(), rtol=1e-5)  # an orthonormal basis
    assert float(fourier.gini(jnp.asarray(norms[1:]))) > 0.9
    flat = np.ones(48)
    assert float(fourier.gini(jnp.asarray(flat))) == pytest.approx(0, abs=1e-6)
    assert float(fourier.ipr(jnp.asarray(flat))) == pytest.approx(1 / 48)


def test_restricted_loss_of_logits_on_the_key_frequencies_is_the_full_loss():
    p = 13
    a, b, c = np.meshgrid(np.arange(p), np.arange(p), np.arange(p), indexing="ij")
    w = 2 * np.pi / p
    L = 3 * np.cos(2 * w * (a + b - c)) + 2 * np.sin(5 * w * (a + b - c)) + (a * b % 5) + np.cos(c)
    mask = np.zeros((p - 1) // 2, bool)
    mask[[1, 4]] = True  # frequencies 2 and 5
    restricted, excluded = fourier.split_logits(jnp.asarray(L, jnp.float32), 1, jnp.asarray(mask))
    y = ((a + b) % p)[..., 0].ravel()
    loss = lambda logits: float(losses.per_example("softmax", jnp.asarray(logits).reshape(p * p, p), y).mean())  # noqa: E731
    assert loss(restricted) == pytest.approx(loss(L), rel=1e-5)
    # the waves gone, the rest kept up to a part in (a, b) alone, which no softmax over c reads
    rest = np.asarray(excluded) - ((a * b % 5) + np.cos(c))
    np.testing.assert_allclose(rest, rest[..., :1] + 0 * rest, atol=1e-4)
    other = np.zeros_like(mask)
    other[3] = True  # a frequency the logits do not use: restricting to it loses the answer
    assert loss(fourier.split_logits(jnp.asarray(L, jnp.float32), 1, jnp.asarray(other))[0]) > loss(L) + 0.5


@pytest.mark.parametrize("sign", [1, -1])
def test_restricted_logits_keep_any_output_profile_of_a_key_wave(sign):
    # Nanda et al.'s projection is per output c: logits cos(w·(a ± b))·u_c and
    # sin(w·(a ± b))·v_c with arbitrary u, v lie wholly on frequency 3's
    # directions, whatever the profile over c (not only cos(w·c)-shaped)
    p = 11
    a, b, _ = np.meshgrid(np.arange(p), np.arange(p), np.arange(p), indexing="ij")
    u, v = np.random.default_rng(0).normal(size=(2, p))
    s = 2 * np.pi * 3 * (a + sign * b) / p
    L = np.cos(s) * u + np.sin(s) * v
    mask = np.zeros((p - 1) // 2, bool)
    mask[2] = True
    restricted, excluded = fourier.split_logits(jnp.asarray(L), sign, jnp.asarray(mask))
    np.testing.assert_allclose(restricted, L, atol=1e-5)  # float32
    np.testing.assert_allclose(excluded, 0, atol=1e-5)
    other = np.zeros_like(mask)
    other[[0, 4]] = True  # frequencies the logits do not use: nothing kept, but the inputs' mean (0 here)
    restricted, excluded = fourier.split_logits(jnp.asarray(L), sign, jnp.asarray(other))
    np.testing.assert_allclose(restricted, 0, atol=1e-5)
    np.testing.assert_allclose(excluded, L, atol=1e-5)


def test_fourier_measures_mark_the_saved_steps(plan, tmp_path):
    assert snapshot.spacing([500, 1000, 1500]) == "every 500 steps"
    assert snapshot.spacing([10, 20, 40]) == "at 3 uneven steps" and snapshot.spacing([10]) == "at one step"
    keys = ("train_loss", "test_loss", "restricted_loss", "excluded_loss", "gini_embed")
    rows = [{"run": 0, "step": s, **{k: 0.5 for k in keys}, "key_freqs": "1"} for s in (10, 20, 30)]
    fig = fourier.plot_measures(tmp_path / "f.png", plan, rows)
    ax = [a for a in fig.axes if a.get_visible()][0]
    assert all(line.get_marker() == "o" for line in ax.get_lines())
    assert any("every 10 steps" in t.get_text() for t in fig.legends[0].get_texts())


def test_fourier_spectrum_legend_shows_key_frequencies_red_even_if_the_first_run_has_none(plan, tmp_path):
    spectra = [{"run": r, "step": 30, "freq": k, "embed_norm": 1.0} for r in (0, 1) for k in range(6)]
    masks = {0: np.zeros(5, bool), 1: np.arange(5) == 2}
    fig = fourier.plot_spectrum(tmp_path / "s.png", plan, spectra, masks, 30)
    from matplotlib.colors import to_rgb

    colour = {p.get_label(): to_rgb(p.get_facecolor()) for p in fig.legends[0].get_patches()}
    assert colour["key frequencies"] == to_rgb("C3")


def test_fourier_command_covers_every_saved_step(swept, plan):
    rows = grokjax.analysis.fourier.run(swept, freqs=[1, 3])
    assert sorted({(r["run"], r["step"]) for r in rows}) == [(r, s) for r in range(4) for s in (10, 20, 30)]
    assert all(r["key_freqs"] == "1 3" and r["key_source"] == "given" for r in rows)
    fig = fourier.plot_measures(swept / "analysis" / "fourier.png", plan, rows)
    assert "key frequencies as given" in fig._suptitle.get_text().replace("\n", " ")
    picked = fourier.plot_measures(swept / "analysis" / "fourier.png", plan,
                                   [{**r, "key_source": "from step 30 (ratio 3)"} for r in rows])
    assert "from the embedding at step 30 (ratio 3)" in picked._suptitle.get_text().replace("\n", " ")
    curves = {(int(c["run"]), int(c["step"])): c for c in read(swept / "curves.csv")}
    for r in rows:  # the full losses match the sweep's own evaluation
        assert r["train_loss"] == pytest.approx(float(curves[(r["run"], r["step"])]["train_loss"]), rel=1e-4)
    assert len(read(swept / "analysis" / "fourier_spectrum.csv")) == 4 * 3 * 6  # runs × steps × (K+1)
    with pytest.raises(checkpoint.CheckpointError, match="out of range"):
        grokjax.analysis.fourier.run(swept, freqs=[6])


# ---------------------------------------------------------------- neurons


def test_each_frequency_owns_eight_fourier_terms_and_no_two_share_one():
    masks = neurons.term_masks(13)
    assert masks.shape == (6, 13, 13) and (masks.sum((1, 2)) == 8).all()  # 4 linear, 4 quadratic
    assert masks.sum(0).max() == 1 and not masks[:, 0, 0].any()
    F = np.asarray(neurons.fourier_basis(13))
    np.testing.assert_allclose(F @ F.T, np.eye(13), atol=1e-6)


def test_neuron_shares_find_the_frequency_each_neuron_is_made_of():
    p = 13
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    w = 2 * np.pi / p
    acts = np.stack([
        np.cos(3 * w * a) * np.sin(3 * w * b) + 0.5 * np.cos(3 * w * a) + 2,  # frequency 3 alone, an offset
        np.cos(2 * w * (a + b) + 0.3),  # cos(w(a + b)): quadratic terms of frequency 2
        np.cos(2 * w * a) + np.cos(5 * w * b),  # two frequencies, equal variance
        np.cos(2 * w * a) * np.cos(5 * w * b),  # a cross term: on no single frequency
        np.full((p, p), 0.7),  # constant: dead
        np.random.default_rng(0).normal(size=(p, p)),
    ], -1)
    share, variance = (np.asarray(v) for v in neurons.frequency_shares(jnp.asarray(acts)))
    assert share.shape == (6, 6)
    np.testing.assert_allclose(share[2, 0], 1, atol=1e-6)  # k = 3
    np.testing.assert_allclose(share[1, 1], 1, atol=1e-6)  # k = 2
    np.testing.assert_allclose(share[[1, 4], 2], [0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(share[:, 3], 0, atol=1e-6)
    assert (share.sum(0) <= 1 + 1e-6).all() and share[:, 5].max() < 0.25  # noise: ~8/168 per frequency
    np.testing.assert_allclose(variance, acts.reshape(-1, 6).var(0), rtol=1e-5, atol=1e-10)  # float32
    mean = acts.reshape(-1, 6).mean(0)
    assert neurons.dead(variance, mean).tolist() == [False] * 4 + [True, False]
    got = neurons.summarize(share, variance, mean, threshold=0.85)
    assert got["n_dead"] == 1 and got["clusters"] == "2:1 3:1" and got["share_above"] == pytest.approx(2 / 5)
    assert got["frac_explained_median"] == pytest.approx(np.median(share.max(0)[[0, 1, 2, 3, 5]]))


@pytest.mark.parametrize("task, message", [
    (TableTask(op="s5_mul"), "the neurons analysis reads x+y or x−y mod p (ops add, sub); this sweep learns s5_mul"),
    (TableTask(op="add", modulus=12), "the neurons analysis needs an odd modulus; this sweep has 12"),
])
def test_neurons_read_modular_addition_alone(tiny_spec, task, message):
    plan = expand(tiny_spec.replace(task=task), devices=1)
    with pytest.raises(checkpoint.CheckpointError) as e:
        fourier.check_task(plan, "the neurons analysis")
    assert str(e.value) == message


def test_neurons_command_covers_every_run_layer_and_saved_step(swept, plan, capsys):
    assert cli.main(["neurons", str(swept), "--threshold", "0.5"]) == 0
    assert "frac_explained_median" in capsys.readouterr().out
    rows = read(swept / "analysis" / "neurons.csv")
    assert sorted((int(r["run"]), int(r["step"])) for r in rows) == [(r, s) for r in range(4) for s in (10, 20, 30)]
    assert {r["layer"] for r in rows} == {"0"} and {r["threshold"] for r in rows} == {"0.5"}
    curves = {(int(c["run"]), int(c["step"])): c for c in read(swept / "curves.csv")}
    for r in rows:
        assert float(r["val_acc"]) == pytest.approx(float(curves[(int(r["run"]), int(r["step"]))]["val_acc"]))
    cells = read(swept / "analysis" / "neurons_step30.csv")
    d_mlp = plan.spec.model.d_mlp
    live = [c for c in cells if c["dead"] == "False"]
    assert len(cells) == 4 * d_mlp and sum(k.startswith("share_") for k in cells[0]) == 5  # K = (11 − 1)/2
    for r in (x for x in rows if x["step"] == "30"):  # the summary counts what the neurons' table holds
        live = [c for c in cells if c["run"] == r["run"] and c["dead"] == "False"]
        assert int(r["n_dead"]) == d_mlp - len(live)
        assert float(r["share_above"]) == pytest.approx(sum(float(c["frac_explained"]) >= 0.5 for c in live) / len(live))
    for c in live:
        shares = [float(c[f"share_{k}"]) for k in range(1, 6)]
        assert shares[int(c["best_freq"]) - 1] == max(shares) and sum(shares) <= 1 + 1e-4
    assert all(c["best_freq"] == "" for c in cells if c["dead"] == "True")
    with pytest.raises(checkpoint.CheckpointError, match="threshold"):
        neurons.run(swept, threshold=1.5)


# ---------------------------------------------------------------- norms, table


def test_layer_norms_add_up_in_squares_to_the_weight_norm(swept):
    res = grokjax.load(swept)
    layers = [k for k in res.curves if k.startswith("norm_")]
    assert sorted(layers) == ["norm_blocks_0", "norm_tok_embed", "norm_unembed"]
    total = sum(res.curves[k].astype(np.float64) ** 2 for k in layers)
    np.testing.assert_allclose(total, res.curves["weight_norm"].astype(np.float64) ** 2, rtol=1e-5)
    rows = grokjax.analysis.norms.run(swept, runs=[1])
    assert [r["step"] for r in rows] == [0, 10, 20, 30] and "norm_unembed" in rows[0]
    with pytest.raises(checkpoint.CheckpointError, match=r"step 15 was not evaluated; the nearest evaluated: 10 and 20 "
                                                         r"\(the curves.csv hold steps 0..30, evaluated every 10 steps\)"):
        grokjax.analysis.norms.run(swept, runs=[1], step=15)


def test_norms_figure_tells_accuracy_from_layers(plan, tmp_path):
    layers = ["norm_blocks_0", "norm_tok_embed", "norm_unembed"]
    rows = [{"run": 0, "step": s, "weight_norm": 10.0 - s / 10, **{k: 5.0 for k in layers}, "train_acc": s / 30,
             "val_acc": s / 60} for s in (0, 10, 20, 30)]
    fig = norms.plot(tmp_path / "n.png", plan, rows, layers)
    ax, tw = [a for a in fig.axes if a.get_visible()]
    assert tw.get_ylabel() == "accuracy"
    from matplotlib.colors import to_rgb

    layer_colours = {to_rgb(line.get_color()) for line in ax.get_lines()[2:]}
    for line in tw.get_lines():  # greys, none of the layers' colours
        r, g, b = to_rgb(line.get_color())
        assert r == g == b and (r, g, b) not in layer_colours
    assert "Omnigrok's claim" in fig.get_suptitle()


def test_table_legend_lies_below_the_panels_and_wrong_training_cells_stand_out(plan, tmp_path):
    t = table_for("add", 11)
    label = t.y.astype(int)
    train = np.arange(len(label)) % 2 == 0
    pred = np.where(np.arange(len(label)) % 7 == 0, (label + 1) % 11, label)  # wrong cells in both splits
    for drawn in ([(0, pred, label, train)], [(r, pred, label, train) for r in range(4)]):
        fig = table.plot(tmp_path / "t.png", plan, t, drawn, 30)
        legend = extent(fig, fig.legends[0])
        for ax in fig.axes:
            if ax.get_visible():
                assert legend.y1 < ax.get_tightbbox(fig.canvas.get_renderer()).y0  # clear of the "b" labels
    from matplotlib.colors import to_rgb

    colour = {p.get_label(): np.array(to_rgb(p.get_facecolor())) for p in fig.legends[0].get_patches()}
    wrong = colour["training cell, wrong"]
    assert np.abs(wrong - colour["training cell, right"]).max() > 0.5  # not a second grey
    assert np.abs(wrong - colour["validation cell, wrong"]).max() > 0.5


def test_table_analysis_matches_the_recorded_accuracy(swept):
    per_run = grokjax.analysis.table.run(swept, step=30)
    recorded = {int(r["run"]): r for r in read(swept / "runs.csv")}
    for r in per_run:
        assert r["val_acc"] == pytest.approx(float(recorded[r["run"]]["final_val_acc"]), abs=1e-6)
    assert len(read(swept / "analysis" / "table_step30.csv")) == 4 * 121


# ---------------------------------------------------------------- the command


@pytest.mark.parametrize("args, message", [
    (["tsne", "{none}"], "has no checkpoint"),
    (["sharpness", "{tables}"], "has no checkpoint (checkpoints/sweep.json is missing): it holds a sweep's tables without its checkpoints; train it again to a new --out"),
    (["tsne", "{sweep}", "--step", "15"], "no checkpoint at step 15"),
    (["sharpness", "{sweep}", "--runs", "0,9"], "run 9 is out of range"),
    (["table", "{sweep}", "--runs", "x"], "malformed --runs"),
    (["tsne", "{sweep}", "--subgroup", "(0,9)"], "add has residues, not cosets"),
    (["fourier", "{sweep}", "--freqs", "a"], "malformed --freqs"),
    (["neurons", "{sweep}", "--threshold", "0"], "threshold must be in (0, 1]"),
    (["neurons", "{sweep}", "--step", "15"], "no checkpoint at step 15"),
    (["redraw", "{none}"], "has no analysis/ folder"),
])
def test_bad_input_is_one_line_and_exit_2(swept, tmp_path, capsys, args, message):
    none = tmp_path / "plain"
    none.mkdir()
    tables = tmp_path / "tables"  # the sweep's tables without its checkpoints, as results/ keeps them
    tables.mkdir()
    for name in ("runs.csv", "curves.csv", "config.json"):
        (tables / name).write_bytes((swept / name).read_bytes())
    argv = [a.format(none=none, sweep=swept, tables=tables) for a in args]
    before = sorted(p.name for p in (swept / "analysis").iterdir()) if (swept / "analysis").is_dir() else []
    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and message in err, err
    assert not (none / "analysis").exists()
    assert sorted(p.name for p in (swept / "analysis").iterdir()) == before if before else True


def test_s5_subgroup_errors_name_the_problem():
    with pytest.raises(SpecError, match="distinct points"):
        tsne.labels_for("s5_mul", 120, "(0,7)")


# ---------------------------------------------------------------- the Nanda preset


def test_nanda_preset_is_their_recipe():
    spec = presets.spec("nanda")
    assert (spec.task.op, spec.task.modulus, spec.fracs) == ("add", 113, (0.3,))
    m = spec.model
    assert (m.n_layers, m.d_model, m.n_heads, m.d_mlp, m.layer_norm) == (1, 128, 4, 512, False)
    (product,) = spec.grid
    assert product.lr == (1e-3,) and product.weight_decay == (1.0,) and product.full_batch == (True,)
    from grokjax.model import make_model

    params = jax.eval_shape(make_model(m, 115).init, jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
    assert sorted(params["params"]) == ["blocks_0", "tok_embed", "unembed"]  # one layer
    assert sorted(params["params"]["blocks_0"]) == ["fc1", "fc2", "kv", "out", "q"]  # no LayerNorm
    with pytest.raises(SpecError, match="unknown preset"):
        presets.get("nope")


def test_redraw_draws_every_analysis_figure_again_from_its_tables_alone(swept, tmp_path):
    import shutil

    a = swept / "analysis"
    tsne.run(swept, runs=[0, 3], perplexity=3)
    tsne.every_step(swept, runs=[1], perplexity=3, progress=False)
    sharpness.run(swept, runs=[0, 1], steps=2)
    table.run(swept, runs=[1])
    norms.run(swept)
    fourier.run(swept, runs=[2])
    neurons.run(swept, runs=[1, 3])
    copy = tmp_path / "tables"  # no checkpoint: the tables and the config.json that names the sweep
    (copy / "analysis").mkdir(parents=True)
    for name in ("config.json", "runs.csv", "curves.csv"):
        shutil.copy(swept / name, copy / name)
    for p in a.glob("*.csv"):
        shutil.copy(p, copy / "analysis" / p.name)
    assert cli.main(["redraw", str(copy)]) == 0
    drawn = sorted(p.name for p in (copy / "analysis").glob("*.png"))
    assert drawn == sorted(p.name for p in a.glob("*.png"))
    for name in ("norms.png", "fourier.png", "neurons.png", "neurons_step30.png", "table_step30_runs1.png", "tsne_unembed_step30.png", "tsne_unembed_by_step.png"):
        # the analyses draw from the CSVs they wrote: the same figure, to the byte
        assert (copy / "analysis" / name).read_bytes() == (a / name).read_bytes(), name
    (copy / "analysis" / "norms.csv").write_text("run,step\n0,10\n")
    assert cli.main(["redraw", str(copy)]) == 2  # a table without its columns: one line, no traceback


def test_the_terminal_summary_keeps_small_numbers_and_long_cells_whole(capsys):
    cli.print_summary("fourier", [{"run": 0, "seed": 0, "step": 10, "train_loss": 1.2345678e-05, "test_loss": 2.5,
                                   "restricted_loss": np.float64(5.0123e-05), "excluded_loss": 3.0,
                                   "gini_embed": np.float32(0.5), "key_freqs": "1 3 5 7 9 11 13 15"}])
    body = capsys.readouterr().out.splitlines()[1].split()
    assert body[3:] == ["1.235e-05", "2.5", "5.012e-05", "3", "0.5", *"1 3 5 7 9 11 13 15".split()]
