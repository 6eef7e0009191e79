#!/usr/bin/env bash
# Start-up of Tessera's co-signing server inside an AWS Nitro Enclave (docs/enclave.md).
#
# UNTESTED HERE: it needs a running Nitro Enclave (vsock, /dev/nsm) and AWS KMS. CI runs no
# enclave; this file has been through `bash -n`, shellcheck and a dry run with socat, kmstool,
# the NSM helper and the server stubbed out, nothing more.
#
# 1. brings the loopback up and starts the vsock bridges (ingress, store);
# 2. waits for the parent's one-time hand-over on vsock port 7000: temporary AWS credentials, the
#    KMS ciphertext of the key-encryption key (KEK) and the store URL;
# 3. decrypts the KEK with kmstool_enclave_cli, which sends KMS this enclave's attestation document
#    as the Recipient: KMS answers only if the document's PCR0 is the one its key policy names,
#    and encrypts the answer to a key pair that exists only in this enclave's memory;
# 4. runs `tessera server start` with the KEK in TESSERA_KEK and TESSERA_ATTESTATION=nitro.
# If the server or a bridge exits, everything stops, and so does the enclave.
#
# vsock ports (the parent is CID 3; this enclave's CID is the one run-enclave.sh gives it):
#   5000  parent → enclave   HTTP ingress, bridged to the server on 127.0.0.1:7420
#   7000  parent → enclave   the hand-over, one connection, once per boot
#   8000  enclave → parent   vsock-proxy to kms.REGION.amazonaws.com:443 (TLS from kmstool to KMS)
#   5432  enclave → parent   PostgreSQL (bridged here from 127.0.0.1:5432)
#   7001  enclave → parent   a copy of this script's and the server's output (logs carry no secrets)
set -euo pipefail

readonly PARENT_CID=3
readonly SERVER_PORT=7420
readonly INGRESS_PORT=5000
readonly HANDOVER_PORT=7000
readonly KMS_PROXY_PORT=8000
readonly STORE_PORT=5432
readonly LOG_PORT=7001
readonly HANDOVER_TIMEOUT_S=600
readonly MAX_HANDOVER_BYTES=16384
readonly KMS_KEY_ARN_FILE=/etc/tessera/kms-key-arn
readonly KMSTOOL=/usr/local/bin/kmstool_enclave_cli
readonly NSM_HELPER=/usr/local/bin/tessera-nsm-attest
readonly RUN_AS=node

log() { printf 'enclave-entrypoint: %s\n' "$*" >&2; }
die() {
  log "fatal: $*"
  exit 1
}
# Prefix of a command run as the unprivileged user, without capabilities (setpriv execs it, so
# a background job's $! is the command's own pid).
readonly UNPRIVILEGED=(setpriv --reuid="$RUN_AS" --regid="$RUN_AS" --init-groups --inh-caps=-all --)

# A copy of all output to the parent, when it listens on LOG_PORT; when it does not (or stops
# reading and goes away), the copy is drained and dropped. A parent that accepts and then never
# reads stalls the server's logging, hence the server: no more than it can do by dropping traffic.
exec > >(tee >(socat -u STDIN "VSOCK-CONNECT:$PARENT_CID:$LOG_PORT" 2>/dev/null || cat >/dev/null)) 2>&1

# --- what the image must hold ---------------------------------------------------------------
[[ -x $KMSTOOL ]] || die "$KMSTOOL is missing (docs/enclave.md, Building the image)"
[[ -x $NSM_HELPER ]] || die "$NSM_HELPER is missing: without it the server cannot attest (docs/enclave.md)"
[[ -c /dev/nsm ]] || die "/dev/nsm is missing: not inside a Nitro Enclave"
kms_key_arn=$(<"$KMS_KEY_ARN_FILE")
[[ $kms_key_arn =~ ^arn:aws[a-z-]*:kms:([a-z0-9-]+):[0-9]{12}:key/[A-Za-z0-9-]+$ ]] ||
  die "$KMS_KEY_ARN_FILE does not hold a KMS key ARN"
readonly kms_key_arn region=${BASH_REMATCH[1]}

# --- network: loopback and the bridges ------------------------------------------------------
ip link set dev lo up
ip addr add 127.0.0.1/8 dev lo 2>/dev/null || true # present already on most kernels
# The server's NSM helper runs as the server's user.
chgrp "$RUN_AS" /dev/nsm
chmod 0660 /dev/nsm

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
"${UNPRIVILEGED[@]}" socat "VSOCK-LISTEN:$INGRESS_PORT,reuseaddr,fork" "TCP-CONNECT:127.0.0.1:$SERVER_PORT" &
pids+=("$!")
"${UNPRIVILEGED[@]}" socat "TCP-LISTEN:$STORE_PORT,bind=127.0.0.1,reuseaddr,fork" "VSOCK-CONNECT:$PARENT_CID:$STORE_PORT" &
pids+=("$!")
log "bridges up: vsock $INGRESS_PORT → 127.0.0.1:$SERVER_PORT, 127.0.0.1:$STORE_PORT → parent vsock $STORE_PORT"

