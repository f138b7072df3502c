"""Fault-injection checks the test suite runs (``tests/test_bad_input_sweep.py``): ``sweep`` feeds SROLE bad inputs and
faults and classifies each outcome; ``python tests/checks/sweep.py --verbose`` prints the tally on any checkout."""
