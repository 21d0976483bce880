import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { Command, Option } from 'commander';
import { parseHostPort, startServer } from '../api/server.ts';
import { openDesk, staffActor, type Actor, type Desk, type Incident, type ServiceTargets, type Ticket } from '../desk/index.ts';
import { vardError } from '../errors/index.ts';
import { smtpMailer, type Mailer } from '../mail/index.ts';
import { openPlatform } from '../platform/context.ts';
import { openDb, PlatformStore } from '../store/index.ts';
import { emit, progress, type GlobalOptions, type Globals } from './context.ts';

/** The CLI acts as operator staff: whoever can run it can already read and write the state file. */
function cliActor(): Actor {
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    // no passwd entry (containers): keep 'unknown'
  }
  return staffActor(`cli:${name}`);
}

/** Outbound mail for replies from the CLI: VARD_SMTP_RELAY=host[:port] (unset: replies are stored, not sent). */
function envMailer(): Mailer | undefined {
  const relay = process.env.VARD_SMTP_RELAY;
  if (!relay) return undefined;
  const { host, port } = parseHostPort(relay, 25);
  return smtpMailer({ host, port });
}

function supportAddress(): string {
  return process.env.VARD_SUPPORT_ADDRESS ?? 'support@vard.invalid';
}

function withDesk<T>(g: GlobalOptions, f: (desk: Desk) => T, mailer: Mailer | undefined = undefined): T {
  const db = openDb(g.state);
  const platform = new PlatformStore(db);
  const desk = openDesk({ db, sites: () => platform.sites(), mailer, supportAddress: supportAddress() });
  const out = f(desk);
  if (out instanceof Promise) {
    return out.finally(() => {
      mailer?.close();
      db.close();
    }) as T;
  }
  mailer?.close();
  db.close();
  return out;
}

function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw vardError('VARD_ERR_USAGE', [`${name} must be a whole number, got "${v}"`]);
    return n;
  };
}

function targetsFrom(o: { incidentResponse?: number; offHours?: number; firstResponse?: number; resolution?: number }): Partial<ServiceTargets> {
  const t: { -readonly [K in keyof ServiceTargets]?: ServiceTargets[K] } = {};
  if (o.incidentResponse !== undefined) t.incidentResponseMinutes = o.incidentResponse;
  if (o.offHours !== undefined) t.incidentOffHoursMinutes = o.offHours;
  if (o.firstResponse !== undefined) t.ticketFirstResponseMinutes = o.firstResponse;
  if (o.resolution !== undefined) t.ticketResolutionMinutes = o.resolution;
  return t;
}

function targetOptions(c: Command): Command {
  return c
    .option('--incident-response <min>', 'incident response in business hours, minutes (default 15)', int('--incident-response'))
    .option('--off-hours <min>', 'incident response at other times, minutes, at most 60 (default 60)', int('--off-hours'))
    .option('--first-response <min>', 'ticket first response, business minutes (default 240)', int('--first-response'))
    .option('--resolution <min>', 'ticket resolution, business minutes (default 2100)', int('--resolution'));
}

/** Text from an option, or from stdin when the value is "-". */
function textArg(v: string): string {
  return v === '-' ? readFileSync(0, 'utf8') : v;
}

const ticketLine = (t: Ticket): string =>
  `${t.ref.padEnd(7)} ${t.status.padEnd(6)} ${t.customer.padEnd(14)} ${t.channel.padEnd(5)} first:${t.clocks.firstResponse.state.padEnd(8)} resolve:${t.clocks.resolution.state.padEnd(8)} ${t.subject}`;

const incidentLine = (i: Incident): string =>
  `${i.ref.padEnd(6)} ${i.status.padEnd(12)} ${i.site.padEnd(28)} opened ${i.openedAt}  due ${i.responseDueAt} (${i.responseRule})${i.downtimeSeconds !== undefined ? `  down ${i.downtimeSeconds}s` : ''}`;

