#!/usr/bin/env bash
# The parent host's side of Tessera's co-signing server in an AWS Nitro Enclave (docs/enclave.md).
#
# UNTESTED HERE: it needs an EC2 instance with Nitro Enclaves enabled and nitro-cli, vsock-proxy
# (both from aws-nitro-enclaves-cli), docker, socat, jq and curl. None of that runs on the machine
# this script was written on, and CI runs no enclave; it has been through `bash -n`, shellcheck
# and a dry run with every one of those commands stubbed out, nothing more.
#
#   deploy/run-enclave.sh build   docker images and the EIF; prints PCR0, PCR1, PCR2 (and PCR8)
#   deploy/run-enclave.sh start   vsock bridges, the enclave, the secret hand-over, then
#                                 `tessera proxy start` in the foreground
#   deploy/run-enclave.sh stop    the enclave and the bridges this script started
#
# Settings (environment; defaults in brackets):
#   KMS_KEY_ARN          build: the KMS key the enclave decrypts its KEK with (baked into the image)
#   SIGNING_CERT, SIGNING_KEY   build: sign the EIF (adds PCR8) [unsigned]
#   EIF                  [./tessera.eif]
#   ENCLAVE_CID          [16]          CPU_COUNT [2]          MEMORY_MIB [2048]
#   DEBUG_MODE=1         start with --debug-mode: console readable, PCRs in documents all zero,
#                        so KMS refuses the KEK under a PCR0-pinned policy (docs/enclave.md)
#   KEK_CIPHERTEXT_FILE  start: base64 CiphertextBlob of the KEK [/etc/tessera/kek.kms.b64]
#   STORE_URL            start: PostgreSQL as the enclave sees it, through the store bridge:
#                        postgres://USER:PASSWORD@127.0.0.1:5432/DB
#   PG_HOST, PG_PORT     start: where the parent's store bridge connects [PG_PORT 5432]
#   TLS_CERT, TLS_KEY    start: the proxy's certificate chain and key (PEM)
#   TESSERA_PROXY_HOST, TESSERA_PROXY_PORT   the proxy's listener [0.0.0.0, 8443]
#   TESSERA              the CLI on this host [tessera]; e.g. "node /opt/tessera/packages/cli/bin/tessera.js"
#   RUN_DIR              pid files and bridge logs [/run/tessera-enclave]
#   ENCLAVE_LOG          the copy of the enclave's output [/var/log/tessera-enclave.log]
set -euo pipefail

readonly ENCLAVE_NAME=tessera
readonly INGRESS_PORT=5000  # TCP 127.0.0.1:5000 here ↔ vsock ENCLAVE_CID:5000 ↔ server in the enclave
readonly HANDOVER_PORT=7000 # vsock ENCLAVE_CID:7000: the one-time hand-over
readonly KMS_PROXY_PORT=8000 # vsock 3:8000 here: vsock-proxy → kms.REGION.amazonaws.com:443
readonly STORE_PORT=5432    # vsock 3:5432 here → PG_HOST:PG_PORT
readonly LOG_PORT=7001      # vsock 3:7001 here: the enclave's output

cd "$(dirname "$0")/.."
EIF=${EIF:-$PWD/tessera.eif}
ENCLAVE_CID=${ENCLAVE_CID:-16}
CPU_COUNT=${CPU_COUNT:-2}
MEMORY_MIB=${MEMORY_MIB:-2048}
RUN_DIR=${RUN_DIR:-/run/tessera-enclave}
ENCLAVE_LOG=${ENCLAVE_LOG:-/var/log/tessera-enclave.log}
KEK_CIPHERTEXT_FILE=${KEK_CIPHERTEXT_FILE:-/etc/tessera/kek.kms.b64}
TESSERA=${TESSERA:-tessera}

