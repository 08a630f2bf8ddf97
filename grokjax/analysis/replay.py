"""Every update between two saved steps, replayed exactly, one row per step.

A sweep evaluates every ``eval_every`` steps, and what happens between two
evaluations is lost: a late collapse falls in a few updates. ``run``
restores the chosen runs' whole training state (params and optimizer) at a
saved step and takes the next updates one at a time with the training
program itself (``train.sweep_chunk``, a chunk of one step and its
evaluation), so the path is the one training took. Before each update a
second program measures it:

- the loss and accuracy on the minibatch the update trains on (the whole
  training set under ``full_batch``), of the network without weight noise
  or dropout;
- ``logit_spread``, how much the outputs vary from row to row of that batch
  (each output's standard deviation over the rows, averaged over outputs;
  0 for a network whose answer ignores its input);
- ``max_logit``, the largest |output| on that batch, and ``zero_loss_frac``,
  its share of rows whose loss is exactly 0 in the compute dtype: where
  softmax has saturated and the row no longer gives a gradient (the
  "softmax collapse" of Prieto et al. 2025);
- the gradient's and the update's L2 norms, all and per layer
  (``grad_norm_<layer>``, ``update_norm_<layer>``), and the weights'
  (``norm_<layer>``), the update being what the whole optimizer chain
  added to the params, weight decay included.

The measures come from a program of their own: the gradient and update
they report equal training's up to float rounding, while the path itself
is training's. Under ``lax.map`` (the CPU's run axis) each run's path is
its own, so any runs can be replayed alone; under ``vmap`` the runs of a
program are one batch whose shape sets the rounding, so all of them are
replayed and the chosen ones written. Replayed on one device of the kind
that trained, the path is the same to the bit (tested on the CPU; a sweep
vmapped over several devices, or trained on another backend, may round
otherwise). So each replay checks itself: when its last step was saved
too, the replayed state is compared with that checkpoint leaf by leaf, and
each evaluation curves.csv recorded in the range with the replay's;
``replay_*.json`` and the terminal say whether they are identical.

    python -m grokjax.analysis replay OUT --runs 0 --step 33500 --updates 500
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from pathlib import Path

import numpy as np

from grokjax import checkpoint, report, summary, xla_options
from grokjax.analysis import snapshot
from grokjax.checkpoint import CheckpointError
from grokjax.knobs import KNOB, change_problem

GRAD_PREFIX, UPDATE_PREFIX = "grad_norm_", "update_norm_"
EVAL_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc")
FALLBACK_UPDATES = 100  # past a sweep's end under a log schedule, which has no fixed interval


@dataclasses.dataclass(frozen=True)
class Start:
    """The chosen runs of one training program at a saved step, whole."""

    config: object  # grokjax.config.Config of the program
    runs: tuple  # the runs' indices in the sweep
    run_params: object  # RunParams, run axis leading
    states: object  # train.TrainState, run axis leading


def leaf_norms(tree, prefix: str) -> dict:
    """``<prefix><module>.<sub>.<param>``: the L2 norm of every array of a
    params-shaped tree (``blocks_0.fc1.kernel``)."""
    import jax
    import optax

    top = tree["params"] if "params" in tree else tree
    named = jax.tree_util.tree_flatten_with_path(top)[0]
    return {prefix + ".".join(str(getattr(k, "key", k)) for k in path): optax.tree.norm(a) for path, a in named}


def measure_update(config, x, y, run, state, leaves: bool = False) -> dict:
    """What update ``state.step`` → ``state.step + 1`` of one run trains on,
    and how large it is (see the module's text); with ``leaves``, the norms
    of every parameter array too, not only of each layer."""
    import jax.numpy as jnp
    import optax

    from grokjax import losses, train

    x, y = train.run_table(config, x, y, run)
    order = train.run_order(config, run)
    y = train.run_labels(config, y, order, run)
    _, grads, updates = train.step_parts(config, x, y, order, run, state)
    if config.full_batch:
        rows_B, w_B = order, (jnp.arange(order.shape[0]) < run.n_train).astype(jnp.float32)
    else:
        rows_B, w_B = train.step_batch(config, order, run, state.step)
    out = train.outputs(config, x[rows_B], state.params)  # in blocks: a full batch can be the whole table
    loss = jnp.where(w_B > 0, losses.per_example(config.loss, out, y[rows_B]), 0)
    ok = jnp.where(w_B > 0, train.is_correct(config, out, y[rows_B]), 0)
    w = w_B.astype(loss.dtype)
    n = jnp.maximum(w.sum(), 1.0)
    used = (w > 0)[:, None]  # rows of weight 0 (padding) count nowhere, NaN or not
    by_leaf = {} if not leaves else {**leaf_norms(grads, GRAD_PREFIX), **leaf_norms(updates, UPDATE_PREFIX),
                                     **leaf_norms(state.params, summary.LAYER_NORM_PREFIX)}
    return {
        "batch_loss": (loss * w).sum() / n,
        "batch_acc": (ok * w).sum() / n,
        "max_logit": jnp.max(jnp.where(used, jnp.abs(out), 0)),
        # each output's standard deviation over the batch's rows, averaged over outputs: 0 when the
        # network answers every input alike (a prediction that ignores its input)
        "logit_spread": jnp.sqrt(jnp.where(used, (out - jnp.where(used, out, 0).sum(0) / n) ** 2, 0).sum(0)
                                 / n).mean(),
        "zero_loss_frac": ((loss == 0) * w).sum() / n,
        "grad_norm": optax.tree.norm(grads),
        "update_norm": optax.tree.norm(updates),
        "weight_norm": optax.tree.norm(state.params),
        **train.layer_norms(grads, GRAD_PREFIX),
        **train.layer_norms(updates, UPDATE_PREFIX),
        **train.layer_norms(state.params),
        **by_leaf,
    }


@functools.partial(xla_options.jit, static_argnames=("config", "leaves"))
def _measure(config, x, y, runs, states, leaves: bool = False):
    from grokjax import train

    return train.over_runs(config, lambda x, y, r, s: measure_update(config, x, y, r, s, leaves), (x, y), runs, states)


def load(out, runs=None, step: int | None = None, replay_together: bool = True) -> tuple[int, list[Start]]:
    """The saved step and, per training program, the chosen runs' whole
    state there: with ``replay_together``, all its runs where it batched them
    (vmap), which a replay needs to take the same path."""
    import jax

    plan, runs, want, got = snapshot.restore(out, runs, step)
    starts = []
    for p in want:
        prog = plan.programs[p]
        # under vmap the runs of a program are one batch, and its shape sets
        # the float rounding: every run of the program is replayed to be exact
        together = prog.config.run_axis == "vmap" or prog.config.map_batch > 1
        chosen = list(prog.runs) if together and replay_together else [r for r in prog.runs if r in runs]
        idx = np.asarray([prog.runs.index(r) for r in chosen])
        pick = functools.partial(jax.tree.map, lambda a: np.asarray(a)[idx])
        starts.append(Start(prog.config, tuple(chosen), pick(plan.run_params(prog)), pick(got.states[p])))
    return got.step, starts


def default_updates(out, step: int) -> int:
    """Up to the next saved step, where the replay can be checked; past the
    last one, to the sweep's next evaluation, or ``FALLBACK_UPDATES`` past
    its end."""
    later = [s for s in checkpoint.saved_steps(out) if s > step]
    if later:
        return later[0] - step
    spec = snapshot.sweep_plan(out).spec
    evals = [int(s) for s in spec.eval_steps() if s > step]
    if evals:
        return evals[0] - step
    return spec.eval_every if isinstance(spec.eval_every, int) else FALLBACK_UPDATES


def run(out, runs=None, step: int | None = None, updates: int | None = None, leaves: bool = False,
        settings: dict | None = None, progress: bool = True, command: list[str] | None = None) -> list[dict]:
    """Replays ``updates`` updates of the chosen runs from saved step
    ``step`` (default: the latest); writes ``analysis/replay_<stem>.csv``
    (one row per run and step), ``.png`` and ``.json`` (the checks). Returns
    the rows. ``leaves``: the norms of every parameter array too (columns
    such as ``grad_norm_blocks_0.fc1.kernel``). ``settings``: per-run
    settings changed from the saved step on (``{"weight_decay": 0.0}``; any
    per-run number a fork may change, ``check_settings``), a what-if rather than a replay: the path is no longer
    training's, so nothing is checked. ``command``: the command line to
    record, if there was one."""
    import jax

    plan = snapshot.sweep_plan(out)
    if updates is not None and updates < 1:
        raise CheckpointError(f"updates must be >= 1, got {updates}")
    settings = check_settings(settings)
    start, starts = load(out, runs, step)
    check_settings(settings, [s.config for s in starts])
    if settings:
        starts = [dataclasses.replace(s, run_params=s.run_params.replace(
            **{k: np.full_like(getattr(s.run_params, k), v) for k, v in settings.items()})) for s in starts]
    wanted = set(snapshot.check_runs(plan, runs))
    updates = default_updates(out, start) if updates is None else int(updates)
    end = start + updates
    rows, finals = [], []
    bar = _bar(updates * len(starts), progress)
    with jax.enable_x64(plan.spec.x64):
        for s in starts:
            got, final = _replay(s, updates, bar, leaves)
            finals.append(final)
            # the last step's row has its evaluation only: no update is measured there
            rows += [{**snapshot.settings(plan, r), "step": start + t,
                      **{k: None if v[t] is None else float(v[t][j]) for k, v in got.items()}}
                     for j, r in enumerate(s.runs) if r in wanted for t in range(updates + 1)]
    bar.close()
    rows.sort(key=lambda r: (r["run"], r["step"]))
    checks = {"checkpoint": None, "curves": None} if settings else {
        "checkpoint": _check_checkpoint(out, starts, finals, end),
        "curves": _check_curves(out, rows, start, end, plan.spec.x64)}
    stem = stem_for(start, end, runs, settings)
    d = snapshot.out_dir(out)
    meta = {"command": command, "from_step": start, "to_step": end, "runs": sorted(wanted), "settings": settings,
            "replayed_runs": sorted(r for s in starts for r in s.runs), **checks,
            "environment": report.environment()}
    report.write_atomic(d / f"{stem}.json", json.dumps(meta, indent=1, default=str) + "\n")
    draw(snapshot.write_csv(d / f"{stem}.csv", rows), plan)
    return rows


def stem_for(start: int, end: int, runs, settings: dict | None = None) -> str:
    return (f"replay_step{start}_to{end}" + ("" if runs is None else "_runs" + "_".join(map(str, sorted(runs))))
            + "".join(f"_{k}{v:g}" for k, v in sorted((settings or {}).items())))


def check_settings(settings: dict | None, configs=()) -> dict:
    """``settings`` as numbers, or an error naming the one that cannot
    change: the rule a fork follows (``knobs.change_problem``), checked
    against each program's ``configs`` where given."""
    out = {}
    for k, v in (settings or {}).items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            raise CheckpointError(f"{k}={v!r} is not a number") from None
        if not np.isfinite(out[k]):
            raise CheckpointError(f"{k}={v} is not finite")
        if k in KNOB and KNOB[k].kind is int:
            if out[k] != int(out[k]):
                raise CheckpointError(f"{k} takes whole numbers, got {v}")
            out[k] = int(out[k])
        for config in configs or (None,):
            problem = change_problem(k, out[k], *(() if config is None else (config.transforms, config.grokfast_window)))
            if problem:
                raise CheckpointError(problem)
    return out


def _bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="update", desc="replay", disable=not enabled, dynamic_ncols=True, file=sys.stderr)


