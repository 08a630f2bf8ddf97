"""Looking inside the runs of a sweep: each analysis reads a sweep folder's
checkpoints, computes its measure for every run at once (one compiled
program over the runs, vmapped or mapped as in training), and writes a CSV
and a PNG under ``<out>/analysis/``.

    python -m grokjax.analysis WHAT OUT [--runs 0,2-5] [--step S]

    from grokjax import analysis
    analysis.tsne.run("results/mine")              # t-SNE of the unembedding (Power et al. Fig. 3)
    analysis.tsne.every_step("results/mine")       # its scores at every saved step
    analysis.sharpness.run("results/mine")         # φ of Keskar et al. (Power et al. §A.5, Fig. 7)
    analysis.fourier.run("results/nanda")          # Nanda et al.'s progress measures over training
    analysis.neurons.run("results/nanda")          # the MLP neurons' frequencies and clusters over training
    analysis.norms.run("results/mine")             # each layer's weight norm over training (Omnigrok Fig. 7a)
    analysis.table.run("results/mine", runs=[0])   # the table a run predicts (Power et al. Fig. 1)
    analysis.replay.run("results/mine", runs=[0], step=1000, updates=200)  # every update, exactly, measured
    analysis.snapshot.load("results/mine", step=1000)  # every run's params at a saved step, by program

Each ``run`` returns the rows of its CSV. The modules load on first use.
"""

MODULES = ("tsne", "sharpness", "fourier", "neurons", "norms", "table", "replay", "snapshot", "groups")

__all__ = list(MODULES)


def __getattr__(name):
    if name in MODULES:
        import importlib

        return importlib.import_module(f"grokjax.analysis.{name}")
    raise AttributeError(f"module 'grokjax.analysis' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
