#!/usr/bin/env bash
# The Grokfast authors' code (ironjr/grokfast) as it is, and with the paper's
# model swapped in: Grokfast-EMA and PyTorch Adam's L2 weight decay, each
# alone and together, and neither, 2,000 updates per run. Needs torch and a clone:
#   git clone https://github.com/ironjr/grokfast CHECKOUT
#   bash sweeps/grokfast_reference.sh results/grokfast_cpu CHECKOUT
set -euo pipefail
out=${1:?usage: grokfast_reference.sh OUT CHECKOUT}
checkout=${2:?usage: grokfast_reference.sh OUT CHECKOUT}
# the authors' code prints its model and a progress bar: those go to reference.log, the summaries here
run() { python sweeps/grokfast_reference.py "$checkout" --out "$out/$1.json" "${@:2}" 2>>"$out/reference.log" \
          | tee -a "$out/reference.log" | grep -E '^(seed|wrote|usage|grokfast_reference)' || true; \
        test -f "$out/$1.json" || { echo "grokfast_reference.sh: $1 failed; see $out/reference.log" >&2; exit 1; }; }
mkdir -p "$out"
run reference_ema_l2 --filter ema --weight-decay 0.005 --seeds 0,1,2
run reference_l2 --filter none --weight-decay 0.005 --seeds 0,1,2
run reference_paper_model_ema_l2 --model paper --filter ema --weight-decay 0.005 --seeds 0,1,2
run reference_ema --filter ema --weight-decay 0 --seeds 0,1,2
run reference_paper_model_l2 --model paper --filter none --weight-decay 0.005 --seeds 0
run reference_paper_model_ema --model paper --filter ema --weight-decay 0 --seeds 0,1,2
run reference_neither --filter none --weight-decay 0 --seeds 0,1,2
run reference_paper_model_neither --model paper --filter none --weight-decay 0 --seeds 0,1,2
