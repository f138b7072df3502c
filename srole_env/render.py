"""Frames of the cluster map for ``render_mode="rgb_array"`` and ``"human"`` (matplotlib, Agg canvas).

Imported by ``EdgeClusterEnv.render`` only when a render mode asks for a picture, so an env without one
never loads matplotlib. A frame shows, for the round just played:

* every edge at its position; fill colour = compute utilisation (committed workers / cores, colour bar),
  marker area = sustained training FLOP/s, marker shape = device class (legend), a star on the cluster head;
* this round's placements as arrows from the deciding edge to the edge that runs the task (a dot on the
  edge itself for a local placement); red arrows and red rings mark collisions and overloaded edges;
* behind a shield (``shields.ShieldWrapper`` registers itself with the env): a rewritten request as a dashed
  arrow to the target the agent asked for and a solid blue arrow to the one it was granted; behind a
  decentralized shield, each region as a tinted convex hull with its shield host ringed;
* the round, the clock and the episode's headline metrics in the top-left corner, above the map.

The figure uses ``matplotlib.figure.Figure`` with an explicit ``FigureCanvasAgg``: no pyplot state, no
global backend switch, the same pixels on any machine. ``HumanWindow`` shows frames with pyplot.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Polygon

DEVICE_MARKERS: dict[str, str] = {
    "raspberry_pi4": "o",
    "jetson_nano": "s",
    "jetson_tx2": "^",
    "jetson_xavier_nx": "D",
    "nuc_i7": "p",
}
"""Marker per device class of ``data/devices.csv``; classes not listed get ``EXTRA_MARKERS`` in order."""
EXTRA_MARKERS = ("h", "v", "<", ">", "8", "P")
DEVICE_LABELS = {
    "raspberry_pi4": "Raspberry Pi 4",
    "jetson_nano": "Jetson Nano",
    "jetson_tx2": "Jetson TX2",
    "jetson_xavier_nx": "Jetson Xavier NX",
    "nuc_i7": "Intel NUC i7",
}
RED, ORANGE, BLUE, GREY = "#d62728", "#ff7f0e", "#1f77b4", "#303030"
UTIL_CMAP = "viridis"
REGION_COLOURS = (2, 4, 5, 6, 8, 9, 7)
"""tab10 colours of the regions: none of the arrows' red, orange and blue."""
FRAME_SIZE = (900, 900)
"""Width x height of a frame in pixels (at 100 dpi)."""


def frame(env: Any, shield: Any | None = None, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """The cluster map of ``env`` (an ``EdgeClusterEnv``) as an H x W x 3 uint8 array (see module docstring).

    ``shield``: the ``ShieldWrapper`` in front of the env, or None; its ``labels``/``hosts`` give the regions
    and its ``last_report`` the rewrites of the last round.
    """
    fig = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    draw(fig, env, shield)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def draw(fig: Figure, env: Any, shield: Any | None = None) -> None:
    """Draw the cluster map of ``env`` onto ``fig`` (an empty figure)."""
    sim, cfg = env.sim, env.config
    topo = sim.topology
    pos = topo.positions
    ax = fig.add_axes((0.02, 0.12, 0.80, 0.77))
    cax = fig.add_axes((0.86, 0.22, 0.022, 0.58))
    pad = 0.04 * cfg.area_m
    ax.set_xlim(-pad, cfg.area_m + pad)
    ax.set_ylim(-pad, cfg.area_m + pad)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])

    labels = getattr(shield, "labels", None) if shield is not None else None
    if labels is not None and len(np.unique(labels)) > 1:
        _draw_regions(ax, pos, np.asarray(labels), getattr(shield, "hosts", None))

    result = getattr(env, "_last", None)
    report = getattr(shield, "last_report", None) if shield is not None else None
    overloaded = _overloaded_edges(sim, result)
    _draw_placements(ax, topo, result, report, sim.n_candidates)

    util = sim.utilization()
    norm = Normalize(0.0, 1.0)
    cmap = colormaps[UTIL_CMAP]
    shrink = _shrink(len(pos))
    area = (40.0 + 560.0 * np.sqrt(topo.flops / topo.flops.max())) * shrink
    for k, name in enumerate(topo.device_names):
        members = np.flatnonzero(topo.device_index == k)
        if len(members) == 0:
            continue
        ax.scatter(pos[members, 0], pos[members, 1], s=area[members], c=cmap(norm(np.minimum(util[members], 1.0))),
                   marker=_marker(name, k), edgecolors=GREY, linewidths=0.8, zorder=3)
    if overloaded.any():
        ax.scatter(pos[overloaded, 0], pos[overloaded, 1], s=area[overloaded] * 2.2, facecolors="none",
                   edgecolors=RED, linewidths=2.2, zorder=4)
    ax.scatter(pos[topo.head, 0], pos[topo.head, 1] + 0.035 * cfg.area_m, s=120, marker="*", c="black", zorder=5)

    colorbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax)
    colorbar.set_label("compute utilisation (committed workers / cores)")
    _draw_legend(fig, topo, shield is not None)
    _draw_headline(ax, env, shield, result, report, int(overloaded.sum()))


