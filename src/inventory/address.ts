/**
 * IPv4 arithmetic for inventories. IPv4 only, on purpose: the firewall renders `ip saddr`, the
 * database VIP is an IPaddr2 resource with a netmask, keepalived's VIP is an IPv4 address; IPv6
 * would need each of those first. Pure.
 */

/** Dotted quad, four decimal octets 0-255, no leading zeros (an octal-looking `010` is refused, not guessed). */
const QUAD = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/;

/** The address as a 32-bit unsigned number, or undefined when it is not a dotted quad. */
export function ipv4ToNumber(text: string): number | undefined {
  const m = QUAD.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return octets.reduce((acc, o) => acc * 256 + o, 0);
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** The network number of `addr` under `prefix`. */
export function networkOf(addr: number, prefix: number): number {
  return (addr & mask(prefix)) >>> 0;
}

export function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/**
 * Why `text` cannot be a host's (or a virtual) address, or undefined when it can: a dotted quad
 * that is not unspecified, loopback, link-local, multicast or broadcast.
 */
export function unicastProblem(text: string): string | undefined {
  const n = ipv4ToNumber(text);
  if (n === undefined) return `"${text}" is not an IPv4 address (four decimal octets 0-255, e.g. 10.0.0.11)`;
  const first = n >>> 24;
  if (first === 0) return `${text} is in 0.0.0.0/8 (this network), not a host address`;
  if (first === 127) return `${text} is a loopback address`;
  if (networkOf(n, 16) === ipv4ToNumber('169.254.0.0')) return `${text} is link-local`;
  if (first >= 224) return `${text} is multicast or reserved, not a host address`;
  return undefined;
}

/** Why `text` is not an IPv4 CIDR (`a.b.c.d/n`, or a bare address meaning /32), or undefined. */
export function cidrProblem(text: string): string | undefined {
  const [addr = '', len, ...rest] = text.split('/');
  if (rest.length) return `"${text}" is not an IPv4 address or CIDR`;
  if (ipv4ToNumber(addr) === undefined) return `"${text}" is not an IPv4 address or CIDR (e.g. 198.51.100.7 or 198.51.100.0/24)`;
  if (len === undefined) return undefined;
  if (!/^(0|[1-9][0-9]?)$/.test(len) || Number(len) > 32) return `"${text}": the prefix length must be 0-32`;
  const n = ipv4ToNumber(addr) as number;
  if (networkOf(n, Number(len)) !== n) return `"${text}" has host bits set; write ${numberToIpv4(networkOf(n, Number(len)))}/${len}`;
  return undefined;
}
