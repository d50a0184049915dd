"""Calculus: reverse accumulation on scalar and tensor graphs (:mod:`.derive`), the per-unit
expansion of tensor expressions (:mod:`.expand`), layered networks (:mod:`.layered`), named
simplification rules (:mod:`.simplify`), typed numbered equations (:mod:`.equations`) and the
step-by-step lines documents show (:mod:`.teaching`)."""
