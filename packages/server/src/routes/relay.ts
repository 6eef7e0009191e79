/**
 * Sessions through a relay room (docs/relay-participant.md): the server's relay identity, and
 * attaching a session the caller owns to a room it created with the server as a member.
 * @module
 */
import { AttachRelayBody, AttachRelayReply, RelayIdentityInfo, SessionParams } from '@tessera/api';
import { ApiError } from '../errors.ts';
import { type App, type AppDeps, authenticator, errors, secured } from './shared.ts';

export function registerRelayRoutes(app: App, d: AppDeps): void {
  const authenticate = authenticator(d.auth);
  const participant = () => {
    if (!d.relay)
      throw new ApiError('RELAY_DISABLED', 'this server takes no part through a relay (relay.url)');
    return d.relay;
  };

  app.get(
    '/v1/relay/identity',
    {
      schema: {
        ...secured,
        description: 'The relay this server takes part through, and its identity in rooms.',
        response: { 200: RelayIdentityInfo, ...errors },
      },
      onRequest: authenticate,
    },
    async () => participant().public
  );

  app.post(
    '/v1/sessions/:sid/relay',
    {
      bodyLimit: 4096,
      schema: {
        ...secured,
        description:
          "Carries the session's steps through a relay room the caller created with this server as a member.",
        params: SessionParams,
        body: AttachRelayBody,
        response: { 200: AttachRelayReply, ...errors },
      },
      onRequest: authenticate,
    },
    async (req) => {
      await participant().attach(req.subject, req.params.sid, req.body);
      return { sessionId: req.params.sid, roomId: req.body.roomId, status: 'attached' as const };
    }
  );
}
