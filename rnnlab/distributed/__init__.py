"""Training across processes and devices: the DDP entry point, a notebook-friendly launcher, model
and pipeline parallelism.

``torchrun --nproc-per-node=N -m rnnlab.distributed.train`` is the training script (not imported
here, so ``python -m`` runs it cleanly); `launch` starts its workers from a notebook.
`loss.global_mean` keeps a token-averaged loss exact under DDP; `pipeline` runs a layer-per-device
stacked LSTM on a clock (micro-batches or the wavefront along time), forward and backward; `comm`
holds the ring all-reduce and its arithmetic.
"""

from .launcher import LaunchError, LaunchTimeout, WorkerFailed, free_port, launch, report

__all__ = ["LaunchError", "LaunchTimeout", "WorkerFailed", "free_port", "launch", "report"]
