"""Every page at 800 px: nothing scrolls sideways, and axe-core (axe-playwright-python) finds no
serious or critical accessibility violation."""

from __future__ import annotations

from typing import Any

import pytest

from labelwise.store import Store
from labelwise.training.train import TrainOptions, train_model
from tests.test_browser import PROJECT, browser, site  # noqa: F401 (fixtures)

PAGES = [
    "/",
    f"/projects/{PROJECT}",
    f"/projects/{PROJECT}/classes",
    f"/projects/{PROJECT}/documents",
    f"/projects/{PROJECT}/documents?filter=auto-labeled",
    f"/projects/{PROJECT}/documents/zz-untrusted",
    f"/projects/{PROJECT}/review",
    f"/projects/{PROJECT}/autolabel",
    f"/projects/{PROJECT}/audit",
    f"/projects/{PROJECT}/jobs",
    f"/projects/{PROJECT}/models",
    f"/projects/{PROJECT}/models/m1",
    "/login",
]


def test_every_page_fits_800px_and_passes_axe(site: str, store: Store, browser: Any) -> None:  # noqa: F811
    axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright")
    train_model(store, PROJECT, "m1", TrainOptions())
    axe = axe_sync.Axe()
    page = browser.new_page(viewport={"width": 800, "height": 900})
    problems = []
    for path in PAGES:
        response = page.goto(site + path)
        assert response is not None and response.status < 400, path
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 800:
            problems.append(f"{path}: scrolls sideways ({width} px)")
        results = axe.run(page)
        for v in results.response["violations"]:
            if v["impact"] in ("serious", "critical"):
                nodes = "; ".join(n["target"][0] for n in v["nodes"][:3])
                problems.append(f"{path}: {v['id']} ({v['impact']}): {v['help']} at {nodes}")
    assert not problems, "\n".join(problems)
    # the check itself can fail: an image without text is a critical violation for axe
    page.set_content('<html lang="en"><title>t</title><main><img src="x.png"></main></html>')
    found = {v["id"] for v in axe.run(page).response["violations"]}
    assert "image-alt" in found
