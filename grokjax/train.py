"""Training, as pure functions of (Config, task data, RunParams, TrainState).

Single-run functions (``init_run``, ``train_step``, ``train_chunk``,
``evaluate``) see scalars; ``sweep_init`` and ``sweep_chunk`` lift them over
the run axis with ``vmap`` or ``lax.map`` inside one ``jit``. The host calls
``sweep_chunk`` once per ``eval_every`` steps and never once per step.
"""

from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec as P

from grokjax import losses, optim, representation, summary, tasks, xla_options
from grokjax.config import Config, RunParams
from grokjax.model import make_model
from grokjax.optim import make_optimizer

EVAL_ROWS = 2048  # rows of the data evaluated per block: bounds eval memory per run


@flax.struct.dataclass
class TrainState:
    params: dict
    opt_state: optax.OptState
    step: jax.Array  # int32: updates done so far


def model_for(config: Config):
    data = config.task.data()
    shape = None if data.symbols is None else data.symbols.shape[1:]
    return make_model(config.model, data.n_outputs, config.x64, shape)


def run_keys(run: RunParams):
    """The run's keys, all from its seed: model init, split, batches."""
    init_key, split_key, batch_key = jax.random.split(jax.random.key(run.seed), 3)
    return init_key, split_key, batch_key


def run_order(config: Config, run: RunParams) -> jax.Array:
    """The run's order of the task's pool; it trains on the first ``run.n_train`` rows.

    In a program of several ops (``config.task.stacked``) the run draws the
    order its op's table would draw alone, followed by the padding rows past
    that table's end, so it trains on the rows it would alone."""
    key = run_keys(run)[1]
    if not config.task.stacked:
        data = config.task.data()
        return tasks.split_order(key, data.n_pool, data.n_shuffled)
    pools, size = config.task.pools(), config.task.data().size
    sizes = sorted(set(pools))
    orders = [tasks.split_order(key, n) for n in sizes]
    orders = jnp.stack([jnp.concatenate([o, jnp.arange(n, size, dtype=o.dtype)]) for o, n in zip(orders, sizes)])
    return orders[jnp.asarray([sizes.index(n) for n in pools])[run.op_index]]


def run_table(config: Config, x, y, run: RunParams):
    """The run's own table: ``x`` and ``y`` as given, or in a program of
    several ops the run's op's, picked from the stack; at messiness ξ the
    inputs ξ·x + (1−ξ)·x_ideal (Omnigrok §5)."""
    if "messiness" in config.transforms and config.task.data().symbols is None:
        ideal = jnp.asarray(config.task.data().x_ideal, x.dtype)  # small: a constant of the program
        x = run.messiness.astype(x.dtype) * x + (1 - run.messiness.astype(x.dtype)) * ideal
    if not config.task.stacked:
        return x, y
    return x[run.op_index], y[run.op_index]


def is_correct(config: Config, out_BxO, y_B):
    """1.0 where an example is right, by the task's rule (``losses.correct``)."""
    return losses.correct(out_BxO, y_B, getattr(config.task, "threshold", 0.0), config.task.data().targets)


def run_pool(config: Config, run: RunParams):
    """The rows of the run's table (padding excluded): static for one task."""
    if not config.task.stacked:
        return config.task.data().n_pool
    return jnp.asarray(config.task.pools(), jnp.int32)[run.op_index]


def init_run(config: Config, x: jax.Array, run: RunParams) -> TrainState:
    x = x[0] if config.task.stacked else x  # only its shape matters
    params = model_for(config).init(run_keys(run)[0], x[:1])
    params = jax.tree.map(lambda p: p * run.init_scale, params)
    if "weight_norm_target" in config.transforms:
        # a held norm holds from step 0: the init rescaled to ‖θ‖ = w (Omnigrok §5's landscapes)
        scale = run.weight_norm_target / optax.tree.norm(params)
        params = jax.tree.map(lambda p: jnp.where(run.weight_norm_target > 0, p * scale, p).astype(p.dtype), params)
    symbols = config.task.data().symbols
    if symbols is not None:
        # a trained representation starts at the run's messiness, whatever α: α scales the decoder alone
        rep = representation.start(run.messiness, jnp.asarray(symbols)).astype(params_dtype(params))
        params = {**params, "params": {**params["params"], "representation": rep}}
    opt_state = make_optimizer(config, run).init(params)
    return TrainState(params=params, opt_state=opt_state, step=jnp.zeros((), jnp.int32))


