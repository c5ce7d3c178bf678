"""The web app driven in a real headless Chromium (Debian's ``chromium`` with Playwright).

The server is the real command, ``photostyle app``, with a random-weight network at a
tiny working size. ``.ci/run`` installs Chromium when it is missing; elsewhere these tests
skip without it. With ``PHOTOSTYLE_SCREENSHOTS=DIR`` the page's screenshots for README go
to DIR (they are taken in any case).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ..conftest import REPO, bomb_png

pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("PHOTOSTYLE_CHROMIUM") or shutil.which("chromium") or shutil.which(
    "chromium-browser")
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed"),
              pytest.mark.browser]

CONTENT = REPO / "data" / "content.png"
STYLE = REPO / "data" / "style.png"
TIMEOUT_MS = 60_000
#: The app's network: random weights at 64 px (fast). For the documentation's screenshots,
#: PHOTOSTYLE_APP_TEST_ENGINE="--vgg-weights embedded --set size=256" runs the real network.
ENGINE = os.environ.get("PHOTOSTYLE_APP_TEST_ENGINE",
                        "--vgg-weights random --set size=64").split()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``photostyle app`` in a subprocess, its log in a file."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.port = free_port()
        self.log = folder / f"server-{self.port}.log"
        env = {**os.environ, "PHOTOSTYLE_OFFLINE": "1", "TORCH_HOME": str(folder / "torch")}
        env.pop("PHOTOSTYLE_APP_AUTH", None)
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "photostyle", "-v", "app", "--port", str(self.port),
                 *ENGINE, "--max-pixels", "4000000", "--max-upload-mb", "2", *args],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder)
        deadline = time.time() + 120
        while "serving on" not in self.text():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the app did not start:\n{self.text()}")
            time.sleep(0.2)
        self.url = f"http://127.0.0.1:{self.port}/"

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    app = Server(tmp_path_factory.mktemp("app"))
    yield app
    assert app.stop() == 0, app.text()
    files = re.search(r"the app's files are under (\S+)", app.text())
    assert files is not None and not Path(files.group(1)).exists()  # nothing left behind
    assert "stopped; its temporary files are deleted" in app.text()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("PHOTOSTYLE_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser, url: str, width: int = 1200):
    context = browser.new_context(viewport={"width": width, "height": 1000},
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector("#content-file input[type=file]", state="attached")
    return page


def set_file(page, selector: str, path: Path) -> None:
    """Upload ``path`` with a file component (clearing the file it shows, if any)."""
    field = page.locator(f"{selector} input[type=file]")
    if not field.count():  # the component shows a file: clear it first
        page.locator(f"{selector} button[aria-label='Clear']").first.click()
    field.set_input_files(str(path))


def upload_pair(page, content: Path = CONTENT, style: Path = STYLE) -> None:
    set_file(page, "#content-file", content)
    set_file(page, "#style-file", style)
    wait_text(page, "#content-info", "px")
    wait_text(page, "#style-info", "px")


def wait_text(page, selector: str, text: str, timeout: float = TIMEOUT_MS) -> str:
    page.wait_for_function(
        "([sel, text]) => { const e = document.querySelector(sel); "
        "return e && e.innerText.includes(text); }", arg=[selector, text], timeout=timeout)
    return page.locator(selector).inner_text()


def status(page) -> str:
    return page.locator("#status").inner_text()


def record_status(page) -> None:
    """Record every text the status line takes from now on (``recorded_status``): a short
    run's progress can be on screen for less time than a poll takes on a busy machine."""
    page.evaluate("""() => {
        const el = document.querySelector('#status');
        window.statusTexts = [el.innerText];
        new MutationObserver(() => window.statusTexts.push(el.innerText)).observe(
            el, {subtree: true, childList: true, characterData: true});
    }""")


def recorded_status(page) -> list[str]:
    return page.evaluate("window.statusTexts")


def paint_stroke(page, editor: str, top: float, bottom: float) -> None:
    """Paint blue strokes across the middle half of the canvas, from ``top`` to ``bottom``
    (fractions of its height)."""
    ed = page.locator(editor)
    ed.scroll_into_view_if_needed()
    ed.get_by_role("button", name="Brush").first.click()
    box = ed.locator("canvas").first.bounding_box()  # in the viewport: the mouse reaches it
    assert box is not None
    y = top
    while y <= bottom:
        py = box["y"] + box["height"] * y
        page.mouse.move(box["x"] + box["width"] * 0.25, py)  # strokes start on the photo
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.75, py, steps=4)
        page.mouse.up()
        y += 0.07
    page.wait_for_timeout(1500)  # the editor hands its layers over after the stroke


def choose(page, dropdown: str, option: str) -> None:
    """Pick the option of a dropdown whose label is ``option`` or starts with ``option (``
    (the settings list says what each preset costs: "paper (the paper's layers ...)")."""
    page.locator(f"{dropdown} input").click()
    label = re.compile(rf"^{re.escape(option)}( \(.*)?$")
    page.get_by_role("option", name=label).click()
    page.wait_for_function(
        "([sel, v]) => { const t = document.querySelector(sel + ' input').value; "
        "return t === v || t.startsWith(v + ' ('); }", arg=[dropdown, option])


