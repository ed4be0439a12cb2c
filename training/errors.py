"""The domain's exceptions. ``web`` maps them to HTTP status codes in one place; the CLI prints
them as one line.

    ClinicastError
    ├── ConfigurationError        a setting is wrong or what it names is unreachable
    ├── NotFoundError
    │   ├── ClinicNotFound
    │   ├── UserNotFound
    │   ├── LectureNotFound
    │   ├── JobNotFound
    │   └── UploadNotFound        no multipart upload with that id is in progress
    ├── PermissionDeniedError
    │   └── NotInAudience
    ├── ValidationError           input that can never succeed (bad roster row, bad payload)
    │   └── InvalidMedia          an upload that is not usable media (empty, truncated, text)
    ├── ConflictError             the request clashes with what is stored (duplicate username)
    ├── StorageError              object storage failed (``FileNotFoundError`` is used for a
    │   ├── StorageUnavailable    missing object, as the standard library does);
    │   │                         also a TransientError
    │   ├── StorageAuthError
    │   ├── BucketMissing
    │   └── IntegrityError        a stored object does not match its checksum
    ├── SpeechError               speech-to-text failed (model missing, unverified, unreadable)
    └── TransientError            "not now" rather than "never": the job engine retries a job
                                  that raised it with backoff for a long while (an S3 restart,
                                  a network blip) without using up its attempts

Permanent errors (``ValidationError``, ``ConfigurationError``, ``StorageAuthError``,
``BucketMissing``) fail a job at once: retrying cannot fix bad input or bad settings.
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


class UploadNotFound(NotFoundError):
    """No multipart upload with that id is in progress: it was completed, aborted, or expired
    by the bucket's lifecycle rule (S3's ``NoSuchUpload``)."""


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


class TransientError(ClinicastError):
    """A failure that time may cure: a service restarting, unreachable or overloaded."""


class StorageError(ClinicastError):
    """Object storage failed."""


class StorageUnavailable(StorageError, TransientError):
    """The object store cannot be reached, or answered that it is overloaded or failing (5xx,
    throttling)."""


class StorageAuthError(StorageError):
    """The object store refused our credentials or our access."""


class BucketMissing(StorageError):
    """The configured bucket does not exist (``clinicast storage init`` creates it)."""


class IntegrityError(StorageError):
    """A stored object does not match the checksum recorded when it was written."""


class SpeechError(ClinicastError):
    """Speech-to-text failed: the model is missing or unverified, or the audio is unreadable."""


PERMANENT_ERRORS: tuple[type[ClinicastError], ...] = (
    ValidationError,
    ConfigurationError,
    StorageAuthError,
    BucketMissing,
)
"""Errors no retry can cure: a job that raises one fails at once, with the error kept."""
