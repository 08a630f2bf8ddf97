"""x·y mod p with y ≠ 0, the task of the Grokfast paper (Lee et al. 2024; its
code's ``multiplication_mod_p_data``), as op ``mul``.

It is not one of Power et al.'s operations, so it joins the registry (and
``--op all``) only where this module is imported: ``--import
grokjax.grokfast_task`` on the command line, or ``imports =
["grokjax.grokfast_task"]`` in a sweep file, which its folder records, so
resume and load import it again. grokjax's ``div`` is not the same task: x/y
relabels the second operand only, and both operands share one embedding.
"""

from grokjax import tables

MUL = tables.OPS.get("mul") or tables.register_modular("mul", lambda x, y, p: x * y, "x·y, y≠0 (Grokfast)", y_nonzero=True)
