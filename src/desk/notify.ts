import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Mailer } from '../mail/index.ts';
import type { Incident } from './incidents.ts';

export interface IncidentNotice {
  readonly kind: 'incident.opened' | 'incident.recovered';
  readonly incident: Incident;
}

/** One way of reaching the on-call operator. `notify` rejects on failure; the monitor records it. */
export interface Notifier {
  readonly name: string;
  notify(n: IncidentNotice): Promise<void>;
}

function describe(n: IncidentNotice): { subject: string; text: string } {
  const i = n.incident;
  if (n.kind === 'incident.opened') {
    return {
      subject: `[${i.ref}] DOWN ${i.site} — respond by ${i.responseDueAt}`,
      text: [
        `${i.title}.`,
        `Down since: ${i.downSince}`,
        `Incident opened: ${i.openedAt}`,
        `Response due: ${i.responseDueAt} (${i.responseMinutes} min, rule ${i.responseRule})`,
        '',
        `Acknowledge: vard incident ack ${i.ref}`,
      ].join('\n'),
    };
  }
  return {
    subject: `[${i.ref}] UP ${i.site} after ${i.downtimeSeconds ?? '?'} s`,
    text: `${i.site} answers again at ${i.upAt}; downtime ${i.downtimeSeconds ?? '?'} s.`,
  };
}

/** E-mails the on-call operator(s) through the outbound mailer. */
export function emailNotifier(mailer: Mailer, from: string, to: () => readonly string[]): Notifier {
  return {
    name: 'email',
    async notify(n) {
      const rcpt = to();
      if (rcpt.length === 0) throw new Error('no on-call address configured');
      const { subject, text } = describe(n);
      await mailer.send({ from, to: rcpt, subject, text });
    },
  };
}

/** POSTs `{ kind, incident }` as JSON to a webhook; non-2xx answers and timeouts are failures. */
export function webhookNotifier(url: string, timeoutMs = 5_000): Notifier {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return {
    name: 'webhook',
    notify(n) {
      const body = JSON.stringify({ kind: n.kind, incident: n.incident, summary: describe(n).subject });
      return new Promise<void>((resolve, reject) => {
        const req = request(u, { method: 'POST', timeout: timeoutMs, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'vard' } }, (res) => {
          res.resume();
          res.on('end', () => ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`webhook answered ${res.statusCode}`))));
        });
        req.on('timeout', () => req.destroy(new Error(`webhook timed out after ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end(body);
      });
    },
  };
}
