#!/usr/bin/env python3
"""TLS on every door of a real quorum (certificates made with openssl): who cannot prove
itself is refused with a clear reason, and nothing changes."""

import os
import socket
import ssl
import struct
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import pgqtest as t  # noqa: E402
import pgqtls  # noqa: E402

STATUS = b"\x08\x01\x52\x00"  # Request{version 1, status {}}


def frame(body):
    return struct.pack(">I", len(body)) + body


def handshake(address, ctx):
    """Try a TLS handshake with ctx: None when it completed, else the error text."""
    host, port = address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    try:
        tls = ctx.wrap_socket(s)
        # TLS 1.3: a client certificate is judged after the client's Finished, so a
        # refusal shows on the first read.
        tls.sendall(frame(STATUS))
        data = tls.recv(4)
        tls.close()
        return None if data else "closed"
    except (ssl.SSLError, OSError) as exc:
        return str(exc)
    finally:
        s.close()


def plain_reply(address, data):
    """What a plain TCP client gets back for data (b"" when closed unanswered)."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return out


def refused_and_logged(m, ctx, words, what, timeout=10):
    """Handshakes with ctx are each refused, until m logs words."""
    def once():
        err = handshake(m.api_address, ctx)
        t.check(err is not None, "%s was accepted" % what)
        return words in m.log_text() or None
    t.wait_until(once, timeout, "monitor %d logs %r" % (m.id, words), interval=0.3)
    t.log("%s: refused, %r logged" % (what, words))


def log_has(m, words, timeout=5):
    return t.wait_until(lambda: words in m.log_text() or None, timeout,
                        "monitor %d logs %r" % (m.id, words))


def test_api_and_http_doors(sb):
    """The API and HTTP ports speak only TLS: a plain client gets no answer, a certificate of
    another CA or an expired one is refused in the handshake (the monitor logs why, once a
    second), pgquorumctl refuses a server that is not a monitor and says why in one line;
    the monitors keep serving and the state is unchanged."""
    if not t.TLS:
        raise t.TestFailure("this suite needs TLS (PGQ_TEST_TLS is off)")
    q = t.Quorum(sb, 3).start()
    q.ctl("node", "add", "pg1", "--conninfo", "host=127.0.0.1 port=9", check_rc=True)
    before = q.status()["nodes"]
    m = q.monitor(q.wait_leader())
    ca = sb.certs().cert

    # Plain TCP on TLS ports: no reply at all, the handshake failure logged.
    t.check(plain_reply(m.api_address, frame(STATUS)) == b"",
            "a plain API client got an answer")
    log_has(m, "api: TLS handshake with 127.0.0.1 failed")
    t.check(b"HTTP/" not in plain_reply(m.http_address, b"GET /health HTTP/1.0\r\n\r\n"),
            "a plain HTTP client got an HTTP answer")
    t.check(t.http_get(m.http_address, "/health")[0] == 200, "HTTPS /health")

    # A client certificate of another CA, and an expired one of ours: refused every time,
    # and the reason logged (refusals are logged once a second: tried until it is).
    other = pgqtls.make_ca(sb.path("other-ca"), "other-ca")
    cert, key = pgqtls.make_cert(other, sb.path("other-ca"), "mallory",
                                 uris=["pgquorum:user:admin"])
    refused_and_logged(m, pgqtls.client_context(ca, cert, key),
                       "peer certificate: unable to get local issuer certificate",
                       "a certificate of another CA")
    cert, key = sb.cert("expired", ["pgquorum:user:admin"], expired=True)
    refused_and_logged(m, pgqtls.client_context(ca, cert, key),
                       "peer certificate: certificate has expired", "an expired certificate")

    # pgquorumctl: a monitor with a CA it does not trust, a server whose certificate is not
    # a monitor's, plain TCP to a TLS monitor, a key that is not its certificate's.
    p = subprocess.run([t.PGQUORUMCTL, "--monitors", m.api_address, "--tls-ca", other.cert,
                        "status"], capture_output=True, text=True, timeout=30)
    t.check(p.returncode == 3 and "certificate" in p.stderr and
            len(p.stderr.strip().splitlines()) == 1,
            "a monitor of an untrusted CA: %d %r" % (p.returncode, p.stderr))
    fake_cert, fake_key = sb.cert("fake-monitor", ["pgquorum:user:mallory"])
    fake = FakeServer(fake_cert, fake_key)
    p = q.ctl("status", monitors=fake.address)
    fake.close()
    t.check(p.returncode == 3 and "names user:mallory, not a monitor" in p.stderr,
            "a server with a user's certificate: %d %r" % (p.returncode, p.stderr))
    p = subprocess.run([t.PGQUORUMCTL, "--monitors", m.api_address, "--plain", "status"],
                       capture_output=True, text=True, timeout=30)
    t.check(p.returncode == 3, "--plain to a TLS monitor: %d %r" % (p.returncode, p.stderr))
    c1, _ = sb.cert("user-admin", ["pgquorum:user:admin"])
    _, k2 = sb.cert("user-viewer", ["pgquorum:user:viewer"])
    p = subprocess.run([t.PGQUORUMCTL, "--monitors", m.api_address, "--tls-ca", ca,
                        "--tls-cert", c1, "--tls-key", k2, "status"],
                       capture_output=True, text=True, timeout=30)
    t.check(p.returncode == 2 and "does not belong to cert_file" in p.stderr,
            "a key of another certificate: %d %r" % (p.returncode, p.stderr))
    p = subprocess.run([t.PGQUORUMCTL, "--monitors", m.api_address, "status"],
                       capture_output=True, text=True, timeout=30,
                       env={k: v for k, v in os.environ.items()
                            if not k.startswith("PGQUORUM_TLS")})
    t.check(p.returncode == 2 and "--tls-ca" in p.stderr and "--plain" in p.stderr,
            "no CA: %d %r" % (p.returncode, p.stderr))

    t.check(all(x.alive() for x in q.monitors), "a monitor died")
    after = q.status()["nodes"]
    t.check([(n["name"], n["conninfo"]) for n in after] ==
            [(n["name"], n["conninfo"]) for n in before], "the nodes changed")


def test_daemon_refuses_bad_certificates(sb):
    """A monitor whose key is not its certificate's, or whose CA file is missing, does not
    start: exit 2 and one line naming the file."""
    q = t.Quorum(sb, 1)
    m = q.monitors[0]
    with open(m.config) as f:
        text = f.read()
    _, other_key = sb.cert("other", ["pgquorum:monitor:9"])
    cases = [
        (text.replace(sb.certs().cert, sb.path("nope.crt")), "ca_file"),
        (text.replace(m_key(text), other_key), "does not belong to cert_file"),
    ]
    for cfg, words in cases:
        with open(m.config, "w") as f:
            f.write(cfg)
        p = t.run([t.PGQUORUMD, "--config", m.config], check_rc=False, timeout=20)
        err = p.stderr.strip()
        t.check(p.returncode != 0 and words in err and len(err.splitlines()) <= 2,
                "%s: exit %d %r" % (words, p.returncode, err))
        t.log("refused: %s" % err.splitlines()[0])


def m_key(text):
    for line in text.splitlines():
        if line.startswith("key_file"):
            return line.split("=", 1)[1].strip()
    raise t.TestFailure("no key_file in the config")


class FakeServer:
    """A TLS server with the given certificate that accepts connections and says nothing."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.done = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.done:
            try:
                c, _ = self.sock.accept()
                tls = self.ctx.wrap_socket(c, server_side=True)
                tls.settimeout(5)
                try:
                    tls.recv(1)
                except OSError:
                    pass
                tls.close()
            except OSError:
                return

    def close(self):
        self.done = True
        self.sock.close()


if __name__ == "__main__":
    t.main([test_api_and_http_doors, test_daemon_refuses_bad_certificates])
