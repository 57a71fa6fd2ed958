#!/usr/bin/env python3
"""Run the external SCIM 2.0 conformance testers against one live server.

Usage (with the python of the venv that `cargo xtask conformance` prepares from
conformance/requirements.txt, so that the testers are importable and on PATH):

    SCIM_TOKEN=... python conformance/run.py BASE_URL REPORT_DIR \
        [--only NAME[,NAME...]] [--known-deviations FILE]

BASE_URL is the SCIM root under which /Users, /Groups, /Schemas ... live, e.g.
http://127.0.0.1:8080/scim/v2 or http://127.0.0.1:8080/Organizations/OR.../scim.
The bearer token is read from the SCIM_TOKEN environment variable and handed to
the testers through environment variables or in-process headers only, never on a
command line; it is also scrubbed from every report file.

Testers, each bounded by CONFORMANCE_TIMEOUT seconds (default 600):

    scim2-tester        python-scim's checker, driven through its Python API
    scim2-cli           `scim2 test`, the same checker behind the CLI's own discovery
    scim2-cli-smoke     a CRUD walk made of scim2-cli commands (this project's own)
    scim-sanity         `scim-sanity probe` in strict mode
    scim-sanity-compat  `scim-sanity probe --compat`

Stdout gets one line per tester:

    name: P passed, F failed, S skipped

followed by " (K known deviations)" when failing checks were excused by the
known-deviations file (default: known-deviations.txt beside this script). Those
are not counted as failed. Warnings (scim2-tester DEVIATION, scim-sanity WARN)
count as passed and are listed in the report. REPORT_DIR receives each tester's
raw output, a per-check JSON report per tester, summary.json and summary.txt.

Exit status: 0 no failures, 1 some tester failed, 2 usage or setup error.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
TIMEOUT = int(os.environ.get("CONFORMANCE_TIMEOUT", "600"))
TESTERS = ["scim2-tester", "scim2-cli", "scim2-cli-smoke", "scim-sanity", "scim-sanity-compat"]

# scim2-tester statuses (scim2_tester.Status names).
TESTER_PASSED = {"SUCCESS", "COMPLIANT", "ACCEPTABLE", "DEVIATION"}
TESTER_WARNING = {"DEVIATION"}
TESTER_SKIPPED = {"SKIPPED"}
TESTER_ALL = TESTER_PASSED | TESTER_SKIPPED | {"ERROR", "CRITICAL"}


# --------------------------------------------------------------------------- helpers


class Outcome:
    """The checks one tester reported: each a name, a verdict and a detail."""

    def __init__(self, tester: str):
        self.tester = tester
        self.checks: list[dict] = []
        self.seconds = 0.0

    def add(self, name: str, verdict: str, detail: str = "", warning: bool = False):
        assert verdict in ("passed", "failed", "skipped")
        self.checks.append({"name": name, "verdict": verdict, "warning": warning,
                            "detail": detail})

    def broken(self, why: str):
        """The tester itself could not run or gave nothing parsable: one failure."""
        self.add(f"{self.tester} did not run", "failed", why)

    def count(self, verdict: str) -> int:
        return sum(1 for c in self.checks if c["verdict"] == verdict)


def run_cmd(argv, env, stdin=None, timeout=TIMEOUT):
    """Run argv; return (rc, stdout, stderr). rc is -1 on timeout."""
    try:
        p = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True,
                           timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as exc:
        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        return -1, text(exc.stdout), text(exc.stderr) + f"\n[run.py] timeout after {timeout}s\n"


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def tail(text, n=400):
    text = (text or "").strip()
    return text if len(text) <= n else "..." + text[-n:]


# --------------------------------------------------------------------------- scim2-tester


def scim2_tester_inprocess(base_url: str, out_path: str) -> int:
    """Child process: run scim2_tester.check_server and dump every result as JSON."""
    from httpx2 import Client
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import check_server

    token = os.environ.get("SCIM_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = SyncSCIMClient(Client(base_url=base_url.rstrip("/") + "/", headers=headers,
                                   timeout=30))
    rows, crash = [], None
    try:
        for r in check_server(client):
            data = None
            if r.data is not None and r.status.name != "SUCCESS":
                try:
                    data = json.dumps(r.data, default=str)
                except Exception:  # noqa: BLE001 - any repr will do for a report
                    data = repr(r.data)
                data = data[:3000]
            rows.append({"title": r.title, "status": r.status.name,
                         "resource_type": r.resource_type, "tags": sorted(r.tags or []),
                         "reason": r.reason, "data": data})
    except Exception as exc:  # noqa: BLE001 - the checker broke: report it
        crash = "".join(traceback.format_exception(exc))
    write(out_path, json.dumps({"results": rows, "crash": crash}, indent=2, default=str))
    return 0


def t_scim2_tester(url, env, d) -> Outcome:
    o = Outcome("scim2-tester")
    raw = os.path.join(d, "scim2-tester.raw.json")
    rc, out, err = run_cmd([sys.executable, os.path.abspath(__file__), "--child-scim2-tester",
                            url, raw], env)
    write(os.path.join(d, "scim2-tester.stderr.txt"), out + err)
    try:
        with open(raw, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        o.broken(f"exit {rc}, no results: {tail(err)}")
        return o
    for r in data["results"]:
        name = r["title"] + (f"[{r['resource_type']}]" if r.get("resource_type") else "")
        st = r["status"]
        detail = " | ".join(x for x in (st, r.get("reason") or "", r.get("data") or "") if x)
        if st in TESTER_SKIPPED:
            o.add(name, "skipped", detail)
        elif st in TESTER_PASSED:
            o.add(name, "passed", detail if st != "SUCCESS" else "", st in TESTER_WARNING)
        else:
            o.add(name, "failed", detail)
    if data.get("crash"):
        o.add("scim2-tester crashed", "failed", data["crash"])
    if not o.checks:
        o.broken("the checker returned no result")
    return o


# --------------------------------------------------------------------------- scim2 test


def t_scim2_cli(url, env, d) -> Outcome:
    o = Outcome("scim2-cli")
    env = dict(env, SCIM_CLI_URL=url, NO_COLOR="1")
    rc, out, err = run_cmd([os.path.join(BIN, "scim2"), "test", "--verbose"], env)
    write(os.path.join(d, "scim2-cli-test.txt"), out + ("\n--- stderr ---\n" + err if err else ""))
    # Output: "STATUS title" lines, each optionally followed by indented reason/data lines.
    current = None
    for line in out.splitlines():
        m = re.match(r"^(?:\x1b\[[0-9;]*m)*([A-Z]+)(?:\x1b\[[0-9;]*m)* (\S.*)$", line)
        if m and m.group(1) in TESTER_ALL:
            st, title = m.group(1), m.group(2).strip()
            verdict = ("skipped" if st in TESTER_SKIPPED else
                       "passed" if st in TESTER_PASSED else "failed")
            current = {"name": title, "verdict": verdict, "warning": st in TESTER_WARNING,
                       "detail": st if st != "SUCCESS" else ""}
            o.checks.append(current)
        elif current is not None and line.startswith("  ") and current["verdict"] != "passed":
            current["detail"] = (current["detail"] + " | " + line.strip())[:3000]
    if not o.checks:
        o.broken(f"exit {rc}, no results: {tail(err or out)}")
    return o


# --------------------------------------------------------------------------- CRUD smoke


def t_smoke(url, env, d) -> Outcome:
    """A CRUD walk through the server, every step a scim2-cli command."""
    o = Outcome("scim2-cli-smoke")
    scim2 = os.path.join(BIN, "scim2")
    env = dict(env, SCIM_CLI_URL=url, NO_COLOR="1")
    state: dict = {}
    log: list[dict] = []
    suffix = uuid.uuid4().hex[:12]
    user_name = f"smoke-{suffix}@example.com"
    group_name = f"smoke-group-{suffix}"

    def step(name, args, check, stdin=None, needs=()):
        missing = [k for k in needs if k not in state]
        if missing:
            o.add(name, "skipped", f"needs {', '.join(missing)} from an earlier step")
            return None
        argv = [scim2] + [a.format(**state) for a in args]
        rc, out, err = run_cmd(argv, env, stdin=stdin, timeout=min(TIMEOUT, 120))
        try:
            body = json.loads(out) if out.strip() else None
        except ValueError:
            body = None
        try:
            ok, why = check(rc, body, out + err)
        except Exception as exc:  # noqa: BLE001 - a malformed answer fails the step
            ok, why = False, f"unexpected answer: {exc!r}"
        o.add(name, "passed" if ok else "failed", "" if ok else f"{why}; output: {tail(out + err)}")
        log.append({"step": name, "argv": argv[1:], "stdin": stdin, "rc": rc,
                    "ok": bool(ok), "why": why, "output": (out + err)[-3000:]})
        return body

    def keep(key):
        def check(rc, body, _):
            if rc == 0 and isinstance(body, dict) and body.get("id"):
                state[key] = body["id"]
                return True, f"id {body['id']}"
            return False, f"exit {rc}, no id in the answer"
        return check

    def total(expected):
        return lambda rc, b, _: (rc == 0 and isinstance(b, dict)
                                 and b.get("totalResults") == expected,
                                 f"exit {rc}, totalResults {b and b.get('totalResults')}")

    def field(key, expected):
        return lambda rc, b, _: (rc == 0 and isinstance(b, dict) and b.get(key) == expected,
                                 f"exit {rc}, {key} {b and b.get(key)!r}, expected {expected!r}")

    user_schema = "urn:ietf:params:scim:schemas:core:2.0:User"
    group_schema = "urn:ietf:params:scim:schemas:core:2.0:Group"

    step("create user", ["create", "--no-indent", "user"], keep("uid"), stdin=json.dumps({
        "schemas": [user_schema], "userName": user_name, "displayName": "Smoke Test",
        "name": {"givenName": "Smoke", "familyName": "Test"},
        "emails": [{"value": user_name, "type": "work", "primary": True}], "active": True}))
    step("get user by id", ["query", "--no-indent", "user", "{uid}"],
         field("userName", user_name), needs=("uid",))
    step("filter users by userName eq", ["query", "--no-indent", "user", "--filter",
                                         f'userName eq "{user_name}"'], total(1))
    step("filter users by userName eq, other case",
         ["query", "--no-indent", "user", "--filter", f'userName eq "{user_name.upper()}"'],
         total(1))
    step("filter users, no match", ["query", "--no-indent", "user", "--filter",
                                    f'userName eq "absent-{suffix}"'], total(0))
    step("list users, a page of 1",
         ["query", "--no-indent", "user", "--start-index", "1", "--count", "1"],
         lambda rc, b, _: (rc == 0 and isinstance(b, dict)
                           and len(b.get("Resources") or []) == 1
                           and (b.get("totalResults") or 0) >= 1,
                           f"exit {rc}, {len((b or {}).get('Resources') or [])} resources"))
    step("search users (POST /Users/.search)", ["search", "--no-indent", "user"], total(1),
         stdin=json.dumps({"filter": f'userName eq "{user_name}"'}))
    step("patch user: replace displayName",
         ["modify", "--no-indent", "user", "{uid}", "replace", "displayName", "Smoke Patched"],
         lambda rc, b, _: (rc == 0, f"exit {rc}"), needs=("uid",))
    step("get user after PATCH", ["query", "--no-indent", "user", "{uid}"],
         field("displayName", "Smoke Patched"), needs=("uid",))
    if "uid" in state:
        step("replace user (PUT)", ["replace", "--no-indent", "user"],
             field("displayName", "Smoke Replaced"), stdin=json.dumps({
                 "schemas": [user_schema], "id": state["uid"], "userName": user_name,
                 "displayName": "Smoke Replaced",
                 "emails": [{"value": user_name, "type": "work", "primary": True}],
                 "active": True}))
    else:
        step("replace user (PUT)", [], None, needs=("uid",))
    if "uid" in state:
        step("create group with the user as member", ["create", "--no-indent", "group"],
             keep("gid"), stdin=json.dumps({"schemas": [group_schema],
                                            "displayName": group_name,
                                            "members": [{"value": state["uid"]}]}))
    else:
        step("create group with the user as member", [], None, needs=("uid",))
    step("get group: one member",
         ["query", "--no-indent", "group", "{gid}"],
         lambda rc, b, _: (rc == 0 and isinstance(b, dict)
                           and [m.get("value") for m in b.get("members") or []] == [state["uid"]],
                           f"exit {rc}, members {(b or {}).get('members')!r}"),
         needs=("gid", "uid"))
    step("get user: groups lists the group", ["query", "--no-indent", "user", "{uid}"],
         lambda rc, b, _: (rc == 0 and isinstance(b, dict)
                           and state.get("gid") in [g.get("value") for g in b.get("groups") or []],
                           f"exit {rc}, groups {(b or {}).get('groups')!r}"),
         needs=("gid", "uid"))
    step("filter groups by displayName eq",
         ["query", "--no-indent", "group", "--filter", f'displayName eq "{group_name}"'],
         total(1))
    step("patch group: remove the member",
         ["modify", "--no-indent", "group", "{gid}", "remove", 'members[value eq "{uid}"]'],
         lambda rc, b, _: (rc == 0, f"exit {rc}"), needs=("gid", "uid"))
    step("get group after PATCH: no member", ["query", "--no-indent", "group", "{gid}"],
         lambda rc, b, _: (rc == 0 and isinstance(b, dict) and not b.get("members"),
                           f"exit {rc}, members {(b or {}).get('members')!r}"),
         needs=("gid",))
    step("delete group", ["delete", "group", "{gid}"], lambda rc, b, _: (rc == 0, f"exit {rc}"),
         needs=("gid",))
    step("delete user", ["delete", "user", "{uid}"], lambda rc, b, _: (rc == 0, f"exit {rc}"),
         needs=("uid",))
    step("get deleted user: 404", ["query", "--no-indent", "user", "{uid}"],
         lambda rc, b, out: (rc != 0 and "404" in out, f"exit {rc}"), needs=("uid",))
    write(os.path.join(d, "scim2-cli-smoke.steps.json"), json.dumps(log, indent=2))
    return o


# --------------------------------------------------------------------------- scim-sanity


def t_sanity(url, env, d, name, mode) -> Outcome:
    """`scim-sanity probe URL --json-output MODE`, the token from the environment.

    The probe command has no environment variable for --token, so the CLI is
    started with click's auto_envvar_prefix, which reads SCIM_SANITY_PROBE_TOKEN.
    """
    o = Outcome(name)
    argv = [sys.executable, "-c",
            "import sys; from scim_sanity.cli import main; sys.argv[0] = 'scim-sanity'; "
            "main(auto_envvar_prefix='SCIM_SANITY')",
            "probe", url, "--i-accept-side-effects", "--json-output", "--timeout", "30", mode]
    env = dict(env)
    env.pop("SCIM_SANITY_PROBE_TOKEN", None)
    if env.get("SCIM_TOKEN"):
        env["SCIM_SANITY_PROBE_TOKEN"] = env["SCIM_TOKEN"]
    rc, out, err = run_cmd(argv, env)
    write(os.path.join(d, f"{name}.json"), out)
    if err.strip():
        write(os.path.join(d, f"{name}.stderr.txt"), err)
    try:
        report = json.loads(out)
        results = report["results"]
    except (ValueError, KeyError, TypeError):
        o.broken(f"exit {rc}, no JSON report: {tail(err or out)}")
        return o
    for r in results:
        phase = (r.get("phase") or "").split("—")[-1].strip()
        check = f"{phase}: {r.get('name')}" if phase else str(r.get("name"))
        st = r.get("status")
        detail = " | ".join(str(x) for x in (st, r.get("message"), r.get("details")) if x)
        if st == "skip":
            o.add(check, "skipped", detail)
        elif st in ("pass", "warn"):
            o.add(check, "passed", detail if st == "warn" else "", st == "warn")
        else:
            o.add(check, "failed", detail[:3000])
    if not o.checks:
        o.broken(f"exit {rc}, the report lists no check")
    return o


RUNNERS = {
    "scim2-tester": t_scim2_tester,
    "scim2-cli": t_scim2_cli,
    "scim2-cli-smoke": t_smoke,
    "scim-sanity": lambda u, e, d: t_sanity(u, e, d, "scim-sanity", "--strict"),
    "scim-sanity-compat": lambda u, e, d: t_sanity(u, e, d, "scim-sanity-compat", "--compat"),
}


# --------------------------------------------------------------------------- known deviations


def load_deviations(path):
    """Entries `tester[@family] | check pattern | reason`; the pattern is an fnmatch glob,
    the family `rfc` (/scim/v2) or `org` (/Organizations/{sid}/scim) limits the entry to
    runs against that route family."""
    entries = []
    if not path or not os.path.exists(path):
        return entries
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split("|", 2)]
            if len(parts) != 3 or not all(parts) or not re.search(r"RFC ?764[34]", parts[2]):
                raise ValueError(f"{path}:{n}: expected 'tester | check | reason citing "
                                 f"the RFC 7643/7644 section', got {line!r}")
            tester, _, family = parts[0].partition("@")
            if tester not in TESTERS:
                raise ValueError(f"{path}:{n}: unknown tester {tester!r}")
            if family not in ("", "rfc", "org"):
                raise ValueError(f"{path}:{n}: unknown route family {family!r} (rfc or org)")
            entries.append({"tester": tester, "family": family or None,
                            "check": parts[1], "reason": parts[2]})
    return entries


def family_of(url: str) -> str:
    """The route family of a base URL: `org` for /Organizations/{sid}/scim, else `rfc`."""
    return "org" if "/Organizations/" in url else "rfc"


def excuse(outcome: Outcome, deviations, family: str) -> int:
    """Turn failed checks listed as known deviations into 'known'; return how many."""
    n = 0
    for c in outcome.checks:
        if c["verdict"] != "failed":
            continue
        for dev in deviations:
            if dev["family"] not in (None, family):
                continue
            if dev["tester"] == outcome.tester and (
                    fnmatch.fnmatchcase(c["name"], dev["check"])
                    or fnmatch.fnmatchcase(f"{c['name']} {c['detail']}", dev["check"])):
                c["verdict"] = "known"
                c["known_deviation"] = dev["reason"]
                n += 1
                break
    return n


# --------------------------------------------------------------------------- main


def scrub_reports(d, token):
    if not token:
        return
    for root, _, files in os.walk(d):
        for fn in files:
            p = os.path.join(root, fn)
            try:
                with open(p, encoding="utf-8", errors="surrogateescape") as f:
                    text = f.read()
            except OSError:
                continue
            if token in text:
                write(p, text.replace(token, "$SCIM_TOKEN"))


def main(argv) -> int:
    if argv[:1] == ["--child-scim2-tester"] and len(argv) == 3:
        return scim2_tester_inprocess(argv[1], argv[2])
    args = list(argv)
    only, dev_path = None, os.path.join(HERE, "known-deviations.txt")
    for flag in ("--only", "--known-deviations"):
        if flag in args:
            i = args.index(flag)
            if i + 1 >= len(args):
                print(f"{flag} needs a value", file=sys.stderr)
                return 2
            if flag == "--only":
                only = [x for x in args[i + 1].split(",") if x]
            else:
                dev_path = args[i + 1]
            del args[i:i + 2]
    if len(args) != 2 or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    url, d = args[0].rstrip("/"), args[1]
    for name in only or []:
        if name not in RUNNERS:
            print(f"unknown tester {name!r}; known: {', '.join(TESTERS)}", file=sys.stderr)
            return 2
    try:
        deviations = load_deviations(dev_path)
    except ValueError as exc:
        print(f"known deviations: {exc}", file=sys.stderr)
        return 2
    if not shutil.which("scim2", path=BIN) or not shutil.which("scim-sanity", path=BIN):
        print("the testers are not installed beside this python; run it with the venv that "
              "`cargo xtask conformance` prepares from conformance/requirements.txt",
              file=sys.stderr)
        return 2

    os.makedirs(d, exist_ok=True)
    token = os.environ.get("SCIM_TOKEN", "")
    env = dict(os.environ)
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    for k in ("SCIM_CLI_URL", "SCIM_CLI_HEADERS", "SCIM_CLI_SCHEMAS",
              "SCIM_CLI_RESOURCE_TYPES", "SCIM_CLI_SERVICE_PROVIDER_CONFIG"):
        env.pop(k, None)
    if token:
        env["SCIM_CLI_HEADERS"] = f"Authorization: Bearer {token}"

    summary = {"base_url": url, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "testers": {}}
    text = [f"target: {url}"]
    any_failed = False
    for name in TESTERS:
        if only and name not in only:
            continue
        t0 = time.monotonic()
        try:
            outcome = RUNNERS[name](url, env, d)
        except Exception as exc:  # noqa: BLE001 - a runner bug is a failure, not a crash
            outcome = Outcome(name)
            outcome.broken("".join(traceback.format_exception(exc)))
        outcome.seconds = round(time.monotonic() - t0, 1)
        known = excuse(outcome, deviations, family_of(url))
        p, f, s = outcome.count("passed"), outcome.count("failed"), outcome.count("skipped")
        warnings = sum(1 for c in outcome.checks if c["warning"])
        line = f"{name}: {p} passed, {f} failed, {s} skipped"
        if known:
            line += f" ({known} known deviations)"
        print(line, flush=True)
        any_failed |= f > 0
        summary["testers"][name] = {"passed": p, "failed": f, "skipped": s, "known": known,
                                    "warnings": warnings, "seconds": outcome.seconds,
                                    "checks": outcome.checks}
        write(os.path.join(d, f"{name}.checks.json"), json.dumps(outcome.checks, indent=2))
        text.append("")
        text.append(f"{line}  [{warnings} warnings, {outcome.seconds}s]")
        for c in outcome.checks:
            if c["verdict"] in ("failed", "known") or c["warning"]:
                tag = {"failed": "FAIL", "known": "KNOWN"}.get(c["verdict"], "WARN")
                text.append(f"  {tag} {c['name']}")
                if c.get("detail"):
                    text.append(f"       {c['detail'][:1500]}")
                if c.get("known_deviation"):
                    text.append(f"       known deviation: {c['known_deviation']}")
    write(os.path.join(d, "summary.json"), json.dumps(summary, indent=2))
    write(os.path.join(d, "summary.txt"), "\n".join(text) + "\n")
    scrub_reports(d, token)
    return 1 if any_failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
