"""How a decoded image becomes the network's input: the study's pre-processing, defined once.

Upright (EXIF orientation), 8 bits (16-bit scaled), RGB, resize to S x S (bilinear; S is the study's
`image_size`, 224 by default), uint8 (`data.decode`); then ImageNet mean/std normalisation to a float
N x 3 x S x S tensor. `preprocessing(S)` names the first part and is in every cache key: change it
whenever decoding changes, so that older decoded images are not reused.
"""

from __future__ import annotations

import torch

from freeze_study.names import IMAGE_SIZE

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet statistics (ResNet18_Weights.IMAGENET1K_V1)
IMAGENET_STD = (0.229, 0.224, 0.225)


def preprocessing(size: int = IMAGE_SIZE) -> str:
    """The name of the decoding to `size` x `size` pixels: part of every cache key, recorded as a param."""
    return f"exif,8bit,rgb,resize={size}x{size}:bilinear,uint8"


PREPROCESSING = preprocessing()  # the default's, as runs before `image_size` recorded it


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 NxHxWx3 (or HxWx3) -> float Nx3xHxW with ImageNet mean/std."""
    x = images.permute(*range(images.dim() - 3), -1, -3, -2).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return ((x - mean) / std).contiguous()  # NCHW, as collated single images: conv numerics match


def input_bytes(size: int = IMAGE_SIZE) -> int:
    """Bytes of one float32 network input of `size` x `size` pixels (3 x size x size x 4)."""
    return 3 * size * size * 4


def to_input(image: torch.Tensor, flip: bool) -> torch.Tensor:
    """A decoded uint8 HxWx3 image as the network's input; `flip`: a random horizontal flip."""
    x = normalize(image)
    return x.flip(-1) if flip and torch.rand(()) < 0.5 else x
