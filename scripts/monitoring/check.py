#!/usr/bin/env python3
"""Evaluates every expression of the Grafana dashboard and every alert rule on a real Prometheus.

check.sh starts orderflow and a Prometheus scraping it with deploy/prometheus/alerts.yml loaded,
then runs this. It fails (exit 1) when:
  - the dashboard is not wired to the ${datasource} variable (every panel and target), a panel
    has no query, or an expression keeps a Grafana variable it does not know;
  - Prometheus did not load the rules of alerts.yml (count given by --rules), a rule's health is
    not ok, or a rule's expression errors through /api/v1/query;
  - a dashboard expression or a variable query errors, or returns no series (except those in
    MAY_BE_EMPTY's panels);
  - any metric selector in any expression (metric name with its label matchers) selects no
    series: this is what catches a misspelled metric or label value in a rule, whose expression
    is rightly empty on a healthy system.
The demo run check.sh starts makes every selector non-empty (it pushes Rye past a shared rate
limit so the rate-limit counters move), except ALERTS, which depends on what fires.
Only the Python standard library is used.
"""
import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# Metric names whose series may be absent in the demo run.
MAY_BE_EMPTY = {"ALERTS"}

# Grafana's variables and what they stand for here: the "All" value of the multi-value ones,
# the scrape job, and a rate interval of four scrape intervals (Grafana's $__rate_interval).
def variables(rate_interval):
    return {
        "$__rate_interval": rate_interval, "${__rate_interval}": rate_interval,
        "$__interval": rate_interval, "$__range": "1h",
        "$job": "orderflow", "${job}": "orderflow",
        "$instance": ".*", "${instance}": ".*",
        "$role": ".*", "${role}": ".*",
    }

# A metric selector: a metric name of ours (or up / ALERTS) and its optional label matchers.
SELECTOR = re.compile(r'(?<![\w:])(orderflow_[a-z_]+|up|ALERTS)(\{[^{}]*\})?(?![\w(])')
# Label names after by/without/on/ignoring/group_left are no selectors.
GROUPING = re.compile(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)')


class Checker:
    def __init__(self, url):
        self.url = url.rstrip("/")
        self.errors = []

    def get(self, path, **params):
        q = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{q}", timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:  # 400/422: the body says why
            return json.load(e)

    def query(self, expr):
        """Returns (result list, error text or None)."""
        body = self.get("/api/v1/query", query=expr)
        if body.get("status") != "success":
            return None, f'{body.get("errorType")}: {body.get("error")}'
        for w in body.get("warnings") or []:
            print(f"  warning for {expr!r}: {w}")
        return body["data"]["result"], None

    def fail(self, msg):
        self.errors.append(msg)


def selectors(expr):
    stripped = GROUPING.sub(" ", expr)
    return sorted({m.group(0).strip() for m in SELECTOR.finditer(stripped)})


def substitute(expr, vs, where, ck):
    for k in sorted(vs, key=len, reverse=True):
        expr = expr.replace(k, vs[k])
    left = re.findall(r'\$\{?\w+\}?', expr)
    if left:
        ck.fail(f"{where}: unknown Grafana variable(s) {left} in {expr!r}")
    return expr


def dashboard_targets(dash, ck):
    """Checks the dashboard's wiring and returns [(where, expr)] of every target and variable query."""
    tvars = dash.get("templating", {}).get("list", [])
    if not any(v.get("type") == "datasource" and v.get("name") == "datasource" and v.get("query") == "prometheus" for v in tvars):
        ck.fail('dashboard: no templating variable "datasource" of type datasource for prometheus')
    out = []
    for v in tvars:
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r'label_values\((.*),\s*(\w+)\)', q or "")
        if not m:
            ck.fail(f'variable {v.get("name")}: query {q!r} is no label_values(selector, label)')
            continue
        out.append((f'variable {v["name"]}', m.group(1)))
    panels = []
    for p in dash.get("panels", []):
        panels.append(p)
        panels.extend(p.get("panels", []))  # collapsed rows hold their panels
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)):
        ck.fail(f"dashboard: panel ids are not unique: {ids}")
    for p in panels:
        if p.get("type") == "row":
            continue
        where = f'panel "{p.get("title")}"'
        if (p.get("datasource") or {}).get("uid") != "${datasource}":
            ck.fail(f"{where}: datasource is {p.get('datasource')}, want uid ${{datasource}}")
        if not p.get("targets"):
            ck.fail(f"{where}: no targets")
        for t in p.get("targets", []):
            if (t.get("datasource") or {}).get("uid") != "${datasource}":
                ck.fail(f"{where} target {t.get('refId')}: datasource is not ${{datasource}}")
            if not t.get("expr"):
                ck.fail(f"{where} target {t.get('refId')}: no expr")
                continue
            out.append((f'{where} target {t.get("refId")}', t["expr"]))
    return out


