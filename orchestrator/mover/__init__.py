"""The mover (``fabfleet-mover``): in a k3s cluster, a USB printer's pod follows its printer.

A printer pod asks for its printer's extended resource, which only the node the printer is
plugged into advertises, so the scheduler places a new pod there. A running pod stays
where it was started: when the printer is unplugged, its print server exits with status 75
(device gone) and the kubelet restarts it on the old node, where the device stays missing.
The mover deletes such a pod, with a precondition on its uid, so that its Deployment makes
a new one that the scheduler places where the printer is plugged in now (or leaves Pending
until it is plugged in somewhere).

``decide`` says which pods to delete and why, from the API's pod list, with no I/O;
``api`` is the Kubernetes API client (HTTPS with the pod's ServiceAccount token);
``loop`` asks, decides and deletes every few seconds; ``cli`` is the command line.
Runs in the cluster from the hub's image (rendering/k3s.py renders its Deployment, its
ServiceAccount and a Role that may only read and delete pods in the fleet's namespace).
May not import the other parts of the orchestrator, the hub or the print server: it needs
nothing of them, and keeps its own import small. docs/kubernetes.md describes it.
"""
