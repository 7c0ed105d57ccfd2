"""A certificate authority made by the tests: a root, and server certificates it signs.

Clients are pointed at ``ca.crt`` (skopeo/podman ``--cert-dir``, containerd ``hosts.toml``,
docker's ``certs.d``, Go's ``SSL_CERT_FILE`` for Helm) so every handshake really verifies the
chain; nothing is run with verification off.

Also a command for tests in other languages:
``python -m portcullis_testkit.tlsca DIR`` writes ``ca.crt``, ``server.crt``/``server.key``
(for localhost and 127.0.0.1), ``other.key`` (a key that matches nothing) and
``expired.crt``/``expired.key``.
"""
from __future__ import annotations

import datetime
import ipaddress
import sys
from pathlib import Path
from typing import Iterable, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_DAY = datetime.timedelta(days=1)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


class TestCA:
    __test__ = False  # not a pytest class

    def __init__(self, directory: Path, name: str = "Portcullis test CA") -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(_now() - _DAY).not_valid_after(_now() + 30 * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = self.dir / "ca.crt"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str, names: Iterable[str], valid_from: Optional[datetime.datetime] = None,
              valid_until: Optional[datetime.datetime] = None) -> Tuple[Path, Path]:
        """A server certificate for ``names`` (host names or IP addresses); returns (cert, key) paths."""
        names = list(names)
        key = ec.generate_private_key(ec.SECP256R1())
        alt = [x509.IPAddress(ipaddress.ip_address(n)) if n.replace(".", "").isdigit() else x509.DNSName(n) for n in names]
        cert = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(valid_from or _now() - _DAY).not_valid_after(valid_until or _now() + 7 * _DAY)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = self.dir / f"{stem}.crt", self.dir / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(_key_pem(key))
        key_path.chmod(0o600)
        return cert_path, key_path

    def stray_key(self, stem: str) -> Path:
        path = self.dir / f"{stem}.key"
        path.write_bytes(_key_pem(ec.generate_private_key(ec.SECP256R1())))
        return path


def main(argv=None) -> int:
    out = Path((argv or sys.argv[1:])[0])
    ca = TestCA(out)
    ca.issue("server", ["localhost", "127.0.0.1"])
    ca.issue("expired", ["localhost"], valid_from=_now() - 10 * _DAY, valid_until=_now() - _DAY)
    ca.stray_key("other")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def peer_certificate(port: int, server_name: str) -> bytes:
    """The DER certificate a fresh handshake with 127.0.0.1:``port`` presents for ``server_name``
    (SNI). Not verified: tests compare it."""
    import socket
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, context.wrap_socket(raw, server_hostname=server_name) as tls:
        return tls.getpeercert(binary_form=True)
