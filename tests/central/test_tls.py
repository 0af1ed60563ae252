"""TLS on both ends: the central serves HTTPS with --tls-cert/--tls-key, the workstation trusts a CA bundle."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import subprocess
import sys
import time

import httpx
import pytest
from central_helpers import capture, free_port, held_event_ids
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.services import enrollment
from app.services import sync as sync_service
from sync.central.enroll import create_token


def _cert(subject: str, issuer_key, issuer_name, key, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def tls_files(tmp_path):
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Synthetic Hospital IT CA")])
    ca = _cert("Synthetic Hospital IT CA", ca_key, ca_name, ca_key, ca=True)
    cert = _cert("central", ca_key, ca_name, key, ca=False)
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_enroll_and_sync_over_https_with_a_ca_bundle(tls_files, central_db, make_store):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sync.central.cli", "serve", "--db", central_db.url,
                             "--port", str(port), "--tls-cert", str(tls_files["cert"]),
                             "--tls-key", str(tls_files["key"])], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"https://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                httpx.get(url + "/healthz", verify=ssl.create_default_context(cafile=tls_files["ca"]), timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        store = make_store("ws")
        token, _ = create_token(central_db, store.site_id, store.unit_id)
        # Without the CA bundle the central's certificate is not trusted: a clear refusal, nothing sent.
        with pytest.raises(sync_service.CentralUnreachable, match="CERTIFICATE_VERIFY_FAILED|certificate"):
            enrollment.enroll(store, url, token, retry=sync_service.Retry(attempts=1))
        enrollment.enroll(store, url, token, ca_bundle=tls_files["ca"])
        # The CA is pinned in the encrypted store, not trusted from the file: replacing the file changes
        # nothing, and no other CA bundle can be handed to sync.
        pinned = tls_files["ca"].read_text()
        tls_files["ca"].write_text(tls_files["cert"].read_text())
        with pytest.raises(sync_service.NotPinnedCentral, match="not the CA bundle this workstation trusted"):
            sync_service.Link.from_store(store, ca_bundle=str(tls_files["ca"]))
        assert sync_service.Link.from_store(store).ca_pem == pinned
        capture(store)
        summary = sync_service.sync(store, sync_service.Link.from_store(store))
        assert summary["pending"] == 0 and summary["results"]["accepted"] == summary["pushed"] > 0
        assert len(held_event_ids(central_db)) == summary["pushed"]
    finally:
        proc.terminate()
        proc.wait(10)
