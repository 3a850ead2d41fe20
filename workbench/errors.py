"""The one exception hierarchy of workbench.

Every error says what to do next. Each class keeps its structured fields as
attributes and pickles (errors cross process and ipyparallel engine boundaries).

::

    WorkbenchError
    ├── ConfigError            settings that cannot be read or make no sense
    ├── PluginNotFoundError    a timer/format/store name that no installed package provides
    ├── InvalidNameError       a user-supplied name that is unsafe as a key or a path part
    ├── TimingError            a statement that cannot be measured
    ├── BaselineNotFoundError  a performance baseline that was never saved
    ├── PerformanceRegression  a measurement slower than its baseline beyond the tolerance
    ├── MissingDependencyError an optional dependency that is not installed
    ├── StorageError           a store that cannot be used: unknown backend, data of a newer schema,
    │   │                      a backend lacking a kind of store, an operation the backend refused
    │   ├── StorageUnavailableError  a store that cannot be reached, or did not answer in time
    │   └── StorageConflictError     a conditional write refused: the record changed since it was read
    │       └── LeaseLostError       this process no longer holds the lease it writes under
    └── RegistryError          the model registry refused or failed an operation
        ├── ModelNotFoundError     no such model, version or stage
        ├── InvalidMetadataError   metrics, params or tags that cannot be stored
        ├── IntegrityError         an artifact whose bytes do not match its recorded hash
        ├── UnsafeModelError       an artifact that would run untrusted code on load
        └── StageError             an unknown stage or a promotion that cannot happen
    AcceptanceError            acceptance gates that cannot be read or run
    ├── HoldoutError           a holdout dataset that cannot be loaded, or whose pinned hash changed
    └── GateFailedError        a model version below its gates (model, version, failures)
    ClusterError               an ipyparallel cluster that cannot be started, reached or used
    ├── NoEnginesError         no engine left to run tasks (kept: the fits that finished)
    └── SearchFailedError      fits lost to dead engines beyond the retries (kept: finished, lost)
    RemoteTaskError            an exception raised inside a task on an engine (engine id, traceback)
    CythonizeError             a function that %cythonize cannot turn into verified Cython
    ├── UnsupportedConstructError  a construct it cannot compile (line, reason); Python kept
    ├── CompileError           Cython or the C compiler failed (their output)
    └── EquivalenceError       compiled and Python results differ (input, both outputs)
    LoopError                  a loop policy action that cannot be carried out (no challenger, a memory store)
    JobError                   a notebook job that cannot start or did not succeed
    ├── BadParametersError     parameters refused before a kernel starts (exit code 3)
    ├── RunFailedError         a run that failed: reason cell_error (4), kernel_died (5), timeout (6),
    │                          exited (7), kernel_unavailable (8), engine_lost (9: its cluster engine died)
    ├── RunCancelledError      a run stopped by SIGINT (exit code 130) or SIGTERM (143)
    ├── KernelUnavailableError a kernel that does not exist or never started (exit code 8)
    ├── RunNotFoundError       no run with that id
    └── ScheduleError          a schedule that cannot be added, found or run
    DatamartError              a dataset that cannot be stored or read (bad input, damaged bytes)
    └── DatasetNotFoundError   no dataset of that name, or no such version of it
    FeatureError               data or options the feature toolkit cannot rank or select with
    ServingError               a request the prediction server refuses (``status``: its HTTP code)
    ├── BadInputError          a body that is not the JSON a route expects (400, 415 or 422)
    ├── PayloadTooLargeError   a body or a row count beyond the server's limits (413)
    ├── ModelNotServedError    a model name the server does not serve (404)
    └── UnauthorizedError      a write route called without the server's token (401)
    ServerCheckError           a started server that did not listen, become healthy, answer or stop in time

A ``WorkbenchError`` may carry ``exit_code``, which the ``workbench`` command exits with.
"""

from __future__ import annotations

from typing import Any, ClassVar


class WorkbenchError(Exception):
    """Root of every error raised by workbench.

    ``message`` says what went wrong, ``hint`` what to do about it. Subclasses add
    structured fields; all of them are keyword arguments so the error pickles.
    """

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint
        self.fields = fields
        for key, value in fields.items():
            setattr(self, key, value)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.hint, self.fields))


def _rebuild(cls: type[WorkbenchError], message: str, hint: str, fields: dict[str, Any]) -> WorkbenchError:
    return cls(message, hint=hint, **fields)


class ConfigError(WorkbenchError):
    """Settings that cannot be read or make no sense."""

    hint = "check the WORKBENCH_* environment variables and [tool.workbench] in pyproject.toml"


class PluginNotFoundError(WorkbenchError, LookupError):
    """No installed package provides a plugin of that name."""


class InvalidNameError(WorkbenchError, ValueError):
    """A name that cannot be used as a key or a file name."""

    hint = "use letters, digits, '-', '_' and '.', starting with a letter or digit, at most 128 characters"


class TimingError(WorkbenchError):
    """A statement that cannot be measured (for example, it does not compile)."""


class BaselineNotFoundError(WorkbenchError, LookupError):
    """A performance baseline that was never saved."""


