"""The synthetic region generator: one simulated population, written as each LA's real returns.

Entry point: :func:`cslake.synth.generate.generate_region`.
"""
