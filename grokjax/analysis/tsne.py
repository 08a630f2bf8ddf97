"""t-SNE of a layer's rows, one point per symbol (Power et al. Figure 3).

The rows of the unembedding (the output layer: one row per answer symbol),
or of the input embedding, of every chosen run, embedded in 2-D by
scikit-learn's TSNE. Points are coloured by what the operation's structure
predicts:

- modular operations: each residue ``x`` by ``x mod 8``, with a line from
  ``x`` to ``x + 8``: the paper's "number line" around the circle;
- S5 operations: each permutation by its coset of a subgroup (default
  ⟨(0,3)(1,4), (1,2)(3,4)⟩, the paper's), left or right.

Numbers, so runs compare without eyeballing: the silhouette score of the 2-D
points by those labels (−1..1; above 0, points sit nearer their own group),
and for modular operations ``plus8_ratio``, the mean 2-D distance from x to
x+8 over the mean distance between any two points (well below 1 on a number
line), and ``best_step``, the step s whose x → x+s lines are shortest, with
their ratio (a network's own number line). For S5 also the best silhouette
over every conjugate of the subgroup and both coset sides: the paper's
clusters are cosets "of the subgroup or one of its conjugates". Each number
is measured twice: on the 2-D points, and with a ``rows_`` prefix on the
rows themselves, before t-SNE, which keeps neighbours, not distances (a
line short in the picture may be no shorter than most in the layer).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from grokjax.analysis import groups, snapshot
from grokjax.checkpoint import CheckpointError
from grokjax.tables import S5, get_op

MATRICES = ("unembed", "embed")
MODULAR_STEP = 8  # the paper's "+8" lines and its colouring mod 8


@dataclasses.dataclass(frozen=True)
class Rows:
    """The measure: one row per symbol of the chosen matrix, ``[S, D]``."""

    matrix: str = "unembed"
    n_symbols: int = 0

    def __call__(self, config, x, y, run, params, extra):
        p = params["params"]
        if self.matrix == "unembed":
            return p["unembed"]["kernel"][:, : self.n_symbols].T  # the answer symbol's output weights
        return p["tok_embed"]["embedding"][: self.n_symbols]


def labels_for(op: str, n: int, subgroup: str = groups.PAPER_SUBGROUP, side: str = "left") -> tuple[np.ndarray, str]:
    """Per symbol, the label its colour shows, and what the labels mean."""
    if op.startswith("s5_"):
        H = groups.generate(groups.parse_generators(subgroup))
        return np.asarray(groups.cosets(H, S5, side)), f"{side} coset of ⟨{subgroup.replace(';', ',')}⟩ (order {len(H)})"
    if get_op(op).uses_modulus:
        return np.arange(n) % MODULAR_STEP, f"residue mod {MODULAR_STEP}"
    raise CheckpointError(f"t-SNE colours modular operations and S5; {op} is neither")


def subgroup_slug(subgroup: str) -> str:
    """A file-name tag for a subgroup: its generators' cycles, e.g. ``H012.01234``."""
    gens = groups.parse_generators(subgroup)
    return "H" + ".".join(groups.cycles(g).replace(")(", "_").strip("()").replace(",", "") for g in gens)


def silhouette(points: np.ndarray, labels: np.ndarray) -> float | None:
    from sklearn.metrics import silhouette_score

    k = len(set(labels.tolist()))
    return float(silhouette_score(points, labels)) if 1 < k < len(labels) else None


def mean_pair_distance(points: np.ndarray) -> float:
    n = len(points)
    return float(np.linalg.norm(points[:, None] - points[None, :], axis=-1)[np.triu_indices(n, 1)].mean())


def plus8_ratio(points: np.ndarray, n: int, step: int = MODULAR_STEP, pairs: float | None = None) -> float:
    """Mean distance from x to x+step (mod n), over the mean distance of all
    pairs (``pairs``, when already known)."""
    i = np.arange(n)
    near = np.linalg.norm(points[(i + step) % n] - points[i], axis=1).mean()
    return float(near / (mean_pair_distance(points) if pairs is None else pairs))


