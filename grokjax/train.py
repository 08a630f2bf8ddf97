"""Training, as pure functions of (Config, table, RunParams, TrainState).

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
import optax

from grokjax import data
from grokjax.config import Config, RunParams
from grokjax.model import make_model
from grokjax.optim import make_optimizer

EVAL_ROWS = 2048  # rows of the table evaluated at once: bounds eval memory per run
METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "weight_norm")


@flax.struct.dataclass
class TrainState:
    params: dict
    opt_state: optax.OptState
    step: jax.Array  # int32: updates done so far


@functools.lru_cache(maxsize=8)
def table_for(op: str, modulus: int) -> data.Table:
    return data.make_table(op, modulus)


def model_for(config: Config):
    return make_model(config, table_for(config.op, config.modulus).vocab_size)


def run_keys(run: RunParams):
    """The run's keys, all from its seed: model init, split, batches."""
    init_key, split_key, batch_key = jax.random.split(jax.random.key(run.seed), 3)
    return init_key, split_key, batch_key


def run_order(config: Config, run: RunParams) -> jax.Array:
    """The run's row order; it trains on the first ``run.n_train`` rows."""
    size = table_for(config.op, config.modulus).size
    return data.split_order(run_keys(run)[1], size)


def init_run(config: Config, x: jax.Array, run: RunParams) -> TrainState:
    params = model_for(config).init(run_keys(run)[0], x[:1])
    params = jax.tree.map(lambda p: p * run.init_scale, params)
    opt_state = make_optimizer(config, run).init(params)
    return TrainState(params=params, opt_state=opt_state, step=jnp.zeros((), jnp.int32))


def answer_loss(logits_BxV, y_B, w_B):
    """Weighted mean cross-entropy and accuracy of the answer token."""
    nll_B = optax.softmax_cross_entropy_with_integer_labels(logits_BxV, y_B)
    correct_B = (jnp.argmax(logits_BxV, -1) == y_B).astype(logits_BxV.dtype)
    total = jnp.maximum(w_B.sum(), 1.0)
    return (nll_B * w_B).sum() / total, (correct_B * w_B).sum() / total


def sample_batch(key, order, n_train, batch_size: int):
    """Row indices ``[B]`` and weights ``[B]`` of one minibatch.

    B distinct rows drawn uniformly from the run's training rows (the first
    ``n_train`` of ``order``). The paper's batch is min(512, n_train/2): when
    ``n_train/2 < B`` the extra rows get weight 0, so the shape stays fixed.
    """
    size = order.shape[0]
    scores = jnp.where(jnp.arange(size) < n_train, jax.random.uniform(key, (size,)), -1.0)
    _, pos_B = jax.lax.top_k(scores, batch_size)
    w_B = (jnp.arange(batch_size) < jnp.minimum(batch_size, n_train // 2)).astype(jnp.float32)
    return order[pos_B], w_B


def train_step(config: Config, x, y, order, run: RunParams, state: TrainState) -> TrainState:
    model, opt = model_for(config), make_optimizer(config, run)
    batch_key = jax.random.fold_in(run_keys(run)[2], state.step)
    rows_B, w_B = sample_batch(batch_key, order, run.n_train, config.batch_size)

    def loss_fn(params):
        return answer_loss(model.apply(params, x[rows_B], path=config.model_path), y[rows_B], w_B)[0]

    grads = jax.grad(loss_fn)(state.params)
    updates, opt_state = opt.update(grads, state.opt_state, state.params)
    return TrainState(optax.apply_updates(state.params, updates), opt_state, state.step + 1)


def evaluate(config: Config, x, y, train_mask, params) -> dict:
    """Loss and accuracy over the whole table, split by the run's train mask."""
    model = model_for(config)
    size = x.shape[0]
    pad = (-size) % EVAL_ROWS
    xs = jnp.pad(x, ((0, pad), (0, 0))).reshape(-1, EVAL_ROWS, x.shape[1])
    ys = jnp.pad(y, (0, pad)).reshape(-1, EVAL_ROWS)
    valid = jnp.pad(jnp.ones(size, bool), (0, pad)).reshape(-1, EVAL_ROWS)
    train = jnp.pad(train_mask, (0, pad)).reshape(-1, EVAL_ROWS)

    def sums(chunk):
        xc, yc, vc, tc = chunk
        logits = model.apply(params, xc, path=config.model_path)
        nll = optax.softmax_cross_entropy_with_integer_labels(logits, yc)
        ok = (jnp.argmax(logits, -1) == yc).astype(jnp.float32)
        t, v = (tc & vc).astype(jnp.float32), (~tc & vc).astype(jnp.float32)
        return jnp.stack([(nll * t).sum(), (ok * t).sum(), t.sum(), (nll * v).sum(), (ok * v).sum(), v.sum()])

    s = jax.lax.map(sums, (xs, ys, valid, train)).sum(0)
    n_tr, n_va = jnp.maximum(s[2], 1.0), jnp.maximum(s[5], 1.0)
    return {
        "train_loss": s[0] / n_tr,
        "train_acc": s[1] / n_tr,
        "val_loss": s[3] / n_va,
        "val_acc": s[4] / n_va,
        "weight_norm": optax.tree.norm(params),
    }


def train_chunk(config: Config, x, y, run: RunParams, state: TrainState, n_steps):
    """``n_steps`` updates (a traced count: one program for any chunk length), then an eval."""
    order = run_order(config, run)
    state = jax.lax.fori_loop(0, n_steps, lambda _, s: train_step(config, x, y, order, run, s), state)
    return state, evaluate(config, x, y, data.train_mask(order, run.n_train), state.params)


def _over_runs(config: Config, fn, *args):
    """Applies ``fn`` to each run: ``vmap`` or a ``lax.map`` loop, per Config.run_axis.

    Arguments with a leading run axis are the RunParams and TrainState; the
    rest (the table) are shared. Matmuls are traced at Config.matmul_precision
    (float32 unless the user opted into rounding).
    """
    with jax.default_matmul_precision(config.matmul_precision):
        if config.run_axis == "vmap":
            return jax.vmap(fn)(*args)
        batch = config.map_batch if config.map_batch > 1 else None
        return jax.lax.map(lambda a: fn(*a), args, batch_size=batch)


@functools.partial(jax.jit, static_argnames="config")
def sweep_init(config: Config, x, runs: RunParams) -> TrainState:
    return _over_runs(config, lambda r: init_run(config, x, r), runs)


@functools.partial(jax.jit, static_argnames="config", donate_argnames="states")
def sweep_chunk(config: Config, x, y, runs: RunParams, states: TrainState, n_steps):
    """Every run advances ``n_steps`` updates and is evaluated: one compiled program."""
    return _over_runs(config, lambda r, s: train_chunk(config, x, y, r, s, n_steps), runs, states)


@functools.partial(jax.jit, static_argnames="config", donate_argnames="states")
def sweep_steps(config: Config, x, y, runs: RunParams, states: TrainState, n_steps):
    """``n_steps`` updates of every run and no evaluation: what ``grokjax.bench`` times."""

    def steps(run, state):
        order = run_order(config, run)
        return jax.lax.fori_loop(0, n_steps, lambda _, s: train_step(config, x, y, order, run, s), state)

    return _over_runs(config, steps, runs, states)
