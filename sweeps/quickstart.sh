#!/usr/bin/env bash
# The README's quick start: x+y mod 97 at 50%, 4,000 steps, one seed.
# Paper: 10^5 steps, 3 seeds. Under 10 minutes on a 2-core CPU.
set -euo pipefail
python -m grokjax.sweep --op add --fracs 0.5 --steps 4000 --eval-every 100 --out "${1:-results/quickstart}"
