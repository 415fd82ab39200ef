"""Where things are: the repository, and the shared, read-only material beside it (`../shared`, as in CI)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "schema"
KNATIVE_DIR = REPO / "knative" / "base"

SHARED = REPO.parent / "shared"
K8S_SCHEMAS = SHARED / "schemas" / "k8s"
COMPOSE_SCHEMA = SHARED / "schemas" / "compose-spec.json"
SKAB = SHARED / "datasets" / "skab"
