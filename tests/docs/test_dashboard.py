"""The Grafana dashboard in docs/ imports and agrees with the metrics: it parses, every panel
queries the DS_PROMETHEUS input, every query is valid PromQL (promtool) over families that
docs/metrics.md documents and agent/ exports, and every documented family is on it."""
import json
import os
import re
import subprocess
import sys
import tempfile

SRC = os.environ.get("PGQ_SRCDIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "..", "..")
DASHBOARD = os.path.join(SRC, "docs", "grafana-dashboard.json")
METRICS_MD = os.path.join(SRC, "docs", "metrics.md")
PROMTOOL = os.environ.get("PROMTOOL", "promtool")
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}

# Families documented but deliberately left off the dashboard, with why.
NOT_ON_DASHBOARD = {}

# Plausible values for the dashboard's variables, so that promtool parses.
VARIABLES = {
    "cluster": "main",
    "node": "pg1|pg2",
    "__rate_interval": "1m",
    "__interval": "30s",
    "__range": "6h",
}

METRIC_NAME = re.compile(r"\b(?:pgquorum|process)_\w+")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def documented_families():
    """name -> type, from the first column of docs/metrics.md's tables."""
    families = {}
    with open(METRICS_MD, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not line.startswith("| `") or len(cells) < 2:
                continue
            prev = None
            for tok in re.findall(r"`([^`]+)`", cells[0]):
                name = tok.split("{", 1)[0]
                if name.startswith("_") and prev is not None:
                    # `pgquorum_host_load1`, `_load5`: the same prefix.
                    name = prev.rsplit("_", 1)[0] + name
                if "*" in name:
                    continue  # `pgquorum_host_*`: "as above"
                families[name] = cells[1]
                prev = name
    return families


def exported_names():
    """Every metric name the daemons' sources spell out."""
    names = set()
    agent = os.path.join(SRC, "agent")
    for fn in os.listdir(agent):
        if fn.endswith(".c"):
            with open(os.path.join(agent, fn), encoding="utf-8") as f:
                names.update(re.findall(r'"((?:pgquorum|process)_\w+)"', f.read()))
    return names


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def substitute(expr):
    def one(m):
        name = m.group(1) or m.group(2)
        if name not in VARIABLES:
            fail("unknown variable $%s in %r" % (name, expr))
            return "x"
        return VARIABLES[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


def base_family(name, families):
    for suffix in HISTOGRAM_SUFFIXES:
        base = name[: -len(suffix)]
        if name.endswith(suffix) and families.get(base) == "histogram":
            return base
    return name


def promtool_check(exprs):
    """Each (where, expr) parsed by promtool as a recording rule."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dashboard.rules.yml")
        with open(path, "w", encoding="utf-8") as f:
            f.write("groups:\n  - name: dashboard\n    rules:\n")
            for i, (_, expr) in enumerate(exprs):
                f.write("      - record: dashboard:expr_%d\n        expr: %s\n"
                        % (i, json.dumps(expr)))
        try:
            r = subprocess.run([PROMTOOL, "check", "rules", path], capture_output=True,
                               text=True, timeout=60)
        except FileNotFoundError:
            fail("%s not found (install prometheus): the queries cannot be checked" % PROMTOOL)
            return
        if r.returncode != 0:
            refused = sorted({int(n) for n in re.findall(r"dashboard:expr_(\d+)", r.stderr)})
            fail("promtool check rules refused the dashboard's queries:\n%s%s"
                 % (r.stdout, r.stderr)
                 + "".join("\n  rule %d: %s: %s" % (i + 1, exprs[i][0], exprs[i][1])
                           for i in refused if i < len(exprs)))


def main():
    try:
        with open(DASHBOARD, encoding="utf-8") as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        fail("%s does not parse: %s" % (DASHBOARD, e))
        return
    families = documented_families()
    exported = exported_names()
    if len(families) < 40:
        fail("only %d families read from docs/metrics.md: is its table format changed?"
             % len(families))
    for name in sorted(families):
        if name not in exported:
            fail("%s is documented in docs/metrics.md but no source in agent/ exports it" % name)

    if dash.get("schemaVersion", 0) < 36:
        fail("schemaVersion %r: want 36 or later" % dash.get("schemaVersion"))
    inputs = [i for i in dash.get("__inputs", []) if i.get("name") == "DS_PROMETHEUS"]
    if len(inputs) != 1 or inputs[0].get("type") != "datasource" or \
            inputs[0].get("pluginId") != "prometheus":
        fail("__inputs lacks the DS_PROMETHEUS prometheus data source input")

    exprs = []  # (where, expr with the variables substituted)
    raw = []
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    for name in ("cluster", "node"):
        if name not in variables:
            fail("no templating variable %s" % name)
    for name, v in variables.items():
        if v.get("datasource") != DATASOURCE:
            fail("variable %s: datasource %r, want %r" % (name, v.get("datasource"), DATASOURCE))
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else q or ""
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", q)
        if m is None:
            fail("variable %s: %r is not label_values(SELECTOR, LABEL)" % (name, q))
            continue
        raw.append(m.group(1))
        exprs.append(("variable " + name, substitute(m.group(1))))

    ids = set()
    for p in walk_panels(dash.get("panels", [])):
        title = p.get("title", "?")
        if p.get("id") in ids:
            fail("panel %r: id %r used twice" % (title, p.get("id")))
        ids.add(p.get("id"))
        if "gridPos" not in p:
            fail("panel %r has no gridPos" % title)
        if p.get("type") == "row":
            continue
        if p.get("datasource") != DATASOURCE:
            fail("panel %r: datasource %r, want %r" % (title, p.get("datasource"), DATASOURCE))
        targets = p.get("targets") or []
        if not targets:
            fail("panel %r has no targets" % title)
        for t in targets:
            where = "panel %r target %s" % (title, t.get("refId"))
            if t.get("datasource") != DATASOURCE:
                fail("%s: datasource %r, want %r" % (where, t.get("datasource"), DATASOURCE))
            if not t.get("expr", "").strip():
                fail("%s has no expr" % where)
                continue
            raw.append(t["expr"])
            exprs.append((where, substitute(t["expr"])))

    used = set()
    for expr in raw:
        for name in METRIC_NAME.findall(expr):
            used.add(base_family(name, families))
    for name in sorted(used - set(families)):
        fail("the dashboard queries %s, which docs/metrics.md does not document" % name)
    for name in sorted(set(families) - used - set(NOT_ON_DASHBOARD)):
        fail("%s is documented in docs/metrics.md but on no panel (add one, or add it to "
             "NOT_ON_DASHBOARD with why)" % name)
    for name in sorted(set(NOT_ON_DASHBOARD) & used):
        fail("%s is in NOT_ON_DASHBOARD but on a panel" % name)

    promtool_check(exprs)
    print("%d panels, %d queries, %d families checked" % (len(ids), len(exprs), len(used)))


if __name__ == "__main__":
    main()
    sys.exit(1 if failures else 0)
