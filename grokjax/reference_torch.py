"""The PyTorch reference's training step, timed beside grokjax's.

danielmamay/grokking is the reimplementation most users compare against; its
step is rebuilt here from its description (not its code), with the paper's
model as grokjax trains it, so that ``python -m grokjax.bench`` can time both
in one process, on one machine:

- tokens ``[a, ∘, b, =]``, learned token and position embeddings (V = p + 2);
- ``num_layers`` post-LN decoder blocks: ``nn.MultiheadAttention`` without
  bias under a causal mask, then a ReLU MLP of width 4·D without bias;
- a final linear layer to V logits at every position, of which the loss
  reads the last; cross-entropy, AdamW (β = (0.9, 0.98), weight decay 1);
- batches of min(512, ⌈n_train/2⌉) rows from a fresh permutation each epoch;
  an epoch's short remainder (96 rows at the paper's config) is skipped, so
  every timed step holds the full batch, as every step of grokjax's does.

It is not that repository's code: that model uses GELU, biases in its linear
and attention layers and a final LayerNorm, and its loop adds a learning-rate
scheduler and per-step logging. The rebuild does less work than the code, so
a ratio against it is, if anything, the smaller one. It computes every
position, as the reference does; grokjax's default ``factorized`` path
computes only what the loss reads (see ``grokjax.model``).

Only its speed is used: grokjax's own model is the paper's, and its numbers
are never compared with these. Needs torch (``pip install torch``), which
grokjax does not depend on.
"""

from __future__ import annotations

import os
import time


def available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _model(num_layers: int, dim: int, heads: int, vocab: int, seq_len: int = 4):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(dim, heads, bias=False)
            self.attn_norm = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim, bias=False), nn.ReLU(), nn.Linear(4 * dim, dim, bias=False))
            self.mlp_norm = nn.LayerNorm(dim)
            self.register_buffer("mask", torch.triu(torch.full((seq_len, seq_len), -1e10), diagonal=1))

        def forward(self, x):  # [L, B, D]
            a = self.attn_norm(x + self.attn(x, x, x, attn_mask=self.mask)[0])
            return self.mlp_norm(a + self.mlp(a))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(vocab, dim)
            self.pos = nn.Embedding(seq_len, dim)
            self.blocks = nn.Sequential(*[Block() for _ in range(num_layers)], nn.Linear(dim, vocab, bias=False))

        def forward(self, x):  # [B, L] -> [L, B, V]
            h = self.tok(x) + self.pos(torch.arange(x.shape[1], device=x.device))[None]
            return self.blocks(h.transpose(0, 1))

    return Model()


def stepper(x, y, n_train: int, steps: int = 20, num_layers: int = 2, dim: int = 128, heads: int = 4,
            batch_size: int = 512, seed: int = 0):
    """``(timed, info)``: ``timed()`` runs ``steps`` of the reference's
    training steps and returns their seconds (one untimed call is made
    first, as a warm-up); ``info`` describes the setup. On the table ``x``
    [N, 4], ``y`` [N] whose first ``n_train`` rows train. The model and
    optimizer persist between calls, so timings can alternate with others."""
    import numpy as np
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(os.cpu_count() or 1)
    vocab = int(max(x.max(), y.max())) + 1
    model = _model(num_layers, dim, heads, vocab)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.as_tensor(np.asarray(x[:n_train]), dtype=torch.long), torch.as_tensor(np.asarray(y[:n_train]), dtype=torch.long)
    batch = min(batch_size, (n_train + 1) // 2)
    state = {"perm": torch.randperm(n_train), "at": 0}

    def step():
        if state["at"] + batch > n_train:  # a short remainder would make a cheaper step
            state["perm"], state["at"] = torch.randperm(n_train), 0
        idx = state["perm"][state["at"]: state["at"] + batch]
        state["at"] += batch
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xt[idx])[-1], yt[idx])
        loss.backward()
        opt.step()

    def timed():
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        return time.perf_counter() - t0

    model.train()
    timed()  # warm-up
    info = {"steps_timed": steps, "batch_size": batch, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    return timed, info