# ---------------------------------------------------------------------- parts
def _shrink(n: int) -> float:
    """Marker-area factor: 1 up to 10 edges, then 1/sqrt(N/10) so big clusters stay readable."""
    return 1.0 / max(1.0, float(np.sqrt(n / 10.0)))


def _marker(name: str, k: int) -> str:
    return DEVICE_MARKERS.get(name, EXTRA_MARKERS[k % len(EXTRA_MARKERS)])


def _overloaded_edges(sim: Any, result: Any) -> np.ndarray:
    """[N] bool: over a threshold now, or overloaded by this round's placements (``caused_overload``)."""
    slots, mem = sim.committed()
    over = (slots > sim.slot_limit) | (mem > sim.mem_limit)
    if result is not None and result.caused_overload.any():
        over[result.targets[result.caused_overload]] = True
    return over


def _draw_regions(ax: Any, pos: np.ndarray, labels: np.ndarray, hosts: np.ndarray | None) -> None:
    """Each region as a tinted convex hull with a border in its colour; its shield host ringed."""
    from scipy.spatial import ConvexHull, QhullError

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
        ax.scatter(pts[:, 0], pts[:, 1], s=900 * _shrink(len(pos)), color=(*colour[:3], 0.25),
                   edgecolors="none", zorder=2)
    if hosts is not None:
        hosts = np.asarray(hosts)
        ax.scatter(pos[hosts, 0], pos[hosts, 1], s=1300 * _shrink(len(pos)), facecolors="none",
                   edgecolors="black", linewidths=1.4, zorder=4)


def _arrow(ax: Any, src: np.ndarray, dst: np.ndarray, colour: str, dashed: bool = False, width: float = 1.4) -> None:
    ax.add_patch(FancyArrowPatch(tuple(src), tuple(dst), arrowstyle="-|>", mutation_scale=12, color=colour,
                                 linewidth=width, linestyle=(0, (4, 3)) if dashed else "-", shrinkA=7, shrinkB=9,
                                 connectionstyle="arc3,rad=0.12", zorder=3.5 if dashed else 3.6))


def _draw_placements(ax: Any, topo: Any, result: Any, report: dict | None, n_candidates: int) -> None:
    """Arrows for this round's placements; behind a shield, the requested targets of rewritten actions."""
    if result is None:
        return
    pos = topo.positions
    rewritten = np.zeros(len(pos), dtype=bool)
    if report is not None:
        original = np.asarray(report["original"])
        rewritten = np.asarray(report["rewritten"], dtype=bool)
        asked = np.flatnonzero(rewritten & (original < n_candidates))
        for i in asked:
            _arrow(ax, pos[i], pos[topo.candidates[i, original[i]]], ORANGE, dashed=True)
    bad = result.collided | result.caused_overload
    for i in np.flatnonzero(result.placed):
        target = result.targets[i]
        colour = RED if bad[i] else BLUE if rewritten[i] else GREY
        if target == i:
            ax.scatter(pos[i, 0], pos[i, 1], s=14, c=colour if colour != GREY else "white", edgecolors=GREY,
                       linewidths=0.6, zorder=6)
        else:
            _arrow(ax, pos[i], pos[target], colour, width=1.8 if colour != GREY else 1.2)


