"""The README's picture of the web page: serve a run dir, interpolate two of the page's example files in
headless Chromium, save a PNG.

    python scripts/web_screenshot.py --model .demo/runs/cat-mel_2bar_small --output docs/web.png

Needs what the browser test needs (Debian's chromium and chromium-driver, selenium).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser import browser_missing, chromium  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="run dir with a model export")
    ap.add_argument("--output", default="docs/web.png", help="PNG to write (default docs/web.png)")
    ap.add_argument("--steps", type=int, default=5, help="interpolation steps (default 5)")
    args = ap.parse_args()
    if browser_missing():
        sys.exit(browser_missing())
    from ray import serve
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from raymvae.runtime import init_ray
    from raymvae.serve.app import build_app
    from raymvae.serve.launch import start_http

    init_ray(None)
    url = start_http()
    serve.run(build_app({"model": args.model}), name="raymvae-screenshot", route_prefix="/", blocking=False)
    driver = chromium(Path(tempfile.mkdtemp()))
    try:
        wait = WebDriverWait(driver, 120)
        driver.get(url + "/")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
        driver.find_element(By.ID, "use-examples").click()
        wait.until(lambda d: d.find_element(By.ID, "name-b").text.endswith(".mid"))
        steps = driver.find_element(By.ID, "steps")
        steps.clear()
        steps.send_keys(str(args.steps))
        driver.find_element(By.ID, "run-interpolate").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rolls .roll")) == args.steps)
        driver.find_elements(By.CSS_SELECTOR, "#rolls .play")[0].click()
        driver.save_screenshot(args.output)
    finally:
        driver.quit()
        serve.shutdown()
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
