"""The CAM family on time series: CAM, Grad-CAM, Grad-CAM++ and Guided Grad-CAM,
with the layer's and the input's time axes explicit (see ``docs/cam.md``)."""

from .cam import CAM
from .grad_cam import LayerGradCam
from .grad_cam_plus_plus import LayerGradCamPlusPlus
from .guided_grad_cam import GuidedGradCam

__all__ = ["CAM", "GuidedGradCam", "LayerGradCam", "LayerGradCamPlusPlus"]
