"""Runs the outside audits for bench/audit.sh: Lighthouse (mobile and desktop), axe-core
in light and dark mode through Chromium, and the Nu HTML checker, on the pages listed in
WORK/pages ("name path [public]"). Prints a Markdown table; exits 1 when a page misses.

Usage: audit.py BASE_URL SESSION_COOKIE WORK_DIR (with LIGHTHOUSE, AXE, VNU, CHROME_PATH
in the environment)."""

import json
import os
import subprocess
import sys
import tempfile
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

base, cookie, work = sys.argv[1:4]
pages = [line.split() for line in open(os.path.join(work, "pages")) if line.strip()]
lighthouse_pages = {"home", "gallery", "image", "share"}
CHROME_FLAGS = ("--headless --no-sandbox --disable-gpu --disable-background-networking "
                "--disable-component-update --disable-sync --no-first-run")
failures = []


def lighthouse(path, public, preset):
    """(performance, accessibility) scores out of 100 and the largest paint in ms."""
    out = os.path.join(work, "lh.json")
    command = [
        os.environ["LIGHTHOUSE"], base + path, "--quiet", "--output=json",
        f"--output-path={out}", "--only-categories=performance,accessibility",
        f"--chrome-flags={CHROME_FLAGS} --user-data-dir={tempfile.mkdtemp()}",
    ]
    if preset == "desktop":
        command.append("--preset=desktop")
    if not public:
        command.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report = json.load(open(out))
    score = lambda name: round(report["categories"][name]["score"] * 100)
    lcp = report["audits"]["largest-contentful-paint"]["numericValue"]
    image_bytes = sum(
        item.get("transferSize", 0)
        for item in report["audits"]["network-requests"]["details"]["items"]
        if item.get("resourceType") == "Image"
    )
    return score("performance"), score("accessibility"), lcp, image_bytes


def browser():
    options = Options()
    options.binary_location = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
    for flag in CHROME_FLAGS.split():
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp()}")
    options.add_argument("--window-size=1366,900")
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def axe(driver, path, theme):
    """The serious and critical violations axe-core finds in `theme` ('light' or 'dark')."""
    driver.get(base + "/privacy")
    driver.execute_script("localStorage.setItem('atelier:theme', arguments[0]);", theme)
    driver.get(base + path)
    driver.execute_script(open(os.environ["AXE"]).read())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations));"
    )
    return [
        f"{v['id']} ({v['impact']}, {len(v['nodes'])}×)"
        for v in result if v["impact"] in ("serious", "critical")
    ]


def nu_errors(path, public):
    request = urllib.request.Request(base + path)
    if not public:
        request.add_header("Cookie", cookie)
    html = os.path.join(work, "page.html")
    with urllib.request.urlopen(request) as response, open(html, "wb") as out:
        out.write(response.read())
    run = subprocess.run(
        ["java", "-jar", os.environ["VNU"], "--errors-only", "--format", "json", html],
        capture_output=True, text=True,
    )
    messages = json.loads(run.stderr or "{}").get("messages", [])
    return [m["message"] for m in messages if m.get("type") == "error"]


driver = browser()
driver.get(base + "/privacy")
name, value = cookie.split("=", 1)
driver.add_cookie({"name": name, "value": value, "path": "/"})
rows = []
for entry in pages:
    name, path, public = entry[0], entry[1], len(entry) > 2
    cells = [name]
    if name in lighthouse_pages:
        for preset in ("mobile", "desktop"):
            perf, a11y, lcp, image_bytes = lighthouse(path, public, preset)
            cells.append(f"{perf} / {a11y} (LCP {lcp / 1000:.1f} s, images {image_bytes // 1000} KB)")
            if perf < 90 or a11y < 98:
                failures.append(f"{name} {preset}: performance {perf}, accessibility {a11y}")
    else:
        cells += ["–", "–"]
    for theme in ("light", "dark"):
        found = axe(driver, path, theme)
        cells.append("none" if not found else "; ".join(found))
        failures += [f"{name} {theme}: {v}" for v in found]
    errors = nu_errors(path, public)
    cells.append(str(len(errors)))
    failures += [f"{name} vnu: {e}" for e in errors]
    rows.append(cells)
driver.quit()

print("| page | Lighthouse mobile (perf / a11y) | Lighthouse desktop | axe light (serious+) | axe dark | Nu errors |")
print("|---|---|---|---|---|---:|")
for cells in rows:
    print("| " + " | ".join(cells) + " |")
if failures:
    print("\nmissed:")
    for failure in failures:
        print(f"- {failure}")
    sys.exit(1)
