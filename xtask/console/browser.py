"""The operator console in headless chromium (run by `cargo xtask console`).

Signs in with the admin token of CONSOLE_ADMIN_TOKEN, creates an organization and a token,
checks the secret is shown once, sends a SCIM create and a failing request over HTTP, and
checks that they show in the activity feed and the request log within 2 seconds, the
failure's error code linked to its documentation, then switches a debug capture on and
off and checks the captured body's password is redacted. Writes a screenshot of each page to
--screenshots. Exits non-zero at the first failed check.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WITHIN = 2.0  # seconds: the bound for the activity feed and the request log


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}", flush=True)


def scim(url, method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    req.add_header("Content-Type", "application/scim+json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--screenshots", required=True)
    args = ap.parse_args()
    url = args.url.rstrip("/")
    admin = os.environ["CONSOLE_ADMIN_TOKEN"]
    shots = args.screenshots

    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,900", "--hide-scrollbars", "--force-device-scale-factor=1"):
        opts.add_argument(a)
    service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    d = webdriver.Chrome(service=service, options=opts)
    d.set_page_load_timeout(30)
    wait = WebDriverWait(d, 10, poll_frequency=0.05)

    def shot(name):
        path = os.path.join(shots, name + ".png")
        d.save_screenshot(path)
        print(f"screenshot: {name}.png", flush=True)

    def css(sel):
        return d.find_element(By.CSS_SELECTOR, sel)

    try:
        # Sign in: the console sends an anonymous visitor to its sign-in page.
        d.get(url + "/console")
        check(d.current_url.endswith("/console/login"), "an anonymous visit goes to sign-in")
        shot("sign-in")
        css("#token").send_keys("not-a-token")
        css("form button[type=submit]").click()
        refused = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "p.error"))
        check("not valid" in refused[0].text, "a wrong token is refused")
        css("#token").send_keys(admin)
        css("form button[type=submit]").click()
        wait.until(lambda d: d.current_url.endswith("/console/orgs"))
        check(css("h1").text == "Organizations", "signed in with the admin token")
        cookie = d.get_cookie("scim_console")
        check(cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Strict",
              "the session cookie is HttpOnly and SameSite=Strict")

        # An organization.
        css("#org-name").send_keys("Acme Corp")
        css("form[action='/console/orgs'] button[type=submit]").click()
        wait.until(lambda d: "/console/orgs/OR" in d.current_url)
        sid = d.current_url.rsplit("/", 1)[1]
        check(css("h1").text.startswith("Acme Corp"), f"organization {sid} created")

        # A token: the secret once, with the values for Entra and Okta.
        css("#token-name").send_keys("entra-prod")
        css("#new-token button[type=submit]").click()
        secret_box = wait.until(lambda d: d.find_element(By.ID, "secret-value"))
        secret = secret_box.get_attribute("value")
        check(len(secret) >= 32, "the new token's secret is shown")
        tenant = css("#tenant-url").text
        check(tenant == url + "/scim/v2", f"the tenant URL is {tenant}")
        css("button[data-copy]").click()
        shot("token-created")
        d.refresh()
        check(not d.find_elements(By.ID, "secret-value") and secret not in d.page_source,
              "a reload does not show the secret again")
        shot("organization")

        # Request log in one window, activity feed in another, both live.
        d.get(f"{url}/console/requests?org={sid}")
        requests_window = d.current_window_handle
        d.switch_to.new_window("window")
        d.get(f"{url}/console/activity?org={sid}")
        wait.until(lambda d: css("#live-state").text == "Live.")

        user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "ada.lovelace@example.com",
                "name": {"formatted": "Ada Lovelace"}, "active": True}
        t0 = time.monotonic()
        status, headers, body = scim(tenant, "POST", "/Users", secret, user)
        check(status == 201, "the SCIM create with the new token answers 201")
        uid = body["id"]
        rid = headers.get("X-Request-Id") or headers.get("x-request-id")
        WebDriverWait(d, WITHIN, poll_frequency=0.05).until(
            lambda d: uid in css("#activity tbody").text)
        t_activity = time.monotonic() - t0
        row = css("#activity tbody tr").text
        check(rid in row and "create" in row and "TK" in row, f"the change shows in the activity feed after "
              f"{t_activity:.2f} s with its operation, credential and request id")
        shot("activity")

        d.switch_to.window(requests_window)
        WebDriverWait(d, max(0.1, WITHIN - (time.monotonic() - t0)), poll_frequency=0.05).until(
            lambda d: rid in css("#requests tbody").text)
        t_log = time.monotonic() - t0
        check(t_log <= WITHIN, f"the request shows in the request log after {t_log:.2f} s")

        # A failing request: its error code links to its documentation.
        status, _, err = scim(tenant, "GET", "/Users?filter=userName%20zz%20%22x%22", secret)
        check(status == 400, "a bad filter answers 400")
        link = WebDriverWait(d, WITHIN + 1, poll_frequency=0.05).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "#requests a.code"))
        href = link.get_attribute("href")
        check(link.text == "21400" and href.endswith("/docs/errors#21400"),
              f"the failure's code {link.text} links to {href}")
        shot("requests")
        link.click()
        wait.until(lambda d: d.find_elements(By.ID, "21400"))
        check("/docs/errors" in d.current_url, "the link opens the error's documentation")
        shot("error-docs")

        # A debug capture: switched on from the organization's page, it keeps the bodies
        # of the organization's requests, the password redacted.
        d.get(f"{url}/console/orgs/{sid}")
        css(f"form[action='/console/orgs/{sid}/capture'] button[type=submit]").click()
        state = wait.until(lambda d: d.find_element(By.ID, "capture-state"))
        check("Capturing" in state.text, "a debug capture is switched on")
        captured = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "grace.hopper@example.com", "password": "Cobol-1959-secret"}
        status, _, _ = scim(tenant, "POST", "/Users", secret, captured)
        check(status == 201, "a create during the capture answers 201")
        d.get(f"{url}/console/requests?org={sid}")
        css("#requests a.capture").click()
        wait.until(lambda d: d.find_elements(By.ID, "capture-request"))
        kept = css("#capture-request").text
        check("grace.hopper@example.com" in kept and "[redacted]" in kept
              and "Cobol-1959-secret" not in d.page_source,
              "the captured request body is shown with its password redacted")
        check("grace.hopper@example.com" in css("#capture-response").text,
              "the captured response body is shown")
        shot("capture")
        d.get(f"{url}/console/orgs/{sid}")
        css(f"form[action='/console/orgs/{sid}/capture'] button.danger").click()
        wait.until(lambda d: "Debug capture stopped." in d.page_source)
        check(not d.find_elements(By.ID, "capture-state"), "the capture is stopped")

        # Directory, a user's detail, health, the organization list.
        d.get(f"{url}/console/orgs/{sid}/directory")
        check(uid in css("#directory").text, "the directory lists the user")
        shot("directory")
        css("#filter").send_keys('userName zz "x"')
        css("form.filters button").click()
        shown = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "div.error"))
        check("21400" in shown[0].text, "a bad SCIM filter shows the SCIM error")
        d.get(f"{url}/console/orgs/{sid}/directory/{uid}")
        check("ada.lovelace@example.com" in css("pre.json").text, "the detail shows the JSON")
        shot("user")
        d.get(f"{url}/console/health?org={sid}")
        check(d.find_elements(By.CSS_SELECTOR, "svg.chart rect.req"), "health charts the requests")
        check("21400" in d.page_source, "health lists the error code")
        shot("health")
        d.get(url + "/console/orgs")
        shot("organizations")
        css("header form button").click()
        wait.until(lambda d: d.current_url.endswith("/console/login"))
        d.get(url + "/console/orgs")
        check(d.current_url.endswith("/console/login"), "signed out")
        print(f"console browser test: all checks passed (activity {t_activity:.2f} s, "
              f"request log {t_log:.2f} s)", flush=True)
    except Exception:
        try:
            shot("failure")
        finally:
            raise
    finally:
        d.quit()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
