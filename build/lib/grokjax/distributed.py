"""One sweep across several hosts: ``jax.distributed`` and the few things
the processes of a sweep must agree on.

Every process runs the same command. JAX joins their devices into one list,
the sweep's mesh spans all of them, and each process computes the runs on its
own devices. Only process 0 writes tables, figures and the sweep record;
orbax has every process write its own shards of a checkpoint.
"""

from __future__ import annotations

import numpy as np


def initialize(coordinator: str | None, num_processes: int | None, process_id: int | None) -> None:
    """Joins the sweep's processes. ``coordinator`` is host:port of process
    0, or ``auto`` to let JAX read a cluster's environment (SLURM, Open MPI,
    Kubernetes, Cloud TPU)."""
    import jax

    # CPU processes exchange metrics through gloo; GPUs and TPUs bring their own collectives.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if coordinator == "auto":
        jax.distributed.initialize()
    else:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)


def is_main() -> bool:
    import jax

    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Waits until every process gets here (a no-op in one process)."""
    import jax

    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def agree(signum: int | None) -> int | None:
    """The stop signal, if any process got one: all processes must stop after
    the same chunk, or the others would wait forever in the next one."""
    import jax

    if jax.process_count() == 1:
        return signum
    from jax.experimental import multihost_utils

    got = multihost_utils.process_allgather(np.int32(signum or 0))
    return int(np.max(got)) or None
