"""Sparkplug B (pure): the translator of `spBv1.0/…` messages and the payload schema it reads.

`sparkplug_b_pb2` is generated from `sparkplug_b.proto` (see that file for how to regenerate it).
"""

from iotmon.core.sparkplug.translator import SparkplugSettings, SparkplugTranslator, host_state

__all__ = ["SparkplugSettings", "SparkplugTranslator", "host_state"]
