"""Loaded by schemathesis (SCHEMATHESIS_HOOKS) in the contract test.

The fuzzer reuses one generated Idempotency-Key for different requests. The service then
answers 422 (as draft-ietf-httpapi-idempotency-key-header requires) or replays the first
result, both correct but read by schemathesis as a rejected valid request or a vanished
resource. A fresh key per request keeps the header exercised without that confusion.
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