def image_bytes(page, selector: str) -> bytes:
    src = page.locator(selector).last.get_attribute("src")
    assert src
    return page.request.get(src).body()


def decode(data: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)


def shoot(page, selector: str, path: Path, width: int = 760) -> None:
    """A small screenshot of one part of the page (PNG, at most ``width`` px wide)."""
    from PIL import Image

    element = page.locator(selector)
    element.scroll_into_view_if_needed()
    box = element.bounding_box()
    assert box is not None
    page.screenshot(path=str(path), clip=box, animations="disabled")
    with Image.open(path) as im:
        if im.width > width:
            im = im.resize((width, round(im.height * width / im.width)),
                           Image.Resampling.LANCZOS)
        # 256 colours: screenshots of a page keep their look at a fraction of the size
        im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(
            path, optimize=True)


def test_paint_run_strength_and_download(server: Server, browser, tmp_path: Path,
                                         shots: Path) -> None:
    import cv2

    page = open_page(browser, server.url)
    upload_pair(page)
    assert "400x264 px, 8-bit" in page.locator("#content-info").inner_text()
    # the status says what to do next once both photos are in
    assert "Both photos are in" in wait_text(page, "#status", "Both photos are in")

    # regions: paint the sky of both photos blue
    page.get_by_label("Paint on the photos").check()
    page.locator("#content-paint canvas").first.wait_for()
    paint_stroke(page, "#content-paint", 0.2, 0.4)
    paint_stroke(page, "#style-paint", 0.2, 0.4)
    page.locator("#show-masks").click()
    summary = wait_text(page, "#mask-summary", "shared label")
    assert "2 shared label(s)" in summary, summary
    blue = re.search(r"blue: content ([\d.]+)%, style ([\d.]+)%", summary)
    assert blue is not None and 15 < float(blue.group(1)) < 45, summary
    assert "orphan" not in summary and "unpainted" in summary
    shoot(page, "#paint-group", shots / "app-paint.png")
    shoot(page, "#regions", shots / "app-regions.png")

    # a preview within seconds, then the full run with live progress
    started = time.time()
    page.locator("#preview").click()
    wait_text(page, "#status", "preview")
    preview_seconds = time.time() - started
    record_status(page)
    page.locator("#run").click()
    started = time.time()
    deadline = time.time() + 120
    while not status(page).startswith("default: done"):
        text = status(page)
        assert time.time() < deadline, status(page)
        assert "stopped" not in text, text
        time.sleep(0.05)
    assert status(page).startswith("default: done"), status(page)
    seen = {t.split(" · ")[0] for t in recorded_status(page) if t.startswith("level")}
    assert seen, f"no progress was shown: {recorded_status(page)}"
    assert page.locator("#live img").count() >= 1
    print(f"preview in {preview_seconds:.1f} s; run: {status(page)} ({time.time() - started:.1f} s "
          f"in the page); progress seen: {sorted(seen)}")
    shoot(page, "#results", shots / "app-result.png")

    # the strength re-renders from the saved transforms
    full = decode(image_bytes(page, "#compare img"))
    live_src = page.locator("#live img").last.get_attribute("src")
    content = decode(CONTENT.read_bytes())
    page.locator("#strength input[type=range]").fill("0.3")
    page.wait_for_function(
        "(src) => { const i = document.querySelectorAll('#compare img'); "
        "return i.length && i[i.length - 1].src !== src; }",
        arg=page.locator("#compare img").last.get_attribute("src"))
    weak = decode(image_bytes(page, "#compare img"))
    assert weak.shape == full.shape == content.shape
    assert np.abs(weak - content).mean() < 0.5 * np.abs(full - content).mean()
    # the result image beside it follows the slider too
    page.wait_for_function(
        "(src) => { const i = document.querySelectorAll('#live img'); "
        "return i.length && i[i.length - 1].src !== src; }",
        arg=live_src, timeout=20_000)
    live = decode(image_bytes(page, "#live img"))
    assert live.shape == weak.shape and np.abs(live - weak).mean() < 1.0

    # download at full resolution: 16-bit PNG
    choose(page, "#format", "PNG")
    page.locator("#bits").get_by_label("16").check()
    page.locator("#export").click()
    link = page.locator("#download a").first
    link.wait_for()
    with page.expect_download() as info:
        link.click()
    saved = tmp_path / "download.png"
    info.value.save_as(saved)
    pixels = cv2.imread(str(saved), cv2.IMREAD_UNCHANGED)
    assert pixels is not None and pixels.dtype == np.uint16 and pixels.shape == (264, 400, 3)
    assert re.fullmatch(r"photostyle-\d+\.png", info.value.suggested_filename)
    # the downloaded strength is the slider's: close to the content, not equal to it
    srgb = pixels[..., ::-1].astype(np.float32) / 257.0
    assert 0 < np.abs(srgb - content).mean() < 0.5 * np.abs(full - content).mean()
    address = urllib.parse.urljoin(server.url, link.get_attribute("href") or "")
    with urllib.request.urlopen(address) as reply:
        assert reply.status == 200
    page.context.close()
    # once the tab is gone its download is too, not left in the server's cache
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(address).close()
        except urllib.error.HTTPError as err:
            if err.code != 500:  # 500: asked while the folder was being removed; ask again
                assert err.code in (403, 404), err.code
                break
        assert time.monotonic() < deadline, f"{address} is still served after the tab closed"
        time.sleep(0.5)