def _replay(s: Start, updates: int, bar, leaves: bool = False) -> tuple[dict, object]:
    """``{column: [per step t, an array over runs or None where not measured]}``
    and the state after the last update."""
    import jax

    from grokjax import train

    data = s.config.task.data()
    x, y = jax.numpy.asarray(data.x), jax.numpy.asarray(data.y)
    states = jax.tree.map(jax.numpy.asarray, s.states)
    cols: dict[str, list] = {}

    def keep(got: dict, t: int) -> None:
        for k, v in jax.device_get(got).items():
            cols.setdefault(k, [None] * (updates + 1))[t] = np.asarray(v, np.float64)

    states, ev = train.sweep_chunk(s.config, x, y, s.run_params, states, 0)  # evaluates the saved step
    keep({k: ev[k] for k in EVAL_KEYS}, 0)
    for t in range(updates):
        keep(_measure(s.config, x, y, s.run_params, states, leaves), t)
        states, ev = train.sweep_chunk(s.config, x, y, s.run_params, states, 1)  # the training program, one step
        keep({k: ev[k] for k in EVAL_KEYS}, t + 1)
        bar.update(1)
    # the last step has no update to measure, but its evaluation gives the weights' norms
    keep({k: v for k, v in ev.items() if k == "weight_norm" or k.startswith(summary.LAYER_NORM_PREFIX)}, updates)
    return cols, jax.device_get(states)


