"""Where things are: the repository, and the shared, read-only material beside it (`../shared`, as in CI)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "schema"
KNATIVE_DIR = REPO / "knative" / "base"

# The upstream schemas the deployment files are checked against offline. They are not the project's: CI has
# them in ../shared beside the checkout; a clone on its own skips those checks (tests/support/deployment.py).
SHARED = REPO.parent / "shared"
K8S_SCHEMAS = SHARED / "schemas" / "k8s"
COMPOSE_SCHEMA = SHARED / "schemas" / "compose-spec.json"
FUNC_YAML_SCHEMA = SHARED / "schemas" / "func_yaml-schema.json"
