"""Sensors: per-minute JSON files from the apartments' share into Bronze and Silver.

Owns: file names and their prediction (``names``), flattening a payload into readings (``flatten``), outlier
bounds (``outliers``), the one-pass share -> Bronze -> Silver load with its manifest (``load``), replaying
archived Bronze days (``replay``), and the task bodies of ``sensors_minutely`` and ``sensors_daily``
(``tasks``). See docs/sensors.md.
"""
