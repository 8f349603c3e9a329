// /metrics in the Prometheus text exposition format (version 0.0.4).
import type { ChainStats } from "../chain/queries.ts";
import type { ChainAuthorityStatus } from "../chain/view.ts";
import type { HealthEntry } from "../platform/health.ts";
import type { AdminStatus } from "./app.ts";

/** The chain's figures for /metrics; absent on a device without a chain. */
export interface ChainMetrics {
  stats: ChainStats;
  authority?: ChainAuthorityStatus;
  counters: Record<string, number>;
}

function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

export function renderMetrics(st: AdminStatus, health: HealthEntry[], chain?: ChainMetrics): string {
  const lines: string[] = [];
  const metric = (name: string, help: string, type: "gauge" | "counter", samples: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples)
      lines.push(`${name}${labels} ${Number.isFinite(value) ? value : "NaN"}`);
  };
  metric("kiana_info", "Build and node identity.", "gauge", [
    [`{version="${label(st.version)}",role="${label(st.node.role)}",node="${label(st.node.name)}"}`, 1],
  ]);
  metric("kiana_uptime_seconds", "Seconds since the runtime started.", "gauge", [["", st.uptimeSeconds]]);
  metric("kiana_memory_used_bytes", "System memory in use.", "gauge", [["", st.stats.memoryUsedBytes]]);
  metric("kiana_memory_total_bytes", "System memory in total.", "gauge", [["", st.stats.memoryTotalBytes]]);
  if (st.stats.cpuLoadPercent !== null) {
    metric("kiana_cpu_load_percent", "CPU load over the last sample.", "gauge", [
      ["", st.stats.cpuLoadPercent],
    ]);
  }
  if (st.stats.temperatureCelsius !== null) {
    metric("kiana_temperature_celsius", "Hottest readable thermal zone.", "gauge", [
      ["", st.stats.temperatureCelsius],
    ]);
  }
  metric("kiana_process_resident_bytes", "Resident memory of this process.", "gauge", [
    ["", process.memoryUsage.rss()],
  ]);
  metric(
    "kiana_engine_available",
    "1 when a native engine is present and loadable.",
    "gauge",
    st.engines.map((e) => [
      `{engine="${label(e.name)}",state="${label(e.state)}"}`,
      e.state === "failed" || e.state === "missing" ? 0 : 1,
    ]),
  );
  metric(
    "kiana_mesh_refused_total",
    "Mesh messages refused, by reason (unknown sender, bad signature, replay, ...).",
    "counter",
    st.refusals.map((r) => [`{reason="${label(r.reason)}"}`, r.count]),
  );
  metric(
    "kiana_mesh_peers",
    "Peers this node knows, by state.",
    "gauge",
    [...new Set(st.peers.map((p) => p.state))].map((state) => [
      `{state="${label(state)}"}`,
      st.peers.filter((p) => p.state === state).length,
    ]),
  );
  const events = (counts: Record<string, number> | undefined): [string, number][] =>
    Object.entries(counts ?? {}).map(([event, n]) => [`{event="${label(event)}"}`, n]);
  metric(
    "kiana_mesh_messages_total",
    "Direct messages by event (sent, delivered, duplicates, acked, dropped).",
    "counter",
    events(st.messages),
  );
  metric(
    "kiana_mesh_transfers_total",
    "File transfers by event (offered, received, failed, refused).",
    "counter",
    events(st.transfers),
  );
  if (chain) {
    metric("kiana_chain_blocks", "Blocks stored, all authors' logs together.", "gauge", [
      ["", chain.stats.blocks],
    ]);
    metric("kiana_chain_authors", "Authors with a log on this device.", "gauge", [["", chain.stats.authors]]);
    metric(
      "kiana_chain_events_total",
      "Chain events by kind (appended, synced, refused, ...).",
      "counter",
      events(chain.counters),
    );
    if (chain.authority) {
      metric("kiana_chain_validators", "Validators in the current set.", "gauge", [
        ["", chain.authority.validators.length],
      ]);
      // No sample before the first final checkpoint: a 0 would read as a real height.
      if (chain.authority.lastFinal)
        metric("kiana_chain_final_height", "Height of the newest final checkpoint.", "gauge", [
          ["", chain.authority.lastFinal.height],
        ]);
    }
  }
  metric(
    "kiana_health_problem",
    "Open health problems by code and severity.",
    "gauge",
    health.map((h) => [`{code="${label(h.code)}",severity="${h.severity}"}`, 1]),
  );
  return `${lines.join("\n")}\n`;
}