/** Service-desk commands (customers, contracts, tickets, incidents, reports, serve). */
export function registerDeskCommands(program: Command, globals: Globals): void {
  const customer = program.command('customer').description('customers (organisations) and their contracts');
  targetOptions(
    customer
      .command('add <slug>')
      .description('add a customer and its contract (rolling, three months notice); the slug is the one its sites use')
      .option('--name <name>', 'display name')
      .option('--mail-domain <domain...>', 'mail domains whose senders may open tickets for this customer')
      .option('--start <date>', 'contract start, YYYY-MM-DD (default today)')
      .option('--retention <days>', 'days after the end date before data is deleted (default 30)', int('--retention')),
  ).action((slug: string, o: { name?: string; mailDomain?: string[]; start?: string; retention?: number; incidentResponse?: number; offHours?: number; firstResponse?: number; resolution?: number }) => {
    const g = globals();
    withDesk(g, (desk) => {
      const c = desk.addCustomer(cliActor(), { slug, name: o.name, mailDomains: o.mailDomain, contractStart: o.start, targets: targetsFrom(o), retentionDays: o.retention });
      emit(g, c, () => `customer ${c.slug} added (${c.name})`);
    });
  });
  customer.command('list').description('list customers').action(() => {
    const g = globals();
    withDesk(g, (desk) => {
      const list = desk.people.customers(cliActor());
      emit(g, list, () => (list.length ? list.map((c) => `${c.slug.padEnd(20)} ${c.name}${c.mailDomains.length ? `  mail: ${c.mailDomains.join(', ')}` : ''}`).join('\n') : 'no customers'));
    });
  });

  const user = program.command('user').description('users: operator staff and customer users');
  user
    .command('add <email>')
    .description('add a user; the password, if any, is read from stdin (--password-stdin), never from argv')
    .addOption(new Option('--role <role>', 'staff or customer').choices(['staff', 'customer']).makeOptionMandatory())
    .option('--customer <slug>', 'the customer of a customer user')
    .option('--name <name>', 'display name')
    .option('--password-stdin', 'read a password (at least 12 characters) from stdin')
    .option('--oncall', 'staff on call: receives incident e-mail')
    .action(async (email: string, o: { role: 'staff' | 'customer'; customer?: string; name?: string; passwordStdin?: boolean; oncall?: boolean }) => {
      const g = globals();
      const password = o.passwordStdin ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : undefined;
      await withDesk(g, async (desk) => {
        const u = await desk.people.addUser(cliActor(), { email, role: o.role, customer: o.customer, name: o.name, password, oncall: o.oncall });
        emit(g, u, () => `user ${u.email} added (${u.role}${u.customer ? ` of ${u.customer}` : ''})`);
      });
    });

  program
    .command('token')
    .description('API tokens')
    .command('create <email>')
    .description('create an API token for a user; it is shown once, only its hash is stored')
    .option('--name <name>', 'what the token is for', 'api')
    .action((email: string, o: { name: string }) => {
      const g = globals();
      withDesk(g, (desk) => {
        const t = desk.people.createToken(cliActor(), email, o.name);
        emit(g, { token: t.token, user: t.user.email }, () => t.token);
      });
    });

  const contract = program.command('contract').description('contracts: three months notice [S1], exit plan [S2]');
  contract.command('show <customer>').description('show the contract, its notice and exit plan').action((c: string) => {
    const g = globals();
    withDesk(g, (desk) => {
      const k = desk.contracts.show(cliActor(), c);
      emit(g, k, () =>
        [
          `${k.customer}: ${k.status}, since ${k.startDate}, ${k.noticeMonths} months notice`,
          `targets: incident ${k.targets.incidentResponseMinutes} min (off hours ${k.targets.incidentOffHoursMinutes}), ticket first response ${k.targets.ticketFirstResponseMinutes} / resolution ${k.targets.ticketResolutionMinutes} business min`,
          ...(k.notice ? [`notice on ${k.notice.noticeDate}, ends ${k.notice.endDate}; exit plan:`, ...k.notice.exitPlan.map((s) => `  ${s.due}  ${s.kind.padEnd(22)} ${s.description}`)] : []),
          ...k.notices.filter((n) => n.withdrawnAt).map((n) => `withdrawn: notice of ${n.noticeDate} (withdrawn ${n.withdrawnAt} by ${n.withdrawnBy})`),
        ].join('\n'),
      );
    });
  });
  contract
    .command('notice <customer>')
    .description('record notice: the contract ends on the date three calendar months later (clamped to month end); creates the exit plan')
    .option('--on <date>', 'the day notice was given, YYYY-MM-DD (default today, Europe/Stockholm)')
    .action((c: string, o: { on?: string }) => {
      const g = globals();
      withDesk(g, (desk) => {
        const k = desk.contracts.giveNotice(cliActor(), c, o.on);
        emit(g, k, () => [`notice recorded: ${k.customer} ends on ${k.notice!.endDate}`, ...k.notice!.exitPlan.map((s) => `  ${s.due}  ${s.kind}`)].join('\n'));
      });
    });
  contract.command('withdraw <customer>').description('withdraw the notice in force (until the end date)').action((c: string) => {
    const g = globals();
    withDesk(g, (desk) => {
      const k = desk.contracts.withdrawNotice(cliActor(), c);
      emit(g, k, () => `notice withdrawn; ${k.customer} is ${k.status}`);
    });
  });
  targetOptions(contract.command('set <customer>').description('change per-contract targets')).action((c: string, o: { incidentResponse?: number; offHours?: number; firstResponse?: number; resolution?: number }) => {
    const g = globals();
    withDesk(g, (desk) => {
      const k = desk.contracts.setTargets(cliActor(), c, targetsFrom(o));
      emit(g, k, () => `targets of ${k.customer}: ${JSON.stringify(k.targets)}`);
    });
  });

  const ticket = program.command('ticket').description('support tickets [S4] with business-time clocks');
  ticket
    .command('list')
    .description('list tickets with their first-response and resolution clocks')
    .option('--customer <slug>')
    .addOption(new Option('--status <status>').choices(['open', 'closed']))
    .option('--at-risk', 'only tickets at risk of breaching (or breached)')
    .action((o: { customer?: string; status?: 'open' | 'closed'; atRisk?: boolean }) => {
      const g = globals();
      withDesk(g, (desk) => {
        const list = desk.tickets.list(cliActor(), { customer: o.customer, status: o.status, atRisk: o.atRisk });
        emit(g, list, () => (list.length ? list.map(ticketLine).join('\n') : 'no tickets'));
      });
    });
  ticket.command('show <ref>').description('show a ticket and its messages').action((ref: string) => {
    const g = globals();
    withDesk(g, (desk) => {
      const t = desk.tickets.show(cliActor(), ref);
      emit(g, t, () =>
        [
          ticketLine(t),
          `requester ${t.requester}; created ${t.createdAt}; first response due ${t.clocks.firstResponse.dueAt.toISOString()}; resolution due ${t.clocks.resolution.dueAt.toISOString()}`,
          ...t.messages.map((m) => `\n--- ${m.direction === 'in' ? '<<' : '>>'} ${m.at} ${m.author} (${m.channel}${m.delivery ? `, ${m.delivery}` : ''})\n${m.body}`),
        ].join('\n'),
      );
    });
  });
  ticket
    .command('open')
    .description('open a ticket on behalf of a customer')
    .requiredOption('--customer <slug>')
    .requiredOption('--subject <text>')
    .requiredOption('--body <text>', 'the request ("-" reads stdin)')
    .option('--requester <email>', 'who asked; replies are e-mailed there')
    .action((o: { customer: string; subject: string; body: string; requester?: string }) => {
      const g = globals();
      withDesk(g, (desk) => {
        const t = desk.tickets.open(cliActor(), { customer: o.customer, subject: o.subject, body: textArg(o.body), requester: o.requester });
        emit(g, t, () => `opened ${t.ref}`);
      });
    });
  ticket
    .command('log-call')
    .description('log a phone call as a ticket; answering it is the first response')
    .requiredOption('--customer <slug>')
    .requiredOption('--caller <who>', 'name and number, or the e-mail address replies should go to')
    .requiredOption('--subject <text>')
    .requiredOption('--notes <text>', 'what was said ("-" reads stdin)')
    .option('--at <iso>', 'when the call took place (default now)')
    .option('--resolved', 'the call settled it: close at once')
    .action((o: { customer: string; caller: string; subject: string; notes: string; at?: string; resolved?: boolean }) => {
      const g = globals();
      const at = o.at === undefined ? undefined : new Date(o.at);
      if (at && (Number.isNaN(at.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(o.at!))) throw vardError('VARD_ERR_DESK_DATE_INVALID', [o.at]);
      withDesk(g, (desk) => {
        const t = desk.tickets.logCall(cliActor(), { customer: o.customer, caller: o.caller, subject: o.subject, notes: textArg(o.notes), at, resolved: o.resolved });
        emit(g, t, () => `logged ${t.ref} (${t.status})`);
      });
    });
  ticket
    .command('reply <ref>')
    .description('reply by e-mail (relay from VARD_SMTP_RELAY=host:port, sender VARD_SUPPORT_ADDRESS); threads with the conversation')
    .requiredOption('--body <text>', 'the reply ("-" reads stdin)')
    .action(async (ref: string, o: { body: string }) => {
      const g = globals();
      const body = textArg(o.body);
      await withDesk(
        g,
        async (desk) => {
          const t = await desk.tickets.reply(cliActor(), ref, body);
          const m = t.messages.at(-1)!;
          emit(g, t, () => `replied on ${t.ref}: delivery ${m.delivery}`);
        },
        envMailer(),
      );
    });
  ticket
    .command('close <ref>')
    .description('close a ticket (stops the resolution clock)')
    .option('--note <text>')
    .action((ref: string, o: { note?: string }) => {
      const g = globals();
      withDesk(g, (desk) => {
        const t = desk.tickets.close(cliActor(), ref, o.note);
        emit(g, t, () => `closed ${t.ref}; resolution ${t.clocks.resolution.state} (${t.clocks.resolution.elapsedMinutes} of ${t.clocks.resolution.targetMinutes} business min)`);
      });
    });

  const inbox = program.command('inbox').description('inbound support mail, including the unmatched inbox');
  inbox
    .command('list')
    .addOption(new Option('--status <status>').choices(['received', 'attached', 'unmatched', 'duplicate']))
    .description('list stored inbound messages')
    .action((o: { status?: 'received' | 'attached' | 'unmatched' | 'duplicate' }) => {
      const g = globals();
      withDesk(g, (desk) => {
        const list = desk.inbox.list(cliActor(), o.status);
        emit(g, list, () => (list.length ? list.map((m) => `${String(m.id).padEnd(5)} ${m.status.padEnd(9)} ${m.receivedAt} ${m.sender ?? m.envelopeFrom} ${m.subject ?? ''}${m.ticket ? ` → ${m.ticket}` : ''}${m.reason ? `  (${m.reason})` : ''}`).join('\n') : 'no messages'));
      });
    });
  inbox.command('assign <id> <customer>').description('file an unmatched message as a new ticket of a customer').action(async (id: string, c: string) => {
    const g = globals();
    await withDesk(g, async (desk) => {
      const r = await desk.inbox.assign(cliActor(), int('id')(id), c);
      emit(g, r, () => `message ${id} filed as ${r.ticket}`);
    });
  });

  const incident = program.command('incident').description('incidents [S3]: opened by observation, response deadlines, timeline');
  incident
    .command('list')
    .option('--customer <slug>')
    .option('--site <domain>')
    .addOption(new Option('--status <status>').choices(['open', 'resolved']))
    .description('list incidents')
    .action((o: { customer?: string; site?: string; status?: 'open' | 'resolved' }) => {
      const g = globals();
      withDesk(g, (desk) => {
        const list = desk.incidents.list(cliActor(), o);
        emit(g, list, () => (list.length ? list.map(incidentLine).join('\n') : 'no incidents'));
      });
    });
  incident.command('show <ref>').description('show an incident and its timeline').action((ref: string) => {
    const g = globals();
    withDesk(g, (desk) => {
      const i = desk.incidents.get(cliActor(), ref);
      emit(g, i, () => [incidentLine(i), ...i.timeline.map((e) => `  ${e.at}  ${e.kind.padEnd(13)} ${e.actor.padEnd(16)} ${e.text}`)].join('\n'));
    });
  });
  incident
    .command('open <site>')
    .description('open an incident by hand (observation opens them by itself)')
    .option('--title <text>')
    .action((site: string, o: { title?: string }) => {
      const g = globals();
      withDesk(g, (desk) => {
        const i = desk.incidents.open(cliActor(), { site, title: o.title });
        emit(g, i, () => `opened ${i.ref}; respond by ${i.responseDueAt} (${i.responseMinutes} min, ${i.responseRule})`);
      });
    });
  incident
    .command('ack <ref>')
    .description('acknowledge: the response of [S3]')
    .option('--text <text>')
    .action((ref: string, o: { text?: string }) => {
      const g = globals();
      withDesk(g, (desk) => {
        const i = desk.incidents.ack(cliActor(), ref, o.text);
        emit(g, i, () => `acknowledged ${i.ref} ${i.responseMet ? 'within' : 'after'} the deadline ${i.responseDueAt}`);
      });
    });
  incident.command('note <ref> <text>').description('add a note to the timeline').action((ref: string, text: string) => {
    const g = globals();
    withDesk(g, (desk) => {
      const i = desk.incidents.note(cliActor(), ref, text);
      emit(g, i, () => `noted on ${i.ref}`);
    });
  });
  incident
    .command('resolve <ref>')
    .description('resolve an incident')
    .option('--text <text>')
    .action((ref: string, o: { text?: string }) => {
      const g = globals();
      withDesk(g, (desk) => {
        const i = desk.incidents.resolve(cliActor(), ref, o.text);
        emit(g, i, () => `resolved ${i.ref}`);
      });
    });

  program
    .command('report')
    .description('reports')
    .command('monthly <customer>')
    .description('availability per site, incidents vs the response promise, tickets vs targets')
    .requiredOption('--month <yyyy-mm>', 'the month, e.g. 2026-11')
    .action((c: string, o: { month: string }) => {
      const g = globals();
      withDesk(g, (desk) => {
        const r = desk.reports.monthly(cliActor(), c, o.month);
        emit(g, r, () =>
          [
            `Report ${r.customer} ${r.month}`,
            'Sites:',
            ...(r.sites.length ? r.sites.map((s) => `  ${s.site.padEnd(30)} ${s.availabilityPercent === null ? 'not monitored' : `${s.availabilityPercent.toFixed(3)} %`}  down ${s.downtimeMinutes} min  probes ${s.probes.total} (${s.probes.failed} failed)`) : ['  (none)']),
            `Incidents: ${r.summary.incidents}, response promise met ${r.summary.incidentResponsesMet}`,
            ...r.incidents.map((i) => `  ${i.ref} ${i.site} ${i.openedAt} promised ${i.promisedMinutes} min, responded ${i.responseMinutes ?? '-'} min, resolved ${i.resolutionMinutes ?? '-'} min, downtime ${i.downtimeMinutes ?? '-'} min`),
            `Tickets: ${r.summary.tickets}, first response met ${r.summary.firstResponsesMet}, resolution met ${r.summary.resolutionsMet}`,
            ...r.tickets.map((t) => `  ${t.ref} ${t.channel} first ${t.firstResponse.state} (${t.firstResponse.elapsedMinutes}/${t.firstResponse.targetMinutes}) resolve ${t.resolution.state} (${t.resolution.elapsedMinutes}/${t.resolution.targetMinutes}) ${t.subject}`),
          ].join('\n'),
        );
      });
    });

  program
    .command('audit')
    .description('the audit log: who changed what, when')
    .option('--limit <n>', 'entries', int('--limit'), 50)
    .action((o: { limit: number }) => {
      const g = globals();
      withDesk(g, (desk) => {
        const list = desk.auditLog(cliActor(), o.limit);
        emit(g, list, () => list.map((a) => `${a.at}  ${a.actor.padEnd(24)} ${a.action.padEnd(18)} ${a.target} ${JSON.stringify(a.details)}`).join('\n'));
      });
    });

  program
    .command('serve')
    .description('serve the HTTP API (OpenAPI at /openapi.json), the support SMTP listener and site observation')
    .option('--listen <host:port>', 'API address', '127.0.0.1:8080')
    .option('--smtp-listen <host:port>', 'support SMTP listener ("off" to disable)', '127.0.0.1:2525')
    .option('--smtp-max-bytes <n>', 'largest inbound message', int('--smtp-max-bytes'), 10 * 1024 * 1024)
    .option('--support-address <email>', 'the support address (env VARD_SUPPORT_ADDRESS)')
    .option('--relay <host:port>', 'SMTP relay for replies and on-call mail (env VARD_SMTP_RELAY)')
    .option('--oncall <email...>', 'on-call addresses (besides staff users added with --oncall)')
    .option('--webhook <url>', 'POST incident notifications here')
    .option('--probe-address <host[:port]>', "probe every site through this public address (the platform's VIP)")
    .option('--probe-interval <seconds>', 'seconds between probe rounds', int('--probe-interval'), 30)
    .option('--threshold <n>', 'failed probes in a row that open an incident', int('--threshold'), 3)
    .action(async (o: { listen: string; smtpListen: string; smtpMaxBytes: number; supportAddress?: string; relay?: string; oncall?: string[]; webhook?: string; probeAddress?: string; probeInterval: number; threshold: number }) => {
      const g = globals();
      if (o.supportAddress) process.env.VARD_SUPPORT_ADDRESS = o.supportAddress;
      if (o.relay) process.env.VARD_SMTP_RELAY = o.relay;
      const mailer = envMailer();
      const db = openDb(g.state);
      const platform = new PlatformStore(db);
      const desk = openDesk({ db, sites: () => platform.sites(), mailer, supportAddress: supportAddress() });
      const probe = o.probeAddress ? parseHostPort(o.probeAddress, 80) : undefined;
      // The platform routes read the platform recorded in the same state file, if there is one.
      const live = openPlatform(g);
      const server = await startServer({
        platform: () => (platform.platform() ? { platform: live.service.platform(), hostOf: (n: string) => live.lab.host(n), say: () => undefined } : undefined),
        desk,
        listen: o.listen,
        smtpListen: o.smtpListen === 'off' ? undefined : o.smtpListen,
        smtpMaxBytes: o.smtpMaxBytes,
        mailer,
        oncallEmails: o.oncall,
        webhookUrl: o.webhook,
        probe: probe && { address: probe.host, port: probe.port, intervalMs: o.probeInterval * 1000, threshold: o.threshold },
      });
      emit(g, { api: server.apiAddress, openapi: `${server.apiAddress}/openapi.json`, smtp: server.smtp ? `${server.smtp.address}:${server.smtp.port}` : null }, () =>
        `API on ${server.apiAddress} (OpenAPI at ${server.apiAddress}/openapi.json)${server.smtp ? `; support mail on ${server.smtp.address}:${server.smtp.port}` : ''}`,
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          progress('vard serve: shutting down');
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
      mailer?.close();
      live.close();
      db.close();
    });
}
