"""Conformance suites that users' own components can reuse (as optuna ships
``optuna.testing``): subclass one in a pytest module and say how to build yours.

* :class:`~bonas.testing.searchers.SearcherConformance`: every
  :class:`~bonas.searchers.Searcher` (ask/tell, batches, failures, resume);
* :class:`~bonas.testing.kernels.ArchitectureKernelTestCase`: every GP kernel over
  architecture ids (shapes, batches, PSD after the fix-up, gradients, bad ids);
* :class:`~bonas.testing.spaces.SpaceConformance`: every
  :class:`~bonas.spaces.base.SearchSpace` (samples, mutants, seeds, JSON, foreign
  vocabularies, neighbourhoods, enumeration);
* :class:`~bonas.testing.tables.TableConformance`: every benchmark
  :class:`~bonas.benchmarks.tables.base.Table`, a user's own included (fidelities,
  values, seeds, refusals, the optimum).

These import pytest, which bonas itself does not need: install it to use them.
"""
