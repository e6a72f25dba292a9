"""Pure sync decisions: no I/O, no kopf, no httpx, no kubernetes."""
