"""What the adapter tests share: Lightning trainers and loggers that print nothing."""

import logging

#: trainer keywords for a silent CPU fit (add ``max_steps`` where the library takes it)
QUIET = {
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "logger": False,
    "enable_checkpointing": False,
    "accelerator": "cpu",
}


def silence_lightning(*more: str) -> None:
    """Lightning's loggers (and ``more``) at ERROR."""
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning", "lightning_fabric", *more):
        logging.getLogger(name).setLevel(logging.ERROR)