def answer_loss(logits_BxV, y_B, w_B, config: Config = Config()):
    """Weighted mean loss and accuracy."""
    loss_B = losses.per_example(config.loss, logits_BxV, y_B)
    correct_B = is_correct(config, logits_BxV, y_B)
    total = jnp.maximum(w_B.sum(), 1.0)
    return (loss_B * w_B).sum() / total, (correct_B * w_B).sum() / total


def sample_batch(key, order, n_train, batch_size: int, halve: bool = True):
    """Row indices ``[B]`` and weights ``[B]`` of one minibatch.

    B distinct rows drawn uniformly from the run's training rows (the first
    ``n_train`` of ``order``). The paper's batch is min(512, ⌈n_train/2⌉)
    (``halve``; other tasks use min(B, n_train); ``tasks.rows_per_step``):
    when that is below B the extra rows get weight 0, so the shape stays fixed.
    """
    size = order.shape[0]
    scores = jnp.where(jnp.arange(size) < n_train, jax.random.uniform(key, (size,), jnp.float32), -1.0)
    _, pos_B = jax.lax.top_k(scores, batch_size)
    w_B = (jnp.arange(batch_size) < jnp.minimum(batch_size, tasks.rows_per_step(n_train, halve))).astype(jnp.float32)
    return order[pos_B], w_B


def epoch_batch(key, order, n_train, step, batch_size: int, halve: bool = True):
    """Row indices ``[B]`` and weights ``[B]`` of step ``step``'s minibatch
    when batches go through the training rows epoch by epoch, as PyTorch's
    loaders and the paper's code do: each epoch a new permutation of the run's
    ``n_train`` training rows, cut into batches of the run's size b =
    min(B, ⌈n_train/2⌉) (``halve``) or min(B, n_train), the last the remainder.
    Rows past b, or past the epoch's end, get weight 0."""
    size = order.shape[0]
    b = jnp.minimum(batch_size, tasks.rows_per_step(n_train, halve))
    per_epoch = (n_train + b - 1) // b
    epoch, i = step // per_epoch, step % per_epoch
    scores = jnp.where(jnp.arange(size) < n_train, jax.random.uniform(jax.random.fold_in(key, epoch), (size,), jnp.float32), 2.0)
    perm = jnp.argsort(scores)  # its first n_train: a random order of the training positions
    j = jnp.arange(batch_size)
    pos = i * b + j
    w_B = ((j < b) & (pos < n_train)).astype(jnp.float32)
    return order[perm[jnp.minimum(pos, size - 1)]], w_B


def outlier_labels(y, order, n_train, k, n_symbols: int, tries: int = 16):
    """The run's labels with its ``k`` outliers (Power et al. A.4).

    The first ``k`` of the run's training rows (random, since ``order`` is) get
    the answer of another training row, the first of ``tries`` candidates
    (consecutive among its ``n_train − k`` clean rows, repeating when those
    are fewer) whose answer differs, so every outlier really is wrong. Should
    all candidates share its answer (chance ≈ (1/n)^tries when the clean rows
    are many; far likelier when only a few are left), the next symbol is
    used, an answer no clean training row may have. Validation rows are
    never touched.
    """
    i = jnp.arange(order.shape[0])
    k = k.astype(jnp.int32)
    pool = jnp.maximum(n_train - k, 1)
    y_pos = y[order]  # the label at each position of the run's order
    donors = k + (i[:, None] + jnp.arange(tries)[None, :]) % pool  # [N, tries] positions
    cand = y_pos[donors]
    differs = cand != y_pos[:, None]
    first = jnp.argmax(differs, axis=1)
    new = jnp.where(differs.any(1), cand[i, first], (y_pos + 1) % n_symbols)
    y_pos = jnp.where(i < k, new, y_pos)
    return y.at[order].set(y_pos)


def run_labels(config: Config, y, order, run: RunParams):
    """The labels this run trains on: the task's, or with its outliers."""
    if "outliers" not in config.transforms:
        return y
    return outlier_labels(y, order, run.n_train, run.outliers, config.task.data().n_classes)


