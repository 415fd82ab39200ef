"""Where the shared, read-only material sits: `../shared` beside the checkout (CI lays it there too)."""

from iotmon import ROOT

SHARED = ROOT.parent / "shared"
K8S_SCHEMAS = SHARED / "schemas" / "k8s"
COMPOSE_SCHEMA = SHARED / "schemas" / "compose-spec.json"
SKAB = SHARED / "datasets" / "skab"
