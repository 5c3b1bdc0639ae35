"""The data: where images come from (`sources`, `folder`), how a folder is walked (`walk`), how one image
is decoded (`decode`), how images become tensors (`preprocess`), the DataLoaders of the original pipeline
(`loaders`, `workers`), and what is remembered about files (`identity`)."""

from freeze_study.data.decode import MAX_PIXELS, check_image, decode
from freeze_study.data.errors import DataError
from freeze_study.data.folder import list_folder
from freeze_study.data.identity import FileMemo, file_sha256, forget_all
from freeze_study.data.loaders import LOADER_TIMEOUT_S, ImageDataset, make_loader
from freeze_study.data.preprocess import (
    IMAGE_SIZE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    PREPROCESSING,
    input_bytes,
    normalize,
    preprocessing,
    to_input,
)
from freeze_study.data.sources import SPLITS, Data, Split, from_hub_dataset, load_data, subset
from freeze_study.data.walk import IMAGE_EXTENSIONS, NOT_IMAGE, images_under
from freeze_study.data.workers import available_cpus, worker_count

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "IMAGE_SIZE",
    "LOADER_TIMEOUT_S",
    "MAX_PIXELS",
    "NOT_IMAGE",
    "PREPROCESSING",
    "SPLITS",
    "Data",
    "DataError",
    "FileMemo",
    "file_sha256",
    "ImageDataset",
    "Split",
    "available_cpus",
    "check_image",
    "decode",
    "forget_all",
    "input_bytes",
    "preprocessing",
    "from_hub_dataset",
    "images_under",
    "list_folder",
    "load_data",
    "make_loader",
    "normalize",
    "subset",
    "to_input",
    "worker_count",
]
