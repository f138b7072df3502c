"""References that are not agents: the derived per-job JCT lower bound (``bound``), the fluid LP bound
valid for every schedule (``fluid_bound``) and the solver optimum of small instances (``optimal``, CP-SAT).
Methods are measured against them; nothing here schedules a live cluster."""
