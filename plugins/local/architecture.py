"""The encoder's layer plan, shared by the torch model (training) and numpy inference (serving).

Kept free of torch so serving can import it; a saved state dict's ``hidden.{i}`` keys mean the same
layer to both.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

ACTIVATION_NAMES = ("sigmoid", "tanh", "relu")


def hidden_plan(encoder_layers: Sequence[int], batch_norm: bool) -> List[Tuple[str, tuple]]:
    """The layers after the first (bag-of-words) layer, as (kind, sizes) in order."""
    plan: List[Tuple[str, tuple]] = []
    if batch_norm:
        plan.append(("batch_norm", (encoder_layers[0],)))
    plan.append(("activation", ()))
    for a, b in zip(encoder_layers, encoder_layers[1:]):
        plan.append(("linear", (a, b)))
        if batch_norm:
            plan.append(("batch_norm", (b,)))
        plan.append(("activation", ()))
    return plan
