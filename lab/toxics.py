"""What the lab knows about toxics, learnt from faultproxy itself (never copied here).

The one place lab/ imports faultproxy's toxic vocabulary: the valid types, the default
stream and the name the API gives a toxic created without one.
"""

from __future__ import annotations

from services.faultproxy.core.toxic_types import (
    DEFAULT_STREAM,
    STREAMS,
    default_toxic_name,
    toxic_type_names,
)

__all__ = ["DEFAULT_STREAM", "STREAMS", "default_toxic_name", "toxic_type_names"]
