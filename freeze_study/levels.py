"""What "freeze level K" means: the one definition every other module calls.

Level 0 trains everything; level K (1..4) freezes the stem and the first K residual
stages, `layer1`..`layerK`. Pure Python (names only), low in the layers, so the model, training and the
report name levels from one place without the report importing torch.
"""

from __future__ import annotations

from freeze_study.names import MAX_FREEZE, STAGES


def frozen_stages(freeze: int) -> tuple[str, ...]:
    """The stages frozen at level `freeze`: () for 0, else ("stem", "layer1", ..., "layerK").

    Raises ValueError outside 0..MAX_FREEZE (4 for ResNet18).
    """
    if not 0 <= int(freeze) <= MAX_FREEZE:
        raise ValueError(f"freeze level {freeze} is not in 0..{MAX_FREEZE}")
    return STAGES[: int(freeze) + 1] if freeze else ()


def frozen_stages_param(freeze: int) -> str:
    """The `frozen_stages` param a run records: 'stem,layer1' or 'none'."""
    return ",".join(frozen_stages(freeze)) or "none"


def level_name(freeze: int) -> str:
    """'freeze=2 (stem–layer2)': the level and the range of stages it freezes, for reports and legends."""
    stages = frozen_stages(freeze)
    return f"freeze={freeze} ({f'{stages[0]}–{stages[-1]}' if stages else 'nothing frozen'})"
