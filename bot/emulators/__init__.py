"""Local HTTP emulators of the Slack Web API and the X API v2, used by the tests and by `socialdesk demo`."""

from bot.emulators.http import EmulatorServer, Request
from bot.emulators.slack import SlackEmulator
from bot.emulators.x import XEmulator

__all__ = ["EmulatorServer", "Request", "SlackEmulator", "XEmulator"]
