import nodemailer from 'nodemailer';
import { vardError } from '../errors/index.ts';

export interface OutboundMail {
  readonly from: string;
  readonly to: readonly string[];
  readonly subject: string;
  readonly text: string;
  /** Message-ID to use, with angle brackets, so the reply can be stored before it is sent. */
  readonly messageId?: string;
  readonly inReplyTo?: string;
  readonly references?: readonly string[];
}

/** The port for outgoing mail (replies, notifications). */
export interface Mailer {
  /** @throws VARD_ERR_MAIL_SEND_FAILED */
  send(m: OutboundMail): Promise<{ messageId: string }>;
  close(): void;
}

export interface SmtpRelay {
  readonly host: string;
  readonly port: number;
  /** @default false — the relay is local or on the platform's private network */
  readonly secure?: boolean;
  readonly user?: string;
  readonly pass?: string;
  /** @default 10000 */
  readonly timeoutMs?: number;
}

/** Sends through an SMTP relay (the platform's Postfix, or any relay) with nodemailer. */
export function smtpMailer(relay: SmtpRelay): Mailer {
  const t = nodemailer.createTransport({
    host: relay.host,
    port: relay.port,
    secure: relay.secure ?? false,
    // A private relay without a certificate is the normal lab case; STARTTLS is used when offered.
    tls: { rejectUnauthorized: false },
    auth: relay.user ? { user: relay.user, pass: relay.pass ?? '' } : undefined,
    connectionTimeout: relay.timeoutMs ?? 10_000,
    greetingTimeout: relay.timeoutMs ?? 10_000,
    socketTimeout: relay.timeoutMs ?? 10_000,
  });
  return {
    async send(m) {
      try {
        const info = await t.sendMail({
          from: m.from,
          to: [...m.to],
          subject: m.subject,
          text: m.text,
          messageId: m.messageId,
          inReplyTo: m.inReplyTo,
          references: m.references ? [...m.references] : undefined,
        });
        return { messageId: info.messageId };
      } catch (e) {
        throw vardError('VARD_ERR_MAIL_SEND_FAILED', [m.to.join(', '), (e as Error).message], { cause: e });
      }
    },
    close: () => t.close(),
  };
}

/**
 * A mailer that keeps messages in memory, for contract tests of the API. It does not model
 * delivery, SMTP errors or encoding; integration tests use smtpMailer against a real SMTP sink.
 */
export function memoryMailer(): Mailer & { readonly sent: OutboundMail[] } {
  const sent: OutboundMail[] = [];
  let n = 0;
  return {
    sent,
    async send(m) {
      sent.push(m);
      return { messageId: m.messageId ?? `<memory-${++n}@vard.invalid>` };
    },
    close() {},
  };
}
