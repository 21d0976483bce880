import { vardError } from '../errors/index.ts';

/**
 * Who acts. Staff see every customer; a customer user sees only its own customer. The CLI acts as
 * staff (whoever can run it can already read the state file); the monitor is a system actor.
 */
export interface Actor {
  /** Audit name: a user's e-mail, `cli:<unix user>`, or `monitor`. */
  readonly name: string;
  readonly role: 'staff' | 'customer';
  readonly customer?: string;
  readonly userId?: number;
}

export function staffActor(name: string): Actor {
  return { name, role: 'staff' };
}

/** Operator staff (as opposed to a customer's user). */
export function isStaff(who: { readonly role: string }): boolean {
  return who.role === STAFF;
}
const STAFF = 'staff';

/** True when the actor may see the customer's data. */
export function canSee(actor: Actor, customer: string | null | undefined): boolean {
  return isStaff(actor) || (customer != null && actor.customer === customer);
}

/** @throws VARD_ERR_AUTH_FORBIDDEN unless the actor is staff */
export function requireStaff(actor: Actor, action: string): void {
  if (!isStaff(actor)) throw vardError('VARD_ERR_AUTH_FORBIDDEN', [actor.name, action]);
}
