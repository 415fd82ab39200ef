"""iot-monitoring: real-time monitoring for a manufacturing line."""

from pathlib import Path

__version__ = "0.1.0"

# The repository's contract folders, read at run time (one source of truth).
ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "schema"
KNATIVE_DIR = ROOT / "knative" / "base"  # the manifests the local router takes its wiring from (overlays only tune)
