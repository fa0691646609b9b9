#!/usr/bin/env python3
"""Scale through the front door, against three real pgquorumd monitors on loopback: a bulk
registration (pgquorumctl node add --file) in few Raft entries, checked whole before anything is
sent and refused whole by the leader; the monitors' reports of many clusters batched into few
entries (feature level 6); /metrics of many nodes sent a few clusters per turn of the loop
(chunked), checked with promtool; and the whole status sent in parts through the API.

No PostgreSQL is needed: the nodes point at closed loopback ports, so every monitor sees them
down, which is all the reports need to carry."""

import json
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

DEAD_PORTS = t.free_ports(2)
CLUSTERS = 150


def node_lines(clusters, prefix="c"):
    lines = ["# cluster node priority conninfo", ""]
    for i in range(clusters):
        for k, port in enumerate(DEAD_PORTS):
            lines.append("%s%d pg%d %d host=127.0.0.1 port=%d user=postgres" %
                         (prefix, i, k + 1, 50 + k, port))
    return "\n".join(lines) + "\n"


def write(sb, name, text):
    path = os.path.join(sb.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def leader_commit(q):
    st = q.status()
    return max(m.get("commit_index", 0) for m in st["monitors"])


def wait_level_6(q):
    t.wait_until(lambda: any(e["event"] == "feature-level" and "level 6" in e["message"]
                             for e in q.events()), 30, "feature level 6")


def test_bulk_registration(sb):
    """node add --file registers 300 nodes of 150 clusters in a handful of Raft entries, each with
    the priority its line gives; a bad line is refused before anything is sent, naming the file
    and the line, and a node listed twice is refused by the leader with nothing registered."""
    q = t.Quorum(sb, 3).start()
    wait_level_6(q)
    bad = write(sb, "bad.txt", "c1 pg1 50 host=127.0.0.1 port=1\nc1 pg2 lots host=127.0.0.1\n")
    t.one_line_error(q.ctl("node", "add", "--file", bad), 2, "bad.txt:2: priority \"lots\"",
                   "a bad priority")
    twice = write(sb, "twice.txt", "c1 pg1 50 host=127.0.0.1 port=1\n"
                                   "c1 pg1 50 host=127.0.0.1 port=2\n")
    t.one_line_error(q.ctl("node", "add", "--file", twice), 1, "node pg1 of cluster c1 is listed twice",
                   "a node listed twice")
    t.one_line_error(q.ctl("node", "add", "--file", os.path.join(sb.dir, "none.txt")), 2,
                   "none.txt", "a missing file")
    t.check(q.status()["nodes"] == [], "a refused file registered nothing")
    before = leader_commit(q)
    path = write(sb, "nodes.txt", node_lines(CLUSTERS))
    p = q.ctl("node", "add", "--file", path, check_rc=True, timeout=120)
    t.check("%d nodes registered" % (2 * CLUSTERS) in p.stdout, "says what it did: %r" % p.stdout)
    st = q.status()
    nodes = {(n["cluster"], n["name"]): n for n in st["nodes"]}
    t.check(len(nodes) == 2 * CLUSTERS, "every node registered: %d" % len(nodes))
    t.check(nodes[("c7", "pg2")]["priority"] == 51, "the line's priority: %r" % nodes[("c7", "pg2")])
    t.log("registration of %d nodes: commit index %d -> %d" % (2 * CLUSTERS, before,
                                                                 leader_commit(q)))
    # status --cluster asks the monitor for that cluster only, and gets it.
    one = q.status("c7")
    t.check(sorted(n["name"] for n in one["nodes"]) == ["pg1", "pg2"] and
            all(n["cluster"] == "c7" for n in one["nodes"]), "status of c7: %r" % one["nodes"])
    t.check(len(one["monitors"]) == 3, "with the monitors: %r" % one["monitors"])
    # The same file again: every node is already there as registered, which succeeds.
    q.ctl("node", "add", "--file", path, check_rc=True, timeout=120)
    t.check(len(q.status()["nodes"]) == 2 * CLUSTERS, "a repeated file changes nothing")


def test_reports_batched(sb):
    """With 150 clusters the monitors' reports go in batches: every node gets a view from each of
    the three monitors while the Raft log grows by far fewer entries than the 450 a report per
    cluster and monitor would take."""
    q = t.Quorum(sb, 3).start()
    wait_level_6(q)
    path = write(sb, "nodes.txt", node_lines(CLUSTERS, "r"))
    before = leader_commit(q)
    q.ctl("node", "add", "--file", path, check_rc=True, timeout=120)

    def all_seen():
        st = q.status()
        if len(st["nodes"]) != 2 * CLUSTERS:
            return False
        return all(len(n["views"]) == 3 and not any(v["reachable"] for v in n["views"])
                   for n in st["nodes"])
    t.wait_until(all_seen, 60, "a view of every node from every monitor", interval=0.5)
    grew = leader_commit(q) - before
    t.log("%d clusters seen down by 3 monitors in %d entries" % (CLUSTERS, grew))
    t.check(grew < CLUSTERS, "reports batched: %d entries for %d clusters x 3 monitors" %
            (grew, CLUSTERS))


def read_until(s, done, timeout=30):
    """What s reads until done(bytes so far) or the peer closes."""
    out = b""
    s.settimeout(timeout)
    while not done(out):
        try:
            got = s.recv(65536)
        except socket.timeout:
            break
        if not got:
            break
        out += got
    return out


def dechunk(body):
    """The bytes of a chunked body, and what follows its last chunk's size line (the CRLF that
    ends the body, with no trailers)."""
    out = b""
    while True:
        size, _, body = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            return out, body
        t.check(body[n:n + 2] == b"\r\n", "a chunk of %d bytes not ended by CRLF" % n)
        out += body[:n]
        body = body[n + 2:]


def node_series(text, family):
    """(cluster, node) of every sample of `family`, in order."""
    return re.findall(r'^%s\{cluster="([^"]*)",node="([^"]*)"' % family, text, re.M)


def get_streamed(mon, path, version):
    """(head, body) of GET path over HTTP/1.`version` on a connection of its own; over 1.1
    the reply must be chunked, and the connection then answers its next request."""
    s = t.connect(mon, timeout=30)
    s.sendall(b"GET %s HTTP/1.%d\r\n\r\n" % (path.encode(), version))
    if version == 0:
        got = read_until(s, lambda b: False)
        s.close()
        head, _, body = got.partition(b"\r\n\r\n")
        t.check(head.startswith(b"HTTP/1.1 200") and b"chunked" not in head and
                b"Connection: close" in head, "%s over HTTP/1.0: %r" % (path, head))
        return head, body
    got = read_until(s, lambda b: b.endswith(b"\r\n0\r\n\r\n"))
    head, _, body = got.partition(b"\r\n\r\n")
    t.check(head.startswith(b"HTTP/1.1 200") and b"Transfer-Encoding: chunked" in head and
            b"Content-Length" not in head, "%s: not a chunked reply: %r" % (path, head))
    text, rest = dechunk(body)
    t.check(rest == b"\r\n", "%s: not the end of a chunked body: %r" % (path, rest[:80]))
    s.sendall(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
    after = read_until(s, lambda b: False)
    s.close()
    t.check(after.startswith(b"HTTP/1.1 200"),
            "the connection does not answer after a chunked %s: %r" % (path, after[:80]))
    return head, text


def test_metrics_streamed(sb):
    """A monitor's /metrics and /cluster of 300 nodes go out a few clusters per turn of the
    loop: to an HTTP/1.1 client chunked, the connection then answering its next request (sent
    after the reply or pipelined behind it); to an HTTP/1.0 client until the close; HEAD and
    OPTIONS of them have no body. /metrics passes promtool check metrics, each family once,
    every node in it exactly once; /cluster names every cluster and node of the state."""
    q = t.Quorum(sb, 3).start()
    wait_level_6(q)
    path = write(sb, "nodes.txt", node_lines(CLUSTERS, "m"))
    q.ctl("node", "add", "--file", path, check_rc=True, timeout=120)
    mon = q.monitors[0].http_address
    want = sorted(("m%d" % i, "pg%d" % (k + 1)) for i in range(CLUSTERS) for k in range(2))
    # The monitor asked may be a follower that has not applied the registration yet.
    t.wait_until(lambda: len(node_series(t.http_get(mon, "/metrics", timeout=30)[1],
                                         "pgquorum_node_priority")) == len(want), 30,
                 "every node in the monitor's /metrics (Python's http.client reading it)")

    text = get_streamed(mon, "/metrics", 1)[1]
    body10 = get_streamed(mon, "/metrics", 0)[1]
    for what, raw_text in (("HTTP/1.1", text), ("HTTP/1.0", body10)):
        txt = raw_text.decode()
        r = subprocess.run(["promtool", "check", "metrics"], input=txt, text=True,
                           capture_output=True)
        t.check(r.returncode == 0, "promtool check metrics (%s): %s%s" % (what, r.stdout,
                                                                         r.stderr))
        for family in ("pgquorum_node_info", "pgquorum_node_priority"):
            t.check(txt.count("# TYPE %s " % family) == 1, "%s: %s not once" % (what, family))
            t.check(sorted(node_series(txt, family)) == want,
                    "%s: %s does not name every node once: %d samples" %
                    (what, family, len(node_series(txt, family))))
        t.check("pgquorum_raft_term{" in txt and "process_open_fds " in txt,
                "%s: the monitor's own families are missing" % what)
    t.log("/metrics of %d nodes: %d bytes" % (len(want), len(text)))
    for version in (1, 0):
        doc = json.loads(get_streamed(mon, "/cluster", version)[1])
        t.check(sorted((n["cluster"], n["name"]) for n in doc["nodes"]) == want and
                len(doc["clusters"]) == CLUSTERS and len(doc["monitors"]) == 3,
                "/cluster over HTTP/1.%d: %d nodes, %d clusters" % (
                    version, len(doc["nodes"]), len(doc["clusters"])))
    # Pipelined behind a streamed reply, a request is answered after its last chunk; HEAD and
    # OPTIONS of a streamed endpoint have no body (HEAD the headers of a GET), and the
    # connection goes on.
    s = t.connect(mon, timeout=30)
    s.sendall(b"GET /metrics HTTP/1.1\r\n\r\nGET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
    got = read_until(s, lambda b: False)
    s.close()
    head, _, body = got.partition(b"\r\n\r\n")
    text2, rest = dechunk(body)
    t.check(b"chunked" in head and b"pgquorum_node_info{" in text2 and
            rest.startswith(b"\r\nHTTP/1.1 200"), "a request pipelined behind /metrics: %r" %
            rest[:120])
    s = t.connect(mon, timeout=30)
    s.sendall(b"HEAD /cluster HTTP/1.1\r\n\r\nOPTIONS /metrics HTTP/1.1\r\n\r\n"
              b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
    got = read_until(s, lambda b: False)
    s.close()
    replies = [b"HTTP/1.1 " + r for r in got.split(b"HTTP/1.1 ")[1:]]
    t.check(len(replies) == 3 and b"Transfer-Encoding: chunked" in replies[0] and
            replies[0].endswith(b"\r\n\r\n") and b"Content-Length: 0\r\n" in replies[1] and
            replies[1].endswith(b"\r\n\r\n") and replies[2].startswith(b"HTTP/1.1 200"),
            "HEAD, OPTIONS, then GET on one connection: %r" % got[:600])
    one = json.loads(get_streamed(mon, "/cluster?cluster=m7", 1)[1])
    t.check(sorted(n["name"] for n in one["nodes"]) == ["pg1", "pg2"] and
            [c["name"] for c in one["clusters"]] == ["m7"], "/cluster?cluster=m7: %r" % one)
    t.check(all(m.alive() for m in q.monitors), "a monitor died")


def count_field(msg, num):
    """How many times field num occurs at the top of a protobuf message."""
    n, i = 0, 0
    while i < len(msg):
        key, i = t.api_read_varint(msg, i)
        if key & 7 == 0:
            _, i = t.api_read_varint(msg, i)
        else:
            size, i = t.api_read_varint(msg, i)
            i += size
        n += key >> 3 == num
    return n


def test_status_streamed(sb):
    """The whole status of 300 nodes goes out in parts, a few clusters each: a head that says
    more, then parts holding every cluster once, the last saying no more, and the connection
    answers the request pipelined behind it; asked without the field (an older client), the
    same status comes in one frame; pgquorumctl status --json reads the parts as one document
    naming every cluster and node once."""
    q = t.Quorum(sb, 3).start()
    wait_level_6(q)
    path = write(sb, "nodes.txt", node_lines(CLUSTERS, "s"))
    q.ctl("node", "add", "--file", path, check_rc=True, timeout=120)
    want = sorted(("s%d" % i, "pg%d" % (k + 1)) for i in range(CLUSTERS) for k in range(2))
    t.wait_until(lambda: sorted((n["cluster"], n["name"]) for n in q.status()["nodes"]) == want,
                 30, "every node in status --json")
    st = q.status()
    t.check(len(st["clusters"]) == CLUSTERS and len(st["monitors"]) == 3,
            "status --json: %d clusters, %d monitors" % (len(st["clusters"]), len(st["monitors"])))
    mon = q.monitors[0].api_address
    streamed = t.api_fv(1, 1) + t.api_fb(10, t.api_fv(2, 1))
    one = t.api_fv(1, 1) + t.api_fb(10, t.api_fb(1, b"s7"))
    s = t.connect(mon, timeout=30, user="admin")
    s.sendall(t.api_frame(streamed) + t.api_frame(one))
    head = t.api_recv_frame(s)
    t.check(head is not None and head.get(2, 0) == 0 and head.get(5) == 1 and 10 in head and
            count_field(t.api_parse(head[10])[2], 7) == 0,
            "the head of a streamed status (more, no cluster): %r" % (head and sorted(head)))
    parts, clusters = 0, 0
    while True:
        f = t.api_recv_frame(s)
        t.check(f is not None and 14 in f, "frame %d of the stream is no part: %r" % (
            parts + 1, f and sorted(f)))
        parts += 1
        clusters += count_field(f[14], 1)
        if f.get(5, 0) == 0:
            break
    t.check(parts >= 2 and clusters == CLUSTERS,
            "%d parts holding %d clusters (of %d)" % (parts, clusters, CLUSTERS))
    after = t.api_recv_frame(s)
    t.check(after is not None and 10 in after and 5 not in after,
            "the request pipelined behind the stream: %r" % (after and sorted(after)))
    # Without the field: one frame, every cluster in it.
    s.sendall(t.api_frame(t.api_fv(1, 1) + t.api_fb(10, b"")))
    whole = t.api_recv_frame(s)
    s.close()
    t.check(whole is not None and 5 not in whole and
            count_field(t.api_parse(whole[10])[2], 7) == CLUSTERS,
            "a status asked without the field is not one frame of every cluster")
    t.log("status of %d nodes: %d parts" % (len(want), parts))
    t.check(all(m.alive() for m in q.monitors), "a monitor died")


if __name__ == "__main__":
    t.main([test_bulk_registration, test_reports_batched, test_metrics_streamed,
            test_status_streamed])