def _check_checkpoint(out, starts: list[Start], finals: list, end: int) -> dict | None:
    """The replayed state against the checkpoint at ``end``, if one was
    saved: identical means the same bytes (NaN where the checkpoint has NaN)."""
    import jax

    if end not in checkpoint.saved_steps(out):
        return None
    try:
        _, saved = load(out, sorted(r for s in starts for r in s.runs), end, replay_together=False)
    except CheckpointError as e:
        return {"step": end, "identical": None, "error": str(e)}
    same, diffs = True, [0.0]
    for a, b in zip(finals, saved):
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b.states)):
            u, v = np.asarray(u), np.asarray(v)
            if u.shape == v.shape and u.dtype == v.dtype and u.tobytes() == v.tobytes():
                continue
            same = False
            d = np.abs(u.astype(np.float64) - v.astype(np.float64))
            d[np.isnan(u) != np.isnan(v)] = np.inf  # NaN on one side only: as far apart as can be
            diffs.append(float(np.nanmax(d)) if (~np.isnan(d)).any() else 0.0)
    return {"step": end, "identical": same, "max_abs_diff": max(diffs)}


def _check_curves(out, rows: list[dict], start: int, end: int, x64: bool) -> dict | None:
    """The replay's evaluations against curves.csv's, at the steps it
    recorded in the range: how many there were, and how many agree in every
    value (in the sweep's dtype, as curves.csv holds them)."""
    path = Path(out) / "curves.csv"
    if not path.is_file():
        return None
    dtype = np.float64 if x64 else np.float32
    mine = {(r["run"], r["step"]): r for r in rows}
    seen = same = 0
    for rec in report.read_csv(path):
        key = (int(rec["run"]), int(rec["step"]))
        if key in mine and start <= key[1] <= end:
            seen += 1
            same += all(_same(dtype(mine[key][k]), dtype(rec[k])) for k in EVAL_KEYS if k in rec)
    return {"evaluations": seen, "identical": same}


