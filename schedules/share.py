"""A design as a short URL-safe token (the app's shareable ``?design=`` link).

The token is ``base64url(zlib(canonical JSON))`` without padding, so a link carries the whole
design and needs no server-side storage.  Decoding is bounded (a token or its inflated JSON larger
than the limits is refused) and validates like any upload, raising
:class:`~schedules.design.problems.ConfigError` with the usual field-path lines.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any

from .build import load_config, parse_config_json
from .design import ConfigError, Problem, ScheduleConfig

#: Longest token accepted or produced (URLs beyond a few KB are unreliable in browsers and proxies).
MAX_TOKEN_CHARS = 8000
#: Largest JSON a token may inflate to.
MAX_JSON_BYTES = 1_000_000


def encode_design(config: ScheduleConfig | dict[str, Any] | str) -> str:
    """The token for a config (canonical JSON, so equal configs give equal tokens)."""
    key = load_config(config).cache_key().encode("utf-8")
    return base64.urlsafe_b64encode(zlib.compress(key, 9)).decode("ascii").rstrip("=")


def fits_in_link(token: str) -> bool:
    return len(token) <= MAX_TOKEN_CHARS


def decode_design(token: str) -> ScheduleConfig:
    """The config a token encodes; ConfigError (path ``design``) when it is not a valid token."""
    if len(token) > MAX_TOKEN_CHARS:
        raise ConfigError(
            Problem("design", f"must be at most {MAX_TOKEN_CHARS} characters", f"{len(token)} characters")
        )
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        inflater = zlib.decompressobj()
        text = inflater.decompress(raw, MAX_JSON_BYTES)
        if inflater.unconsumed_tail:
            raise ConfigError(
                Problem("design", f"must inflate to at most {MAX_JSON_BYTES} bytes", None, has_value=False)
            )
    except (binascii.Error, zlib.error, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(
            Problem("design", "is not a design link token (base64url of zlib JSON)", token[:40])
        ) from None
    try:
        return parse_config_json(text)
    except ConfigError as exc:  # name the link, not a "(file)" the user never had
        raise ConfigError(
            [
                Problem("design", p.allowed, p.got, p.has_value) if p.path in ("(file)", "(config)") else p
                for p in exc.problems
            ]
        ) from None
