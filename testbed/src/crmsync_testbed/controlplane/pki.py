"""Certificates and keys for a local control plane, like envtest's tiny CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=7)


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


class TinyCA:
    """A throwaway certificate authority that signs serving and client certificates."""

    def __init__(self, common_name: str) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        self.cert = (
            _builder(self._name, self._name, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self._key)

    def issue(
        self,
        common_name: str,
        *,
        organizations: tuple[str, ...] = (),
        server_hosts: tuple[str, ...] = (),
    ) -> KeyPair:
        """A leaf certificate: a server one when server_hosts are given, else a client one."""
        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
        builder = _builder(x509.Name(attributes), self._name, key.public_key())
        if server_hosts:
            names: list[x509.GeneralName] = []
            for host in server_hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
            usage = ExtendedKeyUsageOID.SERVER_AUTH
        else:
            usage = ExtendedKeyUsageOID.CLIENT_AUTH
        cert = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False).sign(
            self._key, hashes.SHA256()
        )
        return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


@dataclass(frozen=True)
class PkiFiles:
    serving_ca: Path
    serving_cert: Path
    serving_key: Path
    client_ca: Path
    sa_public: Path
    sa_private: Path
    admin: KeyPair
    serving_ca_pem: bytes


def write_pki(directory: Path) -> PkiFiles:
    """Everything kube-apiserver needs, written under directory (mode 0600 keys)."""
    directory.mkdir(parents=True, exist_ok=True)
    serving_ca = TinyCA("crmsync-controlplane-serving-ca")
    client_ca = TinyCA("crmsync-controlplane-client-ca")
    serving = serving_ca.issue("localhost", server_hosts=("localhost", "127.0.0.1"))
    admin = client_ca.issue("admin", organizations=("system:masters",))
    sa_key = ec.generate_private_key(ec.SECP256R1())
    sa_public = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def write(name: str, data: bytes) -> Path:
        path = directory / name
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    return PkiFiles(
        serving_ca=write("serving-ca.crt", serving_ca.cert_pem),
        serving_cert=write("apiserver.crt", serving.cert_pem),
        serving_key=write("apiserver.key", serving.key_pem),
        client_ca=write("client-ca.crt", client_ca.cert_pem),
        sa_public=write("sa.pub", sa_public),
        sa_private=write("sa.key", _key_pem(sa_key)),
        admin=admin,
        serving_ca_pem=serving_ca.cert_pem,
    )
