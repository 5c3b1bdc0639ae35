"""Caching what freezing makes constant: decoded images (`decoded`) and the frozen prefix's
outputs (`features`), so that freezing saves wall time."""

from freeze_study.cache.decoded import decoded_images
from freeze_study.cache.features import CachePlan, build_inputs, memory_budget, prefix_outputs, prefix_problem

__all__ = ["CachePlan", "build_inputs", "decoded_images", "memory_budget", "prefix_outputs", "prefix_problem"]
