"""Test set-up: stage changes recorded directly, as a fixture's history (the gates have their own tests)."""

from __future__ import annotations

from workbench.registry import ModelVersion, Registry


def in_production(registry: Registry, version: ModelVersion) -> ModelVersion:
    """``version``, moved to production without running gates."""
    return registry.record_stage(version.name, version.version, "production")


__all__ = ["in_production"]
