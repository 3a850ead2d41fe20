"""What every workbench ``Magics`` class needs from the shell it runs in."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics


class WorkbenchMagics(Magics):
    """A ``Magics`` base with the user namespace and safe lookups of names in it."""

    @property
    def user_ns(self) -> dict[str, Any]:
        """The namespace the notebook's code runs in."""
        if self.shell is None:
            raise UsageError("the workbench magics need a running IPython shell")
        namespace: dict[str, Any] = self.shell.user_ns
        return namespace

    def lookup(self, name: str, what: str = "variable") -> Any:
        """The notebook's ``name``, looked up (never evaluated as code)."""
        if not name.isidentifier() or name not in self.user_ns:
            raise UsageError(f"no {what} named {name!r} in the notebook")
        return self.user_ns[name]


__all__ = ["WorkbenchMagics"]
