"""Certificates for the tests, made with the openssl command line: a CA,
certificates it signs (URI SANs such as pgquorum:monitor:1, a subject CN,
IP SANs), expired ones, and ones of another CA.

    ca = make_ca(sb.path("tls"), "ca")
    m1 = make_cert(ca, sb.path("tls"), "monitor1", uris=["pgquorum:monitor:1"])
    m1.cert, m1.key, ca.cert          # PEM file paths
    old = make_cert(ca, d, "old", uris=["pgquorum:monitor:2"], expired=True)
    other = make_cert(make_ca(d, "other-ca"), d, "rogue", uris=["pgquorum:monitor:2"])
"""

import os
import subprocess

CURVE = "prime256v1"


class CA:
    def __init__(self, name, cert, key, config):
        self.name = name
        self.cert = cert
        self.key = key
        self.config = config  # the `openssl ca` configuration that signs with it


class Cert:
    def __init__(self, name, cert, key, ca):
        self.name = name
        self.cert = cert
        self.key = key
        self.ca = ca


def _openssl(*args):
    p = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0], p.stderr.strip()))
    return p.stdout


def _new_key(path):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:" + CURVE,
             "-out", path)
    os.chmod(path, 0o600)


def make_ca(dir, name, days=365):
    """A self-signed CA named `name` in dir: dir/name.crt, dir/name.key."""
    os.makedirs(dir, exist_ok=True)
    key = os.path.join(dir, name + ".key")
    cert = os.path.join(dir, name + ".crt")
    _new_key(key)
    _openssl("req", "-x509", "-new", "-key", key, "-out", cert, "-days", str(days),
             "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    db = os.path.join(dir, name + ".db")
    os.makedirs(db, exist_ok=True)
    open(os.path.join(db, "index.txt"), "w").close()
    with open(os.path.join(db, "serial"), "w") as f:
        f.write("1000\n")
    config = os.path.join(db, "ca.cnf")
    with open(config, "w") as f:
        f.write("[ca]\ndefault_ca = this\n[this]\n"
                "database = %s/index.txt\nserial = %s/serial\nnew_certs_dir = %s\n"
                "certificate = %s\nprivate_key = %s\ndefault_md = sha256\n"
                "policy = any\nunique_subject = no\ncopy_extensions = none\n"
                "[any]\ncommonName = supplied\n" % (db, db, db, cert, key))
    return CA(name, cert, key, config)


def make_cert(ca, dir, name, uris=(), cn=None, days=30, expired=False, ips=("127.0.0.1",)):
    """A certificate signed by ca, in dir/name.crt with its key dir/name.key:
    subject CN `cn` (default name), URI SANs `uris`, IP SANs `ips`, usable by
    servers and clients. expired: valid only for a day in 2020."""
    os.makedirs(dir, exist_ok=True)
    key = os.path.join(dir, name + ".key")
    cert = os.path.join(dir, name + ".crt")
    csr = os.path.join(dir, name + ".csr")
    ext = os.path.join(dir, name + ".ext")
    _new_key(key)
    _openssl("req", "-new", "-key", key, "-out", csr, "-subj", "/CN=" + (cn or name))
    sans = ["URI:" + u for u in uris] + ["IP:" + ip for ip in ips]
    with open(ext, "w") as f:
        f.write("basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n"
                "extendedKeyUsage = serverAuth,clientAuth\n")
        if sans:
            f.write("subjectAltName = %s\n" % ",".join(sans))
    when = ["-startdate", "20200101000000Z", "-enddate", "20200102000000Z"] if expired \
        else ["-days", str(days)]
    _openssl("ca", "-batch", "-notext", "-config", ca.config, "-in", csr, "-out", cert,
             "-extfile", ext, *when)
    os.unlink(csr)
    os.unlink(ext)
    return Cert(name, cert, key, ca)


def monitor_certs(dir, n, ca=None):
    """A CA (or ca) and certificates of monitors 1..n (URI SAN pgquorum:monitor:ID):
    (ca, [Cert of monitor 1, ...])."""
    ca = ca or make_ca(dir, "ca")
    return ca, [make_cert(ca, dir, "monitor%d" % i, uris=["pgquorum:monitor:%d" % i])
                for i in range(1, n + 1)]


def tls_settings(ca, cert):
    """The monitor settings (pgqtest's "section.key" form) for TLS with cert."""
    return {"monitor.tls": "on", "tls.ca_file": ca.cert, "tls.cert_file": cert.cert,
            "tls.key_file": cert.key}
