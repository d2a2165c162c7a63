"""The log filter for the Jupyter kernels that build and test the book.

ipykernel 7.4 logs one warning each time a kernel starts over TCP without CurveZMQ keys
(``[IPKernelApp] WARNING | Kernel is running over TCP without encryption. ...``). The clients
that start our kernels (myst-nb's execution through jupyter-cache and nbclient, nbval, the grader)
use jupyter_client's default, ``transport_encryption="disabled"``, and offer no setting to change
it, so every chapter of a book build printed the warning, which a reader takes for an error. The
kernel talks to a client on the same machine over the loopback interface.

``tasks.sh setup`` writes ``.venv/etc/ipython/ipython_kernel_config.json``, which adds
:class:`PlaintextTransportFilter` to the kernel application's log handler: that one message is
dropped, and every other kernel log line (and everything a cell writes) still shows.
"""

from __future__ import annotations

import logging

PLAINTEXT_TRANSPORT_WARNING = "Kernel is running over TCP without encryption."


class PlaintextTransportFilter(logging.Filter):
    """Drop ipykernel's "running over TCP without encryption" warning; keep every other record.

    Used by name in a logging configuration (``{"()": "attention_course.kernel_log.
    PlaintextTransportFilter"}``); ``filter`` returns ``False`` only for that message.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(PLAINTEXT_TRANSPORT_WARNING)


def kernel_logging_config() -> dict:
    """The ``ipython_kernel_config.json`` content that installs the filter.

    Merged by traitlets into the kernel application's default logging configuration, whose
    stderr handler is called ``console``.
    """
    name = f"{__name__}.{PlaintextTransportFilter.__name__}"
    return {
        "IPKernelApp": {
            "logging_config": {
                "filters": {"plaintext_transport": {"()": name}},
                "handlers": {"console": {"filters": ["plaintext_transport"]}},
            }
        }
    }
