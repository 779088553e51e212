"""The fleet's TLS: a small certificate authority and the certificates of a
scheduler, its workers and its clients (``xpuops fleet init``), Dask
``Security`` objects for each role, and the rule that refuses a scheduler
address without TLS unless it is loopback and --insecure-local was given.

A Dask scheduler runs whatever code a connected client sends, and its
workers run it: an open scheduler hands every worker's machine to anyone
who can reach the port. With these certificates the scheduler and workers
accept only peers whose certificate the fleet's CA signed (mutual TLS)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

ROLES = ("scheduler", "worker", "client")
CA = "ca.pem"
CA_KEY = "ca-key.pem"


class InsecureAddressError(ValueError):
    """A scheduler address without TLS that is not loopback, or loopback
    without --insecure-local."""


def cert_paths(directory, role: str) -> tuple:
    """(certificate, key) files of ``role`` in a directory made by init()."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    d = Path(directory)
    return d / f"{role}.pem", d / f"{role}-key.pem"


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _names(hosts) -> list:
    from cryptography import x509

    out = []
    for h in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


def init(directory, hosts=(), days: int = 365, name: str = "xpuops fleet") -> dict:
    """Make a CA and a certificate + key for each role in ``directory``
    (created; existing certificates are never overwritten: FileExistsError).
    ``hosts``: the names and addresses the scheduler and workers are reached
    at (added to localhost and 127.0.0.1 as subject alternative names; Dask
    checks the CA signature, not the names). Keys are EC P-256, written
    0600. Returns role -> (cert, key) paths, "ca" -> the CA certificate.

    Hand ca.pem + worker.pem + worker-key.pem to each worker machine and
    ca.pem + client.pem + client-key.pem to whoever runs the suite; keep
    ca-key.pem off the fleet (it signs new members)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    targets = [d / CA, d / CA_KEY] + [p for r in ROLES for p in cert_paths(d, r)]
    exists = [p.name for p in targets if p.exists()]
    if exists:
        raise FileExistsError(
            f"{d} already holds {', '.join(exists)}; fleet init never overwrites "
            "certificates (a new CA would lock out every member): use another "
            "directory, or delete them first"
        )
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = (
        now - datetime.timedelta(minutes=5),
        now + datetime.timedelta(days=days),
    )
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(d / CA_KEY, _pem_key(ca_key))
    (d / CA).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    sans = _names(["localhost", "127.0.0.1", *[h for h in hosts if h]])
    out = {"ca": d / CA}
    for role in ROLES:
        key = _key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} {role}")])
            )
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(
                # Dask peers are both: a worker serves and connects
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        crt, kp = cert_paths(d, role)
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_private(kp, _pem_key(key))
        out[role] = (crt, kp)
    return out


def security(directory, role: str):
    """A dask.distributed Security for ``role`` from a directory made by
    init(): the CA, the role's certificate and key, encryption required."""
    from distributed.security import Security

    crt, key = cert_paths(directory, role)
    ca = Path(directory) / CA
    missing = [str(p) for p in (ca, crt, key) if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"no {', '.join(missing)}: make the fleet's certificates with "
            f"'xpuops fleet init {directory}' (or copy ca.pem, {crt.name} and "
            f"{key.name} from the machine that made them)"
        )
    return Security(
        require_encryption=True,
        tls_ca_file=str(ca),
        **{f"tls_{role}_cert": str(crt), f"tls_{role}_key": str(key)},
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address) is this machine's loopback."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos
    )


def check_address(address: str, insecure_local: bool = False) -> str:
    """The protocol of a scheduler address ("tls", "tcp" or "inproc") when
    the fleet may use it: tls:// always; tcp:// only on loopback with
    ``insecure_local``; InsecureAddressError otherwise, naming the fix."""
    if "://" not in address:
        address = "tcp://" + address
    parts = urlsplit(address)
    scheme, host = parts.scheme, parts.hostname or ""
    if scheme == "tls":
        return scheme
    if scheme == "inproc":  # one process: nothing listens on a network
        return scheme
    if scheme not in ("tcp", "ws", "wss"):
        raise InsecureAddressError(
            f"scheduler address {address!r}: the fleet speaks tls:// (or tcp:// on "
            "loopback with --insecure-local)"
        )
    if not insecure_local:
        raise InsecureAddressError(
            f"scheduler address {address!r} has no TLS: a Dask scheduler runs "
            "whatever code a connected client sends, so an open one hands its "
            "workers' machines to anyone who can reach it. Make certificates "
            "with 'xpuops fleet init DIR' and use tls://, or, on this machine "
            "only, pass --insecure-local (insecure_local=True) with a loopback "
            "address"
        )
    if not is_loopback(host):
        raise InsecureAddressError(
            f"--insecure-local is for loopback only, and {host!r} is not a loopback "
            "address (use 127.0.0.1); anything reachable from other machines "
            "needs tls:// with the fleet's certificates"
        )
    return scheme
