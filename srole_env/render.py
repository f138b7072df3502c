"""Frames of the cluster map for ``render_mode="rgb_array"`` and ``"human"`` (matplotlib, Agg canvas).

Imported by ``EdgeClusterEnv.render`` only when a render mode asks for a picture, so an env without one
never loads matplotlib. A frame shows, for the round just played:

* every edge at its position; fill colour = compute utilisation (committed workers / cores, colour bar),
  marker area = sustained training FLOP/s, marker shape = device class (legend), a star on the cluster head;
* this round's placements as arrows from the deciding edge to the edge that runs the task (a dot on the
  edge itself for a local placement); red arrows and red rings mark collisions and overloaded edges;
* the env's render overlays (``EdgeClusterEnv.add_render_overlay``), each drawing its own layer on a
  ``MapCanvas``: a shield (``shields.overlay``) draws a rewritten request as a dashed arrow to the target the
  agent asked for and colours the placement it was granted blue; behind a decentralized shield, each region
  as a tinted convex hull with its shield host ringed;
* the round, the clock and the episode's headline metrics in the top-left corner, above the map.

The figure uses ``matplotlib.figure.Figure`` with an explicit ``FigureCanvasAgg``: no pyplot state, no
global backend switch, the same pixels on any machine. ``HumanWindow`` shows frames with pyplot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

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
FRAME_SIZE = (900, 900)
"""Width x height of a frame in pixels (at 100 dpi)."""


@dataclass
class MapCanvas:
    """The frame an overlay draws on (``draw_overlay(canvas)``), called before the base layers so the map's
    edges stay on top; what the overlay adds to ``placement_colours``, ``legend`` and ``headline`` is drawn
    with the base layers."""

    ax: Any  # the map's matplotlib Axes (data coordinates: metres)
    env: Any  # the EdgeClusterEnv being drawn
    positions: np.ndarray  # [N, 2] edge positions
    result: Any  # the last RoundResult, None before the first step
    placement_colours: np.ndarray  # [N] colour of each placement's arrow (GREY; RED wins for collisions)
    legend: list[Any] = field(default_factory=list)  # extra legend handles (matplotlib artists)
    headline: list[str] = field(default_factory=list)  # extra lines under the headline

    @property
    def shrink(self) -> float:
        """Marker-area factor for this cluster size (see ``_shrink``)."""
        return _shrink(len(self.positions))

    def arrow(self, src: int, dst: int, colour: str, dashed: bool = False, width: float = 1.4) -> None:
        """An arrow from edge ``src`` to edge ``dst`` in the style of the placements."""
        _arrow(self.ax, self.positions[src], self.positions[dst], colour, dashed=dashed, width=width)


def frame(env: Any, overlay: Any | None = None, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """The cluster map of ``env`` (an ``EdgeClusterEnv``) as an H x W x 3 uint8 array (see module docstring).

    ``overlay``: one object with ``draw_overlay(canvas)`` to draw instead of the env's registered
    ``render_overlays`` (e.g. the ``ShieldWrapper`` in front of the env), or None for those.
    """
    fig = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    draw(fig, env, overlay)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def draw(fig: Figure, env: Any, overlay: Any | None = None) -> None:
    """Draw the cluster map of ``env`` onto ``fig`` (an empty figure); ``overlay`` as in ``frame``."""
    cfg = env.config
    topo = env.topology
    pos = topo.positions
    ax = fig.add_axes((0.02, 0.12, 0.80, 0.77))
    cax = fig.add_axes((0.86, 0.22, 0.022, 0.58))
    pad = 0.04 * cfg.area_m
    ax.set_xlim(-pad, cfg.area_m + pad)
    ax.set_ylim(-pad, cfg.area_m + pad)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])

    result = env.last_result
    layer = MapCanvas(ax, env, pos, result, np.full(len(pos), GREY, dtype=object))
    for extra in [overlay] if overlay is not None else env.render_overlays.values():
        extra.draw_overlay(layer)
    state = env.round_state()
    overloaded = _overloaded_edges(state, result)
    _draw_placements(ax, pos, result, layer.placement_colours)

    util = state.committed_slots / topo.cores
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
    _draw_legend(fig, topo, layer.legend)
    _draw_headline(ax, env, result, int(overloaded.sum()), layer.headline)


# ---------------------------------------------------------------------- parts
def _shrink(n: int) -> float:
    """Marker-area factor: 1 up to 10 edges, then 1/sqrt(N/10) so big clusters stay readable."""
    return 1.0 / max(1.0, float(np.sqrt(n / 10.0)))


def _marker(name: str, k: int) -> str:
    return DEVICE_MARKERS.get(name, EXTRA_MARKERS[k % len(EXTRA_MARKERS)])


def _overloaded_edges(state: Any, result: Any) -> np.ndarray:
    """[N] bool: over a threshold now, or overloaded by this round's placements (``caused_overload``)."""
    over = (state.committed_slots > state.slot_limit) | (state.committed_mem > state.mem_limit)
    if result is not None and result.caused_overload.any():
        over[result.targets[result.caused_overload]] = True
    return over


