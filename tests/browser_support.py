"""Chromium driving for the page tests: the Debian browser through Playwright with a y4m file as
its camera (DESIGN §8), sign-in, screenshots and the app's own REST calls."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = os.environ.get("FACESTREAM_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@asynccontextmanager
async def chromium(camera: Path | None = None, extra_args: tuple[str, ...] = ()) -> AsyncIterator[Browser]:
    args = [*ARGS, *extra_args]
    if camera is not None:
        args.append(f"--use-file-for-fake-video-capture={camera}")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield browser
        finally:
            await browser.close()


class PageWatch:
    """Console errors and failed requests of one page: a page bug shows up here."""

    def __init__(self, page: Page) -> None:
        self.console: list[str] = []
        self.failed: list[str] = []
        self.offsite: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 500 else None)
        page.on("request", lambda r: self.offsite.append(r.url)
                if not r.url.startswith(("http://127.0.0.1", "http://localhost", "data:", "blob:")) else None)

    def errors(self) -> list[str]:
        return [line for line in self.console if line.startswith("error")]


async def sign_in(page: Page, api_key: str, api_secret: str, form: str = "#signin-form") -> None:
    await page.fill(f"{form} input[name=api_key]", api_key)
    await page.fill(f"{form} input[name=api_secret]", api_secret)
    await page.click(f"{form} button[type=submit]")


async def shot(page: Page, name: str, full_page: bool = False) -> Path:
    """A screenshot kept in $FACESTREAM_SCREENSHOTS (default /tmp/facestream-shots) to look at."""
    folder = Path(os.environ.get("FACESTREAM_SCREENSHOTS", "/tmp/facestream-shots"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 5_000
    return path

