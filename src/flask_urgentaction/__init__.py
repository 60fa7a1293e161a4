"""flask-urgentaction: urgent action campaigns for Flask."""

from __future__ import annotations

from .extension import UrgentAction

__all__ = ["UrgentAction"]
