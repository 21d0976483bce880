import { staffActor } from './actor.ts';
import type { DeskContext } from './context.ts';
import { INITIAL_PROBE_STATE, nextProbeState, type ProbeResult, type SiteProbeState } from './incident-rules.ts';
import type { Incidents } from './incidents.ts';
import type { Notifier } from './notify.ts';

export interface MonitorOptions {
  /** Consecutive failed probes that open an incident. @default 3 */
  readonly threshold?: number;
  readonly notifiers?: readonly Notifier[];
}

const MONITOR = staffActor('monitor');

/**
 * Opens incidents by observation. Feed it probe results (`record`); it stores each observation
 * (availability reports are computed from them), opens an incident after `threshold` failures in
 * a row with downtime counted from the first, notifies on-call, and resolves the incident with the
 * measured downtime at the first success. Its per-site state is rebuilt from the store on first
 * sight of a site, so a restart neither forgets an open incident nor opens a second one.
 */
export class IncidentMonitor {
  private readonly ctx: DeskContext;
  private readonly incidents: Incidents;
  private readonly threshold: number;
  private readonly notifiers: readonly Notifier[];
  private readonly state = new Map<string, SiteProbeState>();
  /** Notifications still in flight, so tests and shutdown can wait for them. */
  private pending: Promise<unknown> = Promise.resolve();

  constructor(ctx: DeskContext, incidents: Incidents, o: MonitorOptions = {}) {
    this.ctx = ctx;
    this.incidents = incidents;
    this.threshold = Math.max(1, o.threshold ?? 3);
    this.notifiers = o.notifiers ?? [];
  }

  private hydrate(site: string): SiteProbeState {
    const open = this.incidents.openForSite(site);
    const recent = this.ctx.db.prepare('SELECT at, ok FROM desk_probes WHERE site = ? ORDER BY at DESC, id DESC LIMIT 1000').all(site) as { at: string; ok: number }[];
    let failures = 0;
    let firstFailureAt: Date | undefined;
    for (const r of recent) {
      if (r.ok) break;
      failures++;
      firstFailureAt = new Date(r.at);
    }
    return failures === 0 && open === undefined ? INITIAL_PROBE_STATE : { failures, firstFailureAt, openIncident: open };
  }

  /** Records one probe result and acts on it. Resolves once the store is updated (notifications run on). */
  async record(r: ProbeResult): Promise<{ opened?: number; recovered?: number }> {
    const before = this.state.get(r.site) ?? this.hydrate(r.site);
    this.ctx.db.prepare('INSERT INTO desk_probes (site, at, ok, detail) VALUES (?, ?, ?, ?)').run(r.site, r.at.toISOString(), r.ok ? 1 : 0, r.detail.slice(0, 500));
    const { state, decision } = nextProbeState(before, r, this.threshold);
    if (decision.kind === 'open') {
      const i = this.incidents.open(MONITOR, { site: r.site, downSince: decision.downSince, openedAt: r.at, detail: r.detail });
      this.state.set(r.site, { ...state, openIncident: i.id });
      this.notify({ kind: 'incident.opened', incident: i });
      return { opened: i.id };
    }
    if (decision.kind === 'recover') {
      const i = this.incidents.recover(MONITOR, decision.incident, decision.upAt, r.detail);
      this.state.set(r.site, state);
      this.notify({ kind: 'incident.recovered', incident: i });
      return { recovered: i.id };
    }
    this.state.set(r.site, state);
    return {};
  }

  /** Per channel, notices go out one after another: on-call never gets "up" before "down". */
  private readonly channels = new Map<Notifier, Promise<unknown>>();

  private notify(n: Parameters<Notifier['notify']>[0]): void {
    for (const notifier of this.notifiers) {
      const previous = this.channels.get(notifier) ?? Promise.resolve();
      const p = previous.then(() => notifier.notify(n)).then(
        () => this.incidents.record(n.incident.id, 'notified', 'monitor', `${notifier.name}: ${n.kind}`),
        (e: unknown) => this.incidents.record(n.incident.id, 'notify-failed', 'monitor', `${notifier.name}: ${(e as Error).message}`),
      );
      this.channels.set(notifier, p);
      this.pending = Promise.all([this.pending, p]);
    }
  }

  /** Waits for notifications sent so far. */
  async settle(): Promise<void> {
    await this.pending;
  }
}
