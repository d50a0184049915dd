"""Core: networks as plain data (:mod:`.network`), their notation (:mod:`.notation`), specs
(:mod:`.spec`), the whitelisting expression parser (:mod:`.expr`), time limits and the built-in
examples. No calculus here."""
