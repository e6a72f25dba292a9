"""The logger type kopf hands to handlers (a plain logger or kopf's object-bound adapter)."""

from __future__ import annotations

import logging
from typing import Any

Logger = logging.Logger | logging.LoggerAdapter[Any]