class PerformanceRegression(WorkbenchError):
    """A measurement slower than its saved baseline beyond the tolerance."""

    hint = "find what made it slower, or save a new baseline with --save-baseline if the change is intended"


class MissingDependencyError(WorkbenchError, ImportError):
    """An optional dependency that is not installed."""


class RegistryError(WorkbenchError):
    """The model registry refused or failed an operation."""


class ModelNotFoundError(RegistryError, LookupError):
    """No model of that name, or no such version or stage of it."""

    hint = "list what exists with `workbench models NAME` or wb.model_versions(name)"


class InvalidMetadataError(RegistryError, ValueError):
    """Metrics, params or tags that cannot be stored as plain JSON."""

    hint = "metrics must be numbers, tags strings, params JSON values (numbers, strings, lists, dicts)"


class IntegrityError(RegistryError):
    """An artifact whose bytes do not match the SHA-256 recorded with its version."""

    hint = "the artifact was altered or damaged after registration; register the model again from its source"


class UnsafeModelError(RegistryError):
    """An artifact that would import or run code nobody trusted when it was registered."""

    hint = "load only models from sources you trust; never widen the trusted list to make this go away"


class StageError(RegistryError, ValueError):
    """An unknown stage, or a promotion or rollback that cannot happen."""

    hint = "stages are dev, staging, production and archived"


class StorageError(WorkbenchError):
    """A store that cannot be used: an unknown backend, data written by a newer workbench, a
    backend that lacks a kind of store, or an operation the backend refused. Every backend's
    own errors (SQLite, Redis, the file system) arrive translated into this branch."""


class StorageUnavailableError(StorageError):
    """A store that cannot be reached, or did not answer within its timeout."""

    hint = "check that the store is running and reachable (WORKBENCH_STORE), then retry"


class StorageConflictError(StorageError):
    """A conditional write refused because another process wrote the record since it was read."""

    hint = "read it again and retry; nothing was written"


class LeaseLostError(StorageConflictError):
    """A write under a lease that this process no longer holds (it expired, another process took it)."""

    hint = "another process acts on this now; nothing was written"


# the names of workbench 0.1, when the store errors sat under RegistryError; kept for one release
StoreError = StorageError
StoreUnavailableError = StorageUnavailableError


class AcceptanceError(WorkbenchError):
    """Acceptance gates that cannot be read or run: bad ``[tool.workbench.acceptance]`` config."""

    hint = "check [tool.workbench.acceptance] in pyproject.toml (docs/acceptance.md lists the keys)"


class HoldoutError(AcceptanceError):
    """A holdout dataset that cannot be loaded, or that no longer matches its pinned SHA-256."""

    hint = "check the holdout source; if the data changed on purpose, pin the new holdout_sha256"


class GateFailedError(AcceptanceError):
    """A model version below its acceptance gates; ``failures`` lists each failed criterion as text."""

    hint = "improve the model, or promote anyway with --force (force=True), which is recorded in the history"


class ClusterError(WorkbenchError):
    """An ipyparallel cluster that cannot be started, reached or used."""

    hint = "start one with %cluster start or wb.parallel.Cluster.start(), or check its connection file"


class NoEnginesError(ClusterError):
    """No engine is left to run the remaining tasks.

    ``finished`` lists the fits that completed before the engines were lost and
    ``lost`` those that did not, each as a dict (``candidate``, ``split``, ``params``).
    """

    hint = "restart the cluster with %cluster stop and %cluster start, then run the search again"


class SearchFailedError(ClusterError):
    """Fits whose engines died more often than ``retries`` allows.

    ``finished`` and ``lost`` are lists of fits, as in :class:`NoEnginesError`.
    """

    hint = "look at the engines' memory (%cluster status); raise retries= or use fewer, bigger engines"


class RemoteTaskError(WorkbenchError):
    """An exception raised inside a task on an engine.

    ``engine_id``, ``ename``, ``evalue`` and ``remote_traceback`` come from the engine;
    ``fits`` names the fits of the failed task.
    """

    hint = "the traceback above comes from the engine; reproduce the failing fit locally with those params"


class CythonizeError(WorkbenchError):
    """A function that cannot be turned into verified, compiled Cython; the Python one stays."""

    hint = "keep using the Python function, or simplify it and run %cythonize again"


class UnsupportedConstructError(CythonizeError):
    """A construct %cythonize cannot compile; ``line`` (in the function's source) and ``reason``."""

    hint = "rewrite that line or keep the function in Python; the Python version stays in place"


class CompileError(CythonizeError):
    """Cython or the C compiler rejected the generated module; ``output`` holds their messages."""

    hint = "read the compiler output above; report the function if the generated code is at fault"


class EquivalenceError(CythonizeError):
    """The compiled function gave a different result; ``case`` names the input, ``expected``
    and ``actual`` are the Python and the compiled outputs (as text)."""

    hint = "the Python version stays in place; fix the difference or keep the function in Python"

class LoopError(WorkbenchError):
    """A loop action that cannot be carried out: no challenger to decide on, no policy for the
    model, a store other processes cannot share."""

    hint = "workbench loop status MODEL shows where the model's loop stands (docs/loop.md)"


