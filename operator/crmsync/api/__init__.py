"""The crmsync API: pydantic models that are the single source of the CRDs."""
