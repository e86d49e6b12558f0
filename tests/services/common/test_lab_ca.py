"""The lab CA: generated once, reused, and naming what clients connect to."""

from __future__ import annotations

import ipaddress
import ssl

from cryptography import x509

from services.common.lab_ca import ensure_ca, server_context


def test_generated_once_then_reused(tmp_path):
    first = ensure_ca(tmp_path)
    contents = [p.read_bytes() for p in (first.ca_cert, first.server_cert, first.server_key)]
    again = ensure_ca(tmp_path)
    assert again == first
    assert [
        p.read_bytes() for p in (again.ca_cert, again.server_cert, again.server_key)
    ] == contents
    assert first.server_key.stat().st_mode & 0o077 == 0  # the key is private


def test_server_certificate_names_and_chain(tmp_path):
    files = ensure_ca(tmp_path)
    cert = x509.load_pem_x509_certificates(files.server_cert.read_bytes())[0]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "rawhttp", "restapi"} <= set(san.get_values_for_type(x509.DNSName))
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    assert cert.issuer == ca.subject
    # A client trusting only ca.pem accepts the chain (loaded without error by the server side).
    assert isinstance(server_context(files), ssl.SSLContext)
    ssl.create_default_context(cafile=str(files.ca_cert))


def test_a_missing_file_regenerates_everything(tmp_path):
    files = ensure_ca(tmp_path)
    old_ca = files.ca_cert.read_bytes()
    files.server_key.unlink()
    ensure_ca(tmp_path)
    assert files.server_key.exists() and files.ca_cert.read_bytes() != old_ca
