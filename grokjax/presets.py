"""Named recipes: a sweep as another paper set it up, ready to run.

    python -m grokjax.sweep --preset nanda                  # flags still override it
    grokjax.presets.spec("nanda", steps=12000)              # from Python: a SweepSpec

A preset is a sweep file's dict, built in; ``--preset`` uses it as the base
that a ``--spec`` file would be.
"""

from __future__ import annotations

from grokjax.errors import SpecError

PRESETS = {
    # The fastest recipe grokjax's own search found for x+y mod 97 at 50%
    # (sweeps/fast_search.toml, results/fast_search_*_cpu): an MLP on the
    # one-hot tokens (4 × 99 → 512 ReLU → 99), AdamW at lr 0.1 with weight
    # decay 1, initialized at twice PyTorch's scale (Omnigrok's α = 2);
    # Grokfast and ⊥Grad slowed or stopped it. Stops once every run has 99%
    # val accuracy.
    "fast": {
        "name": "fast",
        "task": {"name": "table", "op": "add", "modulus": 97},
        "model": {"name": "mlp", "depth": 2, "width": 512},
        "fracs": [0.5],
        "seeds": 3,
        "grid": [{"lr": [0.1], "weight_decay": [1.0], "init_scale": [2.0]}],
        "steps": 1000,
        "eval_every": 25,
        "stop_at": 0.99,
    },
    # Nanda et al. 2023, "Progress measures for grokking via mechanistic
    # interpretability" (the setup of Omnigrok §5 and its appendix C): a
    # one-layer transformer without LayerNorm learns x+y mod 113 from 30% of
    # the table, full batch, AdamW lr 1e-3 with weight decay 1, β = (0.9,
    # 0.98), 10 warmup steps. Their model also has MLP biases and learned
    # positions, and reads [a, b, =]; grokjax's keeps the paper's [a, ∘, b, =],
    # and here its fixed positions and no biases (--positions learned
    # --mlp-bias give theirs; kept off so that results/nanda_add113_cpu/
    # stays reproducible). They train 40k full-batch steps; the
    # Fourier progress measures need the params along the way (--ckpt-every).
    "nanda": {
        "name": "nanda",
        "task": {"name": "table", "op": "add", "modulus": 113},
        "model": {"name": "transformer", "n_layers": 1, "d_model": 128, "n_heads": 4, "d_mlp": 512,
                  "layer_norm": False},
        "fracs": [0.3],
        "seeds": 1,
        "grid": [{"lr": [1e-3], "weight_decay": [1.0], "full_batch": [True]}],
        "beta2": 0.98,
        "warmup_steps": 10,
        "steps": 40000,
        "eval_every": 100,
    },
}


def get(name: str) -> dict:
    """The preset's spec dict (a copy)."""
    import copy

    if name not in PRESETS:
        raise SpecError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])


def spec(name: str, **changes):
    """The preset as a SweepSpec, with ``changes`` (SweepSpec fields) applied."""
    from grokjax.spec import SweepSpec

    return SweepSpec.from_dict(get(name)).replace(**changes)
