"""grokjax: grokking (Power et al. 2022) and Omnigrok (Liu et al. 2022) in JAX.

A whole sweep (seeds × data fractions × optimizer settings) is one compiled
program. Start with ``python -m grokjax.sweep --help``.
"""

__version__ = "0.1.0"
