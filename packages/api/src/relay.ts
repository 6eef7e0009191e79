/**
 * @tessera/api/relay — the client side of the relay's API (docs/relay.md): login, rooms with
 * signed manifests, idempotent sends and SSE subscriptions that resume. Used by devices (the
 * client SDK) and by the co-signing server when it takes part through a relay room. Only
 * `fetch` and web streams: Node 20+ and browsers.
 * @module
 */
export { fromBase64, toBase64 } from './base64.ts';
export {
  type CreatedRoom,
  RelayClient,
  type RelayClientOptions,
  RelayError,
  type RelayMessage,
  type RelaySocket,
  RelaySubscription,
  type RelayWebSocketFactory,
  type RoomManifest,
  type RoomMember,
  relayLoginMessage,
  relayManifestMessage,
} from './relay-client.ts';
