import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { vardError } from '../errors/index.ts';

export interface Envelope {
  readonly from: string;
  readonly to: readonly string[];
  readonly remoteAddress: string;
}

export interface ListenerOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 picks a free port. @default 2525 */
  readonly port?: number;
  /** Largest message accepted, announced in EHLO SIZE and enforced at DATA. @default 10 MiB */
  readonly maxBytes?: number;
  /** Recipient addresses accepted (case-insensitive); others get 550 at RCPT. Empty accepts any. */
  readonly recipients?: readonly string[];
  /** Name in the greeting. @default 'vard' */
  readonly name?: string;
  /**
   * Called with the complete raw message. It must store the message durably before resolving:
   * the SMTP "250 OK" is sent only after it resolves, and a rejection gives the sender a 451 so
   * its server retries — a message is never acknowledged and then lost.
   */
  readonly onMessage: (raw: Buffer, envelope: Envelope) => Promise<unknown>;
}

export interface SupportListener {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Vard's own SMTP listener for support mail, used until the platform's mail service delivers
 * into Vard. Plain SMTP without AUTH: it only accepts mail for the support address(es).
 * Oversized messages are refused with 552 at the end of DATA (the sender's server bounces them,
 * so the customer learns of it); they are never accepted and dropped.
 */
export async function startSupportListener(o: ListenerOptions): Promise<SupportListener> {
  const maxBytes = o.maxBytes ?? 10 * 1024 * 1024;
  const allowed = new Set((o.recipients ?? []).map((r) => r.toLowerCase()));
  const server = new SMTPServer({
    name: o.name ?? 'vard',
    banner: 'Vard support mail',
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    size: maxBytes,
    logger: false,
    onRcptTo(address, _session, cb) {
      if (allowed.size > 0 && !allowed.has(address.address.toLowerCase())) {
        const err = new Error(`<${address.address}>: no such support address`) as Error & { responseCode: number };
        err.responseCode = 550;
        cb(err);
        return;
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (c: Buffer) => {
        size += c.length;
        // keep reading to the end so the SMTP dialogue stays in sync, but stop buffering
        if (size <= maxBytes) chunks.push(c);
      });
      stream.on('error', (e) => cb(e));
      stream.on('end', () => {
        if ((stream as unknown as { sizeExceeded?: boolean }).sizeExceeded || size > maxBytes) {
          const err = new Error(`message exceeds the ${maxBytes} bytes accepted`) as Error & { responseCode: number };
          err.responseCode = 552;
          cb(err);
          return;
        }
        const envelope: Envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          remoteAddress: session.remoteAddress,
        };
        o.onMessage(Buffer.concat(chunks), envelope).then(
          () => cb(),
          (e: unknown) => {
            const err = new Error(`temporary failure storing the message: ${(e as Error).message}`) as Error & { responseCode: number };
            err.responseCode = 451;
            cb(err);
          },
        );
      });
    },
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    const onErr = (e: Error): void => reject(vardError('VARD_ERR_MAIL_LISTEN_FAILED', [`${host}:${o.port ?? 2525}`, e.message], { cause: e }));
    server.server.once('error', onErr);
    server.listen(o.port ?? 2525, host, () => {
      server.server.off('error', onErr);
      resolve();
    });
  });
  // After start-up, errors (a client resetting) are logged by nobody rather than crashing the process.
  server.on('error', () => {});
  const addr = server.server.address() as AddressInfo;
  return {
    address: addr.address,
    port: addr.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
