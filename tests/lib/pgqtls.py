"""Certificates for the integration tests, made with the openssl command line: a CA, and
certificates it signs with URI SANs (pgquorum:monitor:1, pgquorum:node:main/pg1, ...), DNS or
IP SANs, a subject CN, a lifetime, or already expired.

    ca = make_ca(sb.path("tls"), "test-ca")
    srv = make_cert(ca, sb.path("tls"), "collector", cn="collector", ips=["127.0.0.1"])
    srv.cert, srv.key  # PEM files

Keys are EC P-256 (fast to make); files are readable by everyone (the sandbox is private to
the test, and the postgres user runs node agents)."""

import os
import subprocess


class Pem:
    """A certificate and its key, as PEM file paths; for a CA also its openssl ca database."""

    def __init__(self, name, cert, key, ca_dir=None):
        self.name = name
        self.cert = cert
        self.key = key
        self.ca_dir = ca_dir

    def __repr__(self):
        return "Pem(%s)" % self.name


def _openssl(*args, cwd=None):
    p = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, cwd=cwd, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed (%d): %s" % (args[0], p.returncode, p.stderr))
    return p.stdout


def _key(path):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    os.chmod(path, 0o644)


_CA_CONF = """[ca]
default_ca = test_ca
[test_ca]
dir = %(dir)s
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
default_md = sha256
policy = anything
unique_subject = no
email_in_dn = no
copy_extensions = none
[anything]
commonName = optional
organizationName = optional
"""


def make_ca(dir, name):
    """A self-signed CA named `name` (its CN), valid 10 years, in dir/NAME.crt and NAME.key, with
    the openssl ca database it signs with in dir/NAME-db/."""
    os.makedirs(dir, exist_ok=True)
    db = os.path.join(dir, "%s-db" % name)
    os.makedirs(os.path.join(db, "issued"), exist_ok=True)
    open(os.path.join(db, "index.txt"), "w").close()
    with open(os.path.join(db, "serial"), "w") as f:
        f.write("1000\n")
    with open(os.path.join(db, "ca.cnf"), "w") as f:
        f.write(_CA_CONF % {"dir": db})
    cert, key = os.path.join(dir, "%s.crt" % name), os.path.join(dir, "%s.key" % name)
    _key(key)
    _openssl("req", "-new", "-x509", "-key", key, "-out", cert, "-days", "3650", "-subj",
             "/CN=%s" % name, "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    os.chmod(cert, 0o644)
    return Pem(name, cert, key, ca_dir=db)


def make_cert(ca, dir, name, uris=(), cn=None, days=365, expired=False, dns=(), ips=(),
              client=True, server=True):
    """A certificate signed by ca (from make_ca) in dir/NAME.crt and NAME.key: subject CN `cn`
    (default: name), subjectAltName URIs `uris`, DNS names `dns`, IP addresses `ips`; valid from
    now for `days` days, or, with expired, valid only in January 2020. Usable as a TLS client
    and server certificate unless client or server is False."""
    os.makedirs(dir, exist_ok=True)
    cert, key = os.path.join(dir, "%s.crt" % name), os.path.join(dir, "%s.key" % name)
    csr, ext = os.path.join(dir, "%s.csr" % name), os.path.join(dir, "%s.ext" % name)
    _key(key)
    _openssl("req", "-new", "-key", key, "-out", csr, "-subj", "/CN=%s" % (cn or name))
    sans = ["URI:%s" % u for u in uris] + ["DNS:%s" % d for d in dns] + \
        ["IP:%s" % i for i in ips]
    usage = [u for u, on in (("clientAuth", client), ("serverAuth", server)) if on]
    with open(ext, "w") as f:
        f.write("[ext]\nbasicConstraints = critical,CA:FALSE\n"
                "keyUsage = critical,digitalSignature\n")
        if usage:
            f.write("extendedKeyUsage = %s\n" % ",".join(usage))
        if sans:
            f.write("subjectAltName = %s\n" % ",".join(sans))
    validity = ["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"] if expired \
        else ["-days", str(days)]
    _openssl("ca", "-batch", "-notext", "-config", os.path.join(ca.ca_dir, "ca.cnf"),
             "-cert", ca.cert, "-keyfile", ca.key, "-in", csr, "-out", cert,
             "-extfile", ext, "-extensions", "ext", *validity)
    os.chmod(cert, 0o644)
    os.unlink(csr)
    return Pem(name, cert, key)
