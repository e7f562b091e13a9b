"""Metrics: pure functions from canonical tables (Ibis expressions) to results, on any Ibis engine.

* :mod:`covalue.metrics.classify` — item roles (question, answer, idea, resource, gratitude, social)
* :mod:`covalue.metrics.interactions` — who responded to whom
* :mod:`covalue.metrics.maturity` — member stages, evidence, personas, journeys, community checks
"""
