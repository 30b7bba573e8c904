"""The one base class of errors a person is meant to read.

Handlers do not catch these: the app's error handler turns any of them into a
private message to whoever asked (or the slash command's answer), in one place.
"""
from __future__ import annotations


class UserFacingError(Exception):
    """Something a person asked for cannot happen; the message says why, in words for them."""
