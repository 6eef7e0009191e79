/**
 * @tessera/chains — Tessera keys in the chain libraries users already use.
 * @module
 */
export {
  LocalBackend,
  type RawSignature,
  RemoteBackend,
  type SigningBackend,
} from './backend.ts';
export {
  type BtcNetwork,
  type BtcNetworkName,
  btcNetwork,
  type PsbtSigners,
  p2trAddress,
  p2wpkhAddress,
  type SignedPsbtInput,
  type SignPsbtOptions,
  type SignPsbtResult,
  signPsbt,
  taprootBackend,
  taprootRemoteBackend,
} from './btc.ts';
export { ChainError, type ChainErrorCode } from './errors.ts';
export { EthereumKey, ethereumAddress, TesseraEthersSigner } from './eth.ts';
export {
  buildTransferMessage,
  LAMPORTS_PER_SOL,
  type SignedSolanaTransfer,
  type SolanaSignTransferParams,
  type SolanaTransferParams,
  SYSTEM_PROGRAM_ADDRESS,
  signSolanaTransfer,
  solanaAddress,
} from './sol.ts';
