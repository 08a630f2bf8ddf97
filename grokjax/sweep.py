"""``python -m grokjax.sweep``: train a whole data-efficiency curve as one program.

A thin layer: flags, or a sweep file (``--spec FILE [--profile P]``) with
flags on top, become a ``SweepSpec``; ``grokjax.run`` trains it and writes
the folder. ``--resume OUT`` continues a folder through ``grokjax.resume``;
``--fork SRC --at STEP`` continues one into a new folder with per-run
numbers changed, through ``grokjax.fork``.
"""

from __future__ import annotations

import argparse
import datetime
import signal
import sys
from pathlib import Path

from grokjax import presets, tables, tasks
from grokjax.cli import (Parser, UsageError, add_compile_cache_flag, apply_compile_cache, given_flags, os_error_line,
                         print_lines)
from grokjax.knobs import KNOBS
from grokjax.losses import LOSSES
from grokjax.model import ACTIVATIONS, POSITIONS, WEIGHT_INITS
from grokjax.spec import VARIANTS, SpecError, SweepSpec, import_modules, merge, parse_fracs, read_toml

DEFAULT = SweepSpec()


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


# Flags that set a field of the spec directly: dest -> (spec field, type).
FIELDS = {
    "name": ("name", str),
    "fracs": ("fracs", parse_fracs),
    "train_size": ("train_sizes", _ints),
    "seeds": ("seeds", int),
    "first_seed": ("first_seed", int),
    "steps": ("steps", int),
    "eval_every": ("eval_every", lambda t: int(t) if t.strip().isdigit() else t),
    "stop_at": ("stop_at", lambda t: None if t.lower() in ("off", "none") else float(t)),
    "stop_share": ("stop_share", float),
    "batch_size": ("batch_size", int),
    "loss": ("loss", str),
    "beta2": ("beta2", float),
    "adam_eps": ("adam_eps", float),
    "batches": ("batches", str),
    "warmup_steps": ("warmup_steps", int),
    "lr_drop_every": ("lr_drop_every", int),
    "lr_drop_factor": ("lr_drop_factor", float),
    "x64": ("x64", bool),
    "matmul_precision": ("matmul_precision", str),
    "run_axis": ("run_axis", str),
    "ckpt_every": ("ckpt_every", int),
    "ckpt_keep": ("ckpt_keep", int),
    "devices": ("devices", int),
}
# Flags that set an option of the task or the model: dest -> key.
TASK_FLAGS = {"task": "name", "op": "op", "modulus": "modulus", "data": "data_path", "n_test": "n_test",
              "threshold": "threshold"}
MODEL_FLAGS = {"model": "name", **{f: f for f in ("n_layers", "d_model", "n_heads", "d_mlp", "layer_norm", "weight_init",
                                                  "positions", "mlp_bias", "depth", "width", "activation")}}
# Flags --resume may take; any other must agree with the recorded sweep.
RESUME_MAY_CHANGE = ("steps", "ckpt_every", "ckpt_keep", "devices", "stop_at")
RUN_CONTROL = ("resume", "fork", "at", "no_progress", "no_compile_cache", "coordinator", "num_processes", "process_id", "out", "list_ops", "list_tasks",
               "spec", "profile", "preset")


def _flag(dest: str) -> str:
    return "--" + {"imports": "import"}.get(dest, dest).replace("_", "-")


def _para(text: str) -> str:
    """A group's description, wrapped (the parser keeps descriptions as written, for the epilog's examples)."""
    import textwrap

    return textwrap.fill(text, 76, break_on_hyphens=False)


