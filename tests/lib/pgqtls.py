"""Certificates for the tests, made with Debian's openssl: a CA, and
certificates it signs with pgquorum's identities in URI SANs (or a CN),
expired ones (made with libfaketime in the past) and ones of another CA."""

import os
import pwd
import subprocess

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def _backdated(offset):
    """openssl's environment with its clock moved by offset (libfaketime)."""
    return dict(os.environ, LD_PRELOAD=FAKETIME_LIB, FAKETIME=offset)


class CA:
    def __init__(self, directory, name, cert, key):
        self.dir = directory
        self.name = name
        self.cert = cert
        self.key = key


def _openssl(args, env=None, cwd=None):
    p = subprocess.run(["openssl"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=env, cwd=cwd, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout


def make_ca(directory, name="pgquorum-test-ca"):
    """A self-signed CA in directory: CA(cert=..., key=...)."""
    os.makedirs(directory, exist_ok=True)
    key = os.path.join(directory, "%s.key" % name)
    cert = os.path.join(directory, "%s.crt" % name)
    _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes", "-keyout", key, "-out", cert, "-days", "3650", "-subj", "/CN=%s" % name,
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"], env=_backdated("-2d"))
    os.chmod(cert, 0o644)
    return CA(directory, name, cert, key)


def make_cert(ca, directory, name, uris=(), cn=None, days=365, expired=False, owner=None,
              ips=("127.0.0.1",)):
    """A key and certificate signed by ca: (cert, key) paths. uris: URI SANs
    such as "pgquorum:monitor:1"; cn: the subject CN (default: name).
    expired: valid for one day, two days ago. owner: OS user to own the key
    (a node agent runs as postgres)."""
    os.makedirs(directory, exist_ok=True)
    key = os.path.join(directory, "%s.key" % name)
    csr = os.path.join(directory, "%s.csr" % name)
    cert = os.path.join(directory, "%s.crt" % name)
    ext = os.path.join(directory, "%s.ext" % name)
    sans = ["URI:%s" % u for u in uris] + ["IP:%s" % ip for ip in ips]
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\n")
        f.write("keyUsage=critical,digitalSignature\n")
        f.write("extendedKeyUsage=serverAuth,clientAuth\n")
        if sans:
            f.write("subjectAltName=%s\n" % ",".join(sans))
    _openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", key, "-out", csr, "-subj", "/CN=%s" % (cn or name)])
    # Valid since two days ago, as real certificates are made ahead of time: a test
    # that steps a daemon's clock back an hour must not find them not yet valid.
    env = _backdated("-2d")
    if expired:
        env = _backdated("-3d")
        days = 1
    _openssl(["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial",
              "-out", cert, "-days", str(days), "-extfile", ext], env=env)
    os.chmod(key, 0o600)
    os.chmod(cert, 0o644)
    if owner is not None and os.geteuid() == 0:
        pw = pwd.getpwnam(owner)
        os.chown(key, pw.pw_uid, pw.pw_gid)
    return cert, key


def client_context(ca_cert, cert=None, key=None):
    """A Python TLS client context trusting ca_cert, with a client certificate
    when given; no host name check (servers are reached by IP)."""
    import ssl
    ctx = ssl.create_default_context(cafile=ca_cert)
    ctx.check_hostname = False
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx
