"""``python -m grokjax.analysis WHAT OUT [--runs ...] [--step S]``: look inside the runs of a sweep.

Thin: each WHAT is a module of this package, callable from Python as
``grokjax.analysis.<what>(out, runs, step, ...)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from grokjax.cli import Parser, UsageError, add_compile_cache_flag, apply_compile_cache, os_error_line

WHAT = {
    "tsne": "t-SNE of the output layer's rows, one point per symbol, coloured by residue mod 8 (with x→x+8 lines) "
            "or by S5 coset; silhouette scores (Power et al. Fig. 3)",
    "sharpness": "sharpness φ of Keskar et al. per run, against val accuracy, with Spearman's ρ across runs "
                 "(Power et al. §A.5, Fig. 7)",
    "fourier": "Nanda et al.'s progress measures at every saved step: the embedding's Fourier spectrum, key "
               "frequencies, restricted and excluded loss, Gini and IPR (x+y, x−y mod p)",
    "neurons": "Nanda et al.'s MLP neurons by frequency: each neuron's share of variance over the inputs (a, b) on "
               "each frequency, its best one, the clusters of neurons per frequency, at every saved step (x+y, x−y mod p)",
    "norms": "each layer's weight norm over training, from curves.csv (Omnigrok Fig. 7a)",
    "table": "the operation table each run predicts, validation cells marked (Power et al. Fig. 1, right)",
    "replay": "every update from a saved step on, replayed exactly with the training program: full train and val "
              "accuracy and loss after each, the update's batch loss, gradient and update norms per layer, logit "
              "saturation (what happens between evaluations, such as a late collapse)",
}


def make_parser() -> Parser:
    p = Parser(
        prog="python -m grokjax.analysis",
        description="Look inside the runs of a sweep folder: each analysis reads its orbax checkpoints, computes "
                    "its measure for every chosen run in one compiled program, and writes a CSV and a PNG under "
                    "OUT/analysis/. Without --runs it covers every run; without --step, the latest checkpoint.",
        epilog="examples (a sweep with checkpoints first; the folders under results/ hold none, only their tables):\n"
               "  python -m grokjax.sweep --op add --fracs 0.3,0.5 --seeds 2 --steps 3000 --ckpt-every 500 --out OUT\n"
               "  python -m grokjax.analysis tsne OUT\n"
               "  python -m grokjax.analysis tsne OUT --every-step   # the scores at every saved step\n"
               "  python -m grokjax.analysis sharpness OUT --eps 1e-5\n"
               "  python -m grokjax.analysis fourier OUT\n"
               "  python -m grokjax.analysis neurons OUT     # MLP neurons' frequencies, clusters\n"
               "  python -m grokjax.analysis table OUT --runs 0 --step 1000\n"
               "  python -m grokjax.analysis replay OUT --runs 0 --step 1000 --updates 200   # every update, measured\n"
               "  python -m grokjax.analysis norms OUT      # from curves.csv: no checkpoint needed\n"
               "  python -m grokjax.analysis redraw OUT     # the figures again, from the CSVs\n"
               "(norms and redraw also read a committed folder such as results/look_add_cpu, and write into it.)\n"
               "bash sweeps/look_inside.sh makes the committed results/look_*_cpu and nanda_add113_cpu with checkpoints.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="what", required=True, metavar="WHAT", parser_class=Parser,
                           help="one of: " + ", ".join([*WHAT, "redraw"]) + "; python -m grokjax.analysis WHAT --help for its options")
    parsers = {}
    for what, text in WHAT.items():
        s = sub.add_parser(what, help=text, description=text)
        s.add_argument("out", type=Path, metavar="OUT", help="the sweep's folder (what --out named)")
        s.add_argument("--runs", help="run indices (runs.csv's run column), e.g. 0,2,5-7 (default: every run)")
        s.add_argument("--step", type=int, help="a saved checkpoint's step (default: the latest"
                       + ("; fourier: every saved step, and with --step only that one, in place of what "
                          "fourier.csv held)" if what == "fourier" else
                          "; neurons: every saved step, and with --step only that one)" if what == "neurons" else
                          "; norms: the whole curve, or up to an evaluated step S)" if what == "norms" else
                          "; replay: the saved step to start from)" if what == "replay" else ")"))
        if what != "norms":  # norms reads curves.csv and compiles nothing
            add_compile_cache_flag(s)
        parsers[what] = s
    t = parsers["tsne"]
    t.add_argument("--matrix", choices=("unembed", "embed"), default="unembed",
                   help="whose rows: the output layer (unembed, the paper's) or the input embedding (embed)")
    t.add_argument("--subgroup", metavar="GENS",
                   help="S5: colour by cosets of the subgroup these permutations generate, in cycles separated by "
                        "';' (default: the paper's, '(0,3)(1,4); (1,2)(3,4)')")
    t.add_argument("--coset", choices=("left", "right"), help="S5: cosets gH or Hg (default left)")
    t.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (30, scikit-learn's)")
    t.add_argument("--seed", type=int, default=0, help="t-SNE's random state (0)")
    t.add_argument("--every-step", action="store_true",
                   help="the scores at every saved step instead of one step's map: tsne_<matrix>_by_step.csv and a "
                        "PNG of each score against the step (a structure can form and fade between the maps)")
    s = parsers["sharpness"]
    s.add_argument("--eps", type=float, default=1e-4, help="box radius ε, relative to each |θ|+1 (1e-4; Keskar et al. "
                   "used 1e-3 and 5e-4, where this ascent saturates on the paper's model: see sharpness.py)")
    s.add_argument("--ascent-steps", type=int, default=20, help="projected gradient ascent steps (20)")
    s.add_argument("--subspace", type=int, default=0, metavar="D",
                   help="search a random D-dimensional subspace (Keskar's A, drawn from each run's seed) instead "
                        "of the whole parameter space (0, the default). The paper's released code "
                        "(openai/grok) uses D = 10 with ε = 1e-3: --subspace 10 --eps 1e-3. Writes "
                        "sharpness_step<S>_eps<ε>_sub<D>.csv")
    f = parsers["fourier"]
    f.add_argument("--freqs", help="key frequencies to use, e.g. 14,35,41 (default: picked per run from its "
                                   "embedding at the last step)")
    f.add_argument("--ratio", type=float, default=3.0,
                   help="a key frequency holds at least RATIO/K of the embedding's energy, K = (p−1)/2 (3)")
    parsers["neurons"].add_argument(
        "--threshold", type=float, default=0.85,
        help="a neuron counts as on one frequency when at least this share of its variance lies there (0.85; "
             "our choice). Only the summary counts depend on it; neurons_step<S>.csv has every share")
    rp = parsers["replay"]
    rp.add_argument("--updates", type=int, metavar="K",
                    help="updates to replay (default: up to the next saved step, where the replayed state is "
                         "checked against the checkpoint; past the last, to the next evaluation). Each costs about "
                         "two training steps (the update, and its measures) and one evaluation of the whole table")
    rp.add_argument("--leaves", action="store_true", help="also the gradient's, update's and weights' norm of every "
                    "parameter array (columns such as grad_norm_blocks_0.fc1.kernel), not only of each layer")
    rp.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                    help="a what-if: change a per-run number from the saved step on, e.g. --set weight_decay=0 "
                         "(repeat for several): any a fork may change (not init_scale, outliers or messiness, nor one that turns "
                         "on a transform the run's program lacks; turning one off, grokfast_lambda=0, is fine). The "
                         "path is then not training's, so nothing is checked")
    rp.add_argument("--no-progress", action="store_true", help="no progress bar")
    r = sub.add_parser("redraw", help="every figure under OUT/analysis/ again, from the CSVs beside it (no "
                       "checkpoint needed)", description="Draw every analysis figure of a sweep folder again from "
                       "the CSVs beside it: no checkpoint and no training, say after a change to how figures are drawn.")
    r.add_argument("out", type=Path, metavar="OUT", help="the sweep's folder")
    return p


def main(argv: list[str] | None = None) -> int:
    import importlib

    from grokjax.checkpoint import CheckpointError
    from grokjax.errors import SpecError
    from grokjax.report import TableError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = make_parser().parse_args(argv)
        if args.what == "redraw":
            from grokjax.analysis.redraw import redraw

            for path in redraw(args.out):
                print(f"wrote {path}")
            return 0
        apply_compile_cache(args)
        from grokjax.analysis import snapshot

        runs = None if args.runs is None else snapshot.parse_runs(args.runs)
        kw = {}
        if args.what == "tsne":
            kw = dict(matrix=args.matrix, subgroup=args.subgroup, side=args.coset, perplexity=args.perplexity,
                      seed=args.seed)
            if args.every_step and args.step is not None:
                raise UsageError("give --step or --every-step, not both")
        elif args.what == "sharpness":
            kw = dict(eps=args.eps, steps=args.ascent_steps, subspace=args.subspace)
        elif args.what == "fourier":
            kw = dict(ratio=args.ratio)
            if args.freqs is not None:
                try:
                    kw["freqs"] = [int(v) for v in args.freqs.split(",")]
                except ValueError:
                    raise UsageError(f"malformed --freqs {args.freqs!r}: use whole numbers like 14,35,41") from None
        elif args.what == "neurons":
            kw = dict(threshold=args.threshold)
        elif args.what == "replay":
            pairs = [p.split("=", 1) for p in args.set]
            if any(len(p) != 2 for p in pairs):
                raise UsageError(f"malformed --set {next(a for a, p in zip(args.set, pairs) if len(p) != 2)!r}: "
                                 "use KEY=VALUE, e.g. weight_decay=0")
            kw = dict(updates=args.updates, leaves=args.leaves, settings=dict(pairs), progress=not args.no_progress,
                      command=["python", "-m", "grokjax.analysis", *argv])
        if not Path(args.out).is_dir():
            raise UsageError(f"{args.out} is not a folder")
        module = importlib.import_module(f"grokjax.analysis.{args.what}")
        before = _stamps(Path(args.out) / snapshot.OUT_DIR)
        if getattr(args, "every_step", False):
            rows = module.every_step(args.out, runs, **kw)
        else:
            rows = module.run(args.out, runs, args.step, **kw)
    except (UsageError, CheckpointError, SpecError, TableError) as e:
        return UsageError(str(e)).report("grokjax.analysis")
    except OSError as e:  # an unwritable folder, say
        return UsageError(os_error_line(e)).report("grokjax.analysis")
    print_summary(args.what, rows, args.out, runs, kw.get("settings"))
    after = _stamps(Path(args.out) / snapshot.OUT_DIR)
    for name in sorted(k for k in after if after[k] != before.get(k)):
        print(f"wrote {Path(args.out) / snapshot.OUT_DIR / name}")
    return 0


def _stamps(folder: Path) -> dict:
    """Each file's modification time, to name what an analysis wrote."""
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*")} if folder.is_dir() else {}


