"""What every report page shows the same way."""

from __future__ import annotations

import pandas as pd


def device_text(p: dict) -> str:
    """Where a stage ran, from its provenance: 'cuda (NVIDIA H200)', or the CPU's model and the vector
    instructions torch's kernels used ('cpu (Intel(R) Xeon(R) Processor, AVX512 kernels)'): the same
    params give the same bits on the same CPU, other float sums, so other numbers, on another one."""
    if p["device"].startswith("cuda"):
        details = [p.get("device_name")]
    else:
        details = [p.get("device_name"), p.get("cpu_kernels") and f"{p['cpu_kernels']} kernels"]
    details = [d for d in details if d]
    return f"{p['device']} ({', '.join(details)})" if details else p["device"]


def provenance_table(provenance: dict[str, dict], extra: dict[str, dict] | None = None) -> str:
    """A summary's provenance.json (variant -> run) as one HTML table: commit, uncommitted changes,
    device, wall time, `extra` columns per variant, torch version and threads."""
    rows = [{"variant": v, "git commit": p["git_commit"], "uncommitted changes": "yes" if p["git_dirty"] else "no",
             "device": device_text(p), "wall time (s)": p["wall_s"], **(extra or {}).get(v, {}),
             "torch": p["versions"]["torch"], "threads": p["torch_threads"]} for v, p in provenance.items()]
    return pd.DataFrame(rows).to_html(index=False)