log() { printf 'run-enclave: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
need() { for c in "$@"; do command -v "$c" >/dev/null || die "$c is not installed"; done; }

# The region of a KMS key ARN.
region_of() {
  [[ $1 =~ ^arn:aws[a-z-]*:kms:([a-z0-9-]+):[0-9]{12}:key/[A-Za-z0-9-]+$ ]] ||
    die "not a KMS key ARN: $1"
  printf '%s' "${BASH_REMATCH[1]}"
}

# Starts a command in the background, its output in RUN_DIR/NAME.log, its pid in RUN_DIR/NAME.pid.
background() {
  local name=$1
  shift
  "$@" >>"$RUN_DIR/$name.log" 2>&1 &
  echo "$!" >"$RUN_DIR/$name.pid"
  log "$name started (pid $!)"
}

build() {
  need docker nitro-cli jq
  [[ -n ${KMS_KEY_ARN:-} ]] || die "set KMS_KEY_ARN (the key whose policy pins this image's PCR0)"
  region_of "$KMS_KEY_ARN" >/dev/null
  docker build -f deploy/Dockerfile --target server -t tessera-server:local .
  docker build -f deploy/enclave.Dockerfile --build-arg SERVER_IMAGE=tessera-server:local \
    --build-arg KMS_KEY_ARN="$KMS_KEY_ARN" -t tessera-enclave:local .
  local signing=()
  if [[ -n ${SIGNING_CERT:-} ]]; then
    signing=(--signing-certificate "$SIGNING_CERT" --private-key "${SIGNING_KEY:?SIGNING_KEY with SIGNING_CERT}")
  fi
  # The measurements are a JSON object on stdout after the progress lines.
  nitro-cli build-enclave --docker-uri tessera-enclave:local --output-file "$EIF" "${signing[@]}" |
    tee "$EIF.build.log"
  awk '/^\{/ { json = 1 } json' "$EIF.build.log" | jq '.Measurements' >"$EIF.pcrs.json" ||
    die "no measurements in the nitro-cli output ($EIF.build.log)"
  printf '%s\n' "$KMS_KEY_ARN" >"$EIF.kms-key-arn"
  log "PCRs of $EIF (also in $EIF.pcrs.json): pin PCR0 in the KMS key policy and in the clients"
  jq -r 'to_entries[] | select(.key | startswith("PCR")) | "  \(.key) \(.value)"' "$EIF.pcrs.json" >&2
}

# Temporary credentials of the instance's role, from IMDSv2, as "ID SECRET TOKEN".
instance_credentials() {
  local imds=http://169.254.169.254/latest token role
  token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$imds/api/token")
  role=$(curl -fsS -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/iam/security-credentials/")
  curl -fsS -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/iam/security-credentials/$role" |
    jq -r '"\(.AccessKeyId) \(.SecretAccessKey) \(.Token)"'
}

start() {
  need nitro-cli vsock-proxy socat jq curl
  [[ -f $EIF && -f $EIF.pcrs.json && -f $EIF.kms-key-arn ]] || die "$EIF not built: run $0 build"
  [[ -r $KEK_CIPHERTEXT_FILE ]] || die "$KEK_CIPHERTEXT_FILE is missing (docs/enclave.md, The key-encryption key)"
  [[ -n ${STORE_URL:-} && -n ${PG_HOST:-} ]] || die "set STORE_URL and PG_HOST (the store lives outside the enclave)"
  [[ -n ${TLS_CERT:-} && -n ${TLS_KEY:-} ]] || die "set TLS_CERT and TLS_KEY (the proxy's PEM files)"
  local region
  region=$(region_of "$(<"$EIF.kms-key-arn")") # the key baked into the image
  mkdir -p "$RUN_DIR"

  # Before the enclave boots: what its start-up will connect to.
  background kms-proxy vsock-proxy "$KMS_PROXY_PORT" "kms.$region.amazonaws.com" 443
  background store-bridge socat "VSOCK-LISTEN:$STORE_PORT,reuseaddr,fork" "TCP-CONNECT:$PG_HOST:${PG_PORT:-5432}"
  background enclave-log socat -u "VSOCK-LISTEN:$LOG_PORT,reuseaddr,fork" "OPEN:$ENCLAVE_LOG,creat,append"

  local debug=()
  if [[ ${DEBUG_MODE:-0} == 1 ]]; then
    debug=(--debug-mode)
    log "DEBUG MODE: PCRs in attestation documents are all zero; never pin them, never use production keys"
  fi
  nitro-cli run-enclave --enclave-name "$ENCLAVE_NAME" --eif-path "$EIF" --cpu-count "$CPU_COUNT" \
    --memory "$MEMORY_MIB" --enclave-cid "$ENCLAVE_CID" "${debug[@]}"

  # The hand-over: read by the enclave once, as KEY=VALUE lines. The credentials sign the KMS
  # request; they do not let this host decrypt the KEK (the key policy wants the enclave's
  # attestation, and KMS encrypts its answer to a key only the enclave holds).
  local id secret session ciphertext
  read -r id secret session < <(instance_credentials) || die "no instance credentials from IMDS"
  ciphertext=$(tr -d ' \t\r\n' <"$KEK_CIPHERTEXT_FILE")
  log "sending the hand-over to vsock $ENCLAVE_CID:$HANDOVER_PORT"
  local sent=0
  for _ in $(seq 60); do
    if printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nAWS_SESSION_TOKEN=%s\nKEK_CIPHERTEXT=%s\nSTORE_URL=%s\n' \
      "$id" "$secret" "$session" "$ciphertext" "$STORE_URL" |
      socat -u STDIN "VSOCK-CONNECT:$ENCLAVE_CID:$HANDOVER_PORT" 2>/dev/null; then
      sent=1
      break
    fi
    sleep 2 # the enclave is still booting
  done
  unset id secret session ciphertext
  [[ $sent == 1 ]] || die "the enclave did not take the hand-over (nitro-cli console --enclave-name $ENCLAVE_NAME, in debug mode)"

  background ingress socat "TCP-LISTEN:$INGRESS_PORT,bind=127.0.0.1,reuseaddr,fork" "VSOCK-CONNECT:$ENCLAVE_CID:$INGRESS_PORT"
  log "waiting for the server's /v1/health through the bridge (enclave output: $ENCLAVE_LOG)"
  local up=0
  for _ in $(seq 90); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$INGRESS_PORT/v1/health"; then
      up=1
      break
    fi
    sleep 2
  done
  [[ $up == 1 ]] || die "the server did not come up; see $ENCLAVE_LOG"

  log "starting the TLS proxy; PCR0 $(jq -r .PCR0 "$EIF.pcrs.json")"
  export TESSERA_PROXY_HOST=${TESSERA_PROXY_HOST:-0.0.0.0} TESSERA_PROXY_PORT=${TESSERA_PROXY_PORT:-8443}
  # shellcheck disable=SC2086 # TESSERA may be a command with arguments
  exec $TESSERA proxy start --upstream "127.0.0.1:$INGRESS_PORT" --tls-cert "$TLS_CERT" --tls-key "$TLS_KEY"
}

stop() {
  need nitro-cli jq
  local id
  id=$(nitro-cli describe-enclaves | jq -r --arg n "$ENCLAVE_NAME" '.[] | select(.EnclaveName == $n) | .EnclaveID')
  if [[ -n $id ]]; then nitro-cli terminate-enclave --enclave-id "$id"; fi
  local pidfile
  for pidfile in "$RUN_DIR"/*.pid; do
    [[ -e $pidfile ]] || continue
    kill "$(<"$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

case ${1:-} in
  build) build ;;
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 build|start|stop" ;;
esac
