"""The operator's own small Kubernetes REST client (status, Secrets, Events, ConfigMaps).

kopf watches and handles; these few calls use the same credentials kopf logged in with,
through httpx, without loading the heavy ``kubernetes`` client into the operator.
"""
