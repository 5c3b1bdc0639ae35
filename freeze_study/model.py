"""What "freeze level K" means for torchvision's ResNet18, and the weights it starts from.

The network is kept as a *frozen prefix* (stem + layer1..layerK, no gradients,
BatchNorm in eval mode) followed by a *trainable suffix* (the remaining stages,
pooling and the classifier), so the prefix's output can be computed once.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import ResNet, ResNet18_Weights, resnet18

from freeze_study.config import STAGES

STAGE_MODULES = {STAGES[0]: ("conv1", "bn1", "relu", "maxpool"), **{s: (s,) for s in STAGES[1:]}}


class WeightsError(RuntimeError):
    """The requested starting weights cannot be loaded; the message says what to do."""


class GlobalAvgPool(nn.Module):
    """Mean over H and W: equal to AdaptiveAvgPool2d(1), with a deterministic CUDA backward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=True)


def build_resnet18(num_classes: int, weights: str) -> ResNet:
    """ResNet18 from `weights` ("imagenet", "none" or a state-dict file) with a fresh `num_classes` head."""
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


def _imagenet_resnet18() -> ResNet:
    try:
        return resnet18(weights=ResNet18_Weights.IMAGENET1K_V1)  # cached under $TORCH_HOME/hub/checkpoints
    except OSError as exc:  # URLError is an OSError
        raise WeightsError(
            f"cannot download the ImageNet weights for ResNet18 ({exc}); offline, pass "
            "--weights PATH to a local resnet18 state dict (e.g. resnet18-f37072fd.pth), "
            "or --weights none for random init") from None


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
            f"{len(missing)} missing (e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})")
    try:
        net.load_state_dict(body, strict=False)
    except RuntimeError as exc:
        raise WeightsError(f"weights file {path} has tensors of the wrong shape: {exc}".splitlines()[0]) from None


def stage(net: ResNet, name: str) -> nn.Sequential:
    """The modules of one stage, in forward order."""
    return nn.Sequential(*(getattr(net, m) for m in STAGE_MODULES[name]))


def split(net: ResNet, freeze: int) -> tuple[nn.Sequential, nn.Sequential]:
    """(frozen prefix, trainable suffix); they share modules with `net` and compose to net.forward.

    With every stage frozen the parameter-free pooling joins the prefix, so the
    suffix is the linear head on 512 features.
    """
    cut = freeze + 1 if freeze else 0
    pool = [net.avgpool, nn.Flatten(1)]
    frozen = [stage(net, s) for s in STAGES[:cut]]
    trainable = [stage(net, s) for s in STAGES[cut:]]
    if trainable:
        return nn.Sequential(*frozen), nn.Sequential(*trainable, *pool, net.fc)
    return nn.Sequential(*frozen, *pool), nn.Sequential(net.fc)


def frozen_prefix_problem(net: ResNet) -> str | None:
    """Why the frozen stages are not a cacheable prefix (a frozen stage after a trainable one), or None."""
    trainable = [s for s in STAGES if any(p.requires_grad for p in stage(net, s).parameters())]
    frozen = [s for s in STAGES if s not in trainable]
    late = [s for s in frozen if trainable and STAGES.index(s) > STAGES.index(trainable[0])]
    if late:
        return f"frozen stages {','.join(late)} follow trainable {trainable[0]}: not a prefix"
    return None


def freeze_prefix(prefix: nn.Module) -> None:
    """No gradients and BatchNorm in eval mode: the prefix's output never changes."""
    prefix.requires_grad_(False)
    prefix.eval()


def count_params(net: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    params = list(net.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
