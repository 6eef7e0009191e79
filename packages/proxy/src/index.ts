/**
 * @tessera/proxy — the parent proxy: runs on the host of an AWS Nitro Enclave, terminates TLS 1.3
 * and forwards HTTP and WebSocket traffic to the co-signer inside over the vsock bridge, with
 * per-address rate limits and nothing kept (docs/proxy.md).
 * @module
 */
export {
  DEFAULT_LIMITS,
  loadProxyConfig,
  type ProxyConfig,
  ProxyConfigError,
  type ProxyFlags,
  type ProxyLimits,
} from './config.ts';
export {
  PROXY_ERROR_STATUS,
  ProxyError,
  type ProxyErrorBody,
  type ProxyErrorCode,
} from './errors.ts';
export { type RunningProxy, type StartProxyOptions, startProxy } from './server.ts';