def _draw_legend(fig: Figure, topo: Any, shielded: bool) -> None:
    handles = [Line2D([], [], marker=_marker(n, k), linestyle="none", markerfacecolor="#bbbbbb",
                      markeredgecolor=GREY, markersize=9, label=DEVICE_LABELS.get(n, n))
               for k, n in enumerate(topo.device_names)]
    handles.append(Line2D([], [], marker="*", linestyle="none", color="black", markersize=10, label="cluster head"))
    handles.append(Line2D([], [], color=GREY, linewidth=1.4, marker=">", markersize=5, label="placement"))
    handles.append(Line2D([], [], color=RED, linewidth=1.8, marker="o", markerfacecolor="none", markersize=9,
                          label="collision / overloaded edge"))
    if shielded:
        handles.append(Line2D([], [], color=ORANGE, linewidth=1.4, linestyle=(0, (4, 3)),
                              label="shield: requested (denied)"))
        handles.append(Line2D([], [], color=BLUE, linewidth=1.8, label="shield: granted instead"))
        handles.append(Line2D([], [], marker="o", linestyle="none", markerfacecolor="none", markeredgecolor="black",
                              markersize=10, label="region shield host"))
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8.5, frameon=False,
               bbox_to_anchor=(0.45, 0.0), title="marker area = sustained FLOP/s", title_fontsize=8.5)


def _draw_headline(ax: Any, env: Any, shield: Any | None, result: Any, report: dict | None, overloaded: int) -> None:
    sim, cfg = env.sim, env.config
    m = sim.metrics()
    jct = m["mean_jct_all"]
    lines = [
        f"round {sim.round}/{cfg.horizon}   t = {sim.time:.0f} s",
        f"jobs done {m['jobs_completed']}/{m['jobs_arrived']}   mean JCT (all) "
        + ("-" if jct != jct else f"{jct:.0f} s"),
        f"collisions {m['collisions']} (round {0 if result is None else result.collisions})   "
        f"overloads {m['overloads']} (now {overloaded})",
    ]
    if shield is not None:
        kind = type(shield).__name__.replace("Shield", "").lower()
        regions = len(np.unique(shield.labels)) if getattr(shield, "labels", None) is not None else 1
        rewrites = 0 if report is None else int(report["interventions"])
        lines.append(f"shield {kind} ({regions} region{'s' if regions != 1 else ''})   "
                     f"rewrites {m['interventions']} (round {rewrites})")
    ax.figure.text(0.02, 0.985, "\n".join(lines), va="top", ha="left", fontsize=10, family="monospace",
                   bbox=dict(boxstyle="round,pad=0.4", facecolor="white", edgecolor="#999999"))


# ---------------------------------------------------------------------- human
class HumanWindow:
    """A pyplot window that shows successive frames (``render_mode="human"``)."""

    def __init__(self) -> None:
        self._fig: Any = None
        self._image: Any = None

    def show(self, rgb: np.ndarray) -> None:
        """Show ``rgb`` (H x W x 3 uint8), opening the window on the first call."""
        import matplotlib.pyplot as plt

        if self._fig is None or not plt.fignum_exists(self._fig.number):
            plt.ion()
            self._fig = plt.figure(figsize=(rgb.shape[1] / 100, rgb.shape[0] / 100), dpi=100)
            ax = self._fig.add_axes((0, 0, 1, 1))
            ax.set_axis_off()
            self._image = ax.imshow(rgb)
        else:
            self._image.set_data(rgb)
        self._fig.canvas.draw_idle()
        plt.pause(0.001)

    def close(self) -> None:
        if self._fig is not None:
            import matplotlib.pyplot as plt

            plt.close(self._fig)
            self._fig = self._image = None
