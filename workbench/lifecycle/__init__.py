"""Lifecycle steps above the domain packages: promotion through the acceptance gates (and, as
they come, the loop and the scheduler). Arrows point down: nothing below imports this."""

from workbench.lifecycle.promotion import PromotionResult, promote, register

__all__ = ["PromotionResult", "promote", "register"]
