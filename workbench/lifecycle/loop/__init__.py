"""The closed loop: retrain on new data, drift, a live decline or a schedule; judge the retrained
version with the acceptance gates; challenge production with it; decide from live evidence
whether to promote it or retire it.

Policies are ``[tool.workbench.loop.NAME]`` tables (:mod:`.policy`); ``workbench loop`` runs
:class:`Loop` (:mod:`.engine`); the state, every trigger and action with its evidence, and
who acts on a model live in the storage's loop store, so a killed loop resumes where it was.
The online decision uses always-valid confidence sequences (:mod:`.sequential`).
"""

from workbench.lifecycle.loop.control import pause, request, resume
from workbench.lifecycle.loop.engine import Loop
from workbench.lifecycle.loop.policy import Policy, load_policies
from workbench.lifecycle.loop.status import LoopStatus, status

__all__ = ["Loop", "LoopStatus", "Policy", "load_policies", "pause", "request", "resume", "status"]
