"""``wb.datamart``: named, content-versioned datasets stored as Arrow IPC, opened in
milliseconds from memory-mapped local files or a Redis store with a local cache.

::

    v = wb.datamart.put("churn", frame, description="raw export, 2026-11")
    frame = wb.datamart.get("churn")                 # newest version, as pandas
    table = wb.datamart.get("churn", v.version, as_="arrow")
    wb.datamart.list(); wb.datamart.versions("churn"); wb.datamart.delete("churn", v.version)
"""

from workbench.datamart.api import datasets_read, delete, get, info, put, versions
from workbench.datamart.api import list_datasets as list
from workbench.datamart.version import Datasets
from workbench.storage.datamart_records import DatasetVersion

__all__ = ["DatasetVersion", "Datasets", "datasets_read", "delete", "get", "info", "list", "put", "versions"]
