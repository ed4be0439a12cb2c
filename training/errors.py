"""The domain's exceptions. ``web`` maps them to HTTP status codes in one place; the CLI prints
them as one line.

    ClinicastError
    ├── ConfigurationError        a setting is wrong or what it names is unreachable
    ├── NotFoundError
    │   ├── ClinicNotFound
    │   ├── UserNotFound
    │   ├── LectureNotFound
    │   └── JobNotFound
    ├── PermissionDeniedError
    │   └── NotInAudience
    ├── ValidationError           input that can never succeed (bad roster row, bad payload)
    │   └── InvalidMedia          an upload that is not usable media (empty, truncated, text)
    ├── ConflictError             the request clashes with what is stored (duplicate username)
    ├── StorageError              object storage failed (``FileNotFoundError`` is used for a
    │   ├── StorageUnavailable    missing object, as the standard library does)
    │   ├── StorageAuthError
    │   └── IntegrityError        a stored object does not match its checksum
    └── SpeechError               speech-to-text failed (model missing, unverified, unreadable)
"""

from __future__ import annotations


class ClinicastError(Exception):
    """Base of every error the domain raises on purpose."""


class ConfigurationError(ClinicastError):
    """A setting is wrong, or what it points at cannot be reached.

    ``setting`` names the environment variable, so the one line the CLI prints tells the
    operator exactly what to change.
    """

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{message} (setting: {setting})")
        self.setting = setting
        self.detail = message


class NotFoundError(ClinicastError):
    """Something asked for by id does not exist."""


class ClinicNotFound(NotFoundError):
    pass


class UserNotFound(NotFoundError):
    pass


class LectureNotFound(NotFoundError):
    pass


class JobNotFound(NotFoundError):
    pass


class PermissionDeniedError(ClinicastError):
    """The user may not do this."""


class NotInAudience(PermissionDeniedError):
    """The user's clinic is not in the lecture's audience."""


class ValidationError(ClinicastError):
    """Input that can never succeed as given."""


class InvalidMedia(ValidationError):
    """A recording that cannot be used: not media, truncated, empty, no usable stream."""


class ConflictError(ClinicastError):
    """The request clashes with what is stored."""


class StorageError(ClinicastError):
    """Object storage failed."""


class StorageUnavailable(StorageError):
    """The object store cannot be reached."""


class StorageAuthError(StorageError):
    """The object store refused our credentials or our access."""


class IntegrityError(StorageError):
    """A stored object does not match the checksum recorded when it was written."""


class SpeechError(ClinicastError):
    """Speech-to-text failed: the model is missing or unverified, or the audio is unreadable."""
