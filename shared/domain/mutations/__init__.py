"""Every mutation the suite knows, registered by importing its module; ``REGISTRY`` maps names to specs."""

from __future__ import annotations

from shared.domain.mutations import (  # noqa: F401  (registration by import)
    delivery,
    emr,
    patient,
    pharmacy,
    printing,
    queue,
    reference,
    rx,
    staff,
    stock,
    visit,
)
from shared.domain.mutations.base import (
    REGISTRY,
    Effect,
    MutationContext,
    MutationSpec,
    Rejected,
    StateReader,
)

__all__ = ["REGISTRY", "Effect", "MutationContext", "MutationSpec", "Rejected", "StateReader"]
