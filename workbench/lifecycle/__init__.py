"""Lifecycle steps above the domain packages: promotion through the acceptance gates, and the
loop (:mod:`workbench.lifecycle.loop`) that retrains, challenges and decides. Arrows point
down: nothing below imports this."""

from workbench.lifecycle.promotion import PromotionResult, promote, register

__all__ = ["PromotionResult", "promote", "register"]
