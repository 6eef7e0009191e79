/**
 * The vocabulary of checks: every `check` name `@tessera/core` puts on an error, with the error
 * code it comes with, what it means and whom it blames. The error constructors accept only these
 * names, so a new check cannot be thrown without an entry here, and a test holds this table and
 * `docs/errors.md` together.
 * @module
 */

/** The stable `code` of every `TesseraError` core throws, with what it means. */
export const CORE_ERROR_CODES = {
  INVALID_INPUT: {
    error: 'InputError',
    meaning: 'the caller passed something wrong; nothing was sent',
  },
  PROTOCOL_ABORT: {
    error: 'ProtocolAbort',
    meaning: "a peer's message failed a check; the session is dead and the culprit is named",
  },
  MESSAGE_REJECTED: {
    error: 'MessageRejected',
    meaning: "an envelope's header does not fit this session; it is dropped",
  },
  MESSAGE_MISSING: {
    error: 'MessageMissing',
    meaning: "transient: a peer's message never came (no blame, no ban)",
  },
  SESSION_CLOSED: {
    error: 'SessionClosed',
    meaning: 'the session finished, aborted or was already consumed',
  },
  NONCE_REUSED: {
    error: 'NonceReuse',
    meaning: 'a nonce-bearing state was offered for a second use',
  },
  INTERNAL: { error: 'InternalError', meaning: 'a bug in Tessera' },
} as const;

/** A `code` of a core error. */
export type CoreErrorCode = keyof typeof CORE_ERROR_CODES;

/**
 * Whom a failed check blames (`culprit`):
 * - `sender`: the party whose message failed it;
 * - `sender-if-two`: the sender when there are two parties, `null` with more (an echo mismatch
 *   among three cannot tell who lied);
 * - `counterparty-if-two`: with two signers the other one, `null` with more;
 * - `peer`: the peer the refused pair is with;
 * - `stale-party`: the party whose share is of the older epoch;
 * - `missing`: the first party not heard from;
 * - `none`: nobody (`null`).
 */
export type CulpritKind =
  | 'sender'
  | 'sender-if-two'
  | 'counterparty-if-two'
  | 'peer'
  | 'stale-party'
  | 'missing'
  | 'none';

/** One entry of `CHECKS`. */
export interface CheckInfo {
  /** The `code` of the error that carries this check. */
  readonly code: CoreErrorCode;
  readonly meaning: string;
  readonly culprit: CulpritKind;
}

const abort = (meaning: string, culprit: CulpritKind = 'sender'): CheckInfo => ({
  code: 'PROTOCOL_ABORT',
  meaning,
  culprit,
});
const rejected = (meaning: string): CheckInfo => ({
  code: 'MESSAGE_REJECTED',
  meaning,
  culprit: 'sender',
});
const input = (meaning: string, culprit: CulpritKind = 'none'): CheckInfo => ({
  code: 'INVALID_INPUT',
  meaning,
  culprit,
});

