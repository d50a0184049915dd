"""The pages in a real browser: headless Chromium (Debian's chromium and chromium-driver) driven
by Selenium against ``serve`` on 127.0.0.1.

A student types a wrong answer into the check page and sees the diagnosis and the
counterexample appear, then the right one and sees "correct"; an unreadable line gets its
problem marked; the derivation page (English and Chinese) and the grading report are opened
too. A screenshot of each page is saved in $SYMBACKPROP_SCREENSHOTS (default: the test's
temporary folder). Skipped only when chromium or chromedriver is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)
WAIT = 60  # seconds for a verdict to appear (a loaded CI machine; a verdict takes well under 1 s)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SYMBACKPROP_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A report folder written by ``grade`` for a small class (real checker)."""
    folder = tmp_path_factory.mktemp("class")
    (folder / "answers.csv").write_text(
        "student,question,answer,target\n"
        'ada,q1,"\\delta_6 = (y_6 - t_6) y_6 (1 - y_6)",delta_6\n'
        'ada,q2,"\\delta_6 y_4",dE/dw_64\n'
        'bob,q1,"\\delta_6 = (t_6 - y_6) y_6 (1 - y_6)",delta_6\n'
        'bob,q2,"\\delta_6 y_5",dE/dw_64\n'
        'carol,q1,"\\delta_6 = (y_6 - t_6",delta_6\n'
        '"<script>alert(1)</script>",q2,"\\text{<b>x</b>}",dE/dw_64\n',
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "symbackprop", "grade", "fc-3-2-2", str(folder / "answers.csv")]
    subprocess.run([*command, "-o", str(folder / "report")], check=True, timeout=300, capture_output=True)
    return folder / "report"


@pytest.fixture(scope="module")
def server(report):
    from web_server import running

    from symbackprop.web.app import Settings

    with running(Settings(specs=("fc-3-2-2", "ufldl-3-3-1"), report=str(report))) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, seconds: float = WAIT):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(condition)


def _type(driver, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "answer")
    box.clear()
    box.send_keys(text)


def _verdict_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return " ".join(v.text for v in driver.find_elements(By.CSS_SELECTOR, "#lines .verdict"))


def _full_page(driver, path: Path) -> None:
    height = driver.execute_script("return Math.min(document.body.scrollHeight, 6000)")
    driver.set_window_size(1280, max(800, height + 40))
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1000)


def test_check_page_shows_the_diagnosis_then_correct(server, browser, shots):
    from selenium.webdriver.common.by import By

    browser.get(server + "/check/fc-3-2-2")
    assert browser.find_elements(By.CSS_SELECTOR, "table.quantities math")  # the names, as MathML
    _type(browser, r"\delta_6 = (t_6 - y_6) y_6 (1 - y_6)")
    _wait(browser, lambda d: "incorrect" in d.find_element(By.CSS_SELECTOR, "#lines .verdict").get_attribute("class"))
    verdict = browser.find_element(By.CSS_SELECTOR, "#lines .verdict")
    assert "the sign is wrong" in verdict.text
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#lines .counterexample td.name math")) == 2)
    names = [td.text.replace("\n", "") for td in verdict.find_elements(By.CSS_SELECTOR, ".counterexample td.name")]
    assert sorted(names) == ["t6", "y6"]  # the counterexample's values, as a table, the names as maths
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#lines .preview math"))  # the live preview
    _full_page(browser, shots / "check-wrong.png")

    _type(browser, r"\delta_6 = (y_6 - t_6) y_6 (1 - y_6)")
    _wait(browser, lambda d: "correct" == d.find_element(By.CSS_SELECTOR, "#lines .verdict .word").text)
    assert "verdict correct" in browser.find_element(By.CSS_SELECTOR, "#lines .verdict").get_attribute("class")
    _full_page(browser, shots / "check-right.png")


def test_several_lines_follow_from_and_a_marked_position(server, browser, shots):
    from selenium.webdriver.common.by import By

    browser.get(server + "/check/fc-3-2-2?target=delta_4")
    assert "derive" in browser.find_element(By.CSS_SELECTOR, ".question").text
    lines = [
        r"\delta_5 = (\delta_6 w_{65} + \delta_7 w_{75}",
        r"\delta_4 = \delta_6 w_{64} y_4 (1 - y_4)",
        r"&= y_4 (1 - y_4) w_{64} \delta_6",
    ]
    _type(browser, "\n".join(lines))
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#lines .verdict .word")) == 3)
    text = _verdict_text(browser)
    assert "a term is missing" in text and "follows from line 2" in text
    marks = browser.find_elements(By.CSS_SELECTOR, "#lines .verdict.invalid .source mark")
    assert marks, "the unreadable line's problem is marked"
    assert "incorrect" in browser.find_element(By.CSS_SELECTOR, "#overall .verdict").get_attribute("class")
    _full_page(browser, shots / "check-lines.png")


def test_a_script_answer_is_shown_as_text(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server + "/check/fc-3-2-2")
    _type(browser, r"\delta_6 = \text{<img src=x onerror=alert(1)>} <script>alert(2)</script>")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#lines .verdict .word"))
    assert not browser.find_elements(By.CSS_SELECTOR, "#lines img, #lines script")
    assert browser.execute_script("return document.querySelectorAll('script').length") == 2  # check.js and config


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_derivation_page(server, browser, shots, lang):
    from selenium.webdriver.common.by import By

    browser.get(server + f"/derivation/ufldl-3-3-1?lang={lang}")
    formulas = browser.find_elements(By.CSS_SELECTOR, "article.document math")
    assert len(formulas) > 50
    heading = browser.find_element(By.CSS_SELECTOR, "article.document h2").text
    assert heading == ("The network" if lang == "en" else "网络结构")
    links = {a.text: a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, ".tools a")}
    assert any("/download/ufldl-3-3-1/ipynb" in (href or "") for href in links.values())
    browser.save_screenshot(str(shots / f"derivation-{lang}.png"))  # the top: title, picture, switches
    browser.execute_script("document.querySelectorAll('article.document h2')[4].scrollIntoView()")
    browser.save_screenshot(str(shots / f"derivation-{lang}-hidden.png"))  # the step-by-step error terms


def test_report_page(server, browser, shots):
    from selenium.webdriver.common.by import By

    browser.get(server + "/report")
    rows = browser.find_elements(By.CSS_SELECTOR, "#answers > tbody > tr")
    assert len(rows) == 6
    assert browser.find_elements(By.CSS_SELECTOR, "#answers td.rendered math")
    assert "<script>alert(1)</script>" in browser.find_element(By.ID, "answers").text  # shown as text
    box = browser.find_element(By.ID, "filter")
    box.send_keys("bob")
    assert len([r for r in rows if r.is_displayed()]) == 2
    box.clear()
    box.send_keys(" ")
    browser.find_elements(By.CSS_SELECTOR, "#answers thead th")[3].click()  # sort by verdict
    _full_page(browser, shots / "report.png")
