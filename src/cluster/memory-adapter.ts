import { type Session, SessionAwareAdapter } from 'socket.io-adapter';
import { RestoreRefused, tokenExpired } from './restore.js';

/**
 * Single-node mode: Socket.IO's in-memory adapter with connection state recovery, which also refuses a
 * session whose JWT expired while its client was away (as the cluster's restores do).
 */
export class RelayMemoryAdapter extends SessionAwareAdapter {
  override async restoreSession(pid: string, offset: string): Promise<Session> {
    const session = await super.restoreSession(pid, offset);
    if (session && tokenExpired(session.data)) throw new RestoreRefused('token-expired');
    return session;
  }
}
