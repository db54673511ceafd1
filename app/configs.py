"""The config of a design's JSON text, validated once.

The Designer's one rerun asks for the current design's config from the page, the link, the curve
cache, the stack and the exports, each by the design's JSON text (the caches are keyed on text).
:func:`config_of` validates, checks buildable and plans a text once; :func:`key_of` hands a cache the
key of a config it already has, so the cache gets that same config back.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from schedules.build import load_config
from schedules.design import ScheduleConfig

#: Designs kept validated (with their plan): the Designer's one rerun asks for the current design's
#: config from the page, the link, the curve cache and the stack, all by its JSON text.
CONFIG_ENTRIES = 64
_CONFIGS: OrderedDict[str, ScheduleConfig] = OrderedDict()
_CONFIGS_LOCK = threading.Lock()


def config_of(text: str) -> ScheduleConfig:
    """``load_config(text)`` once per text (a small LRU shared by the sessions): the design is
    validated, checked buildable and planned once, and that one config is passed down.  Configs are
    not changed after validation anywhere in the studio, so sharing one is safe; a refusal
    (ConfigError) is not kept."""
    with _CONFIGS_LOCK:
        cfg = _CONFIGS.get(text)
        if cfg is not None:
            _CONFIGS.move_to_end(text)
            return cfg
    cfg = load_config(text)
    remember_config(text, cfg)
    return cfg


def key_of(cfg: ScheduleConfig) -> str:
    """``cfg.cache_key()``, remembered as the key of ``cfg``: a cache computing from the key gets
    this config back from :func:`config_of` instead of validating it again."""
    text = cfg.cache_key()
    remember_config(text, cfg)
    return text


def remember_config(text: str, cfg: ScheduleConfig) -> None:
    """Keep ``cfg`` as the config of ``text`` (its ``to_json()`` or ``cache_key()``)."""
    with _CONFIGS_LOCK:
        _CONFIGS[text] = cfg
        _CONFIGS.move_to_end(text)
        while len(_CONFIGS) > CONFIG_ENTRIES:
            _CONFIGS.popitem(last=False)
