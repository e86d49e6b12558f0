"""Class mode: many isolated labs on one host (`lab class`), and the same labs rendered
for Kubernetes. See docs/classroom.md (one host) and docs/kubernetes.md (a cluster)."""
