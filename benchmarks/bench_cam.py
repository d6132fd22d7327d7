"""The CAM family against Captum: what Captum returns on time series, and the cost.

Prints (1) the shape Captum's LayerGradCam gives for a channel-last (B, T, D) layer
and ours; (2) how far Captum's GuidedGradCam is from guided backpropagation times
Grad-CAM stretched along time, on channel-last and channel-first inputs; (3) median
CPU times of Grad-CAM on a channel-first layer (where both are right) and of
Guided Grad-CAM.

    python benchmarks/bench_cam.py
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import captum.attr as ca
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, table

from captum_ts import GuidedGradCam, LayerGradCam
from captum_ts.models import CNN1dClassifier

B, T, NF = 32, 256, 3


def composition(model, x, target, time_dim):
    """Captum's guided backprop times our Grad-CAM, linear along the input's time axis."""
    cam = LayerGradCam(model, model.features[3], layout="channels_first")
    m = cam.attribute(x, target=target, relu_attributions=True)
    m = F.interpolate(m, size=x.shape[time_dim], mode="linear", align_corners=False)
    gb = ca.GuidedBackprop(model).attribute(x, target=target).detach()
    return gb * (m.transpose(1, 2) if time_dim == 1 else m)


def main() -> None:
    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    target = torch.randint(0, 2, (B,))
    rows = []
    for channels_last in (True, False):
        model = CNN1dClassifier(NF, 2, channels_last=channels_last).eval()
        x = torch.randn(B, T, NF) if channels_last else torch.randn(B, NF, T)
        time_dim = 1 if channels_last else 2
        right = composition(model, x, target, time_dim)
        ours = GuidedGradCam(model, model.features[3], layout="channels_first").attribute(
            x, target=target, input_time_dim=time_dim
        )
        theirs = ca.GuidedGradCam(model, model.features[3]).attribute(x, target=target).detach()
        rows.append(
            [
                "(B, T, F)" if channels_last else "(B, F, T)",
                f"{float((ours - right).norm() / right.norm()):.2e}",
                f"{float((theirs - right).norm() / right.norm()):.2f}",
            ]
        )
    print("Guided Grad-CAM, relative L2 distance to guided backprop x Grad-CAM along time")
    print(table(rows, ["input", "captum_ts", "Captum"]))

    embed = torch.nn.Linear(NF, 8)
    head = torch.nn.Linear(8 * T, 2)
    seq_model = torch.nn.Sequential(embed, torch.nn.Tanh(), torch.nn.Flatten(), head)
    x = torch.randn(B, T, NF)
    print(
        "\nLayer output (B, T, D) = (32, 256, 8): Captum LayerGradCam ->",
        tuple(ca.LayerGradCam(seq_model, embed).attribute(x, target=target).shape),
        "; captum_ts ->",
        tuple(LayerGradCam(seq_model, embed, layout="channels_last").attribute(x, target=target).shape),
    )

    model = CNN1dClassifier(NF, 2).eval()
    layer = model.features[3]
    ours_gc = LayerGradCam(model, layer, layout="channels_first")
    ours_ggc = GuidedGradCam(model, layer, layout="channels_first")
    theirs_gc, theirs_ggc = ca.LayerGradCam(model, layer), ca.GuidedGradCam(model, layer)
    times = compare(
        {
            "Grad-CAM captum_ts": lambda: ours_gc.attribute(x, target=target),
            "Grad-CAM Captum": lambda: theirs_gc.attribute(x, target=target),
            "Guided Grad-CAM captum_ts": lambda: ours_ggc.attribute(x, target=target, input_time_dim=1),
            "Guided Grad-CAM Captum": lambda: theirs_ggc.attribute(x, target=target),
        },
        clock=time.process_time,
    )
    print("\nMedian CPU time, B=32, T=256, one thread")
    print(table([[k, f"{v * 1e3:.1f}"] for k, v in times.items()], ["method", "ms"]))


if __name__ == "__main__":
    main()