def test_four_clients_at_once_all_get_their_results(server: Server, browser) -> None:
    pages = [open_page(browser, server.url) for _ in range(4)]
    for page in pages:
        upload_pair(page)
    for page in pages:
        page.locator("#run").click()
    queued = False
    deadline = time.time() + 240
    while not all(status(p).startswith("default: done") for p in pages):
        assert time.time() < deadline, [status(p) for p in pages]
        queued = queued or any(re.search(r"queue:?\s*\d+\s*/\s*\d+", p.locator(
            "#live").inner_text()) for p in pages)
        for p in pages:
            assert "stopped" not in status(p), status(p)
        time.sleep(0.1)
    assert queued, "no page showed its queue position"
    for page in pages:
        page.context.close()


def test_cancel_keeps_the_best_image(server: Server, browser) -> None:
    page = open_page(browser, server.url)
    upload_pair(page)
    choose(page, "#preset", "paper")  # 1000 steps: long enough to cancel
    page.locator("#run").click()
    wait_text(page, "#status", "level 1/1 · step")
    # the page stays responsive for others while the run works: another tab uploads and
    # previews before the run is over
    other = open_page(browser, server.url)
    upload_pair(other)
    other.locator("#preview").click()
    wait_text(other, "#status", "preview: done")
    assert status(page).startswith("level 1/1"), status(page)
    other.context.close()
    page.locator("#cancel").click()
    wait_text(page, "#status", "cancelled: the best image so far is kept")
    assert page.locator("#compare img").count() == 2
    page.context.close()


def test_a_closed_tab_drops_its_queued_run(server: Server, browser) -> None:
    starts = server.text().count("run started")
    first = open_page(browser, server.url)
    upload_pair(first)
    second = open_page(browser, server.url)
    upload_pair(second)
    choose(first, "#preset", "paper")
    first.locator("#run").click()
    wait_text(first, "#status", "step")
    second.locator("#run").click()
    time.sleep(1.0)  # queued behind the first
    second.context.close()
    time.sleep(1.0)
    first.locator("#cancel").click()
    wait_text(first, "#status", "cancelled")
    time.sleep(3.0)  # the second run's turn would have come by now
    assert server.text().count("run started") == starts + 1, server.text()[-2000:]
    first.context.close()


def test_bad_uploads_give_a_message_and_the_server_keeps_serving(
        server: Server, browser, tmp_path: Path) -> None:
    page = open_page(browser, server.url)
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photo")
    set_file(page, "#content-file", text)
    toast = page.locator(".toast-body").filter(has_text="notes.jpg")
    toast.first.wait_for()
    assert "content photo notes.jpg" in toast.first.inner_text()
    assert str(tmp_path) not in page.content()
    bomb = tmp_path / "huge.png"
    bomb_png(bomb)
    set_file(page, "#style-file", bomb)
    bombed = page.locator(".toast-body").filter(has_text="huge.png")
    bombed.first.wait_for()
    assert "decompression bomb" in bombed.first.inner_text() or "pixels" in (
        bombed.first.inner_text())
    big = tmp_path / "big.png"
    big.write_bytes(os.urandom(3 * 2**20))  # over --max-upload-mb 2
    set_file(page, "#content-file", big)
    page.locator(".toast-body").filter(has_text=re.compile("large|limit|size", re.I)) \
        .first.wait_for()
    # and the page still works
    upload_pair(page)
    page.locator("#preview").click()
    wait_text(page, "#status", "preview: done")
    page.context.close()


def test_open_host_needs_a_login(tmp_path: Path) -> None:
    app = Server(tmp_path, "--host", "0.0.0.0", "--auth", "ann:copper kettle 7")
    try:
        for path in ("config", "gradio_api/info"):  # nothing without the login
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(app.url + path)
            assert err.value.code in (401, 403), path
        with urllib.request.urlopen(app.url) as reply:  # the page is a login form
            assert "auth_required" in reply.read().decode()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        data = urllib.parse.urlencode({"username": "ann", "password": "wrong"}).encode()
        with pytest.raises(urllib.error.HTTPError):
            opener.open(app.url + "login", data)
        data = urllib.parse.urlencode({"username": "ann", "password": "copper kettle 7"}).encode()
        opener.open(app.url + "login", data).close()
        with opener.open(app.url + "config") as reply:
            assert reply.status == 200
    finally:
        assert app.stop() == 0
