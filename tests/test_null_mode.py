"""Negative control on a real image sweep: with the weights silently ignored (the sweep's null mode: every
model trained unweighted, ratio labels kept), no rule that needs an effect of weighting says REPRODUCED.
The sweep is C6's fast-tier CNN sweep in null mode, shared through the cache with claim C19."""

import pytest

from iwcore.battery.claim import summarize
from iwcore.battery.paper.images import CNN
from iwcore.verdicts import Verdict, fades, persists


@pytest.mark.fast
def test_an_image_sweep_that_ignores_its_weights_reproduces_no_effect_claim(run_sweep):
    null = run_sweep(CNN.sweep("fast").null())
    assert null.config["null_weights"]
    for eval_set in ("test", "other", "noise"):
        s = summarize(null, eval_set)
        assert fades(s).verdict != Verdict.REPRODUCED, eval_set
        assert persists(s).verdict != Verdict.REPRODUCED, eval_set