def full_batch_slice(order, n_train, i, size: int):
    """Rows ``[i·size, (i+1)·size)`` of the run's order, weighted 1 where
    they are training rows: slice ``i`` of the full-batch gradient."""
    pos = i * size + jnp.arange(size)
    return order[jnp.minimum(pos, order.shape[0] - 1)], (pos < n_train).astype(jnp.float32)


def perturbed(params, sigma, key):
    """``W + σ·ε`` for every parameter, ε ~ N(0, I): the paper's weight noise."""
    return jax.tree.map(lambda w, e: w + sigma * e, params, optim.normal_like(key, params))


def step_grads(config: Config, x, y, order, run: RunParams, state: TrainState):
    """The gradient a step uses: its minibatch's (or the full batch's), at
    the weights its forward pass sees (perturbed under weight noise)."""
    model = model_for(config)
    B = min(config.batch_size, order.shape[0])  # a table smaller than B (tiny moduli) caps it
    _, _, weight_key, dropout_key = optim.noise_keys(run.seed)
    noise_key = jax.random.fold_in(weight_key, state.step)  # one weight perturbation per step

    def loss_fn(params, rows_B, w_B, denom, i):
        """``Σ w·loss / denom`` over one batch of rows (slice ``i`` of a full batch)."""
        kw = {}
        if "dropout" in config.transforms:
            key = jax.random.fold_in(jax.random.fold_in(dropout_key, state.step), i)
            kw = dict(dropout_rate=run.dropout, rngs={"dropout": key})
        if "weight_noise" in config.transforms:
            params = perturbed(params, run.weight_noise, noise_key)
        logits = model.apply(params, x[rows_B], path=config.model_path, **kw)
        return (losses.per_example(config.loss, logits, y[rows_B]) * w_B).sum() / denom

    if config.full_batch:
        # The exact gradient of the mean over the run's n_train rows, summed
        # over ceil(n_train/B) slices: the cost follows n_train, not the table.
        def add_slice(i, acc):
            rows_B, w_B = full_batch_slice(order, run.n_train, i, B)
            g = jax.grad(loss_fn)(state.params, rows_B, w_B, run.n_train.astype(jnp.float32), i)
            return jax.tree.map(jnp.add, acc, g)

        n_slices = (run.n_train + B - 1) // B
        grads = jax.lax.fori_loop(0, n_slices, add_slice, jax.tree.map(jnp.zeros_like, state.params))
    else:
        rows_B, w_B = step_batch(config, order, run, state.step)
        grads = jax.grad(loss_fn)(state.params, rows_B, w_B, jnp.maximum(w_B.sum(), 1.0), 0)
    return grads


def step_batch(config: Config, order, run: RunParams, step):
    """Row indices ``[B]`` and weights ``[B]`` of the minibatch that update
    ``step`` (0-based) trains on, drawn from the run's seed and the step."""
    B = min(config.batch_size, order.shape[0])
    if config.batches == "epoch":
        return epoch_batch(run_keys(run)[2], order, run.n_train, step, B, config.task.halve_batch)
    batch_key = jax.random.fold_in(run_keys(run)[2], step)
    return sample_batch(batch_key, order, run.n_train, B, config.task.halve_batch)


def train_step(config: Config, x, y, order, run: RunParams, state: TrainState) -> TrainState:
    """One update. ``y`` is the run's own labels (``run_labels``)."""
    return step_parts(config, x, y, order, run, state)[0]


def step_parts(config: Config, x, y, order, run: RunParams, state: TrainState):
    """One update and what made it: ``(new state, gradient, update)``, the
    update being what the optimizer chain added to the params."""
    grads = step_grads(config, x, y, order, run, state)
    opt = make_optimizer(config, run)
    updates, opt_state = opt.update(grads, state.opt_state, state.params)
    return TrainState(optax.apply_updates(state.params, updates), opt_state, state.step + 1), grads, updates


