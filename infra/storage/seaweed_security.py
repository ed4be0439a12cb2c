"""The embedded SeaweedFS's ``security.toml``: only the S3 gateway, with its credentials, gets
at the objects.

Its master, volume and filer listen on loopback, which anyone on the machine reaches. The file
(in the server's data directory, its working directory; ``weed`` reads ``./security.toml``
before the one in the user's home or ``/etc/seaweedfs``) sets

- JWT signing keys for the volume server's and the filer's HTTP reads and writes: a request
  without a token signed with them is refused (the S3 gateway signs its own);
- mutual TLS on every gRPC port: the components present a certificate of a private CA to each
  other; a client without one (``weed shell`` run elsewhere, any gRPC tool) is refused;
- no volume UI and no directory listings from the filer.

Keys, the CA and the certificate are made once per data directory (0600) and kept, so a
restarted server accepts what it signed before.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import tomllib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SECURITY_FILE = "security.toml"
TLS_FOLDER = "tls"
SIGNING_SECTIONS = (
    "jwt.signing",
    "jwt.signing.read",
    "jwt.filer_signing",
    "jwt.filer_signing.read",
)
"""Volume writes and reads, filer writes and reads: each needs a JWT signed with its own key."""
GRPC_ROLES = ("master", "volume", "filer", "s3", "client", "admin", "worker")
"""Every component of ``weed server``, and ``client`` for when one dials another."""
_VALID = dt.timedelta(days=3650)


def write_security_config(data_dir: Path) -> Path:
    """Write ``data_dir/security.toml`` (and the TLS files it names), keeping existing keys."""
    path = data_dir / SECURITY_FILE
    keys = _existing_keys(path)
    ca, cert, key = _tls_files(data_dir / TLS_FOLDER)
    lines = ["# Written by Clinicast: only the S3 gateway, which signs its requests, gets in.", ""]
    for section in SIGNING_SECTIONS:
        signing_key = keys.get(section) or secrets.token_urlsafe(32)
        lines += [f"[{section}]", f'key = "{signing_key}"', "expires_after_seconds = 10", ""]
    lines += ["[access]", "ui = false", "", "[filer.expose_directory_metadata]", "enabled = false"]
    lines += ["", "[grpc]", f'ca = "{ca}"']
    for role in GRPC_ROLES:
        lines += ["", f"[grpc.{role}]", f'cert = "{cert}"', f'key = "{key}"']
    partial = path.with_suffix(".partial")
    partial.write_text("\n".join(lines) + "\n")
    partial.chmod(0o600)
    partial.replace(path)
    return path


def _existing_keys(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        parsed = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    keys = {}
    for section in SIGNING_SECTIONS:
        node: object = parsed
        for part in section.split("."):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        key = node.get("key") if isinstance(node, dict) else None
        if isinstance(key, str) and len(key) >= 32:
            keys[section] = key
    return keys


def _tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and one certificate (server and client) signed by it, made once."""
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    if ca_path.exists() and cert_path.exists() and key_path.exists():
        return ca_path, cert_path, key_path
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clinicast seaweedfs CA")])
    ca = (
        _certificate(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clinicast seaweedfs")])
    usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    local = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        _certificate(name, ca_name, key.public_key(), now)
        .add_extension(x509.SubjectAlternativeName(local), critical=False)
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for path, data in (
        (key_path, private),
        (cert_path, cert.public_bytes(serialization.Encoding.PEM)),
        (ca_path, ca.public_bytes(serialization.Encoding.PEM)),  # last: marks the set complete
    ):
        partial = path.with_suffix(".partial")
        partial.write_bytes(data)
        partial.chmod(0o600)
        partial.replace(path)
    return ca_path, cert_path, key_path


def _certificate(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + _VALID)
    )
