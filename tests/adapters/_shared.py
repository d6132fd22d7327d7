"""What the adapter tests share: Lightning trainers and loggers that print nothing, and the
check that Guided AbsoluteGrad and the learned mask run on an adapted model's tuple of inputs."""

import logging

import torch

from captum_ts import GuidedAbsoluteGrad, LearnedPerturbationMask

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


def check_gag_and_lpm_on_the_tuple(adapted, target, additional_forward_args=None) -> None:
    """Both methods give one map per input tensor, in its shape and range, that maps back to one
    row per cell."""
    kw = dict(target=target, additional_forward_args=additional_forward_args)
    gag = GuidedAbsoluteGrad(adapted.forward_func).attribute(
        adapted.inputs, nt_samples=4, generator=torch.Generator().manual_seed(0), **kw
    )
    assert [a.shape for a in gag] == [x.shape for x in adapted.inputs]
    assert all(bool((a >= 0).all()) and float(a.sum()) > 0 for a in gag)
    lpm = LearnedPerturbationMask(adapted.forward_func).attribute(
        adapted.inputs, epochs=3, generator=torch.Generator().manual_seed(0), **kw
    )
    assert [a.shape for a in lpm] == [x.shape for x in adapted.inputs]
    assert all(bool(((a >= 0) & (a <= 1)).all()) for a in lpm)
    assert len(adapted.to_frame(lpm)) == sum(x.numel() for x in adapted.inputs)
