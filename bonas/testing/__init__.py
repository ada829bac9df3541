"""Conformance suites that users' own components can reuse (as optuna ships
``optuna.testing``): subclass one in a pytest module and say how to build yours.

* :class:`~bonas.testing.searchers.SearcherConformance`: every
  :class:`~bonas.searchers.Searcher` (ask/tell, batches, failures, resume).

These import pytest, which bonas itself does not need: install it to use them.
"""
