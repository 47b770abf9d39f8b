"""Schemathesis hooks for Armada's contract run.

Every command needs an Idempotency-Key, and the same key with another request is a
documented 422 (IDEMPOTENCY_KEY_REUSED). A well-behaved client sends a fresh key per new
request, so each generated request with a well-formed key gets a fresh one; a malformed key
(the negative phases') is left as generated.
"""
import uuid

import schemathesis


@schemathesis.hook
def before_call(context, case, **kwargs):
    meta = getattr(case, "meta", None)
    if meta is not None and not meta.generation.mode.is_positive:
        return
    headers = case.headers
    if headers and "Idempotency-Key" in headers:
        value = headers["Idempotency-Key"]
        if isinstance(value, str) and 1 <= len(value) <= 200:
            headers["Idempotency-Key"] = str(uuid.uuid4())
