"""torchvision's ResNet18 with a fresh classifier head, from ImageNet weights, a state-dict file or random init."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchvision.models import ResNet, ResNet18_Weights, resnet18

from freeze_study.errors import ExpectedError


class WeightsError(ExpectedError, RuntimeError):
    """The requested starting weights cannot be loaded; the message says what to do."""


class GlobalAvgPool(nn.Module):
    """Mean over H and W: equal to AdaptiveAvgPool2d(1), with a deterministic CUDA backward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=True)


def build_resnet18(num_classes: int, weights: str) -> ResNet:
    """ResNet18 from `weights` ("imagenet", "none" or a state-dict file) with a fresh `num_classes` head.

    Input N x 3 x H x W normalised images, output N x num_classes logits. Raises WeightsError
    (one line saying what to do) when the weights cannot be downloaded or the file does not fit.
    """
    if weights == "none":
        net = resnet18(weights=None)
    elif weights == "imagenet":
        net = _imagenet_resnet18()
    else:
        net = resnet18(weights=None)
        _load_state_file(net, Path(weights))
    net.avgpool = GlobalAvgPool()
    net.fc = nn.Linear(net.fc.in_features, num_classes)
    return net


def weights_file(weights: str) -> Path | None:
    """The file the starting weights are read from: the state-dict file, torchvision's downloaded
    IMAGENET1K_V1 checkpoint for "imagenet" (once `build_resnet18` has fetched it), None for random init."""
    if weights == "none":
        return None
    if weights == "imagenet":
        url = ResNet18_Weights.IMAGENET1K_V1.url
        return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    return Path(weights)


def _imagenet_resnet18() -> ResNet:
    try:
        return resnet18(weights=ResNet18_Weights.IMAGENET1K_V1)  # cached under $TORCH_HOME/hub/checkpoints
    except OSError as exc:  # URLError is an OSError
        raise WeightsError(
            f"cannot download the ImageNet weights for ResNet18 ({exc}); offline, pass "
            "--weights PATH to a local resnet18 state dict (e.g. resnet18-f37072fd.pth), "
            "or --weights none for random init"
        ) from None


def _load_state_file(net: ResNet, path: Path) -> None:
    if not path.is_file():
        raise WeightsError(f"weights file {path} not found; pass 'imagenet', 'none' or an existing file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"weights file {path} is not a PyTorch state dict: {exc}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"weights file {path} holds a {type(state).__name__}, not a state dict")
    body = {k: v for k, v in state.items() if not k.startswith("fc.")}  # the head is replaced anyway
    # old checkpoints (e.g. torchvision's resnet18-f37072fd.pth) predate BatchNorm's num_batches_tracked
    expected = {k for k in net.state_dict() if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    known = set(net.state_dict())
    missing, unexpected = sorted(expected - body.keys()), sorted(body.keys() - known)
    if missing or unexpected:
        raise WeightsError(
            f"weights file {path} does not match torchvision's resnet18 key layout: "
            f"{len(missing)} missing (e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})"
        )
    try:
        net.load_state_dict(body, strict=False)
    except RuntimeError as exc:
        raise WeightsError(f"weights file {path} has tensors of the wrong shape: {exc}".splitlines()[0]) from None


def weights_sha256(weights: str, file_sha256: Callable[[Path], bytes]) -> str | None:
    """The SHA-256 (hex) of the starting weights when `weights` is a file ("imagenet" and "none" are names, not
    files: None), computed by `file_sha256` (`data.file_sha256`, remembered by file identity in a run's memo);
    `build_resnet18` has already said when the file is unusable."""
    if weights in ("imagenet", "none") or not Path(weights).is_file():
        return None
    return file_sha256(Path(weights)).hex()


def export_model(net: nn.Module) -> nn.Module:
    """A plain torchvision ResNet18 (stock pooling) on the CPU, in eval mode, for logging.

    Its forward equals `net`'s; it loads without this package installed. Weights are in the
    ordinary (contiguous) layout, whatever layout training used.
    """
    out = copy.deepcopy(net).float().cpu().eval().to(memory_format=torch.contiguous_format)
    out.avgpool = nn.AdaptiveAvgPool2d(1)
    out.requires_grad_(True)
    return out
