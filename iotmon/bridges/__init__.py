"""Bridges from plant protocols into the pipeline: MQTT (with Sparkplug B) and OPC UA."""
