"""bench.png: packets per second and round-trip time per frame size and path (matplotlib, Agg)."""
from __future__ import annotations

from pathlib import Path

PATH_LABELS = {"kernel": "kernel→kernel", "pmd": "PMD→PMD", "mixed": "PMD→kernel"}


def write(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on a lab controller
    import matplotlib.pyplot as plt

    dp = data["datapath"]
    sizes = [str(s) for s in dp["sizes"]]
    fig, (ax_pps, ax_rtt) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(PATH_LABELS)
    for i, (key, label) in enumerate(PATH_LABELS.items()):
        figs = [dp["pps"][key][s]["rx_pps"] for s in sizes]
        med = [f["median"] for f in figs]
        err = [[m - f["min"] for m, f in zip(med, figs)], [f["max"] - m for m, f in zip(med, figs)]]
        xs = [j + (i - 1) * width for j in range(len(sizes))]
        ax_pps.bar(xs, med, width, yerr=err, capsize=3, label=label)
    ax_pps.set_yscale("log")
    ax_pps.set_xticks(range(len(sizes)), [f"{s} B" for s in sizes])
    ax_pps.set_ylabel("packets/s received (median, min–max)")
    ax_pps.set_title("throughput")
    ax_pps.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=8)
    for i, key in enumerate(("kernel", "pmd")):
        lat = [dp["latency"][key][s] for s in sizes]
        xs = [j + (i - 0.5) * 0.35 for j in range(len(sizes))]
        ax_rtt.bar(xs, [x["median_us"] for x in lat], 0.35, label=f"{PATH_LABELS[key].split('→')[0]} median")
        ax_rtt.scatter(xs, [x["p99_us"] for x in lat], marker="_", s=300, color="black",
                       label="p99" if i == 0 else None, zorder=3)
    ax_rtt.set_yscale("log")
    ax_rtt.set_xticks(range(len(sizes)), [f"{s} B" for s in sizes])
    ax_rtt.set_ylabel("round trip, µs")
    ax_rtt.set_title("ping-pong latency")
    ax_rtt.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=8)
    m = data["machine"]
    fig.suptitle(f"nictest bench on {m['host']} ({m['accel']}), {m['date']}, {m['git_commit'][:12]}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