def _num(v) -> float:
    return np.nan if v is None else float(v)


def _finite(rows: list[dict], key: str) -> bool:
    return any(np.isfinite(_num(x.get(key))) for x in rows)


def summary_lines(rows: list[dict], meta: dict | None = None) -> list[str]:
    """A few lines per run for the terminal: where its train accuracy was
    lowest and its update largest; then the checks."""
    out = []
    for r in sorted({x["run"] for x in rows}):
        mine = [x for x in rows if x["run"] == r]
        low = mine[int(np.nanargmin([_num(x["train_acc"]) for x in mine]))] if _finite(mine, "train_acc") else None
        measured = [x for x in mine if x.get("update_norm") is not None]
        big = (measured[int(np.nanargmax([_num(x["update_norm"]) for x in measured]))]
               if _finite(measured, "update_norm") else None)
        if low is None or big is None:
            out.append(f"run {r}: no finite train accuracy or update norm in the range (diverged?)")
            continue
        out.append(f"run {r}: train acc {mine[0]['train_acc']:.4g} at step {mine[0]['step']:,} → "
                   f"{mine[-1]['train_acc']:.4g} at {mine[-1]['step']:,}, lowest {low['train_acc']:.4g} at "
                   f"{low['step']:,}; largest update {big['update_norm']:.3g} at {big['step']:,} (gradient "
                   f"{big['grad_norm']:.3g}, batch loss {big['batch_loss']:.3g})")
    meta = meta or {}
    check, curves = meta.get("checkpoint"), meta.get("curves")
    if check is not None:
        out.append(f"replayed state at step {check['step']:,}: " + (
            f"not compared: {check['error']}" if check.get("error") else
            "identical to its checkpoint" if check["identical"] else
            f"DIFFERS from its checkpoint (max |Δ| {check['max_abs_diff']:.3g})"))
    if curves:
        out.append(f"curves.csv: {curves['identical']} of {curves['evaluations']} evaluations in the range "
                   "identical to the replay's")
    return out


