"""The data: where images come from (`sources`), how they become tensors (`preprocess`),
the DataLoaders of the original pipeline (`loaders`), and what is remembered about files (`identity`)."""

from freeze_study.data.identity import FileMemo, forget_all
from freeze_study.data.loaders import ImageDataset, make_loader, worker_count
from freeze_study.data.preprocess import IMAGE_SIZE, IMAGENET_MEAN, IMAGENET_STD, PREPROCESSING, normalize, to_input
from freeze_study.data.sources import SPLITS, Data, DataError, Split, from_hub_dataset, load_data, subset

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_SIZE",
    "PREPROCESSING",
    "SPLITS",
    "Data",
    "DataError",
    "FileMemo",
    "ImageDataset",
    "Split",
    "forget_all",
    "from_hub_dataset",
    "load_data",
    "make_loader",
    "normalize",
    "subset",
    "to_input",
    "worker_count",
]
