"""Reconciliation: did every order become a conversion at every destination, day by day?

``sgtm reconcile`` and ``sgtm ledger`` (``cli.py``) read the store through
``sidecar.store.reconcile.ReconcileStore``; ``days`` turns dates into shop-time windows,
``compute`` counts, ``render`` prints, ``pulls`` asks the platforms for the orders they know,
``ga4`` asks GA4 what it counted, ``html`` draws the report. docs/reconcile.md explains it.
"""
