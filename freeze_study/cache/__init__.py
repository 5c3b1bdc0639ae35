"""Caching what freezing makes constant: the persistent folder (`store`, with its `locks`), decoded images
(`decoded`), frozen-prefix outputs shared by runs (`shared`) or computed for one run (`per_run`; both run the
prefix as `model.Device` says), the inputs a run trains on (`features`), and what the folder holds
(`listing`, for `freeze-study cache list|clear`)."""

from freeze_study.cache import listing
from freeze_study.cache.decoded import decoded_images
from freeze_study.cache.features import (
    FILE_MEMO,
    CachePlan,
    build_inputs,
    file_memo,
    prefix_problem,
    shared_problem,
    store_of,
)
from freeze_study.cache.per_run import memory_budget, prefix_outputs
from freeze_study.cache.shared import SharedFeatures, shared_features, weights_digest
from freeze_study.cache.store import Entry, Store

__all__ = [
    "FILE_MEMO",
    "CachePlan",
    "Entry",
    "SharedFeatures",
    "Store",
    "build_inputs",
    "decoded_images",
    "file_memo",
    "listing",
    "memory_budget",
    "prefix_outputs",
    "prefix_problem",
    "shared_features",
    "shared_problem",
    "store_of",
    "weights_digest",
]
