"""claims.html as a person sees it: headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it where it
can) opens it from a file:// URL, with networking off, at 1366x768: the first screen is the headline table,
every verdict word has its own colour, every claim section and figure rendered (no broken image), and the page
weighs little (figures are files beside it). Without Chromium the browser tests skip, saying so."""

from __future__ import annotations

import html as htmllib
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from iwcore import figures
from iwcore.report import ClaimRecord, normalise, render

MAX_HTML_BYTES = 3_000_000
CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)
# Offline, headless, no first-run or background network traffic; --no-sandbox because CI runs as root.
FLAGS = ["--headless", "--disable-background-networking", "--disable-component-update", "--no-first-run",
         "--no-default-browser-check", "--disable-sync", "--disable-extensions", "--disable-gpu", "--no-sandbox",
         "--disable-dev-shm-usage", "--metrics-recording-only"]


def make_report(tier_dir, with_missing_figure=False, n_claims=20):
    """A report of ``n_claims`` claims (every verdict, one declared limit) sharing four figures, each claim
    linking all four (as the fast tier's 121 figures: many per claim), one optionally missing, and stability."""
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
    verdicts = ["REPRODUCED", "NOT REPRODUCED", "UNDECIDED", "INCONCLUSIVE"]
    claims = []
    for i in range(1, n_claims + 1):
        verdict = verdicts[i % 4]
        rows = [dict(part="", set="test", statistic="E_peak (epoch 1); permutation max-T", value=0.08, low=None,
                     high=0.03, rule="p <= 0.025 (high = null 97.5th percentile of T)", p=0.0001, t=None, verdict=None),
                dict(part="", set="test", statistic="F = E_final / E_peak (Fieller)", value=0.11, low=0.05, high=0.2,
                     rule="F <= 0.25", p=None, t=None, verdict=verdict)]
        expected = {"verdicts": [verdict], "reason": "measured over base seeds 0-4: too few SGD steps"} if i == 8 else None
        claims.append(ClaimRecord(id=f"C{i}", claim="a claim of the paper", tier="fast", verdict=verdict, rows=rows,
                                  expected=expected, figures=rel if i <= 6 else []))
    (tier_dir / "stability.json").write_text(json.dumps({"base_seeds": [0, 1], "claims": {
        f"C{i}": {"0": verdicts[i % 4], "1": verdicts[(i + 1) % 4]} for i in range(1, n_claims + 1)}}))
    run = {"run_id": "R1", "tier": "fast", "claims": [normalise(vars(c)) for c in claims]}
    return render(tier_dir, run)[2], len(rel) * 6


def test_the_html_report_links_its_figures_and_weighs_little(tmp_path):
    html_path, _ = make_report(tmp_path / "fast", with_missing_figure=True)
    html = html_path.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)  # nothing fetched from a network
    assert all(src.startswith("figures/") for src in re.findall(r'<img src="([^"]+)"', html))
    assert html.count("<img ") == 24 and html.count("figure missing: figures/never-drawn.png") == 6
    assert html_path.stat().st_size < MAX_HTML_BYTES / 20  # a page, not a bundle of images


def chromium(*args, timeout=90) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=timeout)


def dom_attributes(tmp_path, html_path) -> tuple[dict, str]:
    dom = chromium(f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1366,768", "--virtual-time-budget=10000",
                   "--dump-dom", html_path.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout).group(1)
    return {k: htmllib.unescape(v) for k, v in re.findall(r'data-([\w-]+)="([^"]*)"', body)}, dom.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium; "
                                             ".ci/run installs it where apt-get is available)")
def test_first_screen_is_the_headline_table_and_every_verdict_has_its_colour(tmp_path):
    html_path, n_figures = make_report(tmp_path / "fast")
    attrs, dom = dom_attributes(tmp_path, html_path)
    assert (attrs["images"], attrs["broken"], attrs["claims"]) == (str(n_figures), "0", "20"), attrs
    assert int(attrs["headline-top"]) < 768 // 3  # the headline table starts on the first screen, near its top
    colours = json.loads(attrs["colours"])
    assert set(colours) == {"REPRODUCED", "NOT REPRODUCED", "UNDECIDED", "INCONCLUSIVE"}
    assert all(len(c) == 1 for c in colours.values()), colours  # one colour per verdict word, wherever it appears
    assert len({next(iter(c)) for c in colours.values()}) == 4  # and four different colours
    assert f"{n_figures} figures, 0 not displayed" in dom
    shot = tmp_path / "claims.png"
    result = chromium(f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1366,768",
                      "--hide-scrollbars", html_path.resolve().as_uri())
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape == (768, 1366, 3)
    red = (pixels[..., 0] > 140) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)  # NOT REPRODUCED's words
    green = (pixels[..., 1] > 80) & (pixels[..., 0] < 40) & (pixels[..., 2] < 60)  # REPRODUCED's
    assert red.sum() > 100 and green.sum() > 100  # coloured verdicts are on the first screen


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed")
def test_a_missing_figure_is_visible_in_the_browser_not_a_silent_gap(tmp_path):
    html_path, _ = make_report(tmp_path / "fast", with_missing_figure=True)
    attrs, dom = dom_attributes(tmp_path, html_path)
    assert "figure missing: figures/never-drawn.png" in dom and attrs["broken"] == "0"
