/**
 * The client's connection state, as Curator's `ConnectionState`:
 *
 * - `connected`: a session was established (the first one, or a new one after `lost`).
 * - `suspended`: the connection dropped; the session may still be alive. Treat leadership,
 *   locks and claims as unsafe until `reconnected` or `lost`.
 * - `reconnected`: connected again within the same session; ephemerals and watches survived.
 * - `lost`: the session is gone (the server said it expired, or the client was suspended
 *   longer than the negotiated session timeout). Its ephemerals and watches are gone; a new
 *   session is being made and `connected` follows.
 * - `read-only`: connected to a read-only server (not produced by this client at present).
 */
export type ConnectionState = 'connected' | 'suspended' | 'reconnected' | 'lost' | 'read-only';

/** True when requests can be sent: `connected`, `reconnected` or `read-only`. */
export function isConnectedState(s: ConnectionState): boolean {
  return s === 'connected' || s === 'reconnected' || s === 'read-only';
}
