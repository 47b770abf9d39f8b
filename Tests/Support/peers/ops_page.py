#!/usr/bin/python3
"""Drives the ops page in headless Chromium (Debian's chromium + chromedriver, Selenium).

    ops_page.py BASE_URL ADMIN_TOKEN SCREENSHOT_PATH [EXPECT_QUEUE EXPECT_READY]

Loads BASE_URL/ops, logs in through the page's own form with the token, waits for the queue
table, then (when EXPECT_QUEUE is given) waits until the page's own refresh shows that queue with
at least EXPECT_READY ready messages (the caller publishes them after the first render, so only a
refresh can show them). Saves a screenshot and prints one JSON object: what the page showed
first and last, the timestamps of the two renders, and the browser console's errors.
A token the ingress refuses is reported as {"refused": "..."}.
"""
import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


# Read in one script so a refresh cannot replace the elements halfway through.
STATE_SCRIPT = """
const rows = {};
for (const row of document.querySelectorAll("#queues tbody tr")) {
  const cells = [...row.cells].map((c) => c.textContent);
  rows[row.dataset.queue] = {ready: Number(cells[1]), consumers: Number(cells[3]), bad: row.classList.contains("bad")};
}
const status = document.getElementById("status");
return {
  takenAt: status.dataset.takenAt || null,
  status: status.textContent,
  deadLetters: document.getElementById("dead-letters").textContent,
  outboxBacklog: document.getElementById("outbox-backlog").textContent,
  warnings: [...document.querySelectorAll("#warnings li")].map((li) => li.textContent),
  flagRows: document.querySelectorAll("#flags tbody tr").length,
  flagTotals: document.getElementById("flag-totals").textContent,
  flagText: document.querySelector("#flags tbody").textContent,
  flagMarkup: document.querySelectorAll("#flags tbody *:not(tr):not(td)").length,
  title: document.title,
  queues: rows,
};
"""


def page_state(driver):
    return driver.execute_script(STATE_SCRIPT)


def main():
    base, token, screenshot = sys.argv[1], sys.argv[2], sys.argv[3]
    expect_queue = sys.argv[4] if len(sys.argv) > 4 else None
    expect_ready = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(base + "/ops")
        wait = WebDriverWait(driver, 20)
        wait.until(lambda d: d.find_element(By.ID, "login").is_displayed())
        driver.find_element(By.ID, "token").send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        wait.until(lambda d: d.find_element(By.ID, "content").is_displayed()
                   or "refused" in d.find_element(By.ID, "status").text)
        if not driver.find_element(By.ID, "content").is_displayed():
            print(json.dumps({"refused": driver.find_element(By.ID, "status").text}))
            return
        first = page_state(driver)
        # The caller waits for this line before it changes anything.
        print("RENDERED", flush=True)
        last = first
        if expect_queue:
            def shows_it(d):
                state = page_state(d)
                row = state["queues"].get(expect_queue)
                return state if row and row["ready"] >= expect_ready else False
            last = WebDriverWait(driver, 30, poll_frequency=0.25).until(shows_it)
        driver.save_screenshot(screenshot)
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        print(json.dumps({"first": first, "last": last, "consoleErrors": errors}))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