def evaluate(config: Config, x, y, train_mask, params, n_pool=None) -> dict:
    """Loss and accuracy over every row of the task's data: on the run's
    training rows, and on its held-out rows (``tasks.test_mask``). ``x``,
    ``y`` are one table; in a program of several ops, the run's (``run_table``)
    with its size ``n_pool`` (``run_pool``): the padding rows are neither.

    ``y`` is the run's labels: on training rows they include its outliers, so
    train accuracy measures what it memorized; held-out rows are the task's.
    """
    model = model_for(config)
    size = x.shape[0]
    # the table task keeps whole blocks of EVAL_ROWS, padded: the shapes, hence
    # the float sums, of every table result made before the other tasks
    rows = EVAL_ROWS if config.task.pad_eval else min(EVAL_ROWS, size)
    pad = (-size) % rows

    def blocks(a):
        return jnp.pad(a, ((0, pad),) + ((0, 0),) * (a.ndim - 1)).reshape(-1, rows, *a.shape[1:])

    if config.task.stacked:
        held_out = ~train_mask & (jnp.arange(size) < n_pool)
    else:
        held_out = tasks.test_mask(train_mask, config.task.data().n_pool)
    valid = blocks(jnp.ones(size, bool))

    def sums(block):
        xc, yc, vc, tc, hc = block
        out = model.apply(params, xc, path=config.model_path)
        loss = losses.per_example(config.loss, out, yc)
        ok = is_correct(config, out, yc).astype(loss.dtype)
        t, v = (tc & vc).astype(loss.dtype), (hc & vc).astype(loss.dtype)
        return jnp.stack([(loss * t).sum(), (ok * t).sum(), t.sum(), (loss * v).sum(), (ok * v).sum(), v.sum()])

    s = jax.lax.map(sums, (blocks(x), blocks(y), valid, blocks(train_mask), blocks(held_out))).sum(0)
    n_tr, n_va = jnp.maximum(s[2], 1.0), jnp.maximum(s[5], 1.0)
    return {
        "train_loss": s[0] / n_tr,
        "train_acc": s[1] / n_tr,
        "val_loss": s[3] / n_va,
        "val_acc": s[4] / n_va,
        "weight_norm": optax.tree.norm(params),
        **layer_norms(params),
        **representation_measures(config, params),
    }


def representation_measures(config: Config, params) -> dict:
    """For a trained representation: the decoder's norm (the landscape's w)
    and where the representation stands (``representation.measures``)."""
    symbols = config.task.data().symbols
    if symbols is None:
        return {}
    top = params["params"]
    rep = top["representation"]
    decoder = {k: v for k, v in top.items() if k != "representation"}
    return {"decoder_norm": optax.tree.norm(decoder),
            **representation.measures(rep, jnp.asarray(symbols, rep.dtype))}


def layer_norms(params, prefix: str = summary.LAYER_NORM_PREFIX) -> dict:
    """``norm_<layer>``: the L2 norm of each top-level module's parameters
    (the transformer's tok_embed, blocks_i, unembed; the MLP's linear_i).
    Their squares add up to weight_norm². Also of any tree shaped like the
    params (a gradient, an update), under another ``prefix``."""
    top = params["params"] if "params" in params else params
    return {f"{prefix}{name}": optax.tree.norm(sub) for name, sub in top.items()}


def data_loss(config: Config, x, y, weight, params):
    """``Σ w·loss / Σ w`` over every row of the data, in blocks of EVAL_ROWS
    (the memory of one evaluation), differentiable in ``params``: the loss on
    a run's training rows when ``weight`` is its train mask."""
    model = model_for(config)
    rows = min(EVAL_ROWS, x.shape[0])
    pad = (-x.shape[0]) % rows

    def blocks(a):
        return jnp.pad(a, ((0, pad),) + ((0, 0),) * (a.ndim - 1)).reshape(-1, rows, *a.shape[1:])

    def block_sum(block):
        xc, yc, wc = block
        loss = losses.per_example(config.loss, model.apply(params, xc, path=config.model_path), yc)
        return (loss * wc).sum()

    w = weight.astype(params_dtype(params))
    return jax.lax.map(block_sum, (blocks(x), blocks(y), blocks(w))).sum() / jnp.maximum(w.sum(), 1.0)


def outputs(config: Config, x, params):
    """The model's output for every row of ``x`` (logits, or regression
    outputs), in blocks of EVAL_ROWS: ``[N, n_outputs]``."""
    model = model_for(config)
    rows = min(EVAL_ROWS, x.shape[0])
    pad = (-x.shape[0]) % rows
    xb = jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)).reshape(-1, rows, *x.shape[1:])
    out = jax.lax.map(lambda xc: model.apply(params, xc, path=config.model_path), xb)
    return out.reshape(-1, out.shape[-1])[: x.shape[0]]


def params_dtype(params):
    return jax.tree.leaves(params)[0].dtype


