"""Transposes and copies in the compiled gradient of a small transformer,
with its linear maps on flattened rows (``model.dot_rows``, grokjax's form)
and on ``[B, L, D]`` inputs (Flax's), per model path: why ``dot_rows`` exists.

    python sweeps/dense_copies.py OUT.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="JSON file to write")
    args = p.parse_args()
    import jax
    import jax.numpy as jnp

    from grokjax import model, report, tables

    x = jnp.asarray(tables.make_table("add", 11).x[:16])
    rows = model.dot_rows
    counts = {}
    for form in ("rows", "batched"):
        model.dot_rows = rows if form == "rows" else jax.lax.dot_general
        jax.clear_caches()
        m = model.make_model(model.TransformerSpec(d_model=32, n_heads=4, d_mlp=64), 13)
        params = m.init(jax.random.key(1), x)
        for path in ("factorized", "answer"):
            hlo = jax.jit(jax.grad(lambda p: (m.apply(p, x, path=path) ** 2).sum())).lower(params).compile().as_text()
            counts[f"{form}/{path}"] = {"transposes_and_copies": len(re.findall(r" (?:transpose|copy)\(", hlo)),
                                        "dots": len(re.findall(r" dot\(", hlo))}
    model.dot_rows = rows
    doc = {"command": "python sweeps/dense_copies.py " + args.out,
           "scale": "transformer d_model 32, 4 heads, d_mlp 64, vocabulary 13, 16 rows of x+y mod 11; "
                    "the gradient of the sum of squared logits",
           "counts": counts, "environment": report.environment()}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    for k, v in counts.items():
        print(f"{k}: {v['transposes_and_copies']} transposes and copies, {v['dots']} dots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
