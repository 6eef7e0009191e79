/**
 * The AWS Nitro Enclaves root certificate, and the SHA-256 fingerprint of its DER that AWS
 * publishes. Every attestation chain must start at exactly this certificate.
 *
 * The fingerprint is the trust anchor, not the bytes: copies of this root with one corrupted base64
 * line circulate in public code, so the certificate is checked against the pinned fingerprint the
 * first time it is used, and a mismatch refuses every document (`ATTESTATION_ROOT`) rather than
 * trusting whatever the bytes say.
 * @module
 */

/** SHA-256 of the root's DER, as AWS publishes it (CN=aws.nitro-enclaves, valid 2019–2049). */
export const AWS_NITRO_ROOT_SHA256 =
  '641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b';

/** The root certificate's DER, base64 (the PEM body). */
export const AWS_NITRO_ROOT_BASE64 =
  'MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTELMAkGA1UEBhMC' +
  'VVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYDVQQDDBJhd3Mubml0cm8tZW5j' +
  'bGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0G' +
  'A1UECgwGQW1hem9uMQwwCgYDVQQLDANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2' +
  'MBAGByqGSM49AgEGBSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSk' +
  'sfbb48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZEh8l5YoQw' +
  'TcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkFR+eWw5b6cp3PmanfS5Yw' +
  'DgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYCMQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5' +
  'W2OpYow9OYCVRaEevL8uO1XYru5xtMPWrfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/' +
  'nNr12UO8Yfwr6wPLb+6NIwLz3/Y=';
