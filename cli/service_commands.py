"""``descent serve``, ``worker`` and ``submit``: registered here, implemented by the service."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add the service's subcommands (filled in by the service issue)."""
