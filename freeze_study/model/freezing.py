"""A ResNet18 cut at a freeze level into a *frozen prefix* and a *trainable suffix*.

The prefix (stem + layer1..layerK) gets no gradients and keeps BatchNorm in eval mode,
so its output for an image never changes and can be computed once; the suffix (the
remaining residual stages, pooling and the classifier) is what is trained.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import nn
from torchvision.models import ResNet

from freeze_study.levels import frozen_stages
from freeze_study.names import STAGES

# torchvision attribute names of each stage's modules, in forward order.
STAGE_MODULES = {STAGES[0]: ("conv1", "bn1", "relu", "maxpool"), **{s: (s,) for s in STAGES[1:]}}


class FrozenCut(NamedTuple):
    """The network at one level: prefix then suffix compose to `net.forward`; both share `net`'s modules."""

    prefix: nn.Sequential  # frozen: no gradients, BatchNorm in eval mode (empty at level 0)
    suffix: nn.Sequential  # trainable: the rest of the network, ending in the classifier


def stage_modules(net: ResNet, stage: str) -> nn.Sequential:
    """The modules of one stage (`stem` or a residual stage `layer1`..`layer4`), in forward order."""
    return nn.Sequential(*(getattr(net, m) for m in STAGE_MODULES[stage]))


def freeze_at_level(net: ResNet, freeze: int) -> FrozenCut:
    """Cut `net` at freeze level `freeze` and freeze the prefix (`freeze_prefix`): the prefix is the first
    `freeze` of `level_steps(net)`, the suffix the rest and the classifier, so the cached path (which runs
    those steps) and the uncached one compute the same function by construction.

    With every stage frozen the parameter-free pooling is in the prefix, so the suffix is the
    linear head on 512 features. Raises ValueError for a level outside 0..4.
    """
    frozen_stages(freeze)  # ValueError outside 0..4
    cut = int(freeze)  # level K freezes the first K steps
    steps = level_steps(net)
    parts = FrozenCut(nn.Sequential(*steps[:cut]), nn.Sequential(*steps[cut:], net.fc))
    freeze_prefix(parts.prefix)
    return parts


def level_steps(net: ResNet) -> list[nn.Sequential]:
    """The network up to its classifier, cut at every level: step k maps level k-1's prefix output (images for
    k=1) to level k's, so the first k steps are `freeze_at_level(net, k).prefix` and the rest, with `net.fc`,
    its suffix.

    Step 1 is the stem and layer1, steps 2 and 3 are layer2 and layer3, step 4 is layer4 with the
    pooling (N x 512 out): pooling joins the prefix only at level 4. The steps share `net`'s modules.
    """
    stages = [stage_modules(net, s) for s in STAGES]
    first, *middle, last = stages[1:]
    return [nn.Sequential(stages[0], first), *middle, nn.Sequential(last, net.avgpool, nn.Flatten(1))]


def freeze_prefix(prefix: nn.Module) -> None:
    """No gradients and BatchNorm in eval mode: the prefix's output never changes."""
    prefix.requires_grad_(False)
    prefix.eval()


def count_params(net: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    params = list(net.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
