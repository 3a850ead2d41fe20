"""The live dashboard: models by stage with offline, gate and live figures, runs and schedules.

``workbench dashboard`` serves it alone; ``workbench serve`` mounts it at ``/dashboard``;
``%dashboard`` shows the same summary in a notebook. See ``docs/dashboard.md``.
"""