def _arrow(ax: Any, src: np.ndarray, dst: np.ndarray, colour: str, dashed: bool = False, width: float = 1.4) -> None:
    ax.add_patch(FancyArrowPatch(tuple(src), tuple(dst), arrowstyle="-|>", mutation_scale=12, color=colour,
                                 linewidth=width, linestyle=(0, (4, 3)) if dashed else "-", shrinkA=7, shrinkB=9,
                                 connectionstyle="arc3,rad=0.12", zorder=3.5 if dashed else 3.6))


def _draw_placements(ax: Any, pos: np.ndarray, result: Any, colours: np.ndarray) -> None:
    """Arrows for this round's placements in ``colours`` [N] (red where the placement collided or overloaded)."""
    if result is None:
        return
    bad = result.collided | result.caused_overload
    for i in np.flatnonzero(result.placed):
        target = result.targets[i]
        colour = RED if bad[i] else colours[i]
        if target == i:
            ax.scatter(pos[i, 0], pos[i, 1], s=14, c=colour if colour != GREY else "white", edgecolors=GREY,
                       linewidths=0.6, zorder=6)
        else:
            _arrow(ax, pos[i], pos[target], colour, width=1.8 if colour != GREY else 1.2)


def _draw_legend(fig: Figure, topo: Any, extra: list[Any]) -> None:
    handles = [Line2D([], [], marker=_marker(n, k), linestyle="none", markerfacecolor="#bbbbbb",
                      markeredgecolor=GREY, markersize=9, label=DEVICE_LABELS.get(n, n))
               for k, n in enumerate(topo.device_names)]
    handles.append(Line2D([], [], marker="*", linestyle="none", color="black", markersize=10, label="cluster head"))
    handles.append(Line2D([], [], color=GREY, linewidth=1.4, marker=">", markersize=5, label="placement"))
    handles.append(Line2D([], [], color=RED, linewidth=1.8, marker="o", markerfacecolor="none", markersize=9,
                          label="collision / overloaded edge"))
    handles.extend(extra)
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8.5, frameon=False,
               bbox_to_anchor=(0.45, 0.0), title="marker area = sustained FLOP/s", title_fontsize=8.5)


def _draw_headline(ax: Any, env: Any, result: Any, overloaded: int, extra: list[str]) -> None:
    m = env.metrics()
    jct = m["mean_jct_all"]
    lines = [
        f"round {env.round}/{env.config.horizon}   t = {m['sim_time_s']:.0f} s",
        f"jobs done {m['jobs_completed']}/{m['jobs_arrived']}   mean JCT (all) "
        + ("-" if jct != jct else f"{jct:.0f} s"),
        f"collisions {m['collisions']} (round {0 if result is None else result.collisions})   "
        f"overloads {m['overloads']} (now {overloaded})",
        *extra,
    ]
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
