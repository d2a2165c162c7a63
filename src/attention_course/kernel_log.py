"""The log filter for the Jupyter kernels that build and test the book.

ipykernel 7.4 logs one warning each time a kernel starts over TCP without CurveZMQ keys
(``[IPKernelApp] WARNING | Kernel is running over TCP without encryption. ...``) to the stderr
it shares with the process that started it. The book build starts kernels through myst-nb,
jupyter-cache and nbclient, which keep jupyter_client's default ``transport_encryption=
"disabled"`` and offer no setting to change it, so every chapter of a build printed the warning
(``tools/time_chapters.py`` too), and a reader takes it for an error. The kernel and its client
talk over the loopback interface of one machine.

``tasks.sh setup`` writes ``.venv/etc/ipython/ipython_kernel_config.py`` (IPython reads its
environment's ``etc/ipython``), which sets :func:`kernel_logging_config` as the kernel
application's ``logging_config``: :class:`PlaintextTransportFilter` on its stderr handler drops
that one message; every other kernel log line, and everything a cell writes, still shows. A
kernel that cannot import this package keeps the default logging.
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
    """The kernel application's ``logging_config`` (``c.IPKernelApp.logging_config``).

    traitlets merges it into the application's default :func:`logging.config.dictConfig`
    dictionary, whose stderr handler is called ``console``.
    """
    name = f"{__name__}.{PlaintextTransportFilter.__name__}"
    return {
        "filters": {"plaintext_transport": {"()": name}},
        "handlers": {"console": {"filters": ["plaintext_transport"]}},
    }
