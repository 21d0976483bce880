import { isVardError } from '../errors/index.ts';
import type { Host } from './types.ts';

/**
 * Whether the host answers a trivial command: false when it is down (VARD_ERR_HOST_DOWN: a killed
 * lab host, an SSH server that does not answer or whose connection dropped); any other failure,
 * such as a changed host key, is thrown, never taken for "down".
 */
export async function hostIsUp(host: Host): Promise<boolean> {
  try {
    await host.run(['true'], { timeoutMs: 10_000 });
    return true;
  } catch (e) {
    if (isVardError(e, 'VARD_ERR_HOST_DOWN')) return false;
    throw e;
  }
}
