"""iot-monitoring: real-time monitoring for a manufacturing line.

Layers, each importing only the ones below it (checked by import-linter in `make test`):
shells (`cli`, `system`, `simulator`) → `functions` and `service` → `adapters` and `eventing` → `core`.
"""

__version__ = "0.1.0"
