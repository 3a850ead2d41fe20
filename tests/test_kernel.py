"""The extension in a real Jupyter kernel, as a notebook uses it."""

from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel

TIMEOUT = 60


@pytest.fixture(scope="module")
def kernel() -> Iterator[Any]:
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=TIMEOUT)
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def execute(client: Any, code: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run code; return the reply content and the iopub messages of this execution."""
    msg_id = client.execute(code)
    outputs = []
    while True:
        msg = client.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
        outputs.append(msg)
    # The shell channel may still hold replies to earlier requests: on a busy machine the
    # client's start-up sends kernel_info again each second until one is answered, and
    # every extra reply arrives later. Only the reply to this request counts.
    while True:
        reply = client.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"], outputs


def test_wtime_displays_an_html_table_in_the_notebook(kernel: Any) -> None:
    reply, outputs = execute(kernel, "%load_ext workbench\n%wtime -n 100 -r 3 sum(range(100))")
    assert reply["status"] == "ok"
    displays = [m["content"]["data"] for m in outputs if m["msg_type"] == "display_data"]
    assert len(displays) == 1
    assert '<table class="wb-table">' in displays[0]["text/html"]
    assert "3 runs x 100 loops" in displays[0]["text/plain"]


def test_a_failing_magic_fails_the_cell(kernel: Any) -> None:
    reply, _ = execute(kernel, "%load_ext workbench\n%wtime --baseline missing pass")
    assert reply["status"] == "error"
    assert reply["ename"] == "UsageError"
    reply, _ = execute(kernel, "%wtime -n 1 -r 1 1/0")
    assert reply["status"] == "error"
    assert reply["ename"] == "ZeroDivisionError"


def test_a_reply_to_an_earlier_request_is_not_taken_for_the_cells(kernel: Any) -> None:
    kernel.kernel_info()  # what a slow kernel start leaves behind: a reply nobody waited for
    reply, _ = execute(kernel, "%load_ext workbench\n%wtime --baseline missing pass")
    assert (reply["status"], reply["ename"]) == ("error", "UsageError")


def test_a_saved_notebook_keeps_the_final_progress_not_zero_percent() -> None:
    """The widget bar's text form (shown where widgets are not drawn) is the final count once the search ends."""
    import nbformat
    from nbclient import NotebookClient

    code = (
        "from workbench.parallel.progress import Progress\n"
        "bar = Progress()\n"
        "fits = [{'candidate': c, 'n_candidates': 3, 'n_splits': 2, 'test_scores': 0.5 + c / 10}\n"
        "        for c in range(3) for _ in range(2)]\n"
        "bar.begin(fits)\n"
        "bar.update(fits)\n"
        "bar.close()"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(notebook, timeout=TIMEOUT, kernel_name="python3").execute()
    (output,) = notebook.cells[0].outputs
    assert "application/vnd.jupyter.widget-view+json" in output["data"]  # a live widget in the notebook
    text = output["data"]["text/plain"]
    assert "6/6" in text and "100%" in text and "best=0.7" in text
    assert " 0%" not in text
