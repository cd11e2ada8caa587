"""claims.html is self-contained and renders in a real browser: headless Chromium (Debian's
``chromium``; ``.ci/run`` installs it where it can) opens it from a file:// URL, with networking
off, and the test checks that every claim section and every figure rendered (no broken image) and
takes a screenshot into the test's tmp folder. Without Chromium the browser test skips, saying so."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from iwcore import figures
from iwcore.report import ClaimRecord, normalise, render

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)
# Offline, headless, no first-run or background network traffic; --no-sandbox because CI runs as root.
FLAGS = ["--headless", "--disable-background-networking", "--disable-component-update", "--no-first-run",
         "--no-default-browser-check", "--disable-sync", "--disable-extensions", "--disable-gpu", "--no-sandbox",
         "--disable-dev-shm-usage", "--metrics-recording-only"]


def make_report(tier_dir, with_missing_figure=False):
    """A report of three claims with five figures (one optionally missing) and a stability table."""
    fig_dir = tier_dir / "figures"
    epochs = np.arange(1, 51)
    effect = np.exp(-epochs / 10) * 0.1
    paths = [figures.effect_over_epochs(epochs, effect, effect - 0.02, effect + 0.02, fig_dir / "C18-effect.png",
                                        "C18: E(t)", early_end=5),
             figures.null_histogram(np.random.default_rng(0).normal(0, 0.01, 200), 0.08, 0.02,
                                    fig_dir / "C19-null.png", "C19: null E_peak"),
             figures.agreement_bars({"test": 0.97, "other": 0.89}, {"test": 0.98, "other": 0.90},
                                    fig_dir / "C11-agreement.png", "C11", paper={"test": (0.82, 0.78)}),
             figures.lines(epochs, {"w=0.25": 0.9 + epochs / 600, "w=1": 0.95 + epochs / 2000},
                           fig_dir / "C4-cosine.png", "C4", "epoch", "cosine", threshold=0.99, ylim=(0.9, 1.0))]
    rel = [str(p.relative_to(tier_dir)) for p in paths]
    if with_missing_figure:
        rel.append("figures/never-drawn.png")
    rows = [dict(part="", set="test", statistic="E at the chosen checkpoint", value=0.011, low=0.006, high=0.02,
                 rule="low > 0", p=None, t=None, verdict="REPRODUCED")]
    claims = [ClaimRecord(id="C4", claim="direction converges to the SVM's", tier="fast", verdict="NOT REPRODUCED",
                          rows=rows, figures=[rel[3]]),
              ClaimRecord(id="C11", claim="weights agree like seeds", tier="fast", verdict="REPRODUCED", rows=rows,
                          figures=[rel[2]]),
              ClaimRecord(id="C18", claim="early stopping", tier="fast", verdict="REPRODUCED", rows=rows,
                          figures=[rel[0], rel[1], *rel[4:]])]
    (tier_dir / "stability.json").write_text('{"base_seeds": [0, 1], "claims": {"C4": {"0": "NOT REPRODUCED", '
                                             '"1": "NOT REPRODUCED"}}}')
    run = {"run_id": "R1", "tier": "fast", "claims": [normalise(vars(c)) for c in claims]}
    return render(tier_dir, run)[2], len(rel)


def test_the_html_report_is_self_contained(tmp_path):
    html_path, _ = make_report(tmp_path / "fast", with_missing_figure=True)
    html = html_path.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)  # nothing fetched from a network
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img src="([^"]+)"', html))
    assert html.count("<img ") == 4 and "figure missing: figures/never-drawn.png" in html
    moved = tmp_path / "elsewhere.html"
    shutil.copy(html_path, moved)  # still whole when copied away from its folder
    assert moved.read_text() == html


def chromium(*args, timeout=90) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium; "
                                             ".ci/run installs it where apt-get is available)")
def test_claims_html_renders_every_claim_and_figure_in_headless_chromium(tmp_path):
    html_path, n_figures = make_report(tmp_path / "fast")
    url = html_path.resolve().as_uri()
    profile = f"--user-data-dir={tmp_path / 'profile'}"
    dom = chromium(profile, "--virtual-time-budget=10000", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout).group(1)
    attrs = dict(re.findall(r'data-(\w+)="(\d+)"', body))
    assert attrs == {"images": str(n_figures), "broken": "0", "claims": "3"}, body
    for claim in ("C4", "C11", "C18"):
        assert f'id="{claim}"' in dom.stdout
    assert f"{n_figures} figures, 0 not displayed" in dom.stdout
    shot = tmp_path / "claims.png"
    result = chromium(profile, f"--screenshot={shot}", "--window-size=1280,2400", "--hide-scrollbars", url)
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (2400, 1280) and pixels.min() < 100  # something was drawn, not a blank page


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed")
def test_a_missing_figure_is_visible_in_the_browser_not_a_silent_gap(tmp_path):
    html_path, _ = make_report(tmp_path / "fast", with_missing_figure=True)
    dom = chromium(f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
                   html_path.resolve().as_uri())
    assert "figure missing: figures/never-drawn.png" in dom.stdout and 'data-broken="0"' in dom.stdout