def run_split(config: Config, y, run: RunParams):
    """The run's labels (its outliers included) and its train mask over the task's rows."""
    order = run_order(config, run)
    return run_labels(config, y, order, run), tasks.train_mask(order, run.n_train, y.shape[0])


def train_chunk(config: Config, x, y, run: RunParams, state: TrainState, n_steps):
    """``n_steps`` updates (a traced count: one program for any chunk length), then an eval."""
    x, y = run_table(config, x, y, run)
    order = run_order(config, run)
    y = run_labels(config, y, order, run)
    state = jax.lax.fori_loop(0, n_steps, lambda _, s: train_step(config, x, y, order, run, s), state)
    mask = tasks.train_mask(order, run.n_train, x.shape[0])
    return state, evaluate(config, x, y, mask, state.params, run_pool(config, run))


def run_mesh(n_devices: int) -> jax.sharding.Mesh:
    """The 1-D mesh ``('runs',)`` over the first ``n_devices`` devices (of
    every process, under ``jax.distributed``)."""
    devices = jax.devices()
    if n_devices > len(devices):
        raise ValueError(f"{n_devices} devices asked for, {len(devices)} visible")
    return jax.sharding.Mesh(np.asarray(devices[:n_devices]), ("runs",))


def run_sharding(config: Config):
    """Where arrays with a leading run axis live: split over the mesh."""
    return jax.sharding.NamedSharding(run_mesh(config.devices), P("runs"))


def put_global(tree, sharding):
    """Host arrays (the same on every process) placed with ``sharding``; each
    process fills only the shards of its own devices, so this also works
    across hosts under ``jax.distributed``."""
    def put(a):
        a = np.asarray(a)
        return jax.make_array_from_callback(a.shape, sharding, lambda index: a[index])

    return jax.tree.map(put, tree)


def over_runs(config: Config, fn, shared: tuple, *per_run):
    """``fn(*shared, *one_run)`` for each run: ``vmap`` or a ``lax.map`` loop,
    per Config.run_axis; over several devices, each does its own runs.

    ``per_run`` (RunParams, TrainState) have a leading run axis; ``shared``
    (the table) is the same for all. Matmuls are traced at
    Config.matmul_precision (float32 unless the user opted into rounding).
    """

    def local(shared, *per_run):
        one = lambda *a: fn(*shared, *a)  # noqa: E731
        with jax.default_matmul_precision(config.matmul_precision):
            if config.run_axis == "vmap":
                return jax.vmap(one)(*per_run)
            batch = config.map_batch if config.map_batch > 1 else None
            return jax.lax.map(lambda a: one(*a), per_run, batch_size=batch)

    if config.devices == 1:
        return local(shared, *per_run)
    # shard_map rather than letting the partitioner split a vmap: each device
    # gets the same per-run program as on one device (lax.map included), and
    # runs never talk to each other, so there is no communication at all.
    mesh = run_mesh(config.devices)
    specs = (P(), *(P("runs") for _ in per_run))
    return jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=P("runs"))(shared, *per_run)


@functools.partial(xla_options.jit, static_argnames="config")
def sweep_init(config: Config, x, runs: RunParams) -> TrainState:
    return over_runs(config, lambda x, r: init_run(config, x, r), (x,), runs)


@functools.partial(xla_options.jit, static_argnames="config", donate_argnames="states")
def sweep_chunk(config: Config, x, y, runs: RunParams, states: TrainState, n_steps):
    """Every run advances ``n_steps`` updates and is evaluated: one compiled program."""
    return over_runs(config, lambda x, y, n, r, s: train_chunk(config, x, y, r, s, n), (x, y, n_steps), runs, states)


@functools.partial(xla_options.jit, static_argnames="config", donate_argnames="states")
def sweep_steps(config: Config, x, y, runs: RunParams, states: TrainState, n_steps):
    """``n_steps`` updates of every run and no evaluation: what ``grokjax.bench`` times."""

    def steps(x, y, n_steps, run, state):
        x, y = run_table(config, x, y, run)
        order = run_order(config, run)
        y_run = run_labels(config, y, order, run)
        return jax.lax.fori_loop(0, n_steps, lambda _, s: train_step(config, x, y_run, order, run, s), state)

    return over_runs(config, steps, (x, y, n_steps), runs, states)
