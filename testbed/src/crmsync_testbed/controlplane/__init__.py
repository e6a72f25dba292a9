"""A real local Kubernetes control plane: etcd + kube-apiserver as plain processes.

Like controller-runtime's envtest, without a kubelet, scheduler or controller-manager:
everything that lives in the API server (CRD validation and CEL, defaulting, pruning,
status subresource, watches, finalizers, RBAC, Events, Leases) is real.
"""

from crmsync_testbed.controlplane.process import ControlPlane, main_down, main_up

__all__ = ["ControlPlane", "main_down", "main_up"]
