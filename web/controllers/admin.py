"""Admin pages: the clinic tree with a bulk roster import, and the user list with account
creation."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path, PurePath
from typing import Any

from litestar import Controller, get, post
from litestar.datastructures import UploadFile
from litestar.response import Template

from training.accounts.models import Role, User
from training.accounts.services import AccountService, generate_password
from training.clinics.services import ClinicService, clinic_tree, read_roster
from training.errors import ConflictError, PermissionDeniedError, ValidationError
from web.deps import DbSession, SignedInUser
from web.errors import PAGE_ERRORS
from web.forms import FormData, MultipartData

ROSTER_LIMIT = 5 * 1024 * 1024  # a province's roster is a few hundred KB
DISPLAY_NAME_MAX = 200  # the column's length: PostgreSQL refuses a longer one with an error


def uploaded_name(filename: str) -> str:
    """The last part of an uploaded file's name, printable and short; "roster.csv" when
    nothing of it is usable (``..``, a bare path)."""
    name = PurePath(filename.replace("\\", "/")).name
    name = "".join(char for char in name if char.isprintable())[:100]
    return name if name.strip(". ") else "roster.csv"


def require_admin(user: User) -> User:
    if user.role is not Role.ADMIN:
        raise PermissionDeniedError("only admins manage clinics and users")
    return user


class AdminPages(Controller):
    path = "/admin"
    exception_handlers = PAGE_ERRORS

    @get("/clinics", name="admin_clinics", sync_to_thread=True)
    def clinics(self, session: DbSession, user: SignedInUser) -> Template:
        return self._clinics_page(session, require_admin(user), {})

    @post("/clinics", sync_to_thread=True, request_max_body_size=ROSTER_LIMIT)
    def import_roster(
        self, session: DbSession, user: SignedInUser, data: MultipartData
    ) -> Template:
        """Import a roster CSV: all of it, or (on a bad line) none of it."""
        require_admin(user)
        upload = data.get("roster")
        if not isinstance(upload, UploadFile) or not upload.filename:
            error = {"error": "Choose a roster file (CSV)."}
            return self._clinics_page(session, user, error, status_code=400)
        with tempfile.TemporaryDirectory() as folder:
            # Stored under a name of ours (an uploaded name may be "..", hold a NUL or be too
            # long for the file system); messages name the file as the admin knows it.
            path = Path(folder) / "roster.csv"
            path.write_bytes(upload.file.read())
            try:
                rows = read_roster(path, uploaded_name(upload.filename))
                summary = ClinicService(session).import_roster(rows)
            except ValidationError as exc:
                session.rollback()
                return self._clinics_page(session, user, {"error": str(exc)}, status_code=400)
        session.commit()
        return self._clinics_page(session, user, summary._asdict())

    def _clinics_page(
        self, session: DbSession, user: User, result: dict[str, Any], status_code: int = 200
    ) -> Template:
        clinics = ClinicService(session).all()
        return Template(
            "admin/clinics.html",
            context={
                "user": user,
                "tree": clinic_tree(clinics),
                "count": len(clinics),
                "levels": Counter(clinic.level.value for clinic in clinics),
                "result": result,
            },
            status_code=status_code,
        )

    @get("/users", name="admin_users", sync_to_thread=True)
    def users(self, session: DbSession, user: SignedInUser) -> Template:
        return self._users_page(session, require_admin(user), {}, {})

    @post("/users", sync_to_thread=True)
    def create_user(self, session: DbSession, user: SignedInUser, data: FormData) -> Template:
        """Create an account; a password left empty is generated and shown once."""
        require_admin(user)
        values = {key: str(value).strip() for key, value in data.items() if key != "_csrf_token"}
        password = values.get("password") or generate_password()
        try:
            created = self._create(session, values, password)
            session.commit()
        except (ValidationError, ConflictError) as exc:
            session.rollback()
            return self._users_page(session, user, values, {"error": str(exc)}, status_code=400)
        result = {
            "created": created.username,
            "password": password if not values.get("password") else None,
        }
        return self._users_page(session, user, {}, result)

    @staticmethod
    def _create(session: DbSession, values: dict[str, str], password: str) -> User:
        if any("\x00" in value for value in values.values()):  # PostgreSQL stores no NUL
            raise ValidationError("a field holds a NUL character")
        if len(values.get("display_name", "")) > DISPLAY_NAME_MAX:
            raise ValidationError(f"a display name has at most {DISPLAY_NAME_MAX} characters")
        try:
            role = Role(values.get("role", ""))
        except ValueError:
            raise ValidationError("choose a role") from None
        locale = values.get("locale", "")
        clinic = None
        if values.get("region_code"):
            clinic = ClinicService(session).by_region_code(values["region_code"])
            if clinic is None:
                raise ValidationError(f"no clinic has the region code {values['region_code']}")
        return AccountService(session).create(
            values.get("username", ""),
            password,
            role,
            display_name=values.get("display_name") or None,
            clinic=clinic,
            locale=locale if locale in ("zh-CN", "en") else "zh-CN",
        )

    def _users_page(
        self,
        session: DbSession,
        user: User,
        values: dict[str, str],
        result: dict[str, Any],
        status_code: int = 200,
    ) -> Template:
        users = AccountService(session).list()
        clinics = ClinicService(session)
        clinic_names = {
            account.clinic_id: clinics.get(account.clinic_id).name
            for account in users
            if account.clinic_id is not None
        }
        return Template(
            "admin/users.html",
            context={
                "user": user,
                "users": users,
                "clinic_names": clinic_names,
                "roles": [role.value for role in Role],
                "values": values,
                "result": result,
            },
            status_code=status_code,
        )
