"""Real training scripts with schedule mistakes planted, traced by tests/test_trace_real.py.

Each script is a user's own code: it knows nothing of the studio (no ``import schedules``) and is
run unchanged under ``python -m schedules trace -- ...``.  ``--mistake`` plants one mistake;
without it the script is correct and its trace must match its design (``*_design.json`` here).
"""
