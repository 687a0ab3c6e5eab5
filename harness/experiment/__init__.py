"""Experiments: the YAML schema as typed models, loading with located errors, JSON Schema export."""

from __future__ import annotations

from paychaos.experiment._load import ExperimentFile, load_experiment
from paychaos.experiment._model import (
    ConfigFaultSpec,
    ConstantShape,
    ContainerFaultSpec,
    Experiment,
    Guard,
    InvariantSpec,
    LinkFault,
    Load,
    ProcessFaultSpec,
    RampShape,
    SpikeShape,
    StagesShape,
)
from paychaos.experiment._quick import quick
from paychaos.experiment._schema import json_schema

__all__ = [
    "ConfigFaultSpec",
    "ConstantShape",
    "ContainerFaultSpec",
    "Experiment",
    "ExperimentFile",
    "Guard",
    "InvariantSpec",
    "LinkFault",
    "Load",
    "ProcessFaultSpec",
    "RampShape",
    "SpikeShape",
    "StagesShape",
    "json_schema",
    "load_experiment",
    "quick",
]