def wait_for(ck, what, cond, timeout):
    deadline = time.monotonic() + timeout
    while True:
        ok = cond()
        if ok or time.monotonic() > deadline:
            return ok
        time.sleep(1)  # poll interval


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prometheus", required=True, help="base URL of the Prometheus server")
    ap.add_argument("--dashboard", required=True, help="Grafana dashboard JSON")
    ap.add_argument("--rules", type=int, required=True, help="rules promtool found in alerts.yml")
    ap.add_argument("--rate-interval", default="30s", help="what $__rate_interval stands for")
    ap.add_argument("--timeout", type=float, default=180, help="seconds to wait for data")
    a = ap.parse_args()
    ck = Checker(a.prometheus)
    start = time.monotonic()

    with open(a.dashboard) as f:
        dash = json.load(f)
    vs = variables(a.rate_interval)
    dash_exprs = [(w, substitute(e, vs, w, ck)) for w, e in dashboard_targets(dash, ck)]

    print("waiting for Prometheus to scrape orderflow and evaluate the rules")
    def scraped():
        body = ck.get("/api/v1/targets")
        ts = (body.get("data") or {}).get("activeTargets") or []
        return ts and all(t["health"] == "up" for t in ts)
    if not wait_for(ck, "scrapes", scraped, a.timeout):
        ck.fail(f"targets not up: {ck.get('/api/v1/targets')}")
        return finish(ck)

    def rules():
        body = ck.get("/api/v1/rules")
        rs = [r for g in (body.get("data") or {}).get("groups", []) for r in g["rules"]]
        return rs if len(rs) >= a.rules and all(not r.get("lastEvaluation", "0001").startswith("0001") for r in rs) else None
    loaded = wait_for(ck, "rules", rules, a.timeout)
    if not loaded:
        body = ck.get("/api/v1/rules")
        n = sum(len(g["rules"]) for g in (body.get("data") or {}).get("groups", []))
        ck.fail(f"Prometheus loaded {n} rules, want the {a.rules} of alerts.yml, all evaluated")
        return finish(ck)
    rule_exprs = []
    for r in loaded:
        if r.get("health") != "ok":
            ck.fail(f'rule {r.get("name")}: health {r.get("health")}: {r.get("lastError")}')
        rule_exprs.append((f'rule {r["name"]}', r["query"]))

    # Every selector of every expression, and every dashboard expression, must select series
    # once the demo has run a while (rates need two samples in their window): wait for that.
    must = {}
    for where, e in dash_exprs + rule_exprs:
        for s in selectors(e):
            if SELECTOR.match(s).group(1) not in MAY_BE_EMPTY:
                must.setdefault(s, where)
    for where, e in dash_exprs:
        if not any(n in e for n in MAY_BE_EMPTY):
            must.setdefault(e, where)
    empty = list(must)
    def filled():
        empty[:] = [e for e in empty if not (ck.query(e)[0] or [])]
        return not empty
    wait_for(ck, "series", filled, a.timeout)

    print(f"evaluating {len(rule_exprs)} rule and {len(dash_exprs)} dashboard expressions")
    for where, e in rule_exprs + dash_exprs:
        res, err = ck.query(e)
        if err:
            ck.fail(f"{where}: {err}\n    {e}")
        else:
            print(f"  ok   {len(res):4d} series  {where}")
    for e in empty:
        ck.fail(f"{must[e]}: no series for {e}")
    n_sel = len({s for s in must if SELECTOR.fullmatch(s)})
    return finish(ck, f"{len(rule_exprs)} rules (healthy, evaluated), {len(dash_exprs)} dashboard expressions "
                      f"({sum(1 for w, _ in dash_exprs if w.startswith('variable'))} variable queries), "
                      f"{n_sel} metric selectors non-empty, in {time.monotonic() - start:.0f}s")


def finish(ck, summary=""):
    if ck.errors:
        print(f"monitoring check: {len(ck.errors)} problem(s)")
        for e in ck.errors:
            print(f"  - {e}")
        return 1
    print(f"monitoring check: {summary}: all OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
