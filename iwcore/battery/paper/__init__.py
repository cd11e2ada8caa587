"""The paper's claims (and the suite's own, C17-C20) as specs, by id."""

from iwcore.battery.paper import images, label_shift, null, remedies, synthetic, text

CLAIMS = {claim.id: claim for module in (synthetic, images, label_shift, text, remedies, null)
          for claim in module.CLAIMS}
# The claims a user's subject gets by default: each changes only what any model, loss and task have (fades; with
# Adam; L2 keeps an effect above the subject as it is; the polynomially-tailed loss keeps one above its own loss).
FOR_ANY_SUBJECT = ("C6", "C14", "C7", "C17")