def _same(a, b) -> bool:
    return bool(a == b or (np.isnan(a) and np.isnan(b)))


def read_meta(out, rows: list[dict], runs=None, settings: dict | None = None) -> dict | None:
    """The checks ``run`` wrote beside ``rows`` (``runs`` and ``settings`` as given)."""
    stem = stem_for(rows[0]["step"], max(r["step"] for r in rows), runs, check_settings(settings))
    path = Path(out) / snapshot.OUT_DIR / f"{stem}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def read(path) -> list[dict]:
    return snapshot.read_csv(Path(path))


def draw(path: Path, plan) -> Path:
    """``replay_<stem>.png`` from its CSV alone."""
    path = Path(path)
    rows = read(path)
    # the columns the figure draws; a CSV of an older grokjax may lack one
    drawn = ("train_acc", "val_acc", "batch_acc", "train_loss", "val_loss", "batch_loss", "grad_norm", "update_norm",
             "logit_spread", "max_logit", "zero_loss_frac")
    missing = [k for k in drawn if rows and k not in rows[0]]
    if missing:
        raise ValueError(f"it has no column {', '.join(missing)} (an older grokjax wrote it; replay again to draw it)")
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    return plot(path.with_suffix(".png"), plan, rows, meta)


def plot(path: Path, plan, rows: list[dict], meta: dict) -> Path:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    runs = sorted({r["run"] for r in rows})
    layers = [k.removeprefix(summary.LAYER_NORM_PREFIX) for k in rows[0]
              if k.startswith(summary.LAYER_NORM_PREFIX) and "." not in k]  # layers, not --leaves' arrays
    fig = Figure(figsize=(9.0, 12.5), layout="constrained")
    axes = fig.subplots(6, 1, sharex=True)
    styles = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3))]
    from grokjax.analysis.norms import layer_colours

    by_layer = dict(zip(layers, layer_colours([summary.LAYER_NORM_PREFIX + k for k in layers])))
    tw = axes[5].twinx()
    for i, r in enumerate(runs):
        mine = [x for x in rows if x["run"] == r]
        st = np.array([x["step"] for x in mine], float)
        col = lambda k: np.array([np.nan if x.get(k) is None else x[k] for x in mine], float)  # noqa: E731
        c = f"C{i % 10}"
        ax = axes[0]
        ax.plot(st, col("train_acc"), color=c, lw=1.6, label="train accuracy (all training rows)")
        ax.plot(st, col("val_acc"), color=c, lw=1.0, ls="--", label="val accuracy")
        ax.plot(st, col("batch_acc"), color=c, lw=0, marker=".", ms=2, alpha=0.5, label="the update's batch")
        ax = axes[1]
        ax.plot(st, col("train_loss"), color=c, lw=1.6, label="train loss")
        ax.plot(st, col("val_loss"), color=c, lw=1.0, ls="--", label="val loss")
        ax.plot(st, col("batch_loss"), color=c, lw=0, marker=".", ms=2, alpha=0.5, label="the update's batch loss")
        ax = axes[2]
        ax.plot(st, col("grad_norm"), color=c, lw=1.2, label="gradient")
        ax.plot(st, col("update_norm"), color=c, lw=1.2, ls="--", label="update (whole chain, decay included)")
        ax = axes[3]
        for k, layer in enumerate(layers):  # one run: a colour per layer; several: a line style
            one = len(runs) == 1
            ax.plot(st, col(summary.LAYER_NORM_PREFIX + layer), color=by_layer[layer] if one else c, lw=1.1,
                    ls="-" if one else styles[k % len(styles)], label=layer)
        axes[4].plot(st, col("logit_spread"), color=c, lw=1.2, label="logits' spread over the batch's rows")
        ax = axes[5]
        ax.plot(st, col("max_logit"), color=c, lw=1.2, label="largest |logit| on the batch")
        tw.plot(st, col("zero_loss_frac"), color=c, lw=0.9, ls=":", label="batch rows at loss exactly 0 (right)")
    axes[0].set_ylabel("accuracy")
    axes[0].set_ylim(-0.02, 1.02)
    axes[1].set_ylabel("loss")
    axes[2].set_ylabel("L2 norm")
    axes[3].set_ylabel("weight norm")
    axes[4].set_ylabel("spread")
    axes[5].set_ylabel("logit")
    tw.set_ylabel("share at loss 0", fontsize=8)
    tw.set_ylim(-0.02, 1.02)
    from grokjax import plots

    for ax in axes[1:5]:
        ax.set_yscale("log")
        plots.plain_log_ticks(ax.yaxis, per_label=0.25)  # "3", not "3×10⁰"
    titles = ["full evaluation after each update (lines), and the minibatch each update trained on (dots)",
              "loss", "each update's gradient and the update the optimizer applied",
              "each layer's weights" + ("" if len(runs) == 1 else " (colour: run; line style: layer)"),
              "how much the output depends on the input: the logits' spread over the batch (0: one answer for all)",
              "the outputs' size, and where softmax stops giving a row a gradient"]
    for ax, t in zip(axes, titles):
        ax.set_title(t, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if ax is axes[5]:
            h2, l2 = tw.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        seen = dict(zip(labels, handles))
        if len(runs) > 1:  # one entry per kind of line, in grey; the colours are the runs
            seen = {k: Line2D([], [], color="0.3", ls=h.get_linestyle(), marker=h.get_marker(), ms=3,
                              lw=h.get_linewidth()) for k, h in seen.items()}
        ax.legend(seen.values(), seen.keys(), fontsize=7, loc="best")
    axes[-1].set_xlabel("step")
    if len(runs) > 1:
        fig.legend([Line2D([], [], color=f"C{i % 10}") for i in range(len(runs))],
                   [snapshot.run_label(plan, r) for r in runs], loc="outside lower center", ncols=2, fontsize=7)
    check = meta.get("checkpoint")
    said = ("" if check is None or check.get("error") else "; replayed state " + (
        f"identical to the checkpoint at step {check['step']:,}" if check["identical"]
        else f"differs from the checkpoint at step {check['step']:,} (max |Δ| {check['max_abs_diff']:.3g})"))
    who = snapshot.run_label(plan, runs[0]) if len(runs) == 1 else f"{len(runs)} runs"
    changed = meta.get("settings") or {}
    if changed:  # a what-if: the settings as trained, and as changed
        was = {k: plan.rows[runs[0]][k] for k in changed}
        said = "; WHAT-IF, from the checkpoint on " + ", ".join(f"{k} {changed[k]:g} (trained with {was[k]:g})"
                                                                  for k in changed)
    snapshot.title(fig, f"Every update from step {int(rows[0]['step']):,} to {int(rows[-1]['step']):,}, "
                        + ("taken" if changed else "replayed") + f" from the checkpoint: {snapshot.describe(plan)}, "
                        f"{who}{said}")
    snapshot.save(fig, path)
    return path
