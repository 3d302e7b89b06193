"""Speed measurements (not tests): `python -m bench` runs the engine workloads side by side
with torch (when installed) and a plain NumPy loop, and prints the ratios."""
