"""What the kopf handlers delegate to: resolve references, run, record status."""