def print_summary(what: str, rows: list[dict], out: Path | None = None, runs: list[int] | None = None,
                  settings: dict | None = None) -> None:
    """A few columns per run, for the terminal; the CSV has them all."""
    if what == "replay":
        from grokjax.analysis import replay

        for line in replay.summary_lines(rows, replay.read_meta(out, rows, runs, settings)):
            print(line)
        return
    cols = {"tsne": ("val_acc", "silhouette", "plus8_ratio", "best_step", "best_step_ratio", "rows_plus8_ratio",
                     "rows_best_step", "rows_best_step_ratio", "best_silhouette",
                     "best_conjugator", "best_side", "rows_silhouette", "rows_best_silhouette"),
            "sharpness": ("val_acc", "train_loss", "phi"),
            "fourier": ("train_loss", "test_loss", "restricted_loss", "excluded_loss", "gini_embed", "key_freqs"),
            "neurons": ("layer", "val_acc", "n_dead", "frac_explained_median", "share_above", "n_clusters",
                        "clusters"),
            "norms": ("weight_norm",),
            "table": ("train_acc", "val_acc")}[what]
    if what in ("fourier", "norms", "neurons"):  # one row per run (and layer) and step: the last step of each
        last = {}
        for r in rows:
            last[r["run"], r.get("layer")] = r
        rows = list(last.values())
    head = [c for c in ("run", "frac", "n_train", "seed", "step") if c in rows[0]] + [c for c in cols if c in rows[0]]
    cells = [[_short(r[h]) for h in head] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    print("  ".join(f"{h:>{w}s}" for h, w in zip(head, widths)))
    for c in cells:
        print("  ".join(f"{v:>{w}s}" for v, w in zip(c, widths)))
    if what == "sharpness":
        from grokjax.analysis.sharpness import spearman

        rho, p = spearman(rows)
        if rho is not None:
            print(f"Spearman ρ(φ, val_acc) = {rho:.3f}, p = {p:.2g} over {len(rows)} runs")


def _short(v) -> str:
    """A terminal cell: floats to 4 significant digits, exponent kept (the
    CSV beside it has every digit); nothing cut."""
    from grokjax.report import fmt

    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    return fmt(v)


if __name__ == "__main__":
    sys.exit(main())
