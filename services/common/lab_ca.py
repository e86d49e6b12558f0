"""The lab CA: generated on first use, kept in the state folder, reused afterwards.

``ensure_ca(state_dir)`` returns the paths of the CA certificate (what a student passes
to ``ssl.create_default_context(cafile=...)``), the server certificate and its key. The
server certificate names localhost, 127.0.0.1, ::1 and the Compose service names, so the
same files work for the local and the docker backend.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import ServiceStartError

CA_DIR = "tls"
SERVER_NAMES = ("localhost", "rawhttp", "rawhttp-blocking", "restapi", "faultproxy", "udpstream")
SERVER_IPS = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class CaFiles:
    ca_cert: Path  # ca.pem: the file to trust
    server_cert: Path  # server.pem: leaf certificate followed by the CA
    server_key: Path  # server-key.pem (mode 0600)


def ca_files(state_dir: str | os.PathLike[str]) -> CaFiles:
    folder = Path(state_dir) / CA_DIR
    return CaFiles(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")


def ensure_ca(state_dir: str | os.PathLike[str]) -> CaFiles:
    """The lab CA and server certificate, generating them if any file is missing."""
    files = ca_files(state_dir)
    if all(p.is_file() for p in (files.ca_cert, files.server_cert, files.server_key)):
        return files
    try:
        from cryptography import x509  # noqa: F401  (checked here for a clear message)
    except ImportError:
        raise ServiceStartError(
            "the 'cryptography' package is missing, it generates the lab CA: "
            "run `.venv/bin/pip install cryptography` (or `make lab`)"
        ) from None
    try:
        files.ca_cert.parent.mkdir(parents=True, exist_ok=True)
        # Two processes starting together (rawhttp and `lab ca`) must not mix two CAs.
        with open(files.ca_cert.parent / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not all(p.is_file() for p in (files.ca_cert, files.server_cert, files.server_key)):
                _generate(files)
    except OSError as exc:
        raise ServiceStartError(
            f"cannot write the lab CA under {files.ca_cert.parent}: {exc.strerror or exc}"
        ) from None
    return files


def _generate(files: CaFiles) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    files.ca_cert.parent.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    # Backdated a day so a laptop with a slightly wrong clock still accepts it.
    not_before = now - dt.timedelta(days=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "wirelab"),
            x509.NameAttribute(NameOID.COMMON_NAME, "wirelab lab CA"),
        ]
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in SERVER_NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVER_IPS]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Written key first and atomically, so a crash never leaves a cert without its key.
    _write(files.server_key, key_pem, mode=0o600)
    _write(files.server_cert, cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    _write(files.ca_cert, ca_cert.public_bytes(pem))


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def server_context(files: CaFiles) -> ssl.SSLContext:
    """A server-side TLS context for the lab certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(files.server_cert, files.server_key)
    except (ssl.SSLError, OSError) as exc:
        raise ServiceStartError(
            f"cannot load the lab certificate {files.server_cert}: {exc}; "
            f"delete {files.ca_cert.parent} to generate a new one"
        ) from None
    return ctx
