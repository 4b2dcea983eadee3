"""pyzes placeholder (being written)."""
from ._abi import *  # noqa: F403
