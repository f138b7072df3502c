"""A shield's layer on the cluster-map frame (``render_mode="rgb_array"``/``"human"``, ``srole_env.render``).

A ``ShieldWrapper`` registers itself with its env (``EdgeClusterEnv.add_render_overlay("shield", ...)``); the
renderer calls its ``draw_overlay(canvas)``, which lands here. It draws, from the shield's own figures
(``labels``, ``hosts``, ``last_report``):

* each region (more than one) as a tinted convex hull with its shield host ringed;
* a rewritten request as a dashed orange arrow to the target the agent asked for, and the placement it was
  granted instead in blue (``canvas.placement_colours``);
* the legend entries for those, and a headline line with the shield's kind, regions and rewrites.

Imported only when a frame is drawn, so a shield without a render mode never loads matplotlib.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon

from srole_env.render import BLUE, ORANGE, MapCanvas

REGION_COLOURS = (2, 4, 5, 6, 8, 9, 7)
"""tab10 colours of the regions: none of the arrows' red, orange and blue."""


def draw_shield_overlay(shield: Any, canvas: MapCanvas) -> None:
    """Draw ``shield``'s regions, rewrites, legend entries and headline line on ``canvas``."""
    labels = getattr(shield, "labels", None)
    if labels is not None and len(np.unique(labels)) > 1:
        draw_regions(canvas, np.asarray(labels), getattr(shield, "hosts", None))
    report = shield.last_report
    if canvas.result is not None and report is not None:
        original = np.asarray(report["original"])
        rewritten = np.asarray(report["rewritten"], dtype=bool)
        asked = np.flatnonzero(rewritten & (original < canvas.env.n_candidates))
        candidates = canvas.env.topology.candidates
        for i in asked:
            canvas.arrow(i, candidates[i, original[i]], ORANGE, dashed=True)
        canvas.placement_colours[rewritten] = BLUE
    canvas.legend.extend([
        Line2D([], [], color=ORANGE, linewidth=1.4, linestyle=(0, (4, 3)), label="shield: requested (denied)"),
        Line2D([], [], color=BLUE, linewidth=1.8, label="shield: granted instead"),
        Line2D([], [], marker="o", linestyle="none", markerfacecolor="none", markeredgecolor="black",
               markersize=10, label="region shield host"),
    ])
    kind = type(shield).__name__.replace("Shield", "").lower()
    regions = len(np.unique(labels)) if labels is not None else 1
    rewrites = 0 if report is None else int(report["interventions"])
    total = canvas.env.metrics()["interventions"]
    canvas.headline.append(f"shield {kind} ({regions} region{'s' if regions != 1 else ''})   "
                           f"rewrites {total} (round {rewrites})")


def draw_regions(canvas: MapCanvas, labels: np.ndarray, hosts: np.ndarray | None) -> None:
    """Each region as a tinted convex hull with a border in its colour; its shield host ringed."""
    from scipy.spatial import ConvexHull, QhullError

    ax, pos = canvas.ax, canvas.positions
    palette = colormaps["tab10"]
    for r in np.unique(labels):
        pts = pos[labels == r]
        colour = palette(REGION_COLOURS[int(r) % len(REGION_COLOURS)])
        if len(pts) >= 3:
            try:
                hull = pts[ConvexHull(pts).vertices]
            except QhullError:  # collinear members
                hull = pts
        else:
            hull = pts
        if len(hull) >= 3:
            ax.add_patch(Polygon(hull, closed=True, facecolor=(*colour[:3], 0.10), edgecolor=colour,
                                 linewidth=1.6, linestyle=(0, (6, 3)), zorder=1))
        elif len(hull) == 2:
            ax.plot(hull[:, 0], hull[:, 1], color=colour, linewidth=1.6, linestyle=(0, (6, 3)), zorder=1)
        ax.scatter(pts[:, 0], pts[:, 1], s=900 * canvas.shrink, color=(*colour[:3], 0.25),
                   edgecolors="none", zorder=2)
    if hosts is not None:
        hosts = np.asarray(hosts)
        ax.scatter(pos[hosts, 0], pos[hosts, 1], s=1300 * canvas.shrink, facecolors="none",
                   edgecolors="black", linewidths=1.4, zorder=4)