def best_step(points: np.ndarray, n: int) -> tuple[int, float]:
    """The step s in 1..n//2 whose x → x+s lines are shortest, and their ratio:
    a network whose circle runs at frequency k draws its number line at
    s = k⁻¹ mod n, which is 8 only for some networks (the paper's)."""
    pairs = mean_pair_distance(points)
    ratios = [plus8_ratio(points, n, s, pairs) for s in range(1, n // 2 + 1)]
    s = int(np.argmin(ratios)) + 1
    return s, ratios[s - 1]


def best_conjugate(points: np.ndarray, subgroup: str) -> dict:
    """The conjugate gHg⁻¹ and side whose cosets the points cluster by best."""
    H = groups.generate(groups.parse_generators(subgroup))
    best = {"best_silhouette": -np.inf}
    for g, C in groups.conjugates(H):
        for side in ("left", "right"):
            s = silhouette(points, np.asarray(groups.cosets(C, S5, side)))
            if s is not None and s > best["best_silhouette"]:
                best = {"best_silhouette": s, "best_conjugator": groups.cycles(g), "best_side": side}
    return best


def scores(points: np.ndarray, labels: np.ndarray, op: str, subgroup: str) -> dict:
    """The structure's numbers for one run's points, 2-D or the rows
    themselves: the silhouette by ``labels``, then for S5 the best over the
    subgroup's conjugates, for modular operations the +8 and shortest lines."""
    got = {"silhouette": silhouette(points, labels)}
    if op.startswith("s5_"):
        return {**got, **best_conjugate(points, subgroup)}
    n = len(labels)
    got["plus8_ratio"] = plus8_ratio(points, n)
    got["best_step"], got["best_step_ratio"] = best_step(points, n)
    return got


def used_perplexity(perplexity: float, n: int) -> float:
    """The perplexity t-SNE runs at for ``n`` points: at most (n − 1)/3, as
    scikit-learn needs perplexity < n."""
    return min(perplexity, (n - 1) / 3)


def embed_2d(rows: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    perplexity = used_perplexity(perplexity, len(rows))
    # exact gradients: a table has at most a few hundred symbols, where exact
    # t-SNE is fast (1.3 s for S5's 120) and Barnes-Hut was 30× slower on 2 cores
    return TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", method="exact",
                random_state=seed).fit_transform(np.asarray(rows, np.float64))


def _setup(out, matrix: str, subgroup, side, perplexity: float):
    """The checks every t-SNE makes, then (plan, task, labels, subgroup, side)."""
    if matrix not in MATRICES:
        raise CheckpointError(f"matrix must be one of {', '.join(MATRICES)}, got {matrix!r}")
    if not perplexity > 0:
        raise CheckpointError(f"perplexity must be positive, got {perplexity:g}")
    plan = snapshot.sweep_plan(out)
    task = snapshot.need_table(plan, "t-SNE", embeddings=True)
    if not task.op.startswith("s5_") and (subgroup, side) != (None, None):
        raise CheckpointError(f"--subgroup and --coset colour S5's symbols; {task.op} has residues, not cosets")
    subgroup, side = subgroup or groups.PAPER_SUBGROUP, side or "left"
    labels, _ = labels_for(task.op, task.data().n_classes, subgroup, side)
    return plan, task, labels, subgroup, side


def _measure(snap, plan, task, labels, matrix: str, subgroup: str, perplexity: float, seed: int):
    """Every chosen run of one snapshot: (per-run scores, 2-D points)."""
    n = len(labels)
    val = snapshot.metric_at(snap)
    measure = Rows(matrix, n)
    points, per_run = [], []
    for g in snap.groups:
        got = snapshot.apply(g, measure)  # [R, S, D]: the rows, read in one program
        for j, r in enumerate(g.runs):
            xy = embed_2d(got[j], perplexity, seed)
            per_run.append({**snapshot.settings(plan, r), "step": snap.step, "val_acc": val.get(r),
                            # what drew the picture: another perplexity writes over the same files
                            "perplexity": used_perplexity(perplexity, n), "tsne_seed": seed,
                            **scores(xy, labels, task.op, subgroup),
                            # the same in the layer's own space: t-SNE keeps neighbours, not distances
                            **{f"rows_{k}": v for k, v in scores(got[j], labels, task.op, subgroup).items()}})
            points += [{"run": r, "symbol": s, "label": int(labels[s]), "x": float(xy[s, 0]), "y": float(xy[s, 1])}
                       for s in range(n)]
    return per_run, points


def _stem(task, matrix: str, subgroup: str, side: str, step: str) -> str:
    """``tsne_<matrix>_<step>``, tagged with an S5 colouring other than the paper's: its own files."""
    stem = f"tsne_{matrix}_{step}"
    if task.op.startswith("s5_") and (subgroup, side) != (groups.PAPER_SUBGROUP, "left"):
        stem += f"_{subgroup_slug(subgroup)}_{side}"
    return stem


def run(out, runs=None, step: int | None = None, *, matrix: str = "unembed", subgroup: str | None = None,
        side: str | None = None, perplexity: float = 30.0, seed: int = 0) -> list[dict]:
    """t-SNE of every chosen run's ``matrix`` rows at ``step``; writes
    ``analysis/tsne_<matrix>_step<S>.csv`` (one row per run and symbol: its
    2-D point and label), ``..._runs.csv`` (per run: the perplexity and seed,
    then ``scores`` of the 2-D points and, prefixed ``rows_``, of the rows
    themselves) and a PNG. Returns the per-run rows. ``subgroup``
    and ``side`` colour S5's symbols (default: the paper's subgroup, left
    cosets); a modular table has neither."""
    plan, task, labels, subgroup, side = _setup(out, matrix, subgroup, side, perplexity)
    snap = snapshot.load(out, runs, step)
    per_run, points = _measure(snap, plan, task, labels, matrix, subgroup, perplexity, seed)
    d = snapshot.out_dir(out)
    stem = _stem(task, matrix, subgroup, side, f"step{snap.step}")
    snapshot.write_csv(d / f"{stem}_runs.csv", per_run)
    draw(snapshot.write_csv(d / f"{stem}.csv", points), plan)
    return per_run


def every_step(out, runs=None, *, matrix: str = "unembed", subgroup: str | None = None, side: str | None = None,
               perplexity: float = 30.0, seed: int = 0, progress: bool = True) -> list[dict]:
    """``run``'s scores at every saved step, without a map per step: writes
    ``analysis/tsne_<matrix>_by_step.csv`` (one row per run and step) and a
    PNG of each score against the step. A structure that forms and fades
    between checkpoints (the +8 lines of a run in ``results/``) shows here,
    not in the last step's map. An unreadable step is skipped and said;
    returns the rows."""
    import sys

    plan, task, labels, subgroup, side = _setup(out, matrix, subgroup, side, perplexity)
    steps = snapshot.saved_steps(out)
    rows, skipped = [], []
    for i, step in enumerate(steps):
        if progress:
            print(f"t-SNE at step {step:,} ({i + 1} of {len(steps)})", flush=True)
        try:
            snap = snapshot.load(out, runs, step)
        except CheckpointError as e:
            if "out of range" in str(e) or "no runs chosen" in str(e):
                raise  # the choice of runs, not this step: every step would refuse it
            skipped.append(step)
            print(f"grokjax.analysis: skipped step {step:,}: {e}", file=sys.stderr)
            continue
        rows += _measure(snap, plan, task, labels, matrix, subgroup, perplexity, seed)[0]
    if not rows:
        raise CheckpointError(f"no saved step of {out} could be read")
    rows.sort(key=lambda r: (r["run"], r["step"]))
    path = snapshot.write_csv(snapshot.out_dir(out) / f"{_stem(task, matrix, subgroup, side, 'by_step')}.csv", rows)
    draw(path, plan)
    return rows


STEM = re.compile(r"tsne_(?P<matrix>[a-z]+)_(?:step(?P<step>\d+)|by_step)(?:_(?P<slug>H[0-9._]+)_(?P<side>left|right))?$")


def subgroup_of_slug(slug: str) -> str:
    """``subgroup_slug``'s inverse: ``H03_14.12_34`` → ``(0,3)(1,4); (1,2)(3,4)``."""
    return "; ".join("".join(f"({','.join(c)})" for c in gen.split("_")) for gen in slug[1:].split("."))


def draw(path, plan) -> Path:
    """The PNG beside a ``tsne_<matrix>_step<S>[_<subgroup>_<side>].csv``,
    from it and its ``_runs.csv`` alone, or beside ``every_step``'s
    ``tsne_<matrix>_by_step[...].csv``; the file name says the matrix, the
    step and, for S5, a colouring other than the paper's."""
    path = Path(path)
    name = STEM.match(path.stem)
    if name is None:
        raise CheckpointError(f"{path.name} is not a t-SNE table (tsne_<matrix>_step<S>.csv or tsne_<matrix>_by_step.csv)")
    task = snapshot.need_table(plan, "t-SNE", embeddings=True)
    subgroup = subgroup_of_slug(name["slug"]) if name["slug"] else groups.PAPER_SUBGROUP
    if name["step"] is None:
        _, meaning = labels_for(task.op, task.data().n_classes, subgroup, name["side"] or "left")
        plot_steps(path.with_suffix(".png"), plan, task, snapshot.read_csv(path), meaning, name["matrix"])
        return path.with_suffix(".png")
    points = snapshot.read_csv(path)
    per_run = snapshot.read_csv(path.with_name(f"{path.stem}_runs.csv"))
    first = [p for p in points if p["run"] == points[0]["run"]]
    labels = np.array([p["label"] for p in sorted(first, key=lambda p: p["symbol"])])
    _, meaning = labels_for(task.op, len(labels), subgroup, name["side"] or "left")
    plot(path.with_suffix(".png"), plan, task, points, per_run, labels, meaning, name["matrix"], int(name["step"]))
    return path.with_suffix(".png")


MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # 7, coprime to tab10's 10 colours


def class_style(label: int, k: int) -> tuple[int, str]:
    """A class's tab10 colour index and marker: colour ``label mod 10`` and
    marker ``label mod m``, with m (3, or 7 past 30 classes) coprime to 10,
    so up to 10·m classes differ in colour or shape (tab20's pairs share a
    hue: S5's 12 cosets read as 6)."""
    m = 3 if k <= 30 else len(MARKERS)
    return label % 10, MARKERS[label % m]


ROWS_NOTE = ("in the rows: the same scores in the layer's own space, before t-SNE; there noise and several "
             "frequencies lengthen every line alike, so compare runs or steps, not the 2-D thresholds")


def definitions(s5: bool, shortest: bool = True, rows: bool = True) -> str:
    """The panel titles' terms, once for the figure (``shortest``, ``rows``:
    the panels show the shortest lines' step and the rows' own scores, which
    older tables lack)."""
    if s5:
        return ("silhouette: how well the points cluster by these cosets (−1..1; > 0: clustered). "
                "best conjugate: the best silhouette over the left and right cosets of every conjugate gHg⁻¹ of H"
                + (f". {ROWS_NOTE}" if rows else ""))
    return (f"silhouette: how well the points cluster by residue mod {MODULAR_STEP} (−1..1; > 0: clustered). "
            f"+{MODULAR_STEP} ratio: mean x → x+{MODULAR_STEP} distance over the mean distance of all pairs "
            f"(≪ 1: a number line at +{MODULAR_STEP})."
            + (" shortest lines +s: the step s of the smallest such ratio" if shortest else "")
            + (f". {ROWS_NOTE}" if rows else ""))


def plot(path, plan, task, points, per_run, labels, meaning, matrix, step):
    from matplotlib import colormaps

    s5 = task.op.startswith("s5_")
    # one panel alone gets the figure's whole width: make it as tall, so that
    # the equal-aspect points fill a square instead of a wide, flat strip
    fig, axes = snapshot.grid(len(per_run), size=(3.6, 3.3) if len(per_run) > 1 else (7.0, 6.2), extra_height=1.0)
    k = int(labels.max()) + 1
    colours = colormaps["tab10"].colors
    n = len(labels)
    for ax, s in zip(axes, per_run):
        mine = [p for p in points if p["run"] == s["run"]]
        xy = np.array([[p["x"], p["y"]] for p in mine])
        if not s5:
            for i in range(n):  # x → x+8
                j = (i + MODULAR_STEP) % n
                ax.plot(xy[[i, j], 0], xy[[i, j], 1], color="0.75", lw=0.5, zorder=1)
        for lab in range(k):
            m = labels == lab
            c, marker = class_style(lab, k)
            ax.scatter(xy[m, 0], xy[m, 1], s=14, color=colours[c], marker=marker, label=str(lab), zorder=2,
                       edgecolor="k", lw=0.25)
        score = "" if s["silhouette"] is None else f"silhouette {s['silhouette']:.2f}"
        if not s5:
            extra = f", +{MODULAR_STEP} ratio {s['plus8_ratio']:.2f}"
            if s.get("best_step") is not None:  # tables written before it was measured lack it
                extra += f"\nshortest lines +{s['best_step']} (ratio {s['best_step_ratio']:.2f})"
            if s.get("rows_silhouette") is not None:
                extra += f"\nin the rows: +{MODULAR_STEP} ratio {s['rows_plus8_ratio']:.2f}, " \
                         f"shortest lines +{s['rows_best_step']} ({s['rows_best_step_ratio']:.2f})"
        else:
            g = s["best_conjugator"]
            conj = "H itself" if g == "()" else f"g={g}"  # groups.cycles writes the identity as ()
            extra = f"\nbest conjugate {s['best_silhouette']:.2f} ({s['best_side']} cosets, {conj})"
            if s.get("rows_silhouette") is not None:
                extra += f"\nin the rows: silhouette {s['rows_silhouette']:.2f}, best conjugate {s['rows_best_silhouette']:.2f}"
        acc = "" if s["val_acc"] is None else f"val acc {s['val_acc']:.3f}, "
        ax.set_title(f"{snapshot.run_label(plan, s['run'])}\n{acc}{score}{extra}", fontsize=8)
        ax.set_aspect("equal", "datalim")  # t-SNE's two axes are one scale: a circle stays a circle
        ax.set_xlabel("t-SNE 1", fontsize=8)
        ax.set_ylabel("t-SNE 2", fontsize=8)
        ax.tick_params(labelsize=6)
    handles, names = axes[0].get_legend_handles_labels()
    shortest = any(s.get("best_step") is not None for s in per_run)  # older tables lack these
    in_rows = any(s.get("rows_silhouette") is not None for s in per_run)
    snapshot.legend_below(fig, handles, names, note=definitions(s5, shortest, in_rows), title=meaning,
                          ncols=min(k, 12), fontsize=7, title_fontsize=8, markerscale=1.5)
    rows = "unembedding (output layer)" if matrix == "unembed" else "input embedding"
    lines = "" if s5 else f"; grey lines join x to x+{MODULAR_STEP}"
    perp = per_run[0].get("perplexity")  # tables written before it was recorded lack it
    how = "t-SNE" if perp is None else f"t-SNE (perplexity {perp:.3g})"
    snapshot.title(fig, f"{how} of the {rows} rows, one per symbol: {task.describe()} at step {step}{lines}")
    snapshot.save(fig, path)
    return fig


def plot_steps(path, plan, task, rows, meaning, matrix):
    """Each score of ``every_step``'s table against the step, one colour per
    run: solid in the picture, dashed in the rows themselves; and val accuracy."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    s5 = task.op.startswith("s5_")
    if s5:
        panels = [("silhouette", f"silhouette by {meaning.rsplit(' (', 1)[0]}", 0.25),
                  ("best_silhouette", "best silhouette over conjugates and sides", None)]
    else:
        panels = [("plus8_ratio", f"+{MODULAR_STEP} ratio (x → x+{MODULAR_STEP} over all pairs)", 0.5),
                  ("best_step", "step s of the shortest x → x+s lines", MODULAR_STEP)]
    fig = Figure(figsize=(12.0, 4.4), layout="constrained")
    axes = fig.subplots(1, 3)
    runs = sorted({r["run"] for r in rows})
    saved = sorted({r["step"] for r in rows})
    marker = dict(marker="o", ms=3) if len(saved) <= snapshot.MAX_MARKED else {}
    for c, run in enumerate(runs):
        mine = [r for r in rows if r["run"] == run]
        steps = [r["step"] for r in mine]
        colour = f"C{c % 10}"
        for ax, (key, _, _) in zip(axes, panels):
            # a step with too few labels for a silhouette has None: a gap, not a zero
            ax.plot(steps, [np.nan if r[key] is None else r[key] for r in mine], "-", color=colour, lw=1.3, **marker)
            ax.plot(steps, [np.nan if r[f"rows_{key}"] is None else r[f"rows_{key}"] for r in mine], "--", color=colour,
                    lw=1.0, alpha=0.8)
        axes[2].plot(steps, [np.nan if r["val_acc"] is None else r["val_acc"] for r in mine], "-", color=colour, lw=1.3,
                     **marker)
    for ax, (_, label, line) in zip(axes, panels):
        if line is not None:
            ax.axhline(line, color="0.4", lw=0.8, ls=":", zorder=0)
        ax.set_title(label, fontsize=9)
    if not s5:
        axes[1].set_yscale("log", base=2)  # steps 1..p//2: 8 and its neighbours stay readable
        axes[1].yaxis.set_major_formatter("{x:g}")
    axes[2].set_ylim(-0.02, 1.02)
    axes[2].set_title("val accuracy at the saved step", fontsize=9)
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=f"C{c % 10}", lw=1.3) for c in range(len(runs))]
    names = [snapshot.run_label(plan, r) for r in runs]
    handles += [Line2D([], [], color="0.3", ls="-"), Line2D([], [], color="0.3", ls="--"),
                Line2D([], [], color="0.4", ls=":")]
    names += ["in the t-SNE picture", "in the rows themselves, before t-SNE",
              "the paper's structure: silhouette 0.25 (criterion)" if s5
              else f"+{MODULAR_STEP} ratio 0.5 (criterion) / step {MODULAR_STEP}"]
    note = definitions(s5) + f". Checkpoints {snapshot.spacing(saved)}; nothing is measured between them."
    snapshot.legend_below(fig, handles, names, note=note, ncols=min(len(handles), 4), fontsize=7)
    layer = "unembedding (output layer)" if matrix == "unembed" else "input embedding"
    perp = rows[0].get("perplexity")
    snapshot.title(fig, f"t-SNE (perplexity {perp:.3g}) scores of the {layer} rows at every saved step: "
                        f"{task.describe()}")
    snapshot.save(fig, path)
    return fig

