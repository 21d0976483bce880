export { memoryMailer, smtpMailer } from './mailer.ts';
export type { Mailer, OutboundMail, SmtpRelay } from './mailer.ts';
export { startSupportListener } from './listener.ts';
export type { Envelope, ListenerOptions, SupportListener } from './listener.ts';
export { isEmailAddress, parseMail } from './parse.ts';
export type { ParsedMail } from './parse.ts';
