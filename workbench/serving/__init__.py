"""Serving: production models over HTTP, hot-swapped on promotion, with feedback and live metrics.

``workbench serve`` (:mod:`workbench.serving.server`) runs the app of
:mod:`workbench.serving.app` over a :class:`~workbench.serving.factory.ModelFactory`.
Nothing here is imported by ``import workbench``; FastAPI loads only when serving.
"""
