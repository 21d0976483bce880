/** One observation of a site through the public address. */
export interface ProbeResult {
  /** The site's domain. */
  readonly site: string;
  readonly ok: boolean;
  readonly at: Date;
  readonly detail: string;
}

/** What the monitor keeps per site between probes. */
export interface SiteProbeState {
  /** Consecutive failures so far, with the time of the first of them. */
  readonly failures: number;
  readonly firstFailureAt: Date | undefined;
  /** The incident opened by observation and not yet recovered. */
  readonly openIncident: number | undefined;
}

export type MonitorDecision =
  | { readonly kind: 'none' }
  | { readonly kind: 'open'; readonly downSince: Date }
  | { readonly kind: 'recover'; readonly incident: number; readonly upAt: Date };

export const INITIAL_PROBE_STATE: SiteProbeState = { failures: 0, firstFailureAt: undefined, openIncident: undefined };

/**
 * Pure transition of the monitor: N failures in a row open an incident whose downtime starts at
 * the first failure; the first success after that recovers it. A single blip below N is forgotten.
 */
export function nextProbeState(s: SiteProbeState, r: ProbeResult, threshold: number): { state: SiteProbeState; decision: MonitorDecision } {
  if (r.ok) {
    const decision: MonitorDecision = s.openIncident !== undefined ? { kind: 'recover', incident: s.openIncident, upAt: r.at } : { kind: 'none' };
    return { state: INITIAL_PROBE_STATE, decision };
  }
  const failures = s.failures + 1;
  const firstFailureAt = s.firstFailureAt ?? r.at;
  if (s.openIncident === undefined && failures >= threshold) {
    return { state: { failures, firstFailureAt, openIncident: s.openIncident }, decision: { kind: 'open', downSince: firstFailureAt } };
  }
  return { state: { failures, firstFailureAt, openIncident: s.openIncident }, decision: { kind: 'none' } };
}
