"""Serving: production models (and an A/B challenger) over HTTP, hot-swapped on promotion, with a
store-backed prediction log for feedback, live metrics and drift.

``workbench serve`` (:mod:`workbench.serving.server`) runs the app of
:mod:`workbench.serving.app` over a :class:`~workbench.serving.factory.ModelFactory`, with the
apps of the ``workbench.mounts`` entry points (the dashboard) beside it, and with
``--thrift-port`` the Thrift service of :mod:`workbench.serving.thrift_server` on the same models.
Nothing here is imported by ``import workbench``; FastAPI loads only when serving.
"""