class JobError(WorkbenchError):
    """A notebook job that cannot start or did not succeed."""

    exit_code = 1


class BadParametersError(JobError, ValueError):
    """Parameters refused before a kernel starts."""

    exit_code = 3
    hint = "parameter names must be Python identifiers; values numbers, strings, booleans, None, lists or maps"


class RunFailedError(JobError):
    """A run that failed; ``reason`` is cell_error, kernel_died, timeout, exited,
    kernel_unavailable or engine_lost, ``run_id`` names it."""

    EXIT_CODES: ClassVar[dict[str, int]] = {
        "cell_error": 4,
        "kernel_died": 5,
        "timeout": 6,
        "exited": 7,
        "kernel_unavailable": 8,
        "engine_lost": 9,
    }

    def __init__(self, message: str, *, hint: str | None = None, **fields: Any) -> None:
        if hint is None and fields.get("run_id"):
            hint = f"the output notebook's path: workbench runs open {fields['run_id']}"
        super().__init__(message, hint=hint, **fields)
        self.exit_code = self.EXIT_CODES.get(str(fields.get("reason")), 1)


class RunCancelledError(JobError):
    """A run stopped by a signal; ``exit_code`` is 130 for SIGINT, 143 for SIGTERM."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = 1, **fields: Any) -> None:
        if hint is None and fields.get("run_id"):
            hint = f"the output notebook's path: workbench runs open {fields['run_id']}"
        super().__init__(message, hint=hint, exit_code=exit_code, **fields)


class KernelUnavailableError(JobError):
    """A Jupyter kernel that is not installed, or whose process could not start or answer."""

    exit_code = 8


class RunNotFoundError(JobError, LookupError):
    """No run with that id."""

    hint = "list runs with: workbench runs"


class ScheduleError(JobError):
    """A schedule that cannot be added, found or run."""


class DatamartError(WorkbenchError):
    """A dataset that cannot be stored or read: unsupported input, or bytes that do not match
    their recorded SHA-256."""

    hint = "help(wb.datamart) says what can be stored and how versions are kept"


class DatasetNotFoundError(DatamartError, LookupError):
    """No dataset of that name, or no such version of it; ``name`` and ``version`` say which."""

    hint = "list what exists with wb.datamart.list() or wb.datamart.versions(name), or %datamart"


class FeatureError(WorkbenchError, ValueError):
    """Data or options that ``wb.features`` cannot rank or select with (missing values, lengths
    that differ, a ``k`` out of range, an unknown method, labels that are not classes)."""

    hint = "help(wb.features.rank) and help(wb.features.select) say what they take"


class ServingError(WorkbenchError):
    """A request the prediction server refuses; ``status`` is the HTTP status it answers with."""

    status = 400


class BadInputError(ServingError, ValueError):
    """A body that is not what the route expects; the message names the expected shape."""

    status = 422
    hint = 'send {"instances": [[number, ...], ...]} or {"records": [{"feature": number, ...}, ...]}'


class PayloadTooLargeError(ServingError):
    """A body longer than ``--max-body`` bytes, or more rows than ``--max-rows``."""

    status = 413
    hint = "split the request into smaller ones, or start the server with a larger --max-body / --max-rows"


class ModelNotServedError(ServingError, LookupError):
    """A model name this server does not serve (unknown, or with no production version)."""

    status = 404
    hint = "GET /v1/models lists the served models; promote a version to production to serve it"


class UnauthorizedError(ServingError):
    """A write route called without the server's token, or with a wrong one."""

    status = 401
    hint = "send the header 'Authorization: Bearer TOKEN' with the token the server was started with"


class ServerCheckError(WorkbenchError):
    """A server started to be checked (``workbench demo``) that did not listen, become healthy,
    answer one request or stop in time; the message ends with what it printed."""

    hint = "run the same `workbench serve` command yourself to see it start, and check the model is in production"


__all__ = [
    "AcceptanceError",
    "BadInputError",
    "BadParametersError",
    "BaselineNotFoundError",
    "ClusterError",
    "CompileError",
    "ConfigError",
    "CythonizeError",
    "DatamartError",
    "DatasetNotFoundError",
    "EquivalenceError",
    "FeatureError",
    "GateFailedError",
    "HoldoutError",
    "IntegrityError",
    "InvalidMetadataError",
    "InvalidNameError",
    "JobError",
    "KernelUnavailableError",
    "LeaseLostError",
    "LoopError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "ModelNotServedError",
    "NoEnginesError",
    "PayloadTooLargeError",
    "PerformanceRegression",
    "PluginNotFoundError",
    "RegistryError",
    "RemoteTaskError",
    "RunCancelledError",
    "RunFailedError",
    "RunNotFoundError",
    "ScheduleError",
    "SearchFailedError",
    "ServerCheckError",
    "ServingError",
    "StageError",
    "StorageConflictError",
    "StorageError",
    "StorageUnavailableError",
    "StoreError",
    "StoreUnavailableError",
    "TimingError",
    "UnauthorizedError",
    "UnsafeModelError",
    "UnsupportedConstructError",
    "WorkbenchError",
]