/** Every check core names on an error. */
export const CHECKS = {
  // Decoding of a peer's data (thrown as DecodeError, turned into an abort naming the sender).
  MalformedMessage: abort('a field has the wrong count or length, or bytes do not parse'),
  BadPoint: abort('a point is off the curve, the identity, of small order or non-canonical'),
  BadScalar: abort('a scalar is not below the group order (or is zero where it must not be)'),
  // The session layer.
  SenderMismatch: abort("an envelope's `from` differs from the transport-authenticated sender"),
  Equivocation: abort('a party sent two different messages for one round'),
  BadVersion: rejected('the envelope version is not 1'),
  WrongProtocol: rejected('the envelope is for another protocol'),
  WrongSession: rejected('the envelope is for another session id'),
  SelfMessage: rejected('the envelope claims to come from this party'),
  UnknownSender: rejected('the sender is not in this session'),
  WrongRecipient: rejected('the envelope is addressed to another party'),
  WrongRound: rejected('the envelope is for a past or non-existent round'),
  BadBody: rejected('the body is not bytes'),
  UnexpectedKind: rejected('no broadcast (or p2p) message is expected in that round'),
  Duplicate: rejected("a second identical copy of a party's message for a round"),
  MessageMissing: {
    code: 'MESSAGE_MISSING',
    meaning: "a peer's message did not arrive",
    culprit: 'missing',
  },
  NonceSingleUse: {
    code: 'NONCE_REUSED',
    meaning: 'a signing nonce or presignature was offered for a second use',
    culprit: 'none',
  },
  // Key generation and reshare.
  EchoMismatch: abort(
    "a party's echo of the round's broadcasts differs from ours (DKG E1/E2, FROST and ECDSA commitment lists)",
    'sender-if-two'
  ),
  CommitmentOpen: abort("revealed values do not open the sender's earlier commitment"),
  PoKInvalid: abort('a Fischlin proof of knowledge fails (DKG constant term or final share)'),
  FeldmanShare: abort("a dealt share does not match the dealer's Feldman commitments"),
  ShareConfirm: abort('a confirmed verification share differs from ours'),
  SetupConfirm: abort(
    "ECDSA key generation or reshare, round 4: the sender's confirmation of the pair's OT setups differs from ours"
  ),
  DegenerateKey: abort('the group key is the identity', 'none'),
  BaseOtPoint: abort('ECDSA key generation: a base-OT point is the identity'),
  PprfProof: abort('ECDSA key generation: the all-but-one OT proof fails'),
  ReshareKey: abort(
    "reshare: the dealt constant terms do not add up to the key (the participants' old public data disagree)",
    'none'
  ),
  DealerConstant: abort(
    "reshare: a dealer's constant term is not its Lagrange-weighted old verification share"
  ),
  // Signing.
  SignatureShare: abort('a FROST signature share fails RFC 9591 share verification'),
  SignatureInvalid: abort(
    'the combined signature does not verify (terminal, never retried)',
    'counterparty-if-two'
  ),
  OteConsistency: abort(
    'ECDSA signing: the OT-extension consistency check fails; the pair is banned'
  ),
  RvoleCheck: abort('ECDSA signing: the multiplication check μ fails; the pair is banned'),
  GammaK: abort("ECDSA signing: the sender's multiplication input does not match its R"),
  GammaS: abort("ECDSA signing: the sender's multiplication input does not match its key share"),
  PublicShareSum: abort(
    'ECDSA signing: the public key shares do not add up to the key',
    'counterparty-if-two'
  ),
  ZeroDenominator: abort('ECDSA signing: the combined u is zero', 'counterparty-if-two'),
  DegenerateR: abort('ECDSA signing: the combined nonce is the identity or r = 0', 'none'),
  RecoveryIdOverflow: abort(
    'ECDSA signing: x(R) ≥ q (probability ≈ 2^-127), which chains cannot express',
    'none'
  ),
  DigestMismatch: abort('ECDSA signing: the signers were given different digests', 'none'),
  // Relay envelopes and pairing (docs/protocols/relay.md, pairing.md).
  RelayEnvelope: rejected(
    'a relay envelope is malformed, of another version, room, manifest, session or round, not from the pinned sender, not addressed to us, or its signature fails'
  ),
  RelaySeal: abort(
    "a relay envelope carries the pinned sender's valid signature but its sealed body (or our wrapped key) does not open"
  ),
  PairSignature: abort("a pairing message fails its sender's identity-key signature"),
  PairConfirm: abort(
    "pairing: the peer's confirmation MAC differs from ours (the two devices did not see the same transcript)"
  ),
  PairRefused: abort("pairing: the peer's user refused the code"),
  // The caller's input.
  SessionReplay: input('a signing request id or session id was already used by this party'),
  PairBanned: input('the pair with this peer is banned after a detected cheat', 'peer'),
  PairBusy: input('another guarded check of the same pair is in progress'),
  EpochMismatch: input('shares of different epochs were combined', 'stale-party'),
  ShareInvalid: input("a key share's public data are inconsistent"),
  ShareCorrupted: input('stored share bytes are damaged (found on load, never blamed on a peer)'),
  ShareMismatch: input('an ECDSA signing call passed another share than the session started with'),
  LedgerMissing: input('a signing call without the durable nonce ledger'),
  PairGuardMissing: input('an ECDSA signing call without the durable pair guard'),
  HardenedPath: input('a derivation path is hardened (impossible for a shared key)'),
  InvalidPath: input('a derivation path is malformed'),
  InvalidChildIndex: input('a BIP-32 child index gives I_L ≥ q or the identity: use the next'),
  WrongScheme: input('Taproot tweak of a key that is not bip340'),
  InvalidMerkleRoot: input('Taproot tweak: the merkle root is not 32 bytes'),
  AlreadyTweaked: input('Taproot tweak of a share that is already tweaked'),
  InvalidTapTweak: input('Taproot tweak: BIP-341 rejects the key (probability ≈ 2^-128)'),
  InvalidInput: input('a backup call was given something that is not a key share'),
  BackupMalformed: input('a backup does not parse'),
  BackupVersion: input('a backup of an unknown format version'),
  BackupCorrupt: input('a backup fails its checksum'),
  BackupKdfWeak: input("a backup's key-derivation parameters are below the floor"),
  BackupPassphrase: input('a backup passphrase is too short, or wrong'),
  BackupHeaderMismatch: input("a backup's header does not match what it seals"),
  BackupCiphertext: input("a backup's ciphertext does not authenticate"),
  BackupStale: input("a backup is of an older epoch than the key's current one"),
  RelayInput: input('a relay envelope call was given a bad room, hash, sid, round, party or body'),
  PairingInput: input('a pairing call was given a bad room, name, identity or session state'),
  PairingLocked: input('pairing with this peer is locked after repeated failures', 'peer'),
  // Verifiable backups (docs/protocols/pve.md).
  PveMalformed: input('a PVE ciphertext does not parse (wrong length, magic, KEM or curve)'),
  PveVersion: input('a PVE ciphertext of an unknown format version'),
  PveMismatch: input('a PVE ciphertext is for another backup key or other public shares'),
  PveProof: input("a PVE ciphertext's proof of correct encryption does not verify"),
  PveDecrypt: input('no repetition of a PVE ciphertext decrypts to the public shares'),
  PveSealedShare: input("a PVE backup's sealed share does not open or is not the proven share"),
  PveInput: input('a PVE call was given a bad public share, secret, label or batch size'),
  PveBackupKey: input('a PVE backup key is malformed or a small-order point'),
} as const satisfies Record<string, CheckInfo>;

/** The name of a check core can report. */
export type CheckName = keyof typeof CHECKS;