def make_parser() -> argparse.ArgumentParser:
    d, task, model = DEFAULT, DEFAULT.task, DEFAULT.model
    p = Parser(
        prog="python -m grokjax.sweep",
        description=(
            "Train every run of a grid (data sizes × seeds × optimizer settings) side by side as one compiled JAX "
            "program, then write runs.csv, curves.csv, config.json and figures. For the table task the defaults "
            "are the paper's (Power et al. 2022, A.1.2): 2 layers, width 128, 4 heads, AdamW lr 1e-3, weight "
            "decay 1, betas (0.9, 0.98), 10 warmup updates, batch min(512, ⌈n_train/2⌉). The Omnigrok tasks "
            "(teacher_student, digits, arrays) default to an MLP, MSE and the authors' notebooks' AdamW "
            "(betas (0.9, 0.999), no warmup): see --list-tasks."
        ),
        epilog=(
            "examples:\n"
            "  python -m grokjax.sweep --op s5_mul --fracs 0.2:0.9 --seeds 3\n"
            "  python -m grokjax.sweep --task teacher_student --init-scale 1,2 --weight-decay 0,0.05 --steps 20000\n"
            "  python -m grokjax.sweep --task digits --train-size 200,500,1000 --init-scale 8\n"
            "  python -m grokjax.sweep --task arrays --data mine.npz --fracs 0.5\n"
            "  python -m grokjax.sweep --spec sweeps/quickstart.toml\n"
            "  python -m grokjax.sweep --spec sweeps/fig2_left.toml --profile gpu --seeds 1\n"
            "  python -m grokjax.sweep --resume results/s5_mul-20261125-101500 --steps 20000\n"
            "  python -m grokjax.sweep --fork results/s5_mul-20261125-101500 --at 10000 --weight-decay 0\n"
            "Every per-run number takes a comma list; lists are crossed with the fractions and seeds."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    f = p.add_argument_group("a sweep file")
    f.add_argument("--spec", type=Path, metavar="FILE",
                   help="a TOML sweep file (see sweeps/); flags given here override its values")
    f.add_argument("--profile", metavar="NAME", help="apply the file's [profile.NAME] table, e.g. cpu or gpu "
                   "(default: the file's default_profile, if any)")
    f.add_argument("--preset", choices=tuple(presets.PRESETS),
                   help="start from a named recipe instead of a file; flags still override it. fast: x+y mod 97 at "
                        "50%%, 3 seeds of an MLP of the one-hot tokens (512 wide) at init scale 2, AdamW lr 0.1, weight "
                        "decay 1, stopped at 99%% val (about 150 steps). nanda: Nanda et al. "
                        "2023's 1-layer transformer without LayerNorm on x+y mod 113, 30%% of the table, full batch, "
                        "AdamW lr 1e-3, weight decay 1, 40k steps")
    t = p.add_argument_group("task and grid")
    t.add_argument("--task", choices=tuple(tasks.TASKS), help="what the runs learn; see --list-tasks (table)")
    t.add_argument("--op", help=f"table: the binary operation; see --list-ops ({task.op}). A comma list or 'all' "
                   "trains several side by side, the op one more per-run choice: ops of one vocabulary share a program "
                   "(--op all: two, the mod-p ops and the S5 ops)")
    t.add_argument("--modulus", type=int, help=f"table: modulus p of the arithmetic ops; prime for div, mix ({task.modulus}). "
                   "toy_addition: its p (10)")
    t.add_argument("--data", metavar="FILE.npz", help="arrays: the file of x and y, optionally x_test and y_test, and x_ideal "
                   "(x_test_ideal) for --messiness")
    t.add_argument("--n-test", type=int, metavar="N", help="teacher_student: test samples (100)")
    t.add_argument("--threshold", type=float, metavar="MSE",
                   help="teacher_student, arrays regression: a sample is correct below this mean squared error (1e-3)")
    t.add_argument("--fracs", help="training fractions of the task's pool: a:b (step 0.1, ends included), a:b:step, "
                   "or a,b,c (table: 0.3:0.6)")
    t.add_argument("--train-size", metavar="N[,M...]", help="training-set sizes, as counts instead of --fracs "
                   "(teacher_student: 100; digits: 1000; toy_addition: 45)")
    t.add_argument("--seeds", type=int, help=f"seeds per setting: 0..N-1, or from --first-seed on; a seed fixes init, split "
                   f"and batches ({d.seeds})")
    t.add_argument("--first-seed", type=int, metavar="S", help="the first seed: --first-seed 3 --seeds 2 trains seeds 3 and 4, "
                   "to add seeds to a study without training its first ones again (0)")
    t.add_argument("--variant", help="preset(s) of Figure 2 (left), a comma list or 'all': " + ", ".join(VARIANTS))
    t.add_argument("--name", help="names the default output folder, results/<name>-<time> (the op, or the file's name)")
    k = p.add_argument_group("per-run numbers", "each a comma list, crossed with the grid; the default is the paper's "
                             "plain AdamW run, where every intervention is off (the defaults shown are the table "
                             "task's; teacher_student uses lr 3e-4 and weight decay 0.05, digits and arrays lr 1e-3 "
                             "and weight decay 0.01)")
    for knob in KNOBS:
        k.add_argument(_flag(knob.name), metavar="X[,Y...]", help=f"{knob.help} ({knob.default:g})")
    k.add_argument("--full-batch", action=argparse.BooleanOptionalAction, default=None,
                   help="every step's gradient from the whole training set (exact gradient); a switch for every run, "
                        "not a list (a sweep file's grid may cross full_batch = [false, true])")
    s = p.add_argument_group("model and static switches")
    s.add_argument("--model", choices=("transformer", "mlp"),
                   help="the model family: the table task's transformer, or an MLP (the other tasks' default; on a "
                        "table it reads the one-hot tokens)")
    s.add_argument("--depth", type=int, help="MLP: linear layers (3)")
    s.add_argument("--width", type=int, help="MLP: hidden width (teacher_student 100, else 200)")
    s.add_argument("--activation", choices=tuple(ACTIVATIONS), help="MLP: nonlinearity (teacher_student tanh, toy_addition leaky_relu_0.2, else relu)")
    s.add_argument("--n-layers", type=int, help=f"transformer layers ({model.n_layers})")
    s.add_argument("--d-model", type=int, help=f"transformer width ({model.d_model})")
    s.add_argument("--n-heads", type=int, help=f"attention heads; must divide --d-model ({model.n_heads})")
    s.add_argument("--d-mlp", type=int, help="MLP width (4 × --d-model)")
    s.add_argument("--layer-norm", action=argparse.BooleanOptionalAction, default=None,
                   help="transformer: a LayerNorm after each residual sum, as the paper (on; --no-layer-norm: "
                        "Nanda et al.'s model)")
    s.add_argument("--weight-init", choices=WEIGHT_INITS,
                   help="transformer: how its weights start: torch, PyTorch's defaults as the paper's code (embeddings "
                        "N(0, 1), linear maps U(±1/√fan_in)); nanda, Nanda et al.'s (every weight N(0, 1/d_model), "
                        "the unembedding N(0, 1/vocab)), as Omnigrok's Figure 7 notebook (torch)")
    s.add_argument("--positions", choices=POSITIONS,
                   help="transformer: sinusoid, the paper's fixed positions; learned, a parameter per position drawn "
                        "as the token embeddings (Nanda et al.'s model) (sinusoid)")
    s.add_argument("--mlp-bias", action=argparse.BooleanOptionalAction, default=None,
                   help="transformer: a bias, starting at 0, on both linear maps of each MLP (Nanda et al.'s model) "
                        "(off, as the paper)")
    s.add_argument("--batch-size", type=int, help=f"minibatch B; table runs use min(B, ⌈n_train/2⌉) as in the paper, "
                   f"others min(B, n_train) (table {d.batch_size}, digits 200)")
    s.add_argument("--loss", choices=LOSSES, help="cross-entropy over softmax or StableMax, or mean squared error "
                   "(on one-hot classes, or the targets) (table: softmax; teacher_student, digits, toy_addition: mse)")
    s.add_argument("--beta2", type=float, help="Adam's beta2 (table 0.98, the paper; toy_addition 0.99, its notebook; else 0.999, PyTorch's)")
    s.add_argument("--adam-eps", type=float, metavar="EPS", help="Adam's epsilon (1e-8, PyTorch's and optax's)")
    s.add_argument("--batches", choices=("fresh", "epoch"), help="minibatches of distinct rows drawn afresh each step "
                   "(fresh, the default), or a new permutation of the training rows each epoch, the last batch the "
                   "remainder (epoch: the paper's code and the PyTorch reference)")
    s.add_argument("--warmup-steps", type=int, help="linear learning-rate warmup (table 10; else 0)")
    s.add_argument("--lr-drop-every", type=int, metavar="N", help="multiply the learning rate by --lr-drop-factor "
                   "every N updates (0, the default: never; the Omnigrok notebooks: 5000)")
    s.add_argument("--lr-drop-factor", type=float, metavar="F", help="the factor of --lr-drop-every, in (0, 1] "
                   "(1; the Omnigrok notebooks: 0.2)")
    s.add_argument("--x64", action=argparse.BooleanOptionalAction, default=None, help="model, optimizer and loss in float64")
    s.add_argument("--matmul-precision", choices=("highest", "tensorfloat32", "bfloat16"),
                   help="float32 matmul precision; tensorfloat32/bfloat16 are opt-in GPU speed-ups that round (highest)")
    s.add_argument("--run-axis", choices=("auto", "vmap", "map"),
                   help="how runs share a program: vmap (batched matmuls) or map (a loop); same results; "
                        "auto: map on CPU, vmap on GPU (auto)")
    b = p.add_argument_group("budget and evaluation")
    b.add_argument("--steps", type=int, help=f"optimization steps of every run ({d.steps}; the paper: 100000)")
    b.add_argument("--eval-every", metavar="N|log:N",
                   help="evaluate on all of the task's data every N steps, or at N points spaced evenly on a log axis, "
                        f"rounded to whole steps, so fewer distinct ones early on (log:N); steps_to_99_* have this resolution ({d.eval_every})")
    b.add_argument("--stop-at", metavar="ACC", help="end the sweep once every run's val accuracy has reached ACC "
                   "(or it diverged); 'off' to turn off (off)")
    b.add_argument("--stop-share", metavar="SHARE", help="with --stop-at: end once this share of the runs has reached "
                   "ACC, e.g. 0.5 for Figure 7's 'when about half have grokked' (1: every run)")
    c = p.add_argument_group(
        "output and checkpoints", _para("the folder gets runs.csv, curves.csv, config.json, figures and orbax checkpoints "
        "(checkpoints/). Ctrl-C or SIGTERM stops after the current chunk, saves, writes the tables and exits 130/143."))
    c.add_argument("--out", type=Path, help="output folder; must not exist yet, or be empty (results/<name>-<time>)")
    c.add_argument("--ckpt-every", type=int, metavar="N",
                   help="also save every N steps; an evaluation is added at each multiple the schedule lacks "
                        "(0: only at the end)")
    c.add_argument("--ckpt-keep", type=int, metavar="K", help=f"keep the newest K checkpoints ({d.ckpt_keep})")
    c.add_argument("--resume", type=Path, metavar="OUT",
                   help="continue the sweep in folder OUT from its latest readable checkpoint; only --steps, "
                        "--ckpt-every, --ckpt-keep, --devices and --stop-at may be given anew")
    w = p.add_argument_group(
        "a what-if from a saved sweep",
        _para("--fork SRC continues every run of the sweep in folder SRC from its checkpoint at --at STEP, with the "
        "per-run numbers given here (one value each, say --weight-decay 0) changed from then on, into a new "
        "folder; SRC is only read. The new folder starts with SRC's curves up to STEP, and config.json records "
        "forked_from. It may also take --steps (default: SRC's budget), --eval-every, --stop-at, --stop-share, "
        "--ckpt-every, --ckpt-keep, --devices and --out (results/<SRC's name>-fork<STEP>-<time>). Not "
        "--init-scale or --outliers, nor a number that would switch on an intervention no run of SRC's "
        "program had (its saved optimizer state has no slot for it); switching one off (--grokfast-lambda 0) "
        "is fine: the program keeps it and every run passes through"))
    w.add_argument("--fork", type=Path, metavar="SRC", help="the sweep folder to continue, with its checkpoints")
    w.add_argument("--at", type=int, metavar="STEP", help="the saved step to fork from (default: SRC's latest)")
    h = p.add_argument_group("devices and hosts", "see the README, 'Many devices, many hosts'")
    h.add_argument("--devices", type=int, metavar="N",
                   help="split the runs over the first N devices (a 1-D mesh 'runs'; padded runs never reach the "
                        "results); 0: every visible device (0). On a CPU, "
                        "XLA_FLAGS=--xla_force_host_platform_device_count=CORES makes one device per core: a sweep "
                        "of several runs trained 1.24x faster that way on 2 cores (README, Speed)")
    h.add_argument("--coordinator", metavar="HOST:PORT",
                   help="address of process 0 for jax.distributed.initialize, or 'auto' on SLURM, Open MPI, Kubernetes or Cloud TPU")
    h.add_argument("--num-processes", type=int, metavar="N", help="processes in all (with --coordinator HOST:PORT)")
    h.add_argument("--process-id", type=int, metavar="I", help="this process, 0..N-1 (with --coordinator HOST:PORT)")
    p.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                   help="import MODULE first, e.g. one that calls grokjax.tables.register_modular to add an op")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_compile_cache_flag(p)
    p.add_argument("--list-ops", action="store_true", help="list the operations of the table task and exit")
    p.add_argument("--list-tasks", action="store_true", help="list the tasks and exit")
    return p


# ---------------------------------------------------------------- flags -> spec


def _floats(flag: str, text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"malformed {flag} {text!r}: use a number or a comma list") from None


def spec_dict(args: argparse.Namespace, given: set[str], base: dict | None = None) -> dict:
    """``base`` (a sweep file's dict, or nothing) with the flags in ``given`` applied."""
    d = dict(base or {})
    for dest, (field, kind) in FIELDS.items():
        if dest in given:
            try:
                d[field] = kind(getattr(args, dest))
            except SpecError:
                raise
            except ValueError:
                raise UsageError(f"malformed {_flag(dest)} {getattr(args, dest)!r}") from None
    for key in ("task", "model"):
        if key in d and not isinstance(d[key], dict):
            raise SpecError(f"{key} must be a table of options, e.g. [{key}] name = ..., got {d[key]!r}")
    if "fracs" in given and "train_size" in given:
        raise UsageError("give --fracs or --train-size, not both")
    if "data" in given and "task" not in given and "name" not in d.get("task", {}):
        given = given | {"task"}  # --data names a file of arrays
        args.task = "arrays"
    if "task" in given and d.get("task", {}).get("name", "table") != args.task:
        d["task"] = {}  # another task: the file's options were the other task's
        d.pop("model", None)
    if "model" in given:  # another family replaces the file's model, as a profile's would
        d = merge(d, {"model": {"name": args.model}})
    for key, flags in (("task", TASK_FLAGS), ("model", MODEL_FLAGS)):
        if given & set(flags):
            d[key] = {**d.get(key, {}), **{k: getattr(args, f) for f, k in flags.items() if f in given}}
    if "imports" in given:
        d["imports"] = list(dict.fromkeys([*d.get("imports", []), *args.imports]))
    if "modulus" in given:
        import_modules(d.get("imports", ()))  # an op they register is checked like the built-in ones
        ops = tasks.task_from_dict(d.get("task", {}))
        ops = getattr(ops, "ops", ())
        if ops and not any(tables.get_op(o).uses_modulus for o in ops):
            raise UsageError(f"--modulus does not apply to {', '.join(ops)}: it has no modulus")
    if "fracs" in given:
        d.pop("train_sizes", None)
    if "train_size" in given:
        d.pop("fracs", None)
    if "variant" in given:  # replaces the grid, a file's too
        entries = [{"variant": args.variant}]
    else:
        entries = d.get("grid", [{}])
        entries = entries if isinstance(entries, list) else [entries]
        if not all(isinstance(e, dict) for e in entries):
            raise SpecError(f"a grid entry must be a table of knob values, got {entries!r}")
        entries = [dict(e) for e in entries]
    knobs = {k.name: _floats(_flag(k.name), getattr(args, k.name)) for k in KNOBS if k.name in given}
    if "full_batch" in given:
        knobs["full_batch"] = [args.full_batch]
    for e in entries:
        names = str(e.get("variant", ""))
        names = list(VARIANTS) if names.strip() == "all" else [n.strip() for n in names.split(",") if n.strip()]
        for name in names:
            if name not in VARIANTS:
                raise UsageError(f"unknown variant {name!r}; valid: all, {', '.join(VARIANTS)}")
            fixed = sorted(set(knobs) & set(VARIANTS[name]))
            if fixed:  # a flag may not change what a named preset is
                raise UsageError(f"variant {name} sets {fixed[0]} itself; drop {_flag(fixed[0])}")
        if names:
            e["variant"] = ",".join(names)
        e.update(knobs)
    if entries != [{}]:
        d["grid"] = entries
    return d


def spec_from_args(args: argparse.Namespace, given: set[str]) -> SweepSpec:
    """The sweep the command line describes: its file (with a profile) and flags."""
    if "profile" in given and "spec" not in given:
        raise UsageError("--profile needs --spec FILE")
    if "preset" in given and "spec" in given:
        raise UsageError("give --preset or --spec FILE, not both")
    base = read_toml(args.spec, args.profile) if "spec" in given else presets.get(args.preset) if "preset" in given else {}
    return SweepSpec.from_dict(spec_dict(args, given, base))


def default_out(spec: SweepSpec) -> Path:
    task = spec.task
    what = task.name if task.name != "table" else f"{len(task.ops)}ops" if task.stacked else task.op
    return stamped(spec.name or what)


def stamped(name: str) -> Path:
    """``results/<name>-<time>``, a folder that does not exist yet."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path("results") / f"{name}-{stamp}"
    n = 2
    while out.exists():  # two sweeps started within one second
        out, n = Path("results") / f"{name}-{stamp}-{n}", n + 1
    return out


# ---------------------------------------------------------------- main


def print_listing(args) -> int:
    """--list-ops or --list-tasks, after the --import modules (one may register an op)."""
    import_modules(args.imports or ())
    if args.list_ops:
        return print_lines(f"{name:12s} {op.description}" for name, op in tables.OPS.items())
    return print_lines(f"{name:16s} {cls.summary}" for name, cls in tasks.TASKS.items())


def main(argv: list[str] | None = None) -> int:
    from grokjax import api

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = make_parser()
    out = None
    try:
        args = parser.parse_args(argv)
        if args.list_ops or args.list_tasks:
            return print_listing(args)
        given = given_flags(parser, argv)
        _join_hosts(args)
        apply_compile_cache(args)
        if args.resume is not None:
            if args.fork is not None:
                raise UsageError("give --resume OUT or --fork SRC, not both")
            out = args.resume
            return _resume(args, given, argv)
        if args.fork is not None:
            out = args.out or fork_out(args.fork, args.at)
            return _fork(args, given, argv, out)
        if "at" in given:
            raise UsageError("--at STEP needs --fork SRC")
        spec = spec_from_args(args, given)
        out = args.out or default_out(spec)
        results = api.run(spec, out, progress=not args.no_progress, command=argv)
    except (UsageError, SpecError, api.OutputError, api.CheckpointError) as e:
        return UsageError(str(e)).report("grokjax.sweep")
    except OSError as e:  # a folder that became unwritable, say, on --resume
        return UsageError(os_error_line(e)).report("grokjax.sweep")
    except KeyboardInterrupt:  # a second Ctrl-C before the sweep could stop on its own
        kept = out is not None and Path(out).is_dir() and any(Path(out).iterdir())
        print("grokjax.sweep: interrupted" + (f"; continue with python -m grokjax.sweep --resume {out}" if kept
                                             else "; nothing was kept"), file=sys.stderr)
        return 130
    return _summary(results)


def _resume(args, given: set[str], argv: list[str]) -> int:
    from grokjax import api, checkpoint

    out = args.resume
    try:
        for dest in ("out", "spec", "profile", "preset"):
            if dest in given:
                raise UsageError(f"--resume continues the sweep recorded in its own folder; drop {_flag(dest)}")
        recorded = checkpoint.read_meta(out)["spec"]
        for dest in sorted(given - set(RESUME_MAY_CHANGE) - set(RUN_CONTROL)):
            try:
                same = SweepSpec.from_dict(spec_dict(args, {dest}, recorded)) == SweepSpec.from_dict(recorded)
            except SpecError:
                same = False
            if not same:
                value = getattr(args, dest)
                value = ",".join(value) if isinstance(value, list) else value
                raise UsageError(f"{_flag(dest)} {value} conflicts with the sweep in {out}; on --resume only --steps, "
                                 "--ckpt-every, --ckpt-keep, --devices and --stop-at may change")
        changes = spec_dict(args, given & set(RESUME_MAY_CHANGE))
        kw = {k: changes[k] for k in ("steps", "ckpt_every", "ckpt_keep", "devices") if k in changes}
        if "stop_at" in changes:
            kw["stop_at"] = changes["stop_at"]
        results = api.resume(out, progress=not args.no_progress, command=argv, **kw)
    except (UsageError, SpecError, checkpoint.CheckpointError) as e:
        return UsageError(str(e)).report("grokjax.sweep")
    return _summary(results)


def _fork(args, given: set[str], argv: list[str], out: Path) -> int:
    from grokjax import api, forking

    knobs = {k.name for k in KNOBS}
    bad = sorted(given - set(forking.MAY_CHANGE) - knobs - set(RUN_CONTROL))
    if bad:
        raise UsageError(f"--fork keeps its source's task, model and grid; drop {_flag(bad[0])} (it may set one value "
                         f"of each per-run number, and {', '.join(_flag(f) for f in forking.MAY_CHANGE)}, --out)")
    for dest in ("spec", "profile", "preset"):
        if dest in given:
            raise UsageError(f"--fork reads its sweep from SRC; drop {_flag(dest)}")
    settings = {}
    for name in sorted(given & knobs):
        values = _floats(_flag(name), getattr(args, name))
        if len(values) != 1:
            raise UsageError(f"a fork sets one value of {_flag(name)} for every run, got {getattr(args, name)}")
        settings[name] = values[0]
    changes = spec_dict(args, given & set(forking.MAY_CHANGE))
    changes = {k: changes[k] for k in forking.MAY_CHANGE if k in changes}
    if args.at is not None and args.at < 0:
        raise UsageError(f"--at must be a saved step (>= 0), got {args.at}")
    results = api.fork(args.fork, out, step=args.at, settings=settings, progress=not args.no_progress, command=argv,
                       **changes)
    return _summary(results)


def fork_out(src: Path, step: int | None) -> Path:
    """``results/<src's name>-fork<step>-<time>``; the step is the latest saved when not given."""
    from grokjax import checkpoint

    if step is None:
        saved = checkpoint.saved_steps(src)
        if not saved:
            raise UsageError(f"{src} holds no checkpoint to fork from")
        step = saved[-1]
    return stamped(f"{Path(src).name}-fork{step}")


def _summary(results) -> int:
    """One line for the user, and the exit status: 128 + the signal that stopped it."""
    from grokjax import distributed, summary

    stopped = results.stop_reason not in ("budget", "stop_at")
    code = 128 + signal.Signals[results.stop_reason].value if stopped else 0
    if not distributed.is_main():
        return code
    t = results.timing
    timing = f"compile {t['compile_s']:.1f}s, train {t['train_s']:.1f}s"
    if "process_s" in t:
        timing += f", {t['process_s']:.1f}s since the command started"
    step = int(results.steps[-1])
    if stopped:
        print(f"grokjax.sweep: stopped at step {step} of {results.spec.steps}; wrote {results.out}/ ({timing}). "
              f"Resume with: python -m grokjax.sweep --resume {results.out}", file=sys.stderr)
        return code
    # best_val_acc alone would hide a network that grokked and then fell
    fallen = f" ({results.n_fallen} of them below {summary.FALLEN:.0%} val at the end: a late collapse)" \
        if results.n_fallen else ""
    diverged = f", {results.n_diverged} diverged" if results.n_diverged else ""
    who = "every run" if results.spec.stop_share >= 1 else f"{results.spec.stop_share:.0%} of the runs"
    early = f"; {who} reached {results.spec.stop_at:g} val by step {step}" if results.stop_reason == "stop_at" else ""
    n = len(results.runs)
    print(f"{n} run{'s' if n > 1 else ''}, {results.n_grokked} reached 99% val{fallen}{diverged}{early}; "
          f"wrote {results.out}/ ({timing})")
    return 0


def _join_hosts(args) -> None:
    """``jax.distributed.initialize`` when the sweep spans several processes."""
    trio = (args.coordinator, args.num_processes, args.process_id)
    if args.coordinator is None and any(v is not None for v in trio):
        raise UsageError("--num-processes and --process-id need --coordinator HOST:PORT")
    if args.coordinator is None:
        return
    if args.coordinator != "auto":
        if args.num_processes is None or args.process_id is None:
            raise UsageError("--coordinator HOST:PORT needs --num-processes and --process-id")
        if args.num_processes < 1:
            raise UsageError(f"--num-processes must be at least 1, got {args.num_processes}")
        if not 0 <= args.process_id < args.num_processes:
            raise UsageError(f"--process-id {args.process_id} is not in 0..{args.num_processes - 1}")
        host, sep, port = args.coordinator.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise UsageError(f"--coordinator {args.coordinator!r} is not HOST:PORT (or auto)")
    from grokjax import distributed

    try:
        distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    except (ValueError, RuntimeError) as e:  # JAX's own: no cluster found for auto, no coordinator reached
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"--coordinator {args.coordinator}: could not join the processes ({first})") from None


if __name__ == "__main__":
    sys.exit(main())
