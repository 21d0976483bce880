import { simpleParser } from 'mailparser';

/** The parts of an inbound message the desk uses. */
export interface ParsedMail {
  readonly messageId: string | undefined;
  readonly inReplyTo: string | undefined;
  readonly references: readonly string[];
  readonly from: string | undefined;
  readonly fromName: string | undefined;
  readonly subject: string;
  readonly text: string;
}

const ADDRESS = /^[^\s@<>()[\],;:"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;

/** A deliberately plain check: one local part, one domain with a dot, no spaces or brackets. */
export function isEmailAddress(s: string): boolean {
  return s.length <= 254 && ADDRESS.test(s);
}

/** Message-IDs found in a header value, with angle brackets. */
function ids(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  const all = Array.isArray(v) ? v.join(' ') : v;
  return all.match(/<[^<>\s]+>/g) ?? [];
}

/**
 * Parses a raw RFC 5322 message. mailparser is lenient, so almost anything parses; what matters
 * to the caller is whether a usable From address came out (`from` is undefined otherwise).
 */
export async function parseMail(raw: Buffer): Promise<ParsedMail> {
  const m = await simpleParser(raw, { skipImageLinks: true, skipHtmlToText: false });
  const fromValue = m.from?.value[0];
  const from = fromValue?.address && isEmailAddress(fromValue.address) ? fromValue.address.toLowerCase() : undefined;
  const text = (m.text ?? (typeof m.html === 'string' ? m.html : '') ?? '').trim();
  return {
    messageId: ids(m.messageId)[0],
    inReplyTo: ids(m.inReplyTo)[0],
    references: ids(m.references),
    from,
    fromName: fromValue?.name || undefined,
    subject: (m.subject ?? '').trim(),
    text,
  };
}
