"""The dashboard driven from Python, as people get it: the bundle the deploy uploads,
run in-process by Streamlit's AppTest or served by `streamlit run` and opened in
headless Chromium (Debian's chromium and chromedriver). Used by the tests and the
render benchmark."""

from __future__ import annotations

import atexit
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from operations.artifacts import build_dashboard
from sandbox.warehouse import LocalWarehouse

log = logging.getLogger("mempool.dashboard")

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
# As the machine's probe starts it: no sandbox as root, and no background traffic
# (the network is closed and Chromium would keep trying).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,2400",
)


def close_snowpark_sessions() -> None:
    """Close the app's cached Snowpark sessions while the server is still up (Snowpark
    would otherwise retry closing them at interpreter exit, for minutes)."""
    from snowflake.snowpark import session as snowpark_session

    for sess in list(snowpark_session._active_sessions):
        atexit.unregister(sess._close_at_exit)
        try:
            sess.close()
        except Exception as exc:
            # Snowpark cancels running queries with a function fakesnow lacks; the
            # connection is closed either way.
            log.debug("closing the app's session: %s", exc)


# The dashboard's pages: each is a module of the bundle with a function of its name.
PAGES = ("live", "history", "health")


@contextmanager
def app_test(
    warehouse: LocalWarehouse, home: Path, timeout_s: float = 120, page: str | None = None
) -> Iterator[Any]:
    """An AppTest of the deploy bundle (built in `home`), connected through Streamlit's
    own connection settings, as `streamlit run` in `home` would be. `page` ("live",
    "history", "health") runs that page of the bundle alone, to time it by itself."""
    import streamlit as st
    from streamlit.runtime.secrets import secrets_singleton
    from streamlit.testing.v1 import AppTest

    (home / ".streamlit").mkdir(parents=True, exist_ok=True)
    (home / ".streamlit" / "secrets.toml").write_text(warehouse.streamlit_secrets_toml())
    main_file = build_dashboard(home / "app", {"MEMPOOL_DATABASE": warehouse.database})
    # Secrets and caches live as long as the process: another warehouse's must go.
    secrets_singleton._reset()
    st.cache_data.clear()
    st.cache_resource.clear()
    previous_cwd, previous_path = Path.cwd(), list(sys.path)
    os.chdir(home)
    # `streamlit run` puts the main file's folder first on the path; AppTest does not.
    sys.path.insert(0, str(main_file.parent))
    for name in [m for m in sys.modules if m.split(".")[0] == "mempool_dashboard"]:
        del sys.modules[name]
    if page is not None:
        if page not in PAGES:
            raise ValueError(f"no page {page!r}: one of {', '.join(PAGES)}")
        script = main_file.with_name(f"page_{page}.py")
        script.write_text(f"from mempool_dashboard.{page} import {page}\n\n{page}()\n")
        main_file = script
    try:
        yield AppTest.from_file(str(main_file), default_timeout=timeout_s)
    finally:
        close_snowpark_sessions()
        os.chdir(previous_cwd)
        sys.path[:] = previous_path


def chromium_missing() -> str | None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    return (
        f"headless Chromium is missing ({CHROMIUM}, {CHROMEDRIVER}): `make browser` "
        "installs Debian's chromium and chromium-driver"
    )


@contextmanager
def headless_chromium(profile: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=DriverService(str(CHROMEDRIVER)), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def app_is_idle(browser: Any) -> bool:
    """Whether the page shows a finished run: Streamlit marks its root element with the
    script's state, and the first metrics are drawn. Live redraws itself every few
    seconds: an element redrawn between its lookup and its read is asked for again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        app = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stApp"]')
        drawn = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]')
        state = app[0].get_attribute("data-test-script-state") if app else None
    except StaleElementReferenceException:
        return False
    return bool(drawn) and state == "notRunning"


def metric_labels(browser: Any) -> set[str]:
    """The labels of the metrics on show (those of hidden tabs have no text); empty while
    a redraw replaced one under the read (a wait asks again)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        labels = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]')
        return {e.text for e in labels}
    except StaleElementReferenceException:
        return set()