# --- the hand-over --------------------------------------------------------------------------
log "waiting for the parent's hand-over on vsock port $HANDOVER_PORT (at most ${HANDOVER_TIMEOUT_S}s)"
handover=$(timeout "$HANDOVER_TIMEOUT_S" socat -u "VSOCK-LISTEN:$HANDOVER_PORT" STDOUT | head -c "$MAX_HANDOVER_BYTES") ||
  die "no hand-over arrived on vsock port $HANDOVER_PORT"

# KEY=VALUE lines; nothing is evaluated, unknown keys and malformed values are refused.
access_key_id='' secret_access_key='' session_token='' kek_ciphertext='' store_url=''
while IFS= read -r line; do
  [[ -z $line ]] && continue
  key=${line%%=*} value=${line#*=}
  case $key in
    AWS_ACCESS_KEY_ID) [[ $value =~ ^[A-Z0-9]{16,128}$ ]] && access_key_id=$value ;;
    AWS_SECRET_ACCESS_KEY) [[ $value =~ ^[A-Za-z0-9/+=]{16,128}$ ]] && secret_access_key=$value ;;
    AWS_SESSION_TOKEN) [[ $value =~ ^[A-Za-z0-9/+=]{16,8192}$ ]] && session_token=$value ;;
    KEK_CIPHERTEXT) [[ $value =~ ^[A-Za-z0-9/+]{16,8192}={0,2}$ ]] && kek_ciphertext=$value ;;
    STORE_URL) [[ $value =~ ^postgres(ql)?://[^[:space:]]+@127\.0\.0\.1:$STORE_PORT/[^[:space:]]+$ ]] && store_url=$value ;;
    *) die "the hand-over has an unknown field ${key:0:40}" ;;
  esac
done <<<"$handover"
unset handover line key value
[[ -n $access_key_id && -n $secret_access_key && -n $session_token ]] ||
  die "the hand-over lacks well-formed AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN"
[[ -n $kek_ciphertext ]] || die "the hand-over lacks a well-formed KEK_CIPHERTEXT (base64)"
[[ -n $store_url ]] ||
  die "the hand-over lacks STORE_URL=postgres://USER:PASSWORD@127.0.0.1:$STORE_PORT/DB (the store is outside the enclave)"

# --- the key-encryption key -------------------------------------------------------------------
# --key-id pins the key: KMS refuses a ciphertext made under any other key, so the parent cannot
# substitute a KEK of its own making. kmstool prints "PLAINTEXT: <base64>".
log "decrypting the key-encryption key with KMS key $kms_key_arn through vsock port $KMS_PROXY_PORT"
kms_out=$("$KMSTOOL" decrypt \
  --region "$region" \
  --proxy-port "$KMS_PROXY_PORT" \
  --aws-access-key-id "$access_key_id" \
  --aws-secret-access-key "$secret_access_key" \
  --aws-session-token "$session_token" \
  --ciphertext "$kek_ciphertext" \
  --key-id "$kms_key_arn" \
  --encryption-algorithm SYMMETRIC_DEFAULT) ||
  die "KMS did not decrypt the KEK: wrong PCR0 in the key policy, a debug-mode enclave, expired credentials, or vsock-proxy not running on port $KMS_PROXY_PORT"
unset access_key_id secret_access_key session_token kek_ciphertext
kek_hex=$(printf '%s\n' "$kms_out" | sed -n 's/^PLAINTEXT: //p' | base64 -d | od -An -v -tx1 | tr -d ' \n') ||
  die "kmstool's answer is not the expected PLAINTEXT: <base64> line"
unset kms_out
[[ $kek_hex =~ ^[0-9a-f]{64}$ ]] ||
  die "the decrypted KEK is not 32 bytes (make it with GenerateDataKeyWithoutPlaintext, key spec AES_256)"

# --- the server -------------------------------------------------------------------------------
# Loopback only: the ingress bridge is the one way in. No wallet: a page served through a parent
# that terminates TLS could be swapped by the parent before any attestation check runs.
log "starting tessera server (attestation nitro, helper $NSM_HELPER)"
cd /app
(
  export TESSERA_KEK=$kek_hex \
    TESSERA_STORE_URL=$store_url \
    TESSERA_CONFIG=/etc/tessera/server.yaml \
    TESSERA_HOST=127.0.0.1 \
    TESSERA_PORT=$SERVER_PORT \
    TESSERA_DATA=/data \
    TESSERA_ATTESTATION=nitro \
    TESSERA_ATTESTATION_HELPER=$NSM_HELPER \
    HOME=/home/$RUN_AS \
    NODE_ENV=production
  exec "${UNPRIVILEGED[@]}" node packages/cli/bin/tessera.js server start --no-wallet
) &
pids+=("$!")
unset kek_hex store_url

# The first of the server and the bridges to exit ends the enclave (its init stops when this
# script does); the parent sees the bridge fail and restarts the enclave.
status=0
wait -n "${pids[@]}" || status=$?
log "a process exited (status $status); stopping"
exit "$((status == 0 ? 1 : status))"
