"""Network method rules, Tailscale status parsing, and the doctor's checks (real sockets and TLS locally)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from techcare.backend_client import BackendClient
from techcare.config import load_settings
from techcare.doctor import Doctor, main, render
from techcare.monitoring.spool import Spool
from techcare.network import check_network_method, is_tailscale_address
from techcare.system.runner import ReplayRunner

TS_STATUS = {
    "Version": "1.76.6", "BackendState": "Running", "TailscaleIPs": ["100.101.102.103", "fd7a:115c:a1e0::1"],
    "Self": {"ID": "n1", "HostName": "laptop", "DNSName": "laptop.tail1234.ts.net.", "Online": True},
    "MagicDNSSuffix": "tail1234.ts.net",
    "CurrentTailnet": {"Name": "firma.de", "MagicDNSSuffix": "tail1234.ts.net", "MagicDNSEnabled": True},
    "Health": [], "Peer": {},
}


def settings(**kw):
    return load_settings(**kw)


def statuses(checks):
    return [(c.name, c.status) for c in checks]


def test_cloudflare_and_direct_require_https():
    checks = check_network_method(settings(backend_url="http://techcare.firma.de", network_method="cloudflare"))
    assert any(c.status == "fail" and "https" in c.detail for c in checks)
    assert check_network_method(settings(backend_url="https://techcare.firma.de"))[0].status == "ok"
    direct = check_network_method(settings(backend_url="https://techcare.firma.de:8443", network_method="direct"))
    assert [c.status for c in direct] == ["warn"] and ("Testing" in direct[0].detail or "testing" in direct[0].detail)
    assert any(c.status == "fail" for c in check_network_method(settings(backend_url="http://1.2.3.4",
                                                                          network_method="direct")))


def test_vpn_allows_http_only_to_private_addresses():
    ok = check_network_method(settings(backend_url="http://192.168.1.100", network_method="vpn"))
    assert statuses(ok) == [("Netzwerkmethode", "ok")]
    bad = check_network_method(settings(backend_url="http://server.firma.de", network_method="vpn"),
                               resolver=lambda h, p: ["8.8.8.8"])
    assert bad[0].status == "fail" and "8.8.8.8" in bad[0].detail


def ts_runner(status=TS_STATUS, rc=0):
    runner = ReplayRunner(platform="linux")
    runner.add_command(["tailscale", "status", "--json"], rc, json.dumps(status) if status is not None else "",
                       "" if status is not None else "failed to connect to local tailscaled")
    return runner


def test_tailscale_running_and_magicdns_resolves():
    s = settings(backend_url="http://techcare", network_method="tailscale")
    checks = check_network_method(s, runner=ts_runner(), resolver=lambda h, p: ["100.88.1.2"])
    assert ("MagicDNS", "ok") in statuses(checks)


def test_tailscale_stopped_or_missing_or_wrong_resolution():
    s = settings(backend_url="http://techcare", network_method="tailscale")
    stopped = check_network_method(s, runner=ts_runner({**TS_STATUS, "BackendState": "Stopped"}))
    assert stopped[0].status == "fail" and "tailscale up" in stopped[0].fix
    missing = ReplayRunner(platform="linux")
    missing.add_command(["tailscale", "status", "--json"], None, error="not_found")
    assert "not installed" in check_network_method(s, runner=missing)[0].detail or \
        "nicht installiert" in check_network_method(s, runner=missing)[0].detail
    wrong = check_network_method(s, runner=ts_runner(), resolver=lambda h, p: ["192.168.0.5"])
    assert ("MagicDNS", "fail") in statuses(wrong)

    def nxdomain(h, p):
        raise socket.gaierror(-2, "Name or service not known")

    assert ("MagicDNS", "fail") in statuses(check_network_method(s, runner=ts_runner(), resolver=nxdomain))
    assert check_network_method(s, runner=ts_runner(None, 1))[0].status == "fail"


def test_tailscale_address_ranges():
    assert is_tailscale_address("100.64.0.1") and is_tailscale_address("100.127.255.254")
    assert not is_tailscale_address("100.128.0.1") and is_tailscale_address("fd7a:115c:a1e0::abcd")


# ---- doctor -------------------------------------------------------------------------------------------------

def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_connection_refused_prints_the_troubleshooting_steps(capsys):
    port = closed_port()
    s = settings(backend_url=f"http://127.0.0.1:{port}", network_method="vpn", edition="pro",
                 license_key="TECHCARE-X")
    doctor = Doctor(s, runner=ReplayRunner(platform="linux"), timeout=2)
    checks = doctor.run()
    tcp = next(c for c in checks if c.name == "TCP")
    # a backend on this machine: start it locally, not "docker compose ps" on a server
    assert tcp.status == "fail" and "Connection refused" in tcp.detail and "scripts/start" in tcp.fix
    assert "Docker" not in tcp.fix and "data/backend.log" in tcp.fix
    lic = next(c for c in checks if c.name == "Lizenz")
    assert lic.status == "fail" and "BACKEND_URL" in lic.fix
    text = render(checks)
    assert "Problem" in text


def test_connection_refused_on_a_server_names_the_network_method(monkeypatch):
    port = closed_port()
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: (_ for _ in ()).throw(ConnectionRefusedError()))
    s = settings(backend_url=f"http://192.168.1.100:{port}", network_method="vpn")
    doctor = Doctor(s, runner=ReplayRunner(platform="linux"), resolver=lambda h, p: ["192.168.1.100"], timeout=2)
    tcp = next(c for c in doctor.run() if c.name == "TCP")
    assert "Docker" in tcp.fix and "Firewall" in tcp.fix and "VPN" in tcp.fix and "Cloudflare" not in tcp.fix


def test_unreachable_backend_without_a_cached_lease_blames_the_network_not_the_signature():
    port = closed_port()
    s = settings(backend_url=f"http://127.0.0.1:{port}", network_method="vpn", edition="pro_business",
                 license_key="TECHCARE-PRO-BUSINESS-ABCD-1234")
    checks = Doctor(s, runner=ReplayRunner(platform="linux"), timeout=2).run()
    lic = next(c for c in checks if c.name == "Lizenz")
    assert lic.status == "fail"
    assert "nicht erreichbar" in lic.detail and "noch keine Lizenz" in lic.detail
    assert "Signatur" not in lic.detail and "LEASE_INVALID" not in lic.detail
    assert "scripts/start" in lic.fix and "techcare license" in lic.fix


def test_a_backend_on_this_machine_is_fine_over_http_with_every_method():
    from techcare.network import require_transport

    for method in ("cloudflare", "direct", "vpn", "tailscale"):
        for url in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000", "http://127.0.0.2"):
            s = settings(backend_url=url, network_method=method)
            checks = check_network_method(s, runner=ReplayRunner(platform="linux"))  # no tailscale call either
            assert statuses(checks) == [("Netzwerkmethode", "ok")], (method, url, checks)
            assert "diesem Rechner" in checks[0].detail
            assert require_transport(s) == []     # no "testing only" warning for direct on loopback either


def test_the_https_hint_fits_the_method():
    direct = check_network_method(settings(backend_url="http://techcare.firma.de", network_method="direct"),
                                  resolver=lambda h, p: ["1.2.3.4"])
    fail = next(c for c in direct if c.status == "fail")
    assert "https://" in fail.fix and "Cloudflare" not in fail.fix and "Zertifikat" in fail.fix
    cloudflare = check_network_method(settings(backend_url="http://techcare.firma.de", network_method="cloudflare"))
    assert "Cloudflare Tunnel" in next(c for c in cloudflare if c.status == "fail").fix


def test_summary_after_warnings_is_not_all_good_and_strict_exits_non_zero():
    from techcare.doctor import exit_status
    from techcare.network import Check

    warned = [Check("A", "ok", "x"), Check("B", "warn", "y", "do z"), Check("C", "skip", "-")]
    text = render(warned)
    assert "Alles in Ordnung" not in text and "1 Warnung" in text
    assert exit_status(warned) == 0 and exit_status(warned, strict=True) == 1
    failed = warned + [Check("D", "fail", "broken")]
    assert "1 Problem(e) gefunden, 1 Warnung(en)" in render(failed)
    assert exit_status(failed) == 1 and exit_status(failed, strict=True) == 1
    assert render([Check("A", "ok", "x")]).endswith("Alles in Ordnung.")
    assert exit_status([Check("A", "ok", "x"), Check("S", "skip", "-")], strict=True) == 0


def test_the_doctor_command_exits_non_zero_when_a_check_fails(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    techcare = str(Path(sys.executable).parent / "techcare")
    env_file = tmp_path / "tc.env"
    env = {**os.environ, "TECHCARE_HOME": str(tmp_path / "home"), "TECHCARE_DATA_DIR": str(tmp_path / "data"),
           "TECHCARE_ENV_FILE": str(env_file), "TECHCARE_LANG": "de"}
    env_file.write_text(f"TECHNICIAN_NAME=E\nNETWORK_METHOD=vpn\nBACKEND_URL=http://127.0.0.1:{closed_port()}\n")
    failed = subprocess.run([techcare, "doctor", "--timeout", "2"], capture_output=True, text=True, env=env, timeout=60)
    assert failed.returncode == 1 and "Problem(e) gefunden" in failed.stdout, failed.stdout + failed.stderr
    env_file.write_text("TECHNICIAN_NAME=E\n")       # no backend, no password: warnings only
    warned = subprocess.run([techcare, "doctor"], capture_output=True, text=True, env=env, timeout=60)
    assert warned.returncode == 0 and "Warnung" in warned.stdout and "Alles in Ordnung" not in warned.stdout
    strict = subprocess.run([techcare, "doctor", "--strict"], capture_output=True, text=True, env=env, timeout=60)
    assert strict.returncode == 1


def health_client(body, date=None):
    def handler(request):
        headers = {"Date": date} if date else {}
        return httpx.Response(200, json=body, headers=headers)

    return BackendClient("http://127.0.0.1", None, client=httpx.Client(transport=httpx.MockTransport(handler)))


@pytest.fixture
def listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield srv
    srv.close()


def test_health_clock_skew_and_spool(listener, tmp_path):
    port = listener.getsockname()[1]
    import time
    now = time.time()
    s = settings(backend_url=f"http://127.0.0.1:{port}", network_method="vpn", techcare_home=str(tmp_path / "h"),
                 sensor_interval=60)
    with Spool(s.techcare_home / "sensor-spool.sqlite3") as spool:
        spool.add({"sample_id": "a"})
    client = health_client({"status": "degraded", "database": "ok", "cache": "degraded", "version": "1",
                            "ts": dt.datetime.fromtimestamp(now - 1200, dt.UTC).isoformat()})
    doctor = Doctor(s, runner=ReplayRunner(platform="linux"), client=client, clock=lambda: now + 3600)
    checks = {c.name: c for c in doctor.run()}
    assert checks["TCP"].status == "ok"
    assert checks["Backend-Health"].status == "warn" and "cache=degraded" in checks["Backend-Health"].detail
    assert checks["Uhrzeit"].status == "fail" and "+4800" in checks["Uhrzeit"].detail
    assert checks["Sensor-Spool"].status == "warn" and "1" in checks["Sensor-Spool"].detail
    assert checks["Lizenz"].status == "ok"          # community
    assert checks["Treiberprüfung"].status in ("ok", "warn")


def test_bad_password_hash_is_reported():
    s = settings(technician_password_hash="not-a-bcrypt-hash")
    doctor = Doctor(s, runner=ReplayRunner(platform="linux"))
    check = next(c for c in doctor.run() if c.name == "Techniker-Passwort")
    assert check.status == "fail" and "--set-password" in check.fix


def test_windows_driver_check_needs_admin():
    runner = ReplayRunner(platform="windows")
    from techcare.system.runner import Entry
    runner.add(Entry("fact", "is_admin", False))
    doctor = Doctor(settings(), runner=runner)
    check = next(c for c in doctor.run() if c.name == "Treiberprüfung")
    assert check.status == "warn" and "PowerShell" in check.fix


def make_cert(tmp_path, name: str, *, days: int = 90, expired: bool = False):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    start, end = (now - dt.timedelta(days=30), now - dt.timedelta(days=1)) if expired else (
        now - dt.timedelta(days=1), now + dt.timedelta(days=days))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def tls_server(cert: str, key: str):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return srv.getsockname()[1], lambda: (stop.set(), thread.join(2), srv.close())


@pytest.mark.parametrize("case", ["valid", "soon", "expired", "hostname"])
def test_tls_certificate_checks(tmp_path, case):
    name = "other.example" if case == "hostname" else "localhost"
    cert, key = make_cert(tmp_path, name, days=5 if case == "soon" else 90, expired=case == "expired")
    port, stop = tls_server(cert, key)
    try:
        doctor = Doctor(settings(), cafile=cert, timeout=3)
        doctor.check_tls("localhost", port)
    finally:
        stop()
    check = doctor.checks[-1]
    expected = {"valid": "ok", "soon": "warn", "expired": "fail", "hostname": "fail"}[case]
    assert check.status == expected, check
    if case == "expired":
        assert "expired" in check.detail.lower()
    if case == "hostname":
        assert "hostname" in check.detail.lower() or "match" in check.detail.lower()


def test_main_json(capsys):
    assert main(["--json"]) in (0, 1)
    data = json.loads(capsys.readouterr().out)
    assert {"name", "status", "detail", "fix"} <= set(data[0])


def test_require_transport_refuses_plain_http_for_cloudflare_and_direct():
    from techcare.errors import ConfigError
    from techcare.network import require_transport

    with pytest.raises(ConfigError, match="NETWORK_METHOD=cloudflare") as info:
        require_transport(settings(backend_url="http://techcare.firma.de"))
    assert info.value.key == "BACKEND_URL" and info.value.exit_code == 2
    assert require_transport(settings(backend_url="http://192.168.1.100", network_method="vpn")) == []
    assert "Testing" in require_transport(settings(backend_url="https://x.de:8443", network_method="direct"))[0]


def test_bad_configuration_is_reported_not_raised(monkeypatch, capsys):
    monkeypatch.setenv("NETWORK_METHOD", "carrier-pigeon")
    from techcare.config import reset_settings

    reset_settings()
    assert main([]) == 1
    out = capsys.readouterr().out
    assert "NETWORK_METHOD" in out and "cloudflare | tailscale | vpn | direct" in out
