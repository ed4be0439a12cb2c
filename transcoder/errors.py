"""The transcoder's exceptions. Every one carries a one-line human message (``str(error)``).

TranscoderError
├── ProbeError               the source could not be read at all (missing, unreadable)
│   └── InvalidMediaError    it was read, but it is not usable media: empty, truncated,
│                            not media, no audio or video stream
├── PlanError                no ladder can be planned for these options
└── TranscodeError           ffmpeg failed; carries the command, return code, stderr tail
    ├── TranscodeCancelledError   the caller's cancel event was set
    └── TranscodeTimeoutError    the wall-time limit passed
"""

from __future__ import annotations

from collections.abc import Sequence


class TranscoderError(Exception):
    """Base class of every error this package raises."""


class ProbeError(TranscoderError):
    """The source could not be read."""


class InvalidMediaError(ProbeError):
    """The source is not usable media (empty, truncated, not media, no audio or video)."""


class PlanError(TranscoderError):
    """No ladder can be planned (e.g. ``max_height`` below every rung)."""


class TranscodeError(TranscoderError):
    """ffmpeg exited with an error. ``stderr_tail`` is the last lines it wrote."""

    def __init__(
        self, cmd: Sequence[str], returncode: int | None, stderr_tail: str, reason: str = ""
    ) -> None:
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        last_line = next((line for line in reversed(stderr_tail.splitlines()) if line), "")
        message = reason or f"ffmpeg exited with status {returncode}"
        super().__init__(f"{message}: {last_line}" if last_line else message)


class TranscodeCancelledError(TranscodeError):
    """The transcode was cancelled; ffmpeg and its process group were killed."""


class TranscodeTimeoutError(TranscodeError):
    """The transcode ran past its wall-time limit; ffmpeg and its process group were killed."""
